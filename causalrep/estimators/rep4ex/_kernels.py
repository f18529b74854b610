r"""Kernels of Rep4Ex's linear invariance penalty: the residual, MMR, HSIC and their widths.

The residual of a representation after its regression on the actions
(:func:`invariance_residual`) is mean-independent of the actions exactly when
the representation is affine in the latents; :func:`mmr_penalty` (a kernel
maximum moment restriction) measures how far that is from holding on a batch,
:func:`hsic_penalty` how far the residual is from independent of the actions.
The widths of the kernel on the actions come from :func:`local_bandwidth` or
:func:`median_bandwidth`. All are differentiable torch functions of one batch,
except the widths (numpy, computed once before training).
"""

import numpy as np
import torch

from ...validation import ArrayLike

__all__ = [
    "mmr_penalty",
    "hsic_penalty",
    "invariance_residual",
    "residual_mmr",
    "residual_hsic",
    "median_bandwidth",
    "local_bandwidth",
    "sqdist",
]


def median_bandwidth(a: ArrayLike, max_points: int = 2000, seed: int = 0) -> float:
    """Median pairwise Euclidean distance of the rows of ``a`` (n, k).

    At most ``max_points`` rows (a seeded subsample) are used.
    """
    a = np.asarray(a, dtype=np.float64)
    if a.shape[0] > max_points:
        a = a[np.random.default_rng(seed).choice(a.shape[0], max_points, replace=False)]
    dist = np.sqrt(np.maximum(sqdist(a, a), 0.0))
    upper = dist[np.triu_indices(a.shape[0], 1)]
    median = float(np.median(upper)) if upper.size else 1.0
    return median if median > 0 else 1.0


def local_bandwidth(a: ArrayLike, batch_size: int = 512, neighbours: int = 5, seed: int = 0) -> float:
    """Median distance from an action to its ``neighbours``-th nearest neighbour
    among ``batch_size`` training actions (a seeded subsample of ``a`` (n, k)).

    The penalty is computed within a batch, so this is the scale at which a
    batch resolves how the residual mean varies with the actions.
    """
    a = np.asarray(a, dtype=np.float64)
    size = min(batch_size, a.shape[0])
    rng = np.random.default_rng(seed)
    sample = a[rng.choice(a.shape[0], size, replace=False)]
    dist = np.sqrt(np.sort(sqdist(sample, sample), axis=1))
    kth = dist[:, min(neighbours, size - 1)]
    width = float(np.median(kth))
    return width if width > 0 else median_bandwidth(a, seed=seed)


def mmr_penalty(z: torch.Tensor, a: torch.Tensor, bandwidth: float) -> torch.Tensor:
    r"""Kernel MMR of the linear invariance constraint on one batch.

    ``(1/n^2) sum_ij r_i^T r_j k(a_i, a_j)``, where ``r`` is
    :func:`invariance_residual` and ``k`` a Gaussian kernel of width
    ``bandwidth``. Whitening makes the penalty invariant to affine maps of
    ``z``: without it the encoder lowers the penalty by shrinking its output
    (the decoder scales back up), and the constraint is never enforced.

    Arguments:
        z: Representation, shape (n, d), a tensor.
        a: Actions, shape (n, k), a tensor.
        bandwidth: Kernel width sigma > 0.

    Returns:
        Scalar tensor, >= 0.
    """
    return residual_mmr(invariance_residual(z, a), a, bandwidth)


def hsic_penalty(z: torch.Tensor, a: torch.Tensor, bandwidth: float) -> torch.Tensor:
    r"""Hilbert-Schmidt independence criterion between the residual and the actions.

    The biased estimator ``(1/n^2) tr(K H L H)`` (Gretton et al., 2005), with
    ``K`` a Gaussian Gram matrix of the residual ``r`` of
    :func:`invariance_residual` (width: the median pairwise distance, held
    fixed in the gradient), ``L`` a Gaussian Gram matrix of ``a`` of width
    ``bandwidth`` and ``H`` the centring matrix. Zero in the population
    exactly when ``r`` is independent of ``a``; affine-invariant in ``z``.

    Arguments:
        z: Representation, shape (n, d), a tensor.
        a: Actions, shape (n, k), a tensor.
        bandwidth: Width sigma > 0 of the kernel on the actions.

    Returns:
        Scalar tensor, >= 0.
    """
    return residual_hsic(invariance_residual(z, a), a, bandwidth)


