r"""Representations for intervention extrapolation (Saengkyongam, Rosenfeld, Ravikumar, Pfister, Peters, 2024).

The setting: exogenous actions :math:`A` act linearly on latents,
:math:`Z = M A + V`; observations are :math:`X = g(Z)` with :math:`g` injective
and nonlinear; an outcome is :math:`Y = \ell(Z) + U` where :math:`U` depends on
:math:`V` (hidden confounding). The goal is :math:`E[Y \mid do(A = a)]` for
``a`` outside the range of :math:`A` seen in training.

Stage 1 learns an encoder :math:`\phi` whose output is an affine function of
:math:`Z`. Among injective encoders, exactly those make the residual of
:math:`\phi(X)` after its linear regression on :math:`A` mean-independent of
:math:`A` (the paper's linear invariance constraint). An autoencoder is
trained on reconstruction plus ``lam`` times the maximum moment restriction
(MMR) that measures how far that constraint is from holding, on each batch
:math:`(x_i, a_i)_{i \le n}`:

.. math::

    \tilde z_i = \hat\Sigma^{-1/2} (\phi(x_i) - \bar\phi), \qquad
    r_i = \tilde z_i - \hat W a_i - \hat c, \qquad
    (\hat W, \hat c) = \arg\min_{W, c} \sum_i \lVert \tilde z_i - W a_i - c \rVert^2,

    \mathrm{MMR} = \frac{1}{n^2} \sum_{i, j} r_i^\top r_j \, k(a_i, a_j), \qquad
    k(a, a') = \exp\!\left(-\frac{\lVert a - a' \rVert^2}{2 \sigma^2}\right),

with :math:`\bar\phi, \hat\Sigma` the batch mean and covariance of
:math:`\phi(x)`. The regression and the whitening are solved in closed form on
every batch, so the gradient flows through both. With a characteristic
kernel, the population MMR is zero exactly when :math:`E[r \mid A] = 0`.

Two departures from the raw penalty on :math:`\phi(x)`, both measured on
``simulators.rep4ex``: (1) without whitening the encoder shrinks its output
(the decoder scales back up) until the penalty is negligible, and the
learned latents were then no closer to affine than with ``lam=0`` (affine R2
~0.75 either way); whitening makes the penalty invariant to affine maps of
:math:`\phi`, so only nonlinearity costs. (2) :math:`\sigma` defaults to the
scale a batch resolves (:func:`local_bandwidth`, the median distance to the
5th nearest of ``batch_size`` training actions, computed once): with the
median pairwise distance (``kernel_bandwidth="median"``) the kernel is so
smooth that it barely weighs the curvature of :math:`E[r \mid A]`, and affine
R2 stayed at 0.75-0.86 where the local width reached 0.95-0.99.

A third term goes beyond the paper. Actions are exogenous, :math:`A \perp V`,
so for an affine representation the residual :math:`r` is independent of
:math:`A`, not only mean-independent. ``hsic`` times the Hilbert-Schmidt
independence criterion between :math:`r` and :math:`A`
(:func:`hsic_penalty`) penalises any dependence, for instance a spread of
:math:`r` that changes with :math:`A`, which is how a representation that
flattens in the tails of :math:`Z` shows. On ``simulators.rep4ex`` (5 seeds)
it lowered the extrapolation error 2.1-fold in the median, 0.8- to 22-fold
per seed (docs: Rep4Ex, "What limits the extrapolation"). ``hsic=0`` is the
paper's objective.

Stage 2 is the control-function step (:class:`ControlFunction`): regress
:math:`\hat Z = \phi(X)` on :math:`A` to get :math:`\hat M`, residuals
:math:`\hat V`; fit :math:`Y \approx \nu(\hat Z) + \psi(\hat V)`; then

.. math:: \hat E[Y \mid do(A = a)] = \frac{1}{n} \sum_i \nu(\hat M a + \hat c + \hat V_i)
          + \frac{1}{n} \sum_i \psi(\hat V_i).

Since :math:`V` has full support, :math:`M a + V` stays inside the support of
:math:`Z` even for a new ``a``; what is extrapolated is the action, not the
regression function.
"""

