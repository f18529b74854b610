r"""The control function of Rep4Ex: :math:`E[Y \mid do(A = a)]` from latents, actions and outcomes.

It computes in numpy and fits in closed form (kernel ridge regression on Nystrom
features, widths and ridge chosen by cross-validation), so it is usable on its
own, for instance on the true latents as an oracle.
"""

from collections.abc import Mapping

import numpy as np
import sklearn.base

from ...exceptions import NotFittedError
from ...validation import ArrayLike, as_float_array
from ._kernels import median_bandwidth, sqdist

__all__ = ["ControlFunction"]


class ControlFunction(sklearn.base.BaseEstimator):
    r"""Control-function regression for :math:`E[Y \mid do(A = a)]` given latents.

    Fits :math:`Z = \hat M A + \hat c + \hat V` by least squares, then the
    additive model :math:`Y \approx \nu(Z) + \psi(\hat V)` by kernel ridge
    regression in closed form: each of :math:`\nu` and :math:`\psi` is an
    unpenalised affine part plus a Gaussian-kernel part on ``n_centers``
    (Nystrom) centres, inputs standardised, the ridge penalty on the RKHS
    norm. Far from the data the kernel part vanishes, so :math:`\nu`
    extrapolates linearly rather than wildly. The kernel widths (1 to 3 times
    the median heuristic) and the ridge penalty (1e-6 to 1e-2 per sample) are
    chosen by ``folds``-fold cross-validation.

    Usable on its own, e.g. on the true latents as an oracle; a scikit-learn
    estimator (``get_params``, ``clone``, ``repr``).

    Arguments:
        n_centers: Kernel centres per function (a seeded subsample of rows).
        folds: Cross-validation folds.
        seed: Seed of the centres and the folds.

    Attributes:
        arrays_: All fitted state as numpy arrays (for checkpoints).
    """

    # Narrower kernels and weaker ridge than these won cross-validation by a
    # hair on slightly non-affine representations and then extrapolated
    # wildly (errors 10-100x larger); on the true latents they never helped.
    _WIDTHS = (1.0, 1.5, 2.0, 3.0)
    _PENALTIES = tuple(10.0 ** np.arange(-6, -1))

    def __init__(self, n_centers: int = 300, folds: int = 5, seed: int = 0):
        self.n_centers = n_centers
        self.folds = folds
        self.seed = seed

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "ControlFunction":
        """Rebuild a fitted instance from ``arrays_``."""
        fitted = cls()
        fitted.arrays_ = dict(arrays)
        return fitted

    def fit(self, Z: ArrayLike, A: ArrayLike, Y: ArrayLike) -> "ControlFunction":
        """Fit on latents Z (n, d), actions A (n, k), outcomes Y (n,); returns self."""
        Z, A, Y = _rows(Z, "Z"), _rows(A, "A"), as_float_array(Y, "Y", ndim=1)
        n, d = Z.shape
        if A.shape[0] != n or Y.shape[0] != n:
            raise ValueError(f"Z, A and Y must have the same rows, got {n}, {A.shape[0]}, {Y.shape[0]}")
        if n < 2 * self.folds + A.shape[1] + 2:
            raise ValueError(f"{n} samples are too few for the control function")
        rng = np.random.default_rng(self.seed)
        # Fitted on the standardised outcome (an outcome in units of 1e300 would overflow
        # the cross-validation's squared errors), then scaled back: beta is in Y's units.
        peak = float(np.abs(Y).max()) or 1.0
        y_mean, y_scale = peak * float((Y / peak).mean()), peak * float(_scale(Y[:, None] / peak)[0])
        Y = (Y - y_mean) / y_scale
        design = np.hstack([np.ones((n, 1)), A])
        coef = np.linalg.lstsq(design, Z, rcond=None)[0]
        V = Z - design @ coef
        arrays = {
            "offset": coef[0],
            "M": coef[1:].T,
            "V": V,
            "z_mean": Z.mean(0),
            "z_scale": _scale(Z),
            "v_mean": V.mean(0),
            "v_scale": _scale(V),
        }
        zs = (Z - arrays["z_mean"]) / arrays["z_scale"]
        vs = (V - arrays["v_mean"]) / arrays["v_scale"]
        pick = rng.choice(n, min(self.n_centers, n), replace=False)
        arrays["z_centers"], arrays["v_centers"] = zs[pick], vs[pick]
        base = np.array([median_bandwidth(zs[pick]), median_bandwidth(vs[pick])])
        fold = rng.permutation(n) % self.folds
        best = None
        for width in self._WIDTHS:
            _set_widths(arrays, width * base)
            features, penalised = self._features(arrays, zs, vs)
            gram, moment = features.T @ features, features.T @ Y
            parts = [(features[fold == f], Y[fold == f]) for f in range(self.folds)]
            held = [(f.T @ f, f.T @ y) for f, y in parts]
            for penalty in self._PENALTIES:
                error = 0.0
                for (f, y), (g, m) in zip(parts, held, strict=True):
                    beta = _ridge(gram - g, moment - m, penalty * n, penalised)
                    error += float(((f @ beta - y) ** 2).sum())
                if best is None or error < best[0]:
                    best = (error, width, penalty)
        _, width, penalty = best
        _set_widths(arrays, width * base)
        features, penalised = self._features(arrays, zs, vs)
        beta = _ridge(features.T @ features, features.T @ Y, penalty * n, penalised)
        beta[0] += y_mean / y_scale  # the intercept column
        arrays["beta"] = beta * y_scale
        arrays["penalty"] = np.array(penalty)
        arrays["psi_mean"] = np.array(float(self._psi(arrays, vs).mean()))
        self.arrays_ = arrays
        return self

    def _features(self, arrays, zs, vs):
        """[1, z, kernel(z), v, kernel(v)] and the mask of penalised columns."""
        kz = _kernel_features(zs, arrays["z_centers"], arrays["widths"][0], arrays["z_whiten"])
        kv = _kernel_features(vs, arrays["v_centers"], arrays["widths"][1], arrays["v_whiten"])
        n, d = zs.shape
        features = np.hstack([np.ones((n, 1)), zs, kz, vs, kv])
        penalised = np.concatenate([np.zeros(1 + d), np.ones(kz.shape[1]), np.zeros(d), np.ones(kv.shape[1])])
        return features, penalised

    @staticmethod
    def _split(arrays):
        d = arrays["z_centers"].shape[1]
        return 1 + d + arrays["z_whiten"].shape[1]

    def _nu(self, arrays, zs):
        kz = _kernel_features(zs, arrays["z_centers"], arrays["widths"][0], arrays["z_whiten"])
        head = arrays["beta"][: self._split(arrays)]
        return head[0] + zs @ head[1 : 1 + zs.shape[1]] + kz @ head[1 + zs.shape[1] :]

    def _psi(self, arrays, vs):
        kv = _kernel_features(vs, arrays["v_centers"], arrays["widths"][1], arrays["v_whiten"])
        tail = arrays["beta"][self._split(arrays) :]
        return vs @ tail[: vs.shape[1]] + kv @ tail[vs.shape[1] :]

    def nu(self, Z: ArrayLike) -> np.ndarray:
        r""":math:`\nu(z)` (intercept included), Z of shape (n, d) -> (n,)."""
        arrays = self._fitted()
        return self._nu(arrays, (_rows(Z, "Z") - arrays["z_mean"]) / arrays["z_scale"])

    def psi(self, V: ArrayLike) -> np.ndarray:
        r""":math:`\psi(v)` (no intercept), V of shape (n, d) -> (n,)."""
        arrays = self._fitted()
        return self._psi(arrays, (_rows(V, "V") - arrays["v_mean"]) / arrays["v_scale"])

    def residuals(self, Z: ArrayLike, A: ArrayLike) -> np.ndarray:
        r""":math:`\hat V = Z - \hat M A - \hat c`, shape (n, d)."""
        arrays = self._fitted()
        return _rows(Z, "Z") - self._shift(arrays, A)

    def predict(self, Z: ArrayLike, A: ArrayLike) -> np.ndarray:
        r""":math:`E[Y \mid Z, do(A)] = \nu(Z) + \psi(Z - \hat M A - \hat c)`, shape (n,)."""
        return self.nu(Z) + self.psi(self.residuals(Z, A))

    def predict_interventional(self, a: ArrayLike) -> np.ndarray:
        r""":math:`E[Y \mid do(A = a)]`, the mean over the training :math:`\hat V`.

        Arguments:
            a: Actions, shape (m, k).

        Returns:
            numpy array of shape (m,).
        """
        arrays = self._fitted()
        shifts = self._shift(arrays, a)
        V = arrays["V"]
        out = np.empty(shifts.shape[0])
        for i, shift in enumerate(shifts):
            out[i] = self._nu(arrays, (V + shift - arrays["z_mean"]) / arrays["z_scale"]).mean()
        return out + float(arrays["psi_mean"])

    def coverage(self, a: ArrayLike, max_points: int = 1000) -> np.ndarray:
        r"""Share of the points :math:`\hat M a + \hat c + \hat V_i` that lie inside the training latents.

        :meth:`predict_interventional` averages :math:`\nu` over these points;
        where they leave the data, :math:`\nu` is extended (linearly, as its
        kernel part vanishes) rather than estimated. A point counts as inside
        when its distance to the nearest kernel centre (a subsample of the
        training latents, standardised) is at most the largest distance from a
        centre to its nearest other centre.

        Arguments:
            a: Actions, shape (m, k).
            max_points: At most this many rows of :math:`\hat V` (evenly spaced).

        Returns:
            numpy array of shape (m,), each in [0, 1].
        """
        arrays = self._fitted()
        shifts = self._shift(arrays, a)
        centers = arrays["z_centers"]
        own = sqdist(centers, centers)
        np.fill_diagonal(own, np.inf)
        radius = float(own.min(1).max()) if len(centers) > 1 else np.inf
        V = arrays["V"][np.linspace(0, len(arrays["V"]) - 1, min(max_points, len(arrays["V"]))).astype(int)]
        return np.array(
            [
                float((sqdist((V + shift - arrays["z_mean"]) / arrays["z_scale"], centers).min(1) <= radius).mean())
                for shift in shifts
            ]
        )

    def _shift(self, arrays, A):
        A = _rows(A, "a")
        k = arrays["M"].shape[1]
        if A.shape[1] != k:
            raise ValueError(f"actions must have {k} columns, got shape {A.shape}")
        return A @ arrays["M"].T + arrays["offset"]

    def _fitted(self):
        if not hasattr(self, "arrays_"):
            raise NotFittedError("this ControlFunction is not fitted yet: call fit(Z, A, Y) first")
        return self.arrays_


