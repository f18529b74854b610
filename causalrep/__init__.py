"""causalrep: causal representation learning that proves its own claims."""

__version__ = "0.1.0"

from .data import InterventionalData  # noqa: E402
from .estimators import (  # noqa: E402
    IVAE,
    Autoencoder,
    BetaVAE,
    CausalDiffAE,
    InterventionalCRL,
    LinearICA,
    MultiEnvCRL,
    Rep4Ex,
    load,
)
from .exceptions import CheckpointError, NotFittedError, TrainingDivergedError  # noqa: E402

__all__ = [
    "__version__",
    "InterventionalData",
    "InterventionalCRL",
    "Rep4Ex",
    "CausalDiffAE",
    "MultiEnvCRL",
    "Autoencoder",
    "BetaVAE",
    "IVAE",
    "LinearICA",
    "load",
    "CheckpointError",
    "NotFittedError",
    "TrainingDivergedError",
]