import numbers
import warnings
from types import MappingProxyType

import numpy as np
import torch

from ..exceptions import IdentifiabilityWarning
from ..validation import as_float_array, check_float32_range, check_varying_columns
from .base import TorchEstimator
from .nets import autoencoder

__all__ = ["Rep4Ex", "ControlFunction", "mmr_penalty", "hsic_penalty", "invariance_residual",
           "median_bandwidth", "local_bandwidth", "linearity_diagnostics"]

# A linearity-test rejection only warns when the RESET terms add this much R2:
# with thousands of samples RESET rejects nonlinearities too small to matter.
_RESET_R2_GAIN = 0.01
_RESET_ALPHA = 0.01


def median_bandwidth(a, max_points=2000, seed=0):
    """Median pairwise Euclidean distance of the rows of ``a`` (n, k).

    At most ``max_points`` rows (a seeded subsample) are used.
    """
    a = np.asarray(a, dtype=np.float64)
    if a.shape[0] > max_points:
        a = a[np.random.default_rng(seed).choice(a.shape[0], max_points, replace=False)]
    dist = np.sqrt(np.maximum(_sqdist(a, a), 0.0))
    upper = dist[np.triu_indices(a.shape[0], 1)]
    median = float(np.median(upper)) if upper.size else 1.0
    return median if median > 0 else 1.0


def local_bandwidth(a, batch_size=512, neighbours=5, seed=0):
    """Median distance from an action to its ``neighbours``-th nearest neighbour
    among ``batch_size`` training actions (a seeded subsample of ``a`` (n, k)).

    The penalty is computed within a batch, so this is the scale at which a
    batch resolves how the residual mean varies with the actions.
    """
    a = np.asarray(a, dtype=np.float64)
    size = min(batch_size, a.shape[0])
    rng = np.random.default_rng(seed)
    sample = a[rng.choice(a.shape[0], size, replace=False)]
    dist = np.sqrt(np.sort(_sqdist(sample, sample), axis=1))
    kth = dist[:, min(neighbours, size - 1)]
    width = float(np.median(kth))
    return width if width > 0 else median_bandwidth(a, seed=seed)


def mmr_penalty(z, a, bandwidth):
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
    return _mmr(invariance_residual(z, a), a, bandwidth)


def hsic_penalty(z, a, bandwidth):
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
    return _hsic(invariance_residual(z, a), a, bandwidth)


def invariance_residual(z, a):
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


def _mmr(r, a, bandwidth):
    return (_gaussian_gram(a, bandwidth) * (r @ r.T)).sum() / r.shape[0] ** 2


def _hsic(r, a, bandwidth):
    sq = torch.cdist(r, r).pow(2)
    k = torch.exp(-sq / sq.detach().median().clamp_min(1e-12))
    k = k - k.mean(0, keepdim=True) - k.mean(1, keepdim=True) + k.mean()
    return (k * _gaussian_gram(a, bandwidth)).sum() / r.shape[0] ** 2


def _gaussian_gram(a, bandwidth):
    return torch.exp(-torch.cdist(a, a).pow(2) / (2 * bandwidth**2))


