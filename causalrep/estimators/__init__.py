"""Estimators that recover latent causal variables from observations."""

from ..exceptions import ConvergenceWarning, IdentifiabilityWarning
from .autoencoders import IVAE, Autoencoder, BetaVAE
from .base import BaseEstimator, TorchEstimator
from .causaldiffae import CausalDiffAE
from .checkpoint import load
from .ica import LinearICA
from .interventional import InterventionalCRL
from .multienv import MultiEnvCRL
from .rep4ex import ControlFunction, Rep4Ex

__all__ = ["BaseEstimator", "TorchEstimator", "InterventionalCRL", "Rep4Ex", "ControlFunction",
           "CausalDiffAE", "MultiEnvCRL", "Autoencoder", "BetaVAE", "IVAE", "LinearICA",
           "IdentifiabilityWarning", "ConvergenceWarning", "load"]
