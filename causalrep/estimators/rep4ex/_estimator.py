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
trained on reconstruction plus ``mmr_lambda`` times the maximum moment restriction
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
learned latents were then no closer to affine than with ``mmr_lambda=0`` (affine R2
~0.75 either way); whitening makes the penalty invariant to affine maps of
:math:`\phi`, so only nonlinearity costs. (2) :math:`\sigma` defaults to the
scale a batch resolves (:func:`local_bandwidth`, the median distance to the
5th nearest of ``batch_size`` training actions, computed once): with the
median pairwise distance (``kernel_bandwidth="median"``) the kernel is so
smooth that it barely weighs the curvature of :math:`E[r \mid A]`, and affine
R2 stayed at 0.75-0.86 where the local width reached 0.95-0.99.

A third term goes beyond the paper. Actions are exogenous, :math:`A \perp V`,
so for an affine representation the residual :math:`r` is independent of
:math:`A`, not only mean-independent. ``hsic_lambda`` times the Hilbert-Schmidt
independence criterion between :math:`r` and :math:`A`
(:func:`hsic_penalty`) penalises any dependence, for instance a spread of
:math:`r` that changes with :math:`A`, which is how a representation that
flattens in the tails of :math:`Z` shows. On ``simulators.rep4ex`` (5 seeds)
it lowered the extrapolation error 2.1-fold in the median, 0.8- to 22-fold
per seed (docs: Rep4Ex, "What limits the extrapolation"). ``hsic_lambda=0`` is the
paper's objective.

Stage 2 is the control-function step (:class:`ControlFunction`): regress
:math:`\hat Z = \phi(X)` on :math:`A` to get :math:`\hat M`, residuals
:math:`\hat V`; fit :math:`Y \approx \nu(\hat Z) + \psi(\hat V)`; then

.. math:: \hat E[Y \mid do(A = a)] = \frac{1}{n} \sum_i \nu(\hat M a + \hat c + \hat V_i)
          + \frac{1}{n} \sum_i \psi(\hat V_i).

Since :math:`V` has full support, :math:`M a + V` stays inside the support of
:math:`Z` even for a new ``a``; what is extrapolated is the action, not the
regression function.

