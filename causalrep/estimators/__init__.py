"""Estimators that recover latent causal variables from observations.

Importing this package imports no torch: each estimator class (and torch, and
Pyro) is imported when it is first used, as listed in
:mod:`causalrep.estimators.registry`.
"""

import importlib
from typing import TYPE_CHECKING

from ..exceptions import ConvergenceWarning, ExtrapolationWarning, IdentifiabilityWarning
from .registry import ESTIMATORS

if TYPE_CHECKING:  # what the lazy attributes resolve to, for type checkers and editors
    from .autoencoders import IVAE, Autoencoder, BetaVAE
    from .base import BaseEstimator, TorchEstimator
    from .causaldiffae import CausalDiffAE
    from .checkpoint import load
    from .control import ControlFunction
    from .ica import LinearICA
    from .interventional import InterventionalCRL
    from .multienv import MultiEnvCRL
    from .rep4ex import Rep4Ex

# Names other than the estimators' classes, and the module that defines each.
_SHARED = {"BaseEstimator": "base", "TorchEstimator": "base", "ControlFunction": "control",
           "load": "checkpoint"}
_CLASSES = {entry.class_name: entry for entry in ESTIMATORS.values()}

__all__ = ["BaseEstimator", "TorchEstimator", "InterventionalCRL", "Rep4Ex", "ControlFunction",
           "CausalDiffAE", "MultiEnvCRL", "Autoencoder", "BetaVAE", "IVAE", "LinearICA",
           "IdentifiabilityWarning", "ConvergenceWarning", "ExtrapolationWarning", "load"]


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
