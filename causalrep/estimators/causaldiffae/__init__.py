"""CausalDiffAE (Komanduri et al., 2024): the estimator, its diffusion
schedule and sampler, and its networks."""

from ._estimator import CausalDiffAE

__all__ = ["CausalDiffAE"]
