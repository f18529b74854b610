"""Estimators that recover latent causal variables from observations.

Importing this package imports no torch: each estimator class (and torch, and
Pyro) is imported when it is first used, as listed in
the registry (:data:`ESTIMATORS`).
"""

import importlib
from typing import TYPE_CHECKING

from ..exceptions import ConvergenceWarning, ExtrapolationWarning, IdentifiabilityWarning
from ._registry import ESTIMATORS, EstimatorEntry, lookup

if TYPE_CHECKING:  # what the lazy attributes resolve to, for type checkers and editors
    from ._autoencoders import IVAE, Autoencoder, BetaVAE
    from ._contrastive import ContrastiveCRL
    from ._core.base import DEPRECATED, BaseEstimator, TorchEstimator
    from ._core.checkpoint import load
    from ._ica import LinearICA
    from ._multienv import MultiEnvCRL
    from .causaldiffae import CausalDiffAE
    from .interventional import InterventionalCRL
    from .rep4ex import ControlFunction, Rep4Ex

# Names other than the estimators' classes, and the module that defines each.
_SHARED = {
    "BaseEstimator": "_core.base",
    "TorchEstimator": "_core.base",
    "DEPRECATED": "_core.base",
    "ControlFunction": "rep4ex",
    "load": "_core.checkpoint",
}
_CLASSES = {entry.class_name: entry for entry in ESTIMATORS.values()}

__all__ = [
    "BaseEstimator",
    "TorchEstimator",
    "InterventionalCRL",
    "Rep4Ex",
    "ControlFunction",
    "CausalDiffAE",
    "MultiEnvCRL",
    "ContrastiveCRL",
    "Autoencoder",
    "BetaVAE",
    "IVAE",
    "LinearICA",
    "IdentifiabilityWarning",
    "ConvergenceWarning",
    "ExtrapolationWarning",
    "load",
    "ESTIMATORS",
    "EstimatorEntry",
    "lookup",
    "DEPRECATED",
]


def __getattr__(name):
    if name in _CLASSES:
        value = _CLASSES[name].load()
    elif name in _SHARED:
        value = getattr(importlib.import_module(f".{_SHARED[name]}", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