def _rows(x, name):
    x = as_float_array(x, name)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional, got shape {x.shape}")
    return x


def _scale(x):
    sd = x.std(0)
    return np.where(sd > 0, sd, 1.0)


def _set_widths(arrays, widths):
    """Kernel widths and the matching whitening of each part's centres."""
    arrays["widths"] = widths
    arrays["z_whiten"] = _whitening(arrays["z_centers"], widths[0])
    arrays["v_whiten"] = _whitening(arrays["v_centers"], widths[1])


def _whitening(centers, width):
    """K_cc^{-1/2} on the well-conditioned eigenspace: Nystrom features then
    have the RKHS norm as their Euclidean norm, so ridge penalises it."""
    gram = np.exp(-sqdist(centers, centers) / (2 * width**2))
    values, vectors = np.linalg.eigh(gram)
    keep = values > 1e-8 * values.max()
    return vectors[:, keep] / np.sqrt(values[keep])


def _kernel_features(x, centers, width, whiten):
    """Gaussian-kernel Nystrom features of ``x`` (n, d): (n, rank)."""
    return np.exp(-sqdist(x, centers) / (2 * width**2)) @ whiten


def _ridge(gram, moment, penalty, penalised):
    system = gram + np.diag(penalty * penalised + 1e-9 * np.trace(gram) / gram.shape[0])
    return np.linalg.solve(system, moment)