How sure the extrapolation is comes from ``n_bootstrap`` refits of the whole
pipeline on worlds simulated from the fit (:mod:`._replicates`):
``predict_interventional(a, interval=0.9)`` returns a band that holds the
procedure's bias as well as its spread, and the fit warns when its
extrapolation is much less certain than its interpolation.
"""

import numbers
import warnings
from collections.abc import Sequence
from types import MappingProxyType

import numpy as np
import scipy.linalg
import torch

from ...data import InterventionalData
from ...exceptions import ExtrapolationWarning, IdentifiabilityWarning, warn
from ...validation import ArrayLike, Interval, Options, as_float_array, check_float32_range, check_varying_columns
from .._core.base import DEPRECATED, TorchEstimator
from .._core.nets import autoencoder
from .._core.threads import available_cores
from ._control import ControlFunction
from ._kernels import (
    hsic_penalty,
    invariance_hsic,
    invariance_residual,
    local_bandwidth,
    median_bandwidth,
    mmr_penalty,
    residual_hsic,
    residual_mmr,
)
from ._replicates import (
    MIN_REPLICATES,
    InterventionalPrediction,
    band,
    probe_actions,
    run_parallel,
    simulate_world,
)

__all__ = [
    "Rep4Ex",
    "ControlFunction",
    "mmr_penalty",
    "hsic_penalty",
    "invariance_residual",
    "median_bandwidth",
    "local_bandwidth",
    "linearity_diagnostics",
    "InterventionalPrediction",
]

# A diagnostic test's rejection only warns when its extra terms add this much
# R2: with thousands of samples both tests reject effects too small to matter.
_TEST_R2_GAIN = 0.01
_TEST_ALPHA = 0.01
# Z = M A + V with M of full rank: every direction of an affine representation
# is moved by the actions. A fit warns when the least-moved direction's squared
# canonical correlation with A is below this share of the most-moved one's.
_CANONICAL_SHARE = 0.1
# predict_interventional warns for an action whose latent points M a + c + V
# lie mostly outside the training latents (ControlFunction.coverage).
_COVERAGE_MIN = 0.5
# The fit warns when the bootstrap's error one action range beyond the data
# (probe actions at twice the training box) exceeds its error at the training
# actions this many times (docs: Rep4Ex, "How sure is an extrapolation"; on the
# benchmark's fits with errors >= 10x the matched oracle the ratio was 3.9-18).
_UNCERTAIN_RATIO = 3.0
_N_PROBES = 64
# The fit warns when its residual's dependence on the actions (HSIC) exceeds
# every refit's on its simulated world (where Z = M A + V holds) this many times
# (measured, 1,500 samples, 300 steps: Z = tanh(M A) + V with actions on
# (-2.5, 2.5) 4.9x and 5.3x; Z = M A + V on the same support 1.9x).
_INVARIANT_RATIO = 3.0


_CF_SHAPES = {
    "cf_offset": ("latent_dim",),
    "cf_M": ("latent_dim", "*"),
    "cf_V": ("*", "latent_dim"),
    **{f"cf_{name}": ("latent_dim",) for name in ("z_mean", "z_scale", "v_mean", "v_scale")},
    "cf_z_centers": ("*", "latent_dim"),
    "cf_v_centers": ("*", "latent_dim"),
    "cf_beta": ("*",),
    "cf_penalty": (),
    "cf_psi_mean": (),
    "cf_widths": (2,),
    "cf_z_whiten": ("*", "*"),
    "cf_v_whiten": ("*", "*"),
}


class Rep4Ex(TorchEstimator):
    r"""Rep4Ex: an autoencoder with the linear invariance penalty, then a control function.

    See the module docstring for the objective. ``fit(data)`` needs
    ``data.A`` (actions) and ``data.Y`` (a single outcome).

    Arguments:
        latent_dim: Number of latents d (at most the number of actions k).
        mmr_lambda: Weight of the MMR penalty; 0 (with ``hsic_lambda=0``) trains a plain
            autoencoder (the ablation without the invariance constraint).
        hsic_lambda: Weight of the HSIC penalty between the residual and the actions
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
        n_bootstrap: Refits on worlds simulated from the fit (parametric bootstrap,
            see :mod:`causalrep.estimators.rep4ex`); at least 3 give
            ``predict_interventional(a, interval=...)`` its band and the fit its
            extrapolation check; 0 fits once.
        n_jobs: Processes for the refits (one thread each): None uses every core
            this process may run on, 1 fits them in this process.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        seed: Seed of initialisation, splits, batch order and centres.
        verbose: Show progress bars.
        n_threads: CPU threads while fitting and predicting: ``"auto"`` (one for
            small networks, more only for large layers, never more than the
            cores available), an int, or None to leave torch's setting.
        lam: Former name of ``mmr_lambda``, accepted (with a FutureWarning)
            until the next release.
        hsic: Former name of ``hsic_lambda``, likewise.

    Attributes:
        modules_: Fitted networks (``scaler``, ``encoder``, ``decoder``).
        control_: The fitted :class:`ControlFunction` on the representation.
        bandwidth_: Kernel width used by the MMR penalty.
        hsic_bandwidth_: Width of the kernel on the actions in the HSIC penalty.
        extrapolation_: JSON-able dict of the bootstrap's check (None without
            refits): ``rms_outside`` and ``rms_inside``, the root-mean-square error
            of the refits one action range beyond the data and at the training
            actions (outcome units), and their ``ratio``; ``invariance``, the HSIC
            between the representation's residual and the actions, and
            ``invariance_refits``, the same for each refit on its world.
        diagnostics_: JSON-able dict (:func:`linearity_diagnostics`): R2 of each
            latent on the actions and, per latent, a RESET test of linearity in
            the actions and a Breusch-Pagan test of a residual spread that
            changes with them (p-values and the R2 the extra terms add), and the
            squared canonical correlations between the latents and the actions.
        history_: Stage-1 training history.

    Example:
        >>> est = Rep4Ex(latent_dim=2).fit(data)                   # doctest: +SKIP
        >>> est.predict_interventional(np.array([[3.0, 3.0]]))     # doctest: +SKIP
        >>> band = est.predict_interventional([[3.0, 3.0]], interval=0.9)  # doctest: +SKIP
        >>> band.lower, band.mean, band.upper                       # doctest: +SKIP
    """

    _array_shapes = MappingProxyType(
        {
            **_CF_SHAPES,
            # the refits' control functions ("bootstrap<b>_cf_<name>"), their
            # errors at the probe actions, and the probe actions
            **{f"bootstrap*_{key}": shape for key, shape in _CF_SHAPES.items()},
            "probe_errors": ("n_bootstrap", "*"),
        }
    )
    _saved_json = ("history_", "diagnostics_", "bandwidth_", "hsic_bandwidth_", "extrapolation_")
    _renamed = MappingProxyType({"lam": "mmr_lambda", "hsic": "hsic_lambda"})
    _fit_fields = ("A", "Y")
    _parameter_constraints = MappingProxyType(
        {
            **{name: c for name, c in TorchEstimator._parameter_constraints.items() if name != "max_epochs"},
            "mmr_lambda": (Interval(numbers.Real, 0, None),),
            "hsic_lambda": (Interval(numbers.Real, 0, None),),
            "kernel_bandwidth": (Options("local", "median"), Interval(numbers.Real, 0, None, closed="neither")),
            "n_centers": (Interval(numbers.Integral, 1, None),),
            "n_bootstrap": (Options(0), Interval(numbers.Integral, MIN_REPLICATES, None)),
            "n_jobs": (Interval(numbers.Integral, 1, None), None),
            "lam": (Options(DEPRECATED), Interval(numbers.Real, 0, None)),
            "hsic": (Options(DEPRECATED), Interval(numbers.Real, 0, None)),
        }
    )

    def __init__(
        self,
        latent_dim: int,
        *,
        mmr_lambda: float = 30.0,
        hsic_lambda: float = 30.0,
        kernel_bandwidth: str | float = "local",
        hidden: Sequence[int] = (64, 64),
        max_steps: int = 3000,
        batch_size: int = 512,
        lr: float = 3e-3,
        restarts: int = 1,
        n_centers: int = 300,
        n_bootstrap: int = 4,
        n_jobs: int | None = None,
        device: str | torch.device = "auto",
        seed: int = 0,
        verbose: int = 1,
        n_threads: int | str | None = "auto",
        lam: float | str = DEPRECATED,
        hsic: float | str = DEPRECATED,
    ):
        self.latent_dim = latent_dim
        self.mmr_lambda = mmr_lambda
        self.hsic_lambda = hsic_lambda
        self.kernel_bandwidth = kernel_bandwidth
        self.hidden = hidden
        self.max_steps = max_steps
        self.batch_size = batch_size
        self.lr = lr
        self.restarts = restarts
        self.n_centers = n_centers
        self.n_bootstrap = n_bootstrap
        self.n_jobs = n_jobs
        self.device = device
        self.seed = seed
        self.verbose = verbose
        self.n_threads = n_threads
        self.lam = lam
        self.hsic = hsic

    @classmethod
    def _current_params(cls, params):
        # a file written before the bootstrap existed holds no refits
        return {"n_bootstrap": 0, **super()._current_params(params)}

    def _build(self, dims):
        return autoencoder(dims["dim_x"], self.latent_dim, self.hidden, decoder="mlp")

    def _encode(self, xb):
        return self.modules_["encoder"](self.modules_["scaler"](xb))

    def _fit(self, data: InterventionalData) -> "Rep4Ex":
        """Both stages, then the refits, on ``data`` (with A and Y; ``fit(X, A=..., Y=...)`` builds it).

        Raises:
            ValueError: without ``data.A`` or ``data.Y``, with a multi-column
                ``Y``, fewer actions than latents or fewer than 20 samples.
        """
        self._check_data(data, need=("A", "Y"))
        Y = self._outcome(data.Y)
        self._check_sizes(data)
        mmr_lambda, hsic_lambda = (float(self._param(name)) for name in ("mmr_lambda", "hsic_lambda"))
        check_varying_columns(data.A, "A", type(self).__name__, "since it regresses the latents on the actions")
        self._start_fit(data)
        A = check_float32_range(data.A, "A", type(self).__name__)
        self.dims_["action_dim"] = int(A.shape[1])
        if self.kernel_bandwidth == "median":
            bandwidth = median_bandwidth(A, seed=self._seed)
        elif self.kernel_bandwidth == "local":
            bandwidth = local_bandwidth(A, self.batch_size, seed=self._seed)
        else:
            bandwidth = float(self.kernel_bandwidth)
        self.bandwidth_ = bandwidth
        self.hsic_bandwidth_ = median_bandwidth(A, seed=self._seed)
        x = torch.tensor(data.X)  # float64: the scaler standardises, then casts
        a = torch.tensor(A, dtype=torch.float32)

        def build():
            modules = self._build(self.dims_).to(self.device_)
            modules["scaler"].fit(x.to(self.device_))
            return modules

        def loss(modules, xb, ab):
            xs = modules["scaler"](xb)
            z = modules["encoder"](xs)
            terms = {"reconstruction": ((modules["decoder"](z) - xs) ** 2).mean()}
            if mmr_lambda > 0 or hsic_lambda > 0:
                r = invariance_residual(z, ab)
            if mmr_lambda > 0:
                terms["mmr"] = mmr_lambda * residual_mmr(r, ab, bandwidth)
            if hsic_lambda > 0:
                terms["hsic"] = hsic_lambda * residual_hsic(r, ab, self.hsic_bandwidth_)
            return terms

        modules, history = self._train(
            build,
            loss,
            (x, a),
            restart_steps=max(200, self.max_steps // 10),
            # The batch MMR is noisy, so the validation loss wanders; early
            # stopping cut training short on some seeds (affine R2 0.92
            # instead of 0.96+). Train to the end, keep the best epoch.
            patience=self.max_steps,
        )
        self.modules_, self.history_ = modules, history.to_dict()
        z_hat = self.transform(data.X)
        self.control_ = ControlFunction(self.n_centers, seed=self._seed).fit(z_hat, A, Y)
        self.arrays_ = {f"cf_{k}": v for k, v in self.control_.arrays_.items()}
        self.diagnostics_ = linearity_diagnostics(z_hat, A)
        self._warn(self.diagnostics_)
        self.extrapolation_ = None
        if self.n_bootstrap:
            self._fit_bootstrap(np.asarray(data.X, dtype=np.float64), A, Y, z_hat)
        return self

    def _fit_bootstrap(self, X, A, Y, z_hat):
        """Refit on ``n_bootstrap`` worlds simulated from this fit; keep each refit's control
        function and its errors at the probe actions; warn when extrapolating is far less
        certain than interpolating."""
        rng = np.random.default_rng([self._seed, 2024])
        decode = self._decode
        noise_sd = (X - decode(z_hat)).std(0)
        control = self.control
        params = {
            **self.get_params(),
            "n_bootstrap": 0,
            "n_jobs": 1,
            "n_threads": 1,
            "verbose": 0,
            "device": "cpu" if self.device_.type == "cpu" else self.device,
        }
        jobs = []
        for b, world_rng in enumerate(rng.spawn(self.n_bootstrap)):
            X_b, Y_b = simulate_world(decode, control, A, Y, z_hat, noise_sd, world_rng)
            jobs.append(({**params, "seed": self._seed + 1 + b}, X_b, A, Y_b))
        n_jobs = available_cores() if self.n_jobs is None else self.n_jobs
        refits, invariance = zip(*run_parallel(_refit_control, jobs, n_jobs), strict=True)
        outside = probe_actions(A, _N_PROBES, 2.0, rng)
        inside = A[rng.choice(len(A), min(_N_PROBES, len(A)), replace=False)]
        probes = np.vstack([outside, inside])
        point = control.predict_interventional(probes)
        errors = np.stack(
            [ControlFunction.from_arrays(arrays).predict_interventional(probes) - point for arrays in refits]
        )
        for b, arrays in enumerate(refits):
            self.arrays_.update({f"bootstrap{b}_cf_{key}": value for key, value in arrays.items()})
        self.arrays_["probe_errors"] = errors[:, : len(outside)]
        rms_out = float(np.sqrt((errors[:, : len(outside)] ** 2).mean()))
        rms_in = float(np.sqrt((errors[:, len(outside) :] ** 2).mean()))
        ratio = rms_out / max(rms_in, np.finfo(float).tiny)
        own = invariance_hsic(z_hat, A, self.hsic_bandwidth_)
        self.extrapolation_ = {
            "rms_outside": rms_out,
            "rms_inside": rms_in,
            "ratio": ratio,
            "invariance": own,
            "invariance_refits": list(invariance),
        }
        if own > _INVARIANT_RATIO * max(invariance):
            warn(
                f"the residual of the representation after its regression on the actions depends on "
                f"the actions {own / max(invariance):.3g} times more (HSIC {own:.3g}) than in any of the "
                f"{len(invariance)} worlds simulated from the fit (up to {max(invariance):.3g}; threshold "
                f"{_INVARIANT_RATIO:g}x, see extrapolation_): the data do not look like Z = M A + V with "
                "V independent of A (actions that act nonlinearly on the latents, or a representation "
                "that is not affine in them), and extrapolations have no guarantee",
                IdentifiabilityWarning,
            )
        if ratio > _UNCERTAIN_RATIO:
            warn(
                f"the bootstrap refits disagree {ratio:.3g} times more one action range beyond the "
                f"data than at the training actions (root-mean-square error {rms_out:.3g} against "
                f"{rms_in:.3g}, outcome units; threshold {_UNCERTAIN_RATIO:g}, see extrapolation_): "
                "the representation is likely not affine in the tails, and extrapolations there "
                "are unreliable; read predict_interventional(a, interval=0.9) before trusting one",
                ExtrapolationWarning,
            )

    def _decode(self, z):
        """Observations (n, dim_x) the decoder maps latents (n, d) to, in the data's units."""
        modules = self.modules_
        with torch.no_grad():
            return self._batched(
                lambda zb: modules["scaler"].inverse(modules["decoder"](zb)), torch.as_tensor(z, dtype=torch.float32)
            )

    def _outcome(self, Y):
        if Y.ndim == 2:
            if Y.shape[1] != 1:
                raise ValueError(f"Rep4Ex models one outcome; data.Y has {Y.shape[1]} columns")
            Y = Y[:, 0]
        return Y

    def _check_sizes(self, data):
        k = data.A.shape[1]
        if self.latent_dim > k:
            raise ValueError(
                f"latent_dim={self.latent_dim} exceeds the {k} action(s): "
                "Z = M A + V identifies at most as many latents as actions"
            )
        if data.n < 20:
            raise ValueError(f"Rep4Ex needs at least 20 samples, got {data.n}")

    def _warn(self, diagnostics):
        checks = {
            "reset": "depend nonlinearly on the actions (RESET",
            "spread": "have a residual spread that changes with the actions, as when the tails bend (Breusch-Pagan",
        }
        failing = []
        for check, words in checks.items():
            flagged = [
                j
                for j, (p, gain) in enumerate(
                    zip(diagnostics[f"{check}_pvalue"], diagnostics[f"{check}_r2_gain"], strict=True)
                )
                if p < _TEST_ALPHA and gain > _TEST_R2_GAIN
            ]
            if flagged:
                failing.append(f"latent(s) {flagged} {words} p < {_TEST_ALPHA} and R2 gain > {_TEST_R2_GAIN})")
        canonical = diagnostics["action_canonical_r2"]
        if canonical and canonical[-1] < _CANONICAL_SHARE * canonical[0]:
            failing.append(
                f"the actions explain {canonical[-1]:.3g} of the representation's least-moved "
                f"direction against {canonical[0]:.3g} of its most-moved (squared canonical "
                f"correlations, share < {_CANONICAL_SHARE}): Z = M A + V moves every latent, so "
                "the representation has escaped the invariance constraint along that direction, "
                "or latent_dim exceeds what the actions move"
            )
        if failing:
            warn(
                "; ".join(failing) + ", see diagnostics_: the representation is likely not "
                "affine in Z and extrapolation has no guarantee; raise mmr_lambda or max_steps",
                IdentifiabilityWarning,
            )

    @property
    def control(self) -> ControlFunction:
        """The fitted :class:`ControlFunction` (rebuilt from ``arrays_`` after loading)."""
        self._check_fitted()
        if not hasattr(self, "control_"):
            self.control_ = ControlFunction.from_arrays(
                {k[3:]: v for k, v in self.arrays_.items() if k.startswith("cf_")}
            )
        return self.control_

    def predict_interventional(
        self, a: ArrayLike, interval: float | None = None
    ) -> np.ndarray | InterventionalPrediction:
        r""":math:`E[Y \mid do(A = a)]` for actions ``a`` of shape (m, k) (or (k,)).

        Arguments:
            a: Actions, shape (m, k) or (k,).
            interval: None for the point estimate alone, or a nominal level in (0, 1)
                for a band from the bootstrap refits (fit with ``n_bootstrap >= 3``).

        Returns:
            numpy array of shape (m,); with ``interval``, an
            :class:`InterventionalPrediction` of ``mean``, ``lower`` and ``upper``,
            each of shape (m,).

        Raises:
            ValueError: for actions of the wrong shape, an ``interval`` outside (0, 1),
                or an ``interval`` from a fit without enough refits.
        """
        level = self._interval(interval)
        a = self._actions(a)
        coverage = self.control.coverage(a)
        outside = np.flatnonzero(coverage < _COVERAGE_MIN)
        if outside.size:
            shown = ", ".join(str(i) for i in outside[:10]) + (", ..." if outside.size > 10 else "")
            warn(
                f"{outside.size} of {len(a)} action(s) (rows {shown}) put most of the latent "
                f"points M a + V outside the training data (coverage down to "
                f"{coverage.min():.2f}, see extrapolation_coverage): there the outcome model "
                "is extended, not estimated, and the prediction has no guarantee",
                ExtrapolationWarning,
            )
        with np.errstate(over="ignore", invalid="ignore"):
            point = self._finite(self.control.predict_interventional(a), a, "a")
        if level is None:
            return point
        errors = np.stack([refit.predict_interventional(a) - point for refit in self.refits()])
        return band(point, errors, self.arrays_["probe_errors"], level)

    def refits(self) -> list[ControlFunction]:
        """The control functions of the bootstrap refits, each on its simulated world (``n_bootstrap``)."""
        self._check_fitted()
        return [
            ControlFunction.from_arrays(
                {key[len(prefix) :]: value for key, value in self.arrays_.items() if key.startswith(prefix)}
            )
            for prefix in (f"bootstrap{b}_cf_" for b in range(self.n_bootstrap))
        ]

    def _interval(self, interval):
        if interval is None:
            return None
        real = isinstance(interval, numbers.Real) and not isinstance(interval, bool)
        if not (real and 0 < interval < 1):
            raise ValueError(f"interval must be a number in (0, 1), such as 0.9, got {interval!r}")
        self._check_fitted()
        if not (isinstance(self.n_bootstrap, int) and self.n_bootstrap >= MIN_REPLICATES):
            raise ValueError(
                f"interval needs at least {MIN_REPLICATES} bootstrap refits; this Rep4Ex was fitted "
                f"with n_bootstrap={self.n_bootstrap!r}: refit with n_bootstrap={MIN_REPLICATES} or more"
            )
        return float(interval)

    def extrapolation_coverage(self, a: ArrayLike) -> np.ndarray:
        r"""Share of :math:`\hat M a + \hat V_i` inside the training latents, per action; shape (m,).

        :math:`E[Y \mid do(A = a)]` averages the outcome model over these
        points (:meth:`ControlFunction.coverage`); below 0.5,
        :meth:`predict_interventional` warns.
        """
        return self.control.coverage(self._actions(a))

    def predict(self, X: ArrayLike, A: ArrayLike) -> np.ndarray:
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
        with np.errstate(over="ignore", invalid="ignore"):
            return self._finite(self.control.predict(z_hat, A), A, "A")

    def _finite(self, values, a, name):
        """``values`` (m,), refused when an action's prediction left float64's range."""
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise ValueError(
                f"{name}: the prediction for {bad.size} action(s) (rows {bad[:10].tolist()}) overflows float64; "
                f"these actions (up to {np.abs(a[bad]).max():.3g} in magnitude) lie too far from the training "
                "actions to extrapolate to"
            )
        return values

    def _actions(self, a, name="a"):
        self._check_fitted()
        a = as_float_array(a, name)
        if a.ndim == 1:
            a = a[None, :]
        k = self.dims_["action_dim"]
        if a.ndim != 2 or a.shape[1] != k:
            raise ValueError(f"{name}: actions must have shape (m, {k}), got {a.shape}")
        with np.errstate(over="ignore", invalid="ignore"):
            shifts = a @ self.control.arrays_["M"].T  # the latent shift M a of each action
        self._finite(shifts.sum(1), a, name)
        return a