def invariance_residual(z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    r"""Residual of the whitened representation after its regression on the actions.

    :math:`r = \tilde z - \hat W a - \hat c` with
    :math:`\tilde z = \hat\Sigma^{-1/2}(z - \bar z)` whitened by the batch
    covariance and :math:`(\hat W, \hat c)` the least-squares fit, both in
    closed form and differentiable.

    Arguments:
        z: Representation, shape (n, d), a tensor.
        a: Actions, shape (n, k), a tensor.

    Returns:
        Tensor of shape (n, d).
    """
    n, d = z.shape
    eye = lambda m: torch.eye(m, dtype=z.dtype, device=z.device)  # noqa: E731
    z_c = z - z.mean(0)
    cov = z_c.T @ z_c / n
    chol, info = torch.linalg.cholesky_ex(cov + 1e-6 * (torch.trace(cov) / d + 1e-12) * eye(d))
    # A diverged encoder gives a covariance with no Cholesky factor: return
    # NaN, which the training loop reports as a loss term, not an error.
    chol = torch.where(info == 0, chol, torch.full_like(chol, float("nan")))
    z_w = torch.linalg.solve_triangular(chol, z_c.T, upper=False).T
    a_c = a - a.mean(0)
    gram = a_c.T @ a_c
    ridge = 1e-6 * torch.trace(gram) / gram.shape[0] + 1e-12
    coef = torch.linalg.solve(gram + ridge * eye(gram.shape[0]), a_c.T @ z_w)
    return z_w - a_c @ coef


def residual_mmr(r: torch.Tensor, a: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """:func:`mmr_penalty` given the residual ``r`` (n, d) of :func:`invariance_residual`."""
    return (_gaussian_gram(a, bandwidth) * (r @ r.T)).sum() / r.shape[0] ** 2


def residual_hsic(r: torch.Tensor, a: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """:func:`hsic_penalty` given the residual ``r`` (n, d) of :func:`invariance_residual`."""
    sq = torch.cdist(r, r).pow(2)
    k = torch.exp(-sq / sq.detach().median().clamp_min(1e-12))
    k = k - k.mean(0, keepdim=True) - k.mean(1, keepdim=True) + k.mean()
    return (k * _gaussian_gram(a, bandwidth)).sum() / r.shape[0] ** 2


def invariance_hsic(z: ArrayLike, a: ArrayLike, bandwidth: float, max_points: int = 2000, seed: int = 0) -> float:
    """:func:`residual_hsic` of a representation ``z`` (n, d) and actions ``a`` (n, k), on at most
    ``max_points`` rows drawn by ``seed`` (the same rows for every ``z`` of the same length), in float64."""
    z, a = np.asarray(z, dtype=np.float64), np.asarray(a, dtype=np.float64)
    rows = np.random.default_rng(seed).permutation(len(z))[:max_points]
    zt, at = torch.from_numpy(z[rows]), torch.from_numpy(a[rows])
    with torch.no_grad():
        return float(residual_hsic(invariance_residual(zt, at), at, bandwidth))


def _gaussian_gram(a, bandwidth):
    return torch.exp(-torch.cdist(a, a).pow(2) / (2 * bandwidth**2))


def sqdist(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of ``x`` (n, d) and ``c`` (m, d), (n, m), >= 0."""
    return np.maximum((x**2).sum(1)[:, None] + (c**2).sum(1)[None, :] - 2 * x @ c.T, 0.0)
