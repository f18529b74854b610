"""Estimators that recover latent causal variables from observations."""

from .base import BaseEstimator
from .checkpoint import load
from .interventional import IdentifiabilityWarning, InterventionalCRL
from .rep4ex import ControlFunction, Rep4Ex

__all__ = ["BaseEstimator", "InterventionalCRL", "Rep4Ex", "ControlFunction",
           "IdentifiabilityWarning", "load"]
