r"""Injective mixing functions :math:`g: \mathbb{R}^d \to \mathbb{R}^D`, ``x = g(z)``.

Each mixing is drawn once from its seed and is then a fixed, deterministic,
vectorised function with an analytic Jacobian, so injectivity can be checked
(full column rank of :math:`\partial g / \partial z` everywhere).
"""

import math
import numbers
from typing import Any

import numpy as np

from causalrep.validation import ArrayLike, Seed, as_float_array, as_generator, check_positive

__all__ = ["LinearMixing", "PolynomialMixing", "MLPMixing", "RandomMLPMixing"]

_NEGATIVE_SLOPE = 0.2
# Rows per block in PolynomialMixing: bounds the memory of the monomial
# features for millions of samples; fastest of 1024..16384 rows on 2 cores.
_BLOCK_ROWS = 4096
# Rows through RandomMLPMixing at once: bounds the memory of its wide hidden layers.
_MLP_ROWS = 8192


class _Mixing:
    def __init__(self, latent_dim: int, obs_dim: int, seed: Seed):
        check_positive(latent_dim, "latent_dim", integer=True)
        check_positive(obs_dim, "obs_dim", integer=True)
        self.latent_dim = int(latent_dim)
        self.obs_dim = int(obs_dim)
        self.seed = seed if isinstance(seed, numbers.Integral) else None

    def _latents(self, z):
        z = as_float_array(z, "z", ndim=2)
        if z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have {self.latent_dim} columns (latent_dim), got shape {z.shape}")
        return z

    def _finite(self, z, compute):
        """``compute()`` without numpy's overflow warnings; refuse a result that is not finite.

        Raises:
            ValueError: naming the mixing and the largest latent magnitude, when
                the observations (or derivatives) overflow float64.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            out = compute()
        if not np.all(np.isfinite(out)):
            largest = float(np.max(np.abs(z))) if z.size else 0.0
            raise ValueError(
                f"{type(self).__name__} overflows float64 at z: latents up to {largest:.3g} in magnitude "
                f"give non-finite values{self._overflow_hint()}; rescale z"
            )
        return out

    def _overflow_hint(self):
        return ""

    def _require_lift(self):
        if self.obs_dim < self.latent_dim:
            raise ValueError(f"obs_dim={self.obs_dim} < latent_dim={self.latent_dim}: the map cannot be injective")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe constructor arguments."""
        return {
            "class": type(self).__name__,
            "latent_dim": self.latent_dim,
            "obs_dim": self.obs_dim,
            "seed": None if self.seed is None else int(self.seed),
        }


class LinearMixing(_Mixing):
    r"""A random injective linear map, ``x = z @ weight``.

    ``weight`` is :math:`U \operatorname{diag}(s) V^\top` with Haar-random
    orthonormal frames and singular values :math:`s_i \sim U(0.5, 2)`, so its
    condition number is at most 4.

    Arguments:
        latent_dim: d.
        obs_dim: D >= d.
        seed: int or numpy Generator.

    Example:
        >>> LinearMixing(2, 5, seed=0)(np.ones((3, 2))).shape
        (3, 5)
    """

    def __init__(self, latent_dim: int, obs_dim: int, seed: Seed = 0):
        super().__init__(latent_dim, obs_dim, seed)
        self._require_lift()
        self.weight = _well_conditioned(as_generator(seed), self.latent_dim, self.obs_dim)

    def __call__(self, z: ArrayLike) -> np.ndarray:
        """Mix latents ``z`` of shape (n, d) into observations (n, D)."""
        z = self._latents(z)
        return self._finite(z, lambda: z @ self.weight)

    def jacobian(self, z: ArrayLike) -> np.ndarray:
        """Jacobian at each row of ``z`` (n, d), shape (n, D, d)."""
        z = self._latents(z)
        return np.broadcast_to(self.weight.T, (z.shape[0], self.obs_dim, self.latent_dim)).copy()


