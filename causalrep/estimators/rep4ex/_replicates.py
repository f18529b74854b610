r"""Replicates of a Rep4Ex fit: parametric-bootstrap worlds, refits in parallel, and the band.

A single Rep4Ex fit cannot tell how far its extrapolation is off: the error
grows like 60-100 x (1 - affine R2) of its representation, and a tail
distortion that costs a hundredfold error moves every fit-level statistic by
less than its noise. Its error is mostly a bias of the procedure, shared by
fits with other seeds, so the spread of a seed ensemble does not cover it.
A parametric bootstrap of the whole pipeline estimates bias and spread
together:

1. **A world simulated from the fit.** Latents :math:`Z^* = \hat M A + \hat c
   + \hat V^*` (the training actions, residual rows :math:`\hat V^*` drawn with
   replacement, so :math:`A \perp V^*` as the model assumes), observations
   :math:`X^* = \hat g(Z^*) + \varepsilon_X` (the fitted decoder plus Gaussian
   noise with the per-feature variance of the fit's reconstruction residual),
   outcome :math:`Y^* = \hat\nu(Z^*) + \hat\psi(\hat V^*) + \varepsilon_Y`
   (residuals of the fitted outcome model, drawn with replacement). Its
   :math:`E[Y^* \mid do(A = a)]` is the fit's own prediction, known exactly.
2. **A refit** of the same procedure (a fresh seed) on each world, in
   parallel processes, one thread each.
3. **Its error** at an action, :math:`e_b(a) = \hat E_b[Y \mid do(A=a)] -
   \hat E[Y \mid do(A=a)]`, holds the procedure's bias and spread at that
   action, in the outcome's units.

:func:`band` turns the errors into an interval: half-width :math:`q\,
\mathrm{rms}_b\, e_b(a)`, where the factor :math:`q` is calibrated so that
each world's error lies inside the band built from the other worlds at the
nominal rate (leave-one-world-out, pooled over probe actions), times a margin
for worlds that are easier than the real one (the fitted decoder is smoother
than a true mixing). The band is centred on the point estimate, not shifted
by the estimated bias: in the worlds the bias has the right sign, but not
always in reality.
"""

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = ["InterventionalPrediction", "band", "probe_actions", "run_parallel", "simulate_world"]

# Measured on the four benchmark settings (docs: Rep4Ex): the real error of a
# fit exceeds the errors of its bootstrap refits; this factor widens the band.
MARGIN = 1.5
# Leave-one-world-out calibration needs a spread from at least two other worlds.
MIN_REPLICATES = 3


class InterventionalPrediction(NamedTuple):
    r""":math:`E[Y \mid do(A = a)]` with a band, each of shape (m,).

    Attributes:
        mean: The point estimate (the fit's prediction).
        lower: Lower end of the band.
        upper: Upper end of the band.
    """

    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def simulate_world(
    decode: Callable[[np.ndarray], np.ndarray],
    control: Any,
    A: np.ndarray,
    Y: np.ndarray,
    Z: np.ndarray,
    X_noise_sd: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    r"""One world simulated from a fitted Rep4Ex (see the module docstring).

    Arguments:
        decode: Latents (n, d) to observations (n, dim_x), the fitted decoder.
        control: The fitted :class:`ControlFunction` on the fit's representation.
        A: Training actions, shape (n, k).
        Y: Training outcomes, shape (n,).
        Z: The fit's representation of the training data, shape (n, d).
        X_noise_sd: Per-feature standard deviation of the reconstruction residual, shape (dim_x,).
        rng: Source of the world's randomness.

    Returns:
        (X*, Y*) of shapes (n, dim_x) and (n,), for the actions ``A``.
    """
    arrays = control.arrays_
    n = A.shape[0]
    rows = rng.integers(0, n, n)
    V = arrays["V"][rows]
    Z_star = A @ arrays["M"].T + arrays["offset"] + V
    X_star = decode(Z_star) + rng.standard_normal((n, X_noise_sd.shape[0])) * X_noise_sd
    residual = Y - control.predict(Z, A)
    Y_star = control.nu(Z_star) + control.psi(V) + residual[rng.integers(0, n, n)]
    return X_star, Y_star


def probe_actions(A: np.ndarray, n_probes: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Actions on the surface of the training actions' bounding box, blown up ``scale`` times
    about its centre: ``scale = 1`` is the edge of the data, 2 one range beyond. Shape (n_probes, k)."""
    low, high = A.min(0), A.max(0)
    centre, half = (low + high) / 2, (high - low) / 2
    directions = rng.uniform(-1.0, 1.0, (n_probes, A.shape[1]))
    face = np.abs(directions).argmax(1)
    directions[np.arange(n_probes), face] = np.sign(directions[np.arange(n_probes), face]) + (
        directions[np.arange(n_probes), face] == 0
    )
    return centre + scale * half * directions


def run_parallel(function: Callable, jobs: Sequence[tuple], n_jobs: int) -> list:
    """``[function(*job) for job in jobs]``, in ``n_jobs`` processes when that is above 1."""
    if n_jobs <= 1 or len(jobs) <= 1:
        return [function(*job) for job in jobs]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=min(n_jobs, len(jobs)), backend="loky")(delayed(function)(*job) for job in jobs)


def calibration_factor(errors: np.ndarray, level: float, margin: float = MARGIN) -> float:
    r"""The factor :math:`q` of :func:`band` at nominal ``level``: the ``level``-quantile of
    :math:`|e_b(a)| / \mathrm{rms}_{b' \ne b}\, e_{b'}(a)` over worlds :math:`b` and probe
    actions :math:`a` (errors of shape (B, m), B >= 3), times ``margin``."""
    B = errors.shape[0]
    squares = errors**2
    others = np.sqrt((squares.sum(0, keepdims=True) - squares) / (B - 1))
    tiny = np.finfo(float).tiny
    scores = np.abs(errors) / np.maximum(others, tiny)
    return margin * float(np.quantile(scores, level))


def band(
    point: np.ndarray, errors: np.ndarray, probe_errors: np.ndarray, level: float, margin: float = MARGIN
) -> InterventionalPrediction:
    r"""The band at nominal ``level`` around ``point`` (m,), from the bootstrap errors at the
    same actions (B, m) and at the probe actions (B, p), which calibrate its width (times ``margin``)."""
    rms = np.sqrt((errors**2).mean(0))
    half = calibration_factor(probe_errors, level, margin) * rms
    return InterventionalPrediction(point, point - half, point + half)
