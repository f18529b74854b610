r"""Stage 2 of Interventional CRL: undo an affine map with hard interventions.

Given :math:`\hat z = A z + c` (stage 1), write :math:`y = L^{-1}(\hat z - \bar z)`
for the whitened code (:math:`L L^\top` the covariance of :math:`\hat z` over
all samples). Each true latent is :math:`z_j = g_j^\top y` up to scale and
offset, and the task is to find the unit vectors :math:`g_j`.

- **do with a fixed value** on the targets T of a regime makes every
  :math:`g_t^\top y`, :math:`t \in T`, constant there: the span of
  :math:`\{g_t\}` is the eigenspace of the |T| smallest eigenvalues of the
  regime's covariance of y (the generalised eigenproblem of Ahuja et al.,
  2023). One target gives the direction itself; several give a block, and
  blocks that overlap are intersected (principal angles), so a latent shared
  by two regimes is singled out.
- **Unknown targets**: the number of near-zero eigenvalues (below
  ``threshold``, at the largest gap) says how many latents the regime fixed;
  their directions join the known ones, matched by angle, and the result is
  identified up to permutation and scaling.
- A **do with a random value** leaves the coordinate varying: its smallest
  eigenvalue stays above ``FIXED_SHARE``, which the estimator reports; the
  direction found is then not guaranteed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

__all__ = ["Whitener", "smallest_directions", "count_fixed", "intersect"]

# A regime's coordinate "is fixed" when its variance there is below this share
# of its variance over all samples.
FIXED_SHARE = 0.05


@dataclass(frozen=True)
class Whitener:
    """Centre and Cholesky factor of the covariance of a code ``z`` (n, d)."""

    center: np.ndarray
    factor: np.ndarray

    @classmethod
    def fit(cls, z: np.ndarray) -> "Whitener":
        d = z.shape[1]
        center = z.mean(0)
        cov = np.atleast_2d(np.cov(z, rowvar=False))
        cov = cov + 1e-12 * np.trace(cov) / d * np.eye(d)
        return cls(center, np.linalg.cholesky(cov))

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """Whitened code y, (n, d)."""
        return scipy.linalg.solve_triangular(self.factor, (z - self.center).T, lower=True).T

    def rows(self, directions: np.ndarray) -> np.ndarray:
        """Rows of the map z -> g^T y for unit ``directions`` (k, d) in y."""
        return scipy.linalg.solve_triangular(self.factor.T, directions.T, lower=False).T


def smallest_directions(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending, (d,)) and unit eigenvectors (columns, (d, d)) of
    the covariance of the whitened samples ``y`` (m, d) of one regime."""
    cov = np.atleast_2d(np.cov(y, rowvar=False))
    return np.linalg.eigh(cov)


def count_fixed(eigenvalues: np.ndarray, threshold: float = FIXED_SHARE) -> int:
    """How many coordinates a regime with unknown targets fixed.

    The eigenvalues below ``threshold``, cut at the largest ratio gap
    between consecutive ones; 0 when none is below.
    """
    small = int(np.sum(eigenvalues < threshold))
    if small == 0:
        return 0
    values = np.maximum(eigenvalues, 1e-300)
    gaps = np.log(values[1:small + 1]) - np.log(values[:small])
    return int(np.argmax(gaps)) + 1


def intersect(first: np.ndarray, second: np.ndarray, dim: int) -> np.ndarray:
    """The ``dim`` directions of span(first) closest to span(second).

    Arguments:
        first, second: Orthonormal columns, (d, a) and (d, b).
        dim: Dimension of the intersection, <= min(a, b).

    Returns:
        Orthonormal columns (d, dim) inside span(first).
    """
    u, _, _ = np.linalg.svd(first.T @ second)
    return first @ u[:, :dim]