def _refit_control(params, X, A, Y):
    """The control function's arrays of a Rep4Ex fitted with ``params`` on (X, A, Y), in a
    worker: its warnings are about a simulated world, not the user's data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refit = Rep4Ex(**params).fit(InterventionalData(X=X, A=A, Y=Y, regime=np.zeros(len(X), dtype=np.int64)))
    z = refit.transform(X)
    return refit.control.arrays_, invariance_hsic(z, A, refit.hsic_bandwidth_)


def linearity_diagnostics(z_hat: ArrayLike, A: ArrayLike) -> dict[str, list[float]]:
    """R2 of each latent on the actions and two tests of an affine representation.

    For each column of ``z_hat`` an OLS on ``[1, A]`` gives the R2. Ramsey's
    RESET (statsmodels ``linear_reset``, powers 2 and 3 of each action, F
    test) gives the p-value of neglected nonlinearity, and the R2 those
    powers add measures its size. For an affine representation the residual
    of that OLS is an affine map of :math:`V`, independent of the actions; a
    representation that bends in the tails of :math:`Z` has a residual whose
    spread changes with them. The Breusch-Pagan test (statsmodels
    ``het_breuschpagan``) of the squared standardised residual on
    ``[1, A, A**2]`` gives the p-value, and its R2 the size. Finally, since
    :math:`Z = M A + V` with :math:`M` of full rank, every direction of an
    affine representation is moved by the actions: ``action_canonical_r2``
    holds the squared canonical correlations between ``z_hat`` and ``A``
    (largest first), which affine maps of ``z_hat`` leave unchanged.

    Returns:
        JSON-able dict of lists, one entry per latent: ``r2_on_actions``,
        ``reset_pvalue``, ``reset_r2_gain``, ``spread_pvalue``, ``spread_r2_gain``,
        ``action_canonical_r2``.
    """
    import statsmodels.api as sm
    from statsmodels.stats.diagnostic import het_breuschpagan, linear_reset

    design = sm.add_constant(np.asarray(A, dtype=np.float64), has_constant="add")
    powers = np.hstack([design, design[:, 1:] ** 2, design[:, 1:] ** 3])
    squares = np.hstack([design, design[:, 1:] ** 2])
    out = {key: [] for key in ("r2_on_actions", "reset_pvalue", "reset_r2_gain", "spread_pvalue", "spread_r2_gain")}
    for column in np.asarray(z_hat, dtype=np.float64).T:
        linear = sm.OLS(column, design).fit()
        out["r2_on_actions"].append(float(linear.rsquared))
        spread = (linear.resid / max(float(linear.resid.std()), 1e-300)) ** 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            test = linear_reset(linear, power=3, test_type="exog", use_f=True)
            extended = sm.OLS(column, powers).fit()
            _, spread_pvalue, _, _ = het_breuschpagan(linear.resid, squares)
            spread_fit = sm.OLS(spread, squares).fit()
        out["reset_pvalue"].append(float(test.pvalue))
        out["reset_r2_gain"].append(float(max(extended.rsquared - linear.rsquared, 0.0)))
        out["spread_pvalue"].append(float(spread_pvalue))
        out["spread_r2_gain"].append(float(max(spread_fit.rsquared, 0.0)))
    out["action_canonical_r2"] = _canonical_r2(np.asarray(z_hat, dtype=np.float64), design[:, 1:])
    return out


def _canonical_r2(z, a):
    """Squared canonical correlations of the columns of ``z`` (n, d) and ``a`` (n, k), largest
    first: the squared cosines of the principal angles between the centred column spaces,
    padded with zeros to d (a rank-deficient ``z`` or ``a`` leaves directions unexplained)."""
    cosines = np.cos(scipy.linalg.subspace_angles(z - z.mean(0), a - a.mean(0)))
    values = np.sort(np.minimum(cosines**2, 1.0))[::-1]
    return [float(v) for v in np.r_[values, np.zeros(z.shape[1])][: z.shape[1]]]
