"""Input checks shared by every module: arrays, seeds and hyperparameters."""

import numbers

import numpy as np

__all__ = ["as_float_array", "as_generator", "check_positive", "check_fraction"]


def as_float_array(x, name, ndim=None, allow_empty=False):
    """Return ``x`` as a finite float64 numpy array or raise naming ``name``.

    Arguments:
        x: numpy array, torch tensor, or nested sequence of numbers.
        name: Name of the argument, used in error messages.
        ndim: Required number of dimensions; a 1-d input is accepted where 2 is
            asked only if the caller reshapes it (no silent reshaping here).
        allow_empty: Whether zero rows are accepted.

    Returns:
        float64 numpy array (a copy when the input was not already float64).
    """
    if x is None:
        raise ValueError(f"{name} is required, got None")
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or arr.dtype == bool
    ):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(
            f"{name} must be {ndim}-dimensional, got shape {tuple(arr.shape)}"
        )
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} is empty (shape {tuple(arr.shape)})")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} non-finite values (NaN or inf)")
    return arr


def as_generator(seed):
    """Return a ``numpy.random.Generator`` from an int, a Generator or None."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, numbers.Integral) and seed >= 0):
        return np.random.default_rng(seed)
    raise TypeError(
        f"seed must be a non-negative int, a numpy Generator or None, got {seed!r}"
    )


def check_positive(value, name, integer=False):
    """Raise ``ValueError`` unless ``value`` is a positive (int) number."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
        what = "a positive int" if integer else "a positive number"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return value


def check_fraction(value, name, allow_zero=True):
    """Raise ``ValueError`` unless ``value`` lies in [0, 1) (or (0, 1))."""
    low_ok = value >= 0 if allow_zero else value > 0
    if not isinstance(value, numbers.Real) or not (low_ok and value < 1):
        bounds = "[0, 1)" if allow_zero else "(0, 1)"
        raise ValueError(f"{name} must lie in {bounds}, got {value!r}")
    return value
