"""Estimators that recover latent causal variables from observations."""

from .base import BaseEstimator
from .checkpoint import load
from .interventional import IdentifiabilityWarning, InterventionalCRL

__all__ = ["BaseEstimator", "InterventionalCRL", "IdentifiabilityWarning", "load"]
