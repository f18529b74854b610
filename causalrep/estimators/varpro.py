r"""Exact stage 1 for polynomial mixing: a linear encoder by variable projection.

When :math:`x = b + W^\top \phi(z)` with :math:`\phi` the monomials of degree
1 to p of the d latents and :math:`W` of full row rank (a full-rank lift),
the observations span an affine subspace of dimension
:math:`M = \binom{d + p}{p} - 1`, and since :math:`\phi(z)` contains
:math:`z`, the latents are a *linear* function of the observations. So
instead of training a deep encoder by SGD, this module

1. projects the centred observations on their top-M principal directions and
   whitens them, :math:`u = \Lambda_M^{-1/2} U_M^\top (x - \bar x)` (n, M);
2. looks for a d-dimensional linear code :math:`\hat z = u V` such that the
   monomials of :math:`\hat z` (constant included) reconstruct :math:`u`
   exactly. For a given V the best polynomial decoder is a least-squares
   problem, solved in closed form (variable projection, Golub and Pereyra
   1973); only V is optimised, full batch, in float64, with L-BFGS. The
   objective depends on V only through its column span, so V is kept
   orthonormal by a QR factorisation inside the objective;
3. accepts a solution when its reconstruction residual reaches the noise
   floor estimated from the discarded principal components, restarting from
   seeded random initialisations otherwise.

At a zero residual :math:`\hat z` is an invertible affine map of z (the
identification result of Ahuja et al., 2023, for polynomial decoders).
Memory is linear in n: the covariance is accumulated in chunks and the
search runs on at most ``max_search_samples`` rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import torch

from .nets import PolynomialFeatures

__all__ = ["PrincipalSubspace", "LinearCode", "principal_subspace", "n_monomials",
           "fit_linear_code", "residual"]

_CHUNK_ROWS = 65536
# Rows x features^2 of one polish iteration's QR: bounds its cost when the
# decoder has hundreds of monomials (degree 3 in 10 latents has 286).
_POLISH_BUDGET = 4e7


def n_monomials(latent_dim: int, degree: int) -> int:
    """Monomials of degree 1..degree in ``latent_dim`` variables, C(d + p, p) - 1."""
    return math.comb(latent_dim + degree, degree) - 1


@dataclass(frozen=True)
class PrincipalSubspace:
    """Top principal directions of the observations and the spectrum beyond.

    Attributes:
        mean: Column means, (D,).
        components: Principal directions as columns, (D, M).
        eigenvalues: Every eigenvalue of the covariance, descending, (D,).
        noise_variance: Median of the discarded eigenvalues (per-dimension
            noise variance, assuming isotropic noise); 0 when none is discarded.
    """

    mean: np.ndarray
    components: np.ndarray
    eigenvalues: np.ndarray
    noise_variance: float

    @property
    def scale(self) -> np.ndarray:
        """Standard deviation along each kept direction, (M,)."""
        return np.sqrt(self.eigenvalues[: self.components.shape[1]])

    def whiten(self, X: np.ndarray) -> np.ndarray:
        """Whitened principal coordinates u of ``X`` (n, D), shape (n, M)."""
        return ((X - self.mean) @ self.components) / self.scale

    def noise_floor(self) -> float:
        """Expected reconstruction residual per whitened coordinate due to noise."""
        return float(np.mean(self.noise_variance / self.scale**2))


def principal_subspace(X: np.ndarray, n_components: int) -> PrincipalSubspace:
    """Principal subspace of ``X`` (n, D) in float64, covariance built in chunks.

    Memory is O(D^2) beyond the input: no (n, n) or (n, D) temporary is made
    besides one chunk of ``_CHUNK_ROWS`` rows.
    """
    n, dim = X.shape
    mean = np.zeros(dim)
    for start in range(0, n, _CHUNK_ROWS):
        mean += X[start:start + _CHUNK_ROWS].sum(0, dtype=np.float64)
    mean /= n
    cov = np.zeros((dim, dim))
    for start in range(0, n, _CHUNK_ROWS):
        chunk = np.asarray(X[start:start + _CHUNK_ROWS], dtype=np.float64) - mean
        cov += chunk.T @ chunk
    cov /= max(n - 1, 1)
    eigenvalues, vectors = np.linalg.eigh(cov)
    eigenvalues, vectors = np.clip(eigenvalues[::-1], 0.0, None), vectors[:, ::-1]
    rest = eigenvalues[n_components:]
    noise = float(np.median(rest)) if rest.size else 0.0
    # Directions with no spread at all cannot be whitened; floor them at the
    # float64 resolution of the largest eigenvalue.
    eigenvalues = np.maximum(eigenvalues, eigenvalues[0] * 1e-30 + 1e-300)
    return PrincipalSubspace(mean, vectors[:, :n_components].copy(), eigenvalues, noise)


@dataclass(frozen=True)
class LinearCode:
    """A linear code ``z = u @ basis`` of whitened principal coordinates.

    Attributes:
        basis: (M, d) with orthonormal columns.
        residual: Mean squared reconstruction error of u from the monomials of
            z on the samples searched, per whitened coordinate (1 = nothing
            explained).
        restarts: Initialisations tried.
        iterations: L-BFGS iterations of the accepted solution.
    """

    basis: np.ndarray
    residual: float
    restarts: int
    iterations: int


def residual(u: torch.Tensor, basis: torch.Tensor, features: PolynomialFeatures) -> torch.Tensor:
    """Mean squared residual of ``u`` (n, M) projected on the monomials of ``u @ basis``.

    ``basis`` (M, d) is orthonormalised first, so only its span matters.
    """
    q, _ = torch.linalg.qr(basis)
    design, _ = torch.linalg.qr(features(u @ q))
    return ((u - design @ (design.T @ u)) ** 2).mean()


def fit_linear_code(u: np.ndarray, latent_dim: int, degree: int, *, search_rows=None,
                    restarts: int = 4, tolerance: float = 1e-9, seed: int = 0,
                    max_iter: int = 2000, max_search_samples: int = 20000) -> LinearCode:
    """Search the d-dimensional linear code of ``u`` best explained by its monomials.

    Each seeded random initialisation runs an L-BFGS search on a subsample
    of a few thousand rows (enough: without noise the solution is exact for
    any n above the number of monomials); the best is then polished on up to
    ``max_search_samples`` rows. A search reaching ``tolerance`` stops the
    restarts.

    Arguments:
        u: Whitened principal coordinates, (n, M).
        latent_dim: d.
        degree: Degree p of the polynomial decoder.
        search_rows: Optional indices of rows that every other restart
            searches on (the others search on all rows, and the polish uses
            all). Hard interventions pile rows onto hyperplanes (a latent held
            at one value), which changes the objective's local minima: we
            measured settings where only the observational rows, and others
            where only all rows, led L-BFGS to the exact solution.
        restarts: Most random initialisations.
        tolerance: Residual at which a search is accepted at once.
        seed: Seed of the initialisations and of the subsamples.
        max_iter: L-BFGS iterations per search.
        max_search_samples: Most rows of u used by the final polish (fewer
            when the decoder has many monomials).

    Returns:
        LinearCode.
    """
    rng = np.random.default_rng(seed)
    dim = u.shape[1]
    features = PolynomialFeatures(latent_dim, degree).double()
    n_features = features.out_dim

    def subsample(size, pool=None):
        pool = np.arange(u.shape[0]) if pool is None else np.asarray(pool)
        if pool.size > size:
            pool = np.sort(rng.choice(pool, size, replace=False))
        return torch.from_numpy(np.ascontiguousarray(u[pool], dtype=np.float64))

    def search(data, start, max_iter):
        def objective(flat):
            basis = torch.from_numpy(flat.reshape(dim, latent_dim)).requires_grad_(True)
            value = residual(data, basis, features)
            (grad,) = torch.autograd.grad(value, basis)
            return float(value.detach()), grad.numpy().ravel()

        result = scipy.optimize.minimize(
            objective, start.ravel(), jac=True, method="L-BFGS-B",
            options={"maxiter": max_iter, "ftol": 1e-16, "gtol": 1e-13, "maxcor": 30})
        return float(result.fun), result.x.reshape(dim, latent_dim), int(result.nit)

    small_rows = max(2000, 10 * n_features)
    pools = [subsample(small_rows, search_rows), subsample(small_rows)]
    if search_rows is None:
        pools = pools[:1]
    best = None
    for attempt in range(1, restarts + 1):
        pool = pools[(attempt - 1) % len(pools)]
        found = search(pool, rng.standard_normal((dim, latent_dim)), max_iter)
        if best is None or found[0] < best[0]:
            best = found
        if best[0] <= tolerance:
            break
    polish_rows = min(max_search_samples, max(small_rows, int(_POLISH_BUDGET / n_features**2)))
    value, basis, iterations = search(subsample(polish_rows), best[1], max_iter // 2)
    basis, _ = np.linalg.qr(basis)
    return LinearCode(basis=basis, residual=value, restarts=attempt,
                      iterations=best[2] + iterations)
