"""Estimators that recover latent causal variables from observations."""

from .base import BaseEstimator
from .baselines import IVAE, Autoencoder, BetaVAE, ConvergenceWarning, LinearICA
from .causaldiffae import CausalDiffAE
from .checkpoint import load
from .interventional import IdentifiabilityWarning, InterventionalCRL
from .multienv import MultiEnvCRL
from .rep4ex import ControlFunction, Rep4Ex

__all__ = ["BaseEstimator", "InterventionalCRL", "Rep4Ex", "ControlFunction",
           "CausalDiffAE", "MultiEnvCRL", "Autoencoder", "BetaVAE", "IVAE", "LinearICA",
           "IdentifiabilityWarning", "ConvergenceWarning", "load"]
