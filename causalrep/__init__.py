"""causalrep: causal representation learning that proves its own claims.

The data container and the identifiability checks are numpy code; the
estimators (torch and Pyro) are imported on first use, so that
``import simulators`` and ``import causalrep.identifiability`` stay light.
"""

import importlib
from typing import TYPE_CHECKING

from ._version import __version__
from .data import InterventionalData
from .exceptions import CheckpointError, NotFittedError, TrainingDivergedError

if TYPE_CHECKING:  # what the lazy attributes resolve to, for type checkers and editors
    from .estimators import (
        IVAE,
        Autoencoder,
        BetaVAE,
        CausalDiffAE,
        ContrastiveCRL,
        InterventionalCRL,
        LinearICA,
        MultiEnvCRL,
        Rep4Ex,
        load,
    )

# Resolved from causalrep.estimators on first access.
_LAZY = (
    "IVAE",
    "Autoencoder",
    "BetaVAE",
    "CausalDiffAE",
    "ContrastiveCRL",
    "InterventionalCRL",
    "LinearICA",
    "MultiEnvCRL",
    "Rep4Ex",
    "load",
)

__all__ = [
    "__version__",
    "InterventionalData",
    "InterventionalCRL",
    "Rep4Ex",
    "CausalDiffAE",
    "MultiEnvCRL",
    "ContrastiveCRL",
    "Autoencoder",
    "BetaVAE",
    "IVAE",
    "LinearICA",
    "load",
    "CheckpointError",
    "NotFittedError",
    "TrainingDivergedError",
]


def __getattr__(name):
    if name == "estimators":
        return importlib.import_module(".estimators", __name__)
    if name in _LAZY:
        value = getattr(importlib.import_module(".estimators", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
