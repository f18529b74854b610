"""Exception classes raised by causalrep.

Each derives from the built-in exception a caller would already catch, so
``except ValueError`` keeps working while the library's own class names the
kind of failure precisely.
"""

__all__ = ["NotFittedError", "CheckpointError", "TrainingDivergedError", "SweepLockedError",
           "ConvergenceWarning", "IdentifiabilityWarning"]


class NotFittedError(ValueError, AttributeError):
    """An estimator was used before ``fit`` was called."""


class CheckpointError(ValueError):
    """A saved file is missing, truncated, corrupt, unsafe or of another kind."""


class TrainingDivergedError(RuntimeError):
    """A loss went non-finite during training; the message names epoch and term."""


class SweepLockedError(RuntimeError):
    """Another sweep is writing to the same records file; the message names it."""


class ConvergenceWarning(UserWarning):
    """An iterative fit stopped at its iteration limit before meeting its tolerance."""


class IdentifiabilityWarning(UserWarning):
    """A fitted model's diagnostics say the identification guarantee may not hold;
    the message names the failing check."""