class ControlFunction:
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

    Usable on its own, e.g. on the true latents as an oracle.

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

    def __init__(self, n_centers=300, folds=5, seed=0):
        self.n_centers = n_centers
        self.folds = folds
        self.seed = seed

    @classmethod
    def from_arrays(cls, arrays):
        """Rebuild a fitted instance from ``arrays_``."""
        fitted = cls()
        fitted.arrays_ = dict(arrays)
        return fitted

    def fit(self, Z, A, Y):
        """Fit on latents Z (n, d), actions A (n, k), outcomes Y (n,); returns self."""
        Z, A, Y = _rows(Z, "Z"), _rows(A, "A"), as_float_array(Y, "Y", ndim=1)
        n, d = Z.shape
        if A.shape[0] != n or Y.shape[0] != n:
            raise ValueError(f"Z, A and Y must have the same rows, got {n}, "
                             f"{A.shape[0]}, {Y.shape[0]}")
        if n < 2 * self.folds + A.shape[1] + 2:
            raise ValueError(f"{n} samples are too few for the control function")
        rng = np.random.default_rng(self.seed)
        design = np.hstack([np.ones((n, 1)), A])
        coef = np.linalg.lstsq(design, Z, rcond=None)[0]
        V = Z - design @ coef
        arrays = {"offset": coef[0], "M": coef[1:].T, "V": V,
                  "z_mean": Z.mean(0), "z_scale": _scale(Z),
                  "v_mean": V.mean(0), "v_scale": _scale(V)}
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
                for (f, y), (g, m) in zip(parts, held):
                    beta = _ridge(gram - g, moment - m, penalty * n, penalised)
                    error += float(((f @ beta - y) ** 2).sum())
                if best is None or error < best[0]:
                    best = (error, width, penalty)
        _, width, penalty = best
        _set_widths(arrays, width * base)
        features, penalised = self._features(arrays, zs, vs)
        arrays["beta"] = _ridge(features.T @ features, features.T @ Y, penalty * n, penalised)
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
        penalised = np.concatenate([np.zeros(1 + d), np.ones(kz.shape[1]),
                                    np.zeros(d), np.ones(kv.shape[1])])
        return features, penalised

    @staticmethod
    def _split(arrays):
        d = arrays["z_centers"].shape[1]
        return 1 + d + arrays["z_whiten"].shape[1]

    def _nu(self, arrays, zs):
        kz = _kernel_features(zs, arrays["z_centers"], arrays["widths"][0], arrays["z_whiten"])
        head = arrays["beta"][: self._split(arrays)]
        return head[0] + zs @ head[1: 1 + zs.shape[1]] + kz @ head[1 + zs.shape[1]:]

    def _psi(self, arrays, vs):
        kv = _kernel_features(vs, arrays["v_centers"], arrays["widths"][1], arrays["v_whiten"])
        tail = arrays["beta"][self._split(arrays):]
        return vs @ tail[: vs.shape[1]] + kv @ tail[vs.shape[1]:]

    def nu(self, Z):
        r""":math:`\nu(z)` (intercept included), Z of shape (n, d) -> (n,)."""
        arrays = self._fitted()
        return self._nu(arrays, (_rows(Z, "Z") - arrays["z_mean"]) / arrays["z_scale"])

    def psi(self, V):
        r""":math:`\psi(v)` (no intercept), V of shape (n, d) -> (n,)."""
        arrays = self._fitted()
        return self._psi(arrays, (_rows(V, "V") - arrays["v_mean"]) / arrays["v_scale"])

    def residuals(self, Z, A):
        r""":math:`\hat V = Z - \hat M A - \hat c`, shape (n, d)."""
        arrays = self._fitted()
        return _rows(Z, "Z") - self._shift(arrays, A)

    def predict(self, Z, A):
        r""":math:`E[Y \mid Z, do(A)] = \nu(Z) + \psi(Z - \hat M A - \hat c)`, shape (n,)."""
        return self.nu(Z) + self.psi(self.residuals(Z, A))

    def predict_interventional(self, a, batch_size=None):
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

    def _shift(self, arrays, A):
        A = _rows(A, "a")
        k = arrays["M"].shape[1]
        if A.shape[1] != k:
            raise ValueError(f"actions must have {k} columns, got shape {A.shape}")
        return A @ arrays["M"].T + arrays["offset"]

    def _fitted(self):
        if not hasattr(self, "arrays_"):
            from ..exceptions import NotFittedError

            raise NotFittedError("this ControlFunction is not fitted yet: call fit(Z, A, Y) first")
        return self.arrays_


