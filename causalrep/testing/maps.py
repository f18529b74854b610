r"""Hypothesis strategies for latents and the maps identifiability is claimed up to.

Use them to property-test an estimator or a metric: draw latents, apply a map
from the class an estimator claims to identify up to, and check the scores.

Example:
    >>> from hypothesis import given, settings
    >>> from causalrep.identifiability import check
    >>> @settings(max_examples=5, deadline=None)
    ... @given(latent_samples(3, 500), permutation_scalings(3))
    ... def test_permutation(z, g):
    ...     assert check(z, g(z), up_to="permutation").passed
    >>> test_permutation()

Drawing needs hypothesis; importing this module does not need pytest.
"""

import functools
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

__all__ = [
    "AffineMap",
    "PermutationScaling",
    "ElementwiseMonotone",
    "MONOTONE_FUNCTIONS",
    "LATENT_FAMILIES",
    "latent_samples",
    "invertible_affine_maps",
    "permutation_scalings",
    "elementwise_monotone_maps",
]


def _sizes_checked(strategy):
    """Check the size arguments (ints >= 1) when the strategy is built, not when drawn."""

    @functools.wraps(strategy)
    def build(*sizes, **named):
        for value in (*sizes, *named.values()):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{strategy.__name__} needs sizes that are ints >= 1, got {value!r}")
        return strategy(*sizes, **named)

    return build


MONOTONE_FUNCTIONS = {
    "cubic": lambda x: x**3 + x,
    "cbrt": np.cbrt,
    "arcsinh": np.arcsinh,
    "wiggle": lambda x: x + 0.5 * np.sin(x),
}
LATENT_FAMILIES = ("normal", "uniform", "laplace")
_SEEDS = st.integers(0, 2**32 - 1)


@dataclass(frozen=True, eq=False)
class AffineMap:
    r"""The map ``z -> z @ matrix + offset``.

    Attributes:
        matrix: Invertible matrix, shape (d, d).
        offset: Shape (d,).
    """

    matrix: np.ndarray
    offset: np.ndarray

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """Apply the map to latents of shape (n, d)."""
        return np.asarray(z) @ self.matrix + self.offset

    def to_dict(self) -> dict[str, Any]:
        """Return the map as JSON-safe plain types."""
        return {"matrix": self.matrix.tolist(), "offset": self.offset.tolist()}


@dataclass(frozen=True, eq=False)
class PermutationScaling:
    r"""Moves latent ``i`` to coordinate ``permutation[i]``, scaled and shifted.

    ``out[:, permutation[i]] = scales[i] * z[:, i] + offsets[i]``, so
    ``permutation`` is exactly the matching an MCC should recover.

    Attributes:
        permutation: Target coordinate of each latent, length d.
        scales: Nonzero scale of each latent, shape (d,).
        offsets: Shift of each latent, shape (d,).
    """

    permutation: tuple
    scales: np.ndarray
    offsets: np.ndarray

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """Apply the map to latents of shape (n, d)."""
        z = np.asarray(z)
        out = np.empty_like(z, dtype=float)
        out[:, list(self.permutation)] = z * self.scales + self.offsets
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return the map as JSON-safe plain types."""
        return {
            "permutation": list(self.permutation),
            "scales": self.scales.tolist(),
            "offsets": self.offsets.tolist(),
        }


@dataclass(frozen=True, eq=False)
class ElementwiseMonotone:
    r"""Strictly monotone function per latent, then a permutation.

    ``out[:, permutation[i]] = signs[i] * f_i(z[:, i])`` with ``f_i`` named by
    ``functions[i]`` in ``MONOTONE_FUNCTIONS``.

    Attributes:
        functions: Name of each latent's function, length d.
        signs: +1 or -1 per latent, shape (d,).
        permutation: Target coordinate of each latent, length d.
    """

    functions: tuple
    signs: np.ndarray
    permutation: tuple

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """Apply the map to latents of shape (n, d)."""
        z = np.asarray(z, dtype=float)
        out = np.empty_like(z)
        for i, (name, sign) in enumerate(zip(self.functions, self.signs, strict=True)):
            out[:, self.permutation[i]] = sign * MONOTONE_FUNCTIONS[name](z[:, i])
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return the map as JSON-safe plain types."""
        return {
            "functions": list(self.functions),
            "signs": self.signs.tolist(),
            "permutation": list(self.permutation),
        }


@_sizes_checked
@st.composite
def latent_samples(draw: st.DrawFn, d: int, n: int) -> np.ndarray:
    r"""Independent latents, each of a drawn family, scale and location.

    Each column is normal, uniform or Laplace, with scale in [0.1, 10] and
    location in [-10, 10], so metrics meet unequal scales and non-Gaussian tails.

    Arguments:
        d: Number of latents.
        n: Number of samples.

    Returns:
        A strategy of arrays of shape (n, d).
    """
    families = draw(st.lists(st.sampled_from(LATENT_FAMILIES), min_size=d, max_size=d))
    scales = draw(_vectors(d, 0.1, 10.0))
    locations = draw(_vectors(d, -10.0, 10.0))
    rng = np.random.default_rng(draw(_SEEDS))
    columns = [getattr(rng, family)(size=n) for family in families]
    return np.stack(columns, axis=1) * scales + locations


@_sizes_checked
@st.composite
def invertible_affine_maps(draw: st.DrawFn, d: int) -> "AffineMap":
    r"""Well-conditioned invertible affine maps of dimension d.

    The matrix is ``U diag(s) V^T`` with U and V random orthogonal matrices and
    singular values s in [0.5, 2], so its condition number is at most 4.

    Arguments:
        d: Dimension.

    Returns:
        A strategy of ``AffineMap``.
    """
    rng = np.random.default_rng(draw(_SEEDS))
    singular = draw(_vectors(d, 0.5, 2.0))
    matrix = _orthogonal(rng, d) @ np.diag(singular) @ _orthogonal(rng, d).T
    return AffineMap(matrix=matrix, offset=draw(_vectors(d, -5.0, 5.0)))


@_sizes_checked
@st.composite
def permutation_scalings(draw: st.DrawFn, d: int) -> "PermutationScaling":
    r"""Permutations with nonzero scalings (|s| in [0.2, 5], random signs) and offsets.

    Arguments:
        d: Dimension.

    Returns:
        A strategy of ``PermutationScaling``.
    """
    permutation = tuple(draw(st.permutations(range(d))))
    magnitudes = draw(_vectors(d, 0.2, 5.0))
    return PermutationScaling(
        permutation=permutation,
        scales=magnitudes * draw(_signs(d)),
        offsets=draw(_vectors(d, -5.0, 5.0)),
    )


@_sizes_checked
@st.composite
def elementwise_monotone_maps(draw: st.DrawFn, d: int) -> "ElementwiseMonotone":
    r"""Strictly monotone nonlinear element-wise maps followed by a permutation.

    Arguments:
        d: Dimension.

    Returns:
        A strategy of ``ElementwiseMonotone``.
    """
    names = sorted(MONOTONE_FUNCTIONS)
    functions = tuple(draw(st.lists(st.sampled_from(names), min_size=d, max_size=d)))
    return ElementwiseMonotone(
        functions=functions,
        signs=draw(_signs(d)),
        permutation=tuple(draw(st.permutations(range(d)))),
    )


def _vectors(d, low, high):
    floats = st.floats(low, high, allow_nan=False, allow_infinity=False)
    return st.lists(floats, min_size=d, max_size=d).map(np.array)


def _signs(d):
    return st.lists(st.sampled_from((-1.0, 1.0)), min_size=d, max_size=d).map(np.array)


def _orthogonal(rng, d):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))