class PolynomialMixing(_Mixing):
    r"""A random polynomial map of given degree, as in Ahuja et al. (2023).

    :math:`x = b + W^\top \phi(z)`, where :math:`\phi(z)` lists the
    ``n_monomials`` distinct monomials of degree 1 to ``degree``
    (``exponents`` gives their powers) and :math:`b \sim N(0, I)` plays the
    constant monomial. Ahuja et al. multiply the Kronecker basis
    :math:`[1, z, z \otimes z, \dots]` by a standard Gaussian matrix; a
    monomial repeated :math:`c` times there gets a
    :math:`N(0, c)` coefficient once the repeats are summed, which is how
    ``weight`` is drawn here: the same distribution of maps, on a basis with
    no repeated columns. Degree >= 2 rows are multiplied by
    ``nonlinear_scale``. Since :math:`\phi` contains :math:`z` and ``weight``
    has full row rank (almost surely, when D >= ``n_monomials``), the map is
    injective.

    Arguments:
        latent_dim: d.
        obs_dim: D >= number of monomials of degree 1..degree in d variables,
            :math:`\binom{d + \text{degree}}{d} - 1`.
        degree: Highest total degree, >= 1.
        nonlinear_scale: Factor on the coefficients of degree >= 2, > 0.
        seed: int or numpy Generator.

    Raises:
        ValueError: if D is smaller than the number of monomials.
    """

    def __init__(self, latent_dim: int, obs_dim: int, degree: int = 2, nonlinear_scale: float = 1.0, seed: Seed = 0):
        super().__init__(latent_dim, obs_dim, seed)
        check_positive(degree, "degree", integer=True)
        check_positive(nonlinear_scale, "nonlinear_scale")
        self.degree = int(degree)
        self.nonlinear_scale = float(nonlinear_scale)
        self.n_monomials = math.comb(self.latent_dim + self.degree, self.degree) - 1
        if self.obs_dim < self.n_monomials:
            raise ValueError(
                f"obs_dim={self.obs_dim} is smaller than the {self.n_monomials} monomials "
                f"of degree 1..{self.degree} in {self.latent_dim} latents; the polynomial "
                f"map needs obs_dim >= {self.n_monomials} to be injective (full column rank)"
            )
        self._prefix, self.exponents = _monomial_plan(self.latent_dim, self.degree)
        rng = as_generator(seed)
        total = self.exponents.sum(axis=1)
        repeats = np.array(
            [
                math.factorial(k) // math.prod(math.factorial(a) for a in row)
                for k, row in zip(total, self.exponents, strict=True)
            ]
        )
        scale = np.sqrt(repeats) * np.where(total >= 2, self.nonlinear_scale, 1.0)
        self.bias = rng.standard_normal(self.obs_dim)
        self.weight = scale[:, None] * rng.standard_normal((self.n_monomials, self.obs_dim))

    def features(self, z: ArrayLike) -> np.ndarray:
        r"""Monomials :math:`\phi(z)` of ``z`` (n, d), shape (n, n_monomials)."""
        return self._features(self._latents(z)).T

    def _features(self, z):
        # Built transposed, (n_monomials, n): each product is then a
        # contiguous row operation, ~6x faster than on column slices.
        zt = np.ascontiguousarray(z.T)
        out = np.empty((self.n_monomials, z.shape[0]))
        start, end = 0, self.latent_dim
        out[:end] = zt
        for prefix in self._prefix:
            pos = end
            for i, count in enumerate(prefix):
                np.multiply(zt[i], out[start : start + count], out=out[pos : pos + count])
                pos += count
            start, end = end, pos
        return out

    def __call__(self, z: ArrayLike) -> np.ndarray:
        """Mix latents ``z`` of shape (n, d) into observations (n, D)."""
        z = self._latents(z)

        def mix():
            out = np.empty((z.shape[0], self.obs_dim))
            for begin in range(0, z.shape[0], _BLOCK_ROWS):
                block = slice(begin, begin + _BLOCK_ROWS)
                np.matmul(self._features(z[block]).T, self.weight, out=out[block])
                out[block] += self.bias
            return out

        return self._finite(z, mix)

    def jacobian(self, z: ArrayLike) -> np.ndarray:
        """Jacobian at each row of ``z`` (n, d), shape (n, D, d)."""
        z = self._latents(z)

        def derivatives():
            jac = np.empty((z.shape[0], self.obs_dim, self.latent_dim))
            for i in range(self.latent_dim):
                powers = self.exponents.copy()
                powers[:, i] = np.maximum(powers[:, i] - 1, 0)
                powers[self.exponents[:, i] == 0] = 0  # constant in z_i: 0, never 0 * inf
                partial = self.exponents[:, i] * np.prod(z[:, None, :] ** powers, axis=2)
                jac[:, :, i] = partial @ self.weight
            return jac

        return self._finite(z, derivatives)

    def _overflow_hint(self):
        return f" (monomials of degree up to {self.degree} must stay below float64's 1.8e308)"

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "degree": self.degree, "nonlinear_scale": self.nonlinear_scale}