class Rep4Ex(TorchEstimator):
    r"""Rep4Ex: an autoencoder with the linear invariance penalty, then a control function.

    See the module docstring for the objective. ``fit(data)`` needs
    ``data.A`` (actions) and ``data.Y`` (a single outcome).

    Arguments:
        latent_dim: Number of latents d (at most the number of actions k).
        lam: Weight of the MMR penalty; 0 (with ``hsic=0``) trains a plain
            autoencoder (the ablation without the invariance constraint).
        hsic: Weight of the HSIC penalty between the residual and the actions
            (:func:`hsic_penalty`, width of the kernel on the actions: their
            median pairwise distance); 0 gives the paper's objective.
        kernel_bandwidth: ``"local"`` (:func:`local_bandwidth`, the default),
            ``"median"`` (median pairwise distance of the training actions)
            or a positive number.
        hidden: Widths of the encoder's hidden layers (the decoder mirrors them).
        max_steps: Optimiser steps of stage 1.
        batch_size: Samples per step; the MMR is computed within a batch.
        lr: Adam learning rate (cosine decay).
        restarts: Short stage-1 restarts; the lowest validation loss is kept.
        n_centers: Kernel centres of each control-function part.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        seed: Seed of initialisation, splits, batch order and centres.
        verbose: Show progress bars.

    Attributes:
        modules_: Fitted networks (``scaler``, ``encoder``, ``decoder``).
        control_: The fitted :class:`ControlFunction` on the representation.
        bandwidth_: Kernel width used by the MMR penalty.
        hsic_bandwidth_: Width of the kernel on the actions in the HSIC penalty.
        diagnostics_: JSON-able dict: R2 of each latent on the actions, and
            per latent a Ramsey RESET test of linearity in the actions (its
            p-value and the R2 the nonlinear terms add).
        history_: Stage-1 training history.

    Example:
        >>> est = Rep4Ex(latent_dim=2).fit(data)                   # doctest: +SKIP
        >>> est.predict_interventional(np.array([[3.0, 3.0]]))     # doctest: +SKIP
    """

    _array_shapes = MappingProxyType({
        "cf_offset": ("latent_dim",), "cf_M": ("latent_dim", "*"), "cf_V": ("*", "latent_dim"),
        **{f"cf_{name}": ("latent_dim",) for name in ("z_mean", "z_scale", "v_mean", "v_scale")},
        "cf_z_centers": ("*", "latent_dim"), "cf_v_centers": ("*", "latent_dim"),
        "cf_beta": ("*",), "cf_penalty": (), "cf_psi_mean": (), "cf_widths": (2,),
        "cf_z_whiten": ("*", "*"), "cf_v_whiten": ("*", "*")})
    _saved_json = ("history_", "diagnostics_", "bandwidth_", "hsic_bandwidth_")

    def __init__(self, latent_dim, lam=30.0, hsic=30.0, kernel_bandwidth="local", hidden=(64, 64),
                 max_steps=3000, batch_size=512, lr=3e-3, restarts=1, n_centers=300,
                 device="auto", seed=0, verbose=1, n_threads="auto"):
        self.latent_dim = latent_dim
        self.lam = lam
        self.hsic = hsic
        self.kernel_bandwidth = kernel_bandwidth
        self.hidden = hidden
        self.max_steps = max_steps
        self.batch_size = batch_size
        self.lr = lr
        self.restarts = restarts
        self.n_centers = n_centers
        self.device = device
        self.seed = seed
        self.verbose = verbose
        self.n_threads = n_threads

    def _build(self, dims):
        return autoencoder(dims["dim_x"], self.latent_dim, self.hidden, decoder="mlp")

    def _encode(self, xb):
        return self.modules_["encoder"](self.modules_["scaler"](xb))

    def fit(self, data):
        """Fit both stages on ``data`` (InterventionalData with A and Y); returns self.

        Raises:
            ValueError: without ``data.A`` or ``data.Y``, with a multi-column
                ``Y``, fewer actions than latents, or bad hyperparameters.
        """
        self._check_data(data, need=("A", "Y"))
        Y = self._outcome(data.Y)
        self._check_params(data)
        check_varying_columns(data.A, "A", type(self).__name__,
                              "since it regresses the latents on the actions")
        self._start_fit(data)
        A = check_float32_range(data.A, "A", type(self).__name__)
        self.dims_["action_dim"] = int(A.shape[1])
        if self.kernel_bandwidth == "median":
            bandwidth = median_bandwidth(A, seed=self.seed)
        elif self.kernel_bandwidth == "local":
            bandwidth = local_bandwidth(A, self.batch_size, seed=self.seed)
        else:
            bandwidth = float(self.kernel_bandwidth)
        self.bandwidth_ = bandwidth
        self.hsic_bandwidth_ = median_bandwidth(A, seed=self.seed)
        x = torch.tensor(data.X)  # float64: the scaler standardises, then casts
        a = torch.tensor(A, dtype=torch.float32)
        lam, hsic = float(self.lam), float(self.hsic)

        def build():
            modules = self._build(self.dims_).to(self.device_)
            modules["scaler"].fit(x.to(self.device_))
            return modules

        def loss(modules, xb, ab):
            xs = modules["scaler"](xb)
            z = modules["encoder"](xs)
            terms = {"reconstruction": ((modules["decoder"](z) - xs) ** 2).mean()}
            if lam > 0 or hsic > 0:
                r = invariance_residual(z, ab)
            if lam > 0:
                terms["mmr"] = lam * _mmr(r, ab, bandwidth)
            if hsic > 0:
                terms["hsic"] = hsic * _hsic(r, ab, self.hsic_bandwidth_)
            return terms

        modules, history = self._train(
            build, loss, (x, a), restarts=self.restarts,
            restart_steps=max(200, self.max_steps // 10), max_steps=self.max_steps,
            batch_size=self.batch_size, lr=self.lr,
            # The batch MMR is noisy, so the validation loss wanders; early
            # stopping cut training short on some seeds (affine R2 0.92
            # instead of 0.96+). Train to the end, keep the best epoch.
            patience=self.max_steps)
        self.modules_, self.history_ = modules, history.to_dict()
        z_hat = self.transform(data.X)
        self.control_ = ControlFunction(self.n_centers, seed=self.seed).fit(z_hat, A, Y)
        self.arrays_ = {f"cf_{k}": v for k, v in self.control_.arrays_.items()}
        self.diagnostics_ = linearity_diagnostics(z_hat, A)
        self._warn(self.diagnostics_)
        return self

    def _outcome(self, Y):
        if Y.ndim == 2:
            if Y.shape[1] != 1:
                raise ValueError(f"Rep4Ex models one outcome; data.Y has {Y.shape[1]} columns")
            Y = Y[:, 0]
        return Y

    def _check_params(self, data):
        for name in ("lam", "hsic"):
            value = getattr(self, name)
            real = isinstance(value, numbers.Real) and not isinstance(value, bool)
            if not (real and value >= 0 and np.isfinite(value)):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        bw = self.kernel_bandwidth
        number = isinstance(bw, numbers.Real) and not isinstance(bw, bool)
        if not (bw in ("median", "local") or (number and np.isfinite(bw) and bw > 0)):
            raise ValueError("kernel_bandwidth must be 'local', 'median' or a positive "
                             f"number, got {bw!r}")
        if not isinstance(self.restarts, int) or self.restarts < 1:
            raise ValueError(f"restarts must be an int >= 1, got {self.restarts!r}")
        if not isinstance(self.n_centers, int) or self.n_centers < 1:
            raise ValueError(f"n_centers must be an int >= 1, got {self.n_centers!r}")
        k = data.A.shape[1]
        if isinstance(self.latent_dim, int) and self.latent_dim > k:
            raise ValueError(f"latent_dim={self.latent_dim} exceeds the {k} action(s): "
                             "Z = M A + V identifies at most as many latents as actions")
        if data.n < 20:
            raise ValueError(f"Rep4Ex needs at least 20 samples, got {data.n}")

    def _warn(self, diagnostics):
        flagged = [j for j, (p, gain) in enumerate(zip(diagnostics["reset_pvalue"],
                                                       diagnostics["reset_r2_gain"]))
                   if p < _RESET_ALPHA and gain > _RESET_R2_GAIN]
        if flagged:
            warnings.warn(
                f"latent(s) {flagged} depend nonlinearly on the actions (RESET p < "
                f"{_RESET_ALPHA} and R2 gain > {_RESET_R2_GAIN}, see diagnostics_): the "
                "representation is likely not affine in Z and extrapolation has no "
                "guarantee; raise lam or max_steps", IdentifiabilityWarning, stacklevel=3)

    @property
    def control(self):
        """The fitted :class:`ControlFunction` (rebuilt from ``arrays_`` after loading)."""
        self._check_fitted()
        if not hasattr(self, "control_"):
            self.control_ = ControlFunction.from_arrays(
                {k[3:]: v for k, v in self.arrays_.items() if k.startswith("cf_")})
        return self.control_

    def predict_interventional(self, a):
        r""":math:`E[Y \mid do(A = a)]` for actions ``a`` of shape (m, k) (or (k,)); shape (m,)."""
        a = self._actions(a)
        return self.control.predict_interventional(a)

    def predict(self, X, A):
        r""":math:`E[Y \mid X, do(A)] = \nu(\hat z) + \psi(\hat z - \hat M A - \hat c)`.

        Arguments:
            X: Observations, shape (n, dim_x).
            A: Actions, shape (n, k).

        Returns:
            numpy array of shape (n,).
        """
        z_hat = self.transform(X)
        A = self._actions(A, "A")
        if A.shape[0] != z_hat.shape[0]:
            raise ValueError(f"X has {z_hat.shape[0]} rows but A has {A.shape[0]}")
        return self.control.predict(z_hat, A)

    def _actions(self, a, name="a"):
        self._check_fitted()
        a = as_float_array(a, name)
        if a.ndim == 1:
            a = a[None, :]
        k = self.dims_["action_dim"]
        if a.ndim != 2 or a.shape[1] != k:
            raise ValueError(f"{name}: actions must have shape (m, {k}), got {a.shape}")
        return a


def linearity_diagnostics(z_hat, A):
    """R2 of each latent on the actions and a RESET test of linearity in them.

    For each column of ``z_hat`` an OLS on ``[1, A]`` gives the R2; Ramsey's
    RESET (statsmodels ``linear_reset``, powers 2 and 3 of each action, F
    test) gives the p-value of neglected nonlinearity, and the R2 those
    powers add measures its size.

    Returns:
        JSON-able dict of lists, one entry per latent.
    """
    import statsmodels.api as sm
    from statsmodels.stats.diagnostic import linear_reset

    design = sm.add_constant(np.asarray(A, dtype=np.float64), has_constant="add")
    powers = np.hstack([design, design[:, 1:] ** 2, design[:, 1:] ** 3])
    out = {"r2_on_actions": [], "reset_pvalue": [], "reset_r2_gain": []}
    for column in np.asarray(z_hat, dtype=np.float64).T:
        linear = sm.OLS(column, design).fit()
        out["r2_on_actions"].append(float(linear.rsquared))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            test = linear_reset(linear, power=3, test_type="exog", use_f=True)
            extended = sm.OLS(column, powers).fit()
        out["reset_pvalue"].append(float(test.pvalue))
        out["reset_r2_gain"].append(float(max(extended.rsquared - linear.rsquared, 0.0)))
    return out


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


def _sqdist(x, c):
    return np.maximum((x**2).sum(1)[:, None] + (c**2).sum(1)[None, :] - 2 * x @ c.T, 0.0)


def _set_widths(arrays, widths):
    """Kernel widths and the matching whitening of each part's centres."""
    arrays["widths"] = widths
    arrays["z_whiten"] = _whitening(arrays["z_centers"], widths[0])
    arrays["v_whiten"] = _whitening(arrays["v_centers"], widths[1])


def _whitening(centers, width):
    """K_cc^{-1/2} on the well-conditioned eigenspace: Nystrom features then
    have the RKHS norm as their Euclidean norm, so ridge penalises it."""
    gram = np.exp(-_sqdist(centers, centers) / (2 * width**2))
    values, vectors = np.linalg.eigh(gram)
    keep = values > 1e-8 * values.max()
    return vectors[:, keep] / np.sqrt(values[keep])


def _kernel_features(x, centers, width, whiten):
    """Gaussian-kernel Nystrom features of ``x`` (n, d): (n, rank)."""
    return np.exp(-_sqdist(x, centers) / (2 * width**2)) @ whiten


def _ridge(gram, moment, penalty, penalised):
    system = gram + np.diag(penalty * penalised + 1e-9 * np.trace(gram) / gram.shape[0])
    return np.linalg.solve(system, moment)
