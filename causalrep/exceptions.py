"""Exception classes raised by causalrep.

Each derives from the built-in exception a caller would already catch, so
``except ValueError`` keeps working while the library's own class names the
kind of failure precisely. :func:`warn` issues the library's warnings at the
user's line, however deep inside the library they arise.
"""

import os
import sys
import warnings

import sklearn.exceptions

__all__ = [
    "ParameterError",
    "NotFittedError",
    "CheckpointError",
    "TrainingDivergedError",
    "SweepLockedError",
    "ConvergenceWarning",
    "IdentifiabilityWarning",
    "ExtrapolationWarning",
    "warn",
]

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` attributed to the first caller outside causalrep.

    Estimators warn from helpers of helpers of ``fit``; a fixed ``stacklevel``
    would name a line of the library, and the warnings filters of the
    user's module would not apply.
    """
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


class ParameterError(ValueError, TypeError):
    """An argument of the wrong type or out of range; the message names the
    parameter, the values it accepts and the value given. Both a ValueError and
    a TypeError, as scikit-learn's ``InvalidParameterError`` is."""


class NotFittedError(sklearn.exceptions.NotFittedError):
    """An estimator was used before ``fit`` was called.

    scikit-learn's ``NotFittedError`` (so ``except`` clauses written for
    scikit-learn catch it), which is a ValueError and an AttributeError."""


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


class ExtrapolationWarning(UserWarning):
    """A prediction for an action lies where the training data say little; the
    message names the actions and how far outside they are."""