class MLPMixing(_Mixing):
    r"""An invertible leaky-ReLU network followed by an injective linear lift.

    :math:`h_0 = z`, :math:`h_l = \operatorname{leaky}(h_{l-1} W_l + b_l)` for
    ``n_layers`` square layers (negative slope 0.2), then :math:`x = h L`.
    Every :math:`W_l` (d, d) and :math:`L` (d, D) is
    :math:`U \operatorname{diag}(s) V^\top` with Haar-random orthonormal
    frames and :math:`s_i \sim U(0.5, 2)`, and :math:`b_l \sim U(-1, 1)^d`, so
    each layer is a bijection whose Jacobian has singular values in
    [0.1, 2].

    Arguments:
        latent_dim: d.
        obs_dim: D >= d.
        n_layers: Number of square leaky-ReLU layers, >= 1.
        seed: int or numpy Generator.
    """

    def __init__(self, latent_dim: int, obs_dim: int, n_layers: int = 3, seed: Seed = 0):
        super().__init__(latent_dim, obs_dim, seed)
        self._require_lift()
        check_positive(n_layers, "n_layers", integer=True)
        self.n_layers = int(n_layers)
        rng = as_generator(seed)
        d = self.latent_dim
        self.layers = [(_well_conditioned(rng, d, d), rng.uniform(-1.0, 1.0, d)) for _ in range(self.n_layers)]
        self.lift = _well_conditioned(rng, d, self.obs_dim)

    def __call__(self, z: ArrayLike) -> np.ndarray:
        """Mix latents ``z`` of shape (n, d) into observations (n, D)."""
        z = self._latents(z)

        def mix():
            h = z
            for weight, bias in self.layers:
                h = h @ weight + bias
                h = np.where(h > 0, h, _NEGATIVE_SLOPE * h)
            return h @ self.lift

        return self._finite(z, mix)

    def jacobian(self, z: ArrayLike) -> np.ndarray:
        """Jacobian at each row of ``z`` (n, d), shape (n, D, d)."""
        h = self._latents(z)
        jac = np.broadcast_to(np.eye(self.latent_dim), (h.shape[0],) + (self.latent_dim,) * 2)
        for weight, bias in self.layers:
            h = h @ weight + bias
            slope = np.where(h > 0, 1.0, _NEGATIVE_SLOPE)
            jac = slope[:, :, None] * np.einsum("ji,njk->nik", weight, jac)
            h = slope * h
        return np.einsum("ji,njk->nik", self.lift, jac)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "n_layers": self.n_layers}


class RandomMLPMixing(_Mixing):
    r"""A randomly initialised leaky-ReLU MLP ``d -> hidden... -> D``, as deep-learning code draws one.

    Leaky ReLU (negative slope 0.2) after every hidden layer; weights and
    biases uniform in :math:`\pm 1/\sqrt{\text{fan-in}}` (PyTorch's default
    initialisation), computed in float64. With hidden layers at least as wide
    as d it is injective for almost every draw; nothing bounds its conditioning.

    Arguments:
        latent_dim: d.
        obs_dim: D >= d.
        hidden: Widths of the hidden layers, each >= d.
        seed: int or numpy Generator.
    """

    def __init__(self, latent_dim: int, obs_dim: int, hidden: tuple[int, ...] = (512, 512, 512), seed: Seed = 0):
        super().__init__(latent_dim, obs_dim, seed)
        self._require_lift()
        self.hidden = tuple(int(width) for width in hidden)
        for width in self.hidden:
            check_positive(width, "hidden", integer=True)
            if width < self.latent_dim:
                raise ValueError(
                    f"hidden widths must be >= latent_dim={self.latent_dim} for an injective mixing, got {hidden}"
                )
        rng = as_generator(seed)
        widths = (self.latent_dim, *self.hidden, self.obs_dim)
        self.layers = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True):
            bound = 1.0 / math.sqrt(fan_in)
            self.layers.append((rng.uniform(-bound, bound, (fan_in, fan_out)), rng.uniform(-bound, bound, fan_out)))

    def __call__(self, z: ArrayLike) -> np.ndarray:
        """Mix latents ``z`` of shape (n, d) into observations (n, D)."""
        z = self._latents(z)

        def mix():
            out = np.empty((z.shape[0], self.obs_dim))
            for start in range(0, z.shape[0], _MLP_ROWS):
                h = z[start : start + _MLP_ROWS]
                for i, (weight, bias) in enumerate(self.layers):
                    h = h @ weight + bias
                    if i < len(self.layers) - 1:
                        h = np.where(h > 0, h, _NEGATIVE_SLOPE * h)
                out[start : start + _MLP_ROWS] = h
            return out

        return self._finite(z, mix)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "hidden": list(self.hidden)}


def _orthonormal(rng, rows, cols):
    # QR of a Gaussian matrix with the signs of R's diagonal folded into Q:
    # Haar-distributed orthonormal columns.
    q, r = np.linalg.qr(rng.standard_normal((rows, cols)))
    return q * np.sign(np.diag(r))


def _well_conditioned(rng, rows, cols):
    """A (rows, cols) matrix, rows <= cols, with singular values in [0.5, 2]."""
    left = _orthonormal(rng, rows, rows)
    right = _orthonormal(rng, cols, rows)
    return (left * rng.uniform(0.5, 2.0, rows)) @ right.T


def _monomial_plan(d, degree):
    """Ordering of the monomials of degree 1..degree and how to build them.

    Monomials of each degree are grouped by their highest variable i, in
    increasing i; the degree-k monomials ending in i are z_i times the
    degree-(k-1) monomials whose highest variable is <= i, which form a
    prefix of the previous degree's group. Returns, for k = 2..degree, the
    length of that prefix for each i, and the (m, d) exponent matrix.
    """
    eye = np.eye(d, dtype=np.int64)
    exponents, highest = [eye], [np.arange(d)]
    prefixes = []
    for _ in range(2, degree + 1):
        prefix = [int(np.sum(highest[-1] <= i)) for i in range(d)]
        previous = exponents[-1]
        exponents.append(np.concatenate([previous[:c] + eye[i] for i, c in enumerate(prefix)]))
        highest.append(np.repeat(np.arange(d), prefix))
        prefixes.append(prefix)
    return prefixes, np.concatenate(exponents)
