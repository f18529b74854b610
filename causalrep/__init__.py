"""causalrep: causal representation learning that proves its own claims."""

__version__ = "0.1.0"

from .data import InterventionalData  # noqa: E402
from .estimators import InterventionalCRL, Rep4Ex, load  # noqa: E402
from .exceptions import CheckpointError, NotFittedError, TrainingDivergedError  # noqa: E402

__all__ = [
    "__version__",
    "InterventionalData",
    "InterventionalCRL",
    "Rep4Ex",
    "load",
    "CheckpointError",
    "NotFittedError",
    "TrainingDivergedError",
]
