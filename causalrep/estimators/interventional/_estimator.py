r"""Interventional causal representation learning (Ahuja, Mahajan, Wang, Bengio, 2023).

Stage 1 finds latents :math:`\hat z = A z + c` equal to the true ones up to an
invertible affine map. For polynomial mixing of degree p with a full-rank
lift the latents are a linear function of the observations, and stage 1 is
solved exactly (:mod:`causalrep.estimators.interventional._varpro`: a linear encoder on the
top principal subspace, the polynomial decoder in closed form, float64
quasi-Newton); otherwise an MLP autoencoder is trained by SGD.

Stage 2 undoes :math:`A` with the hard interventions
(:mod:`causalrep.estimators.interventional._do_stage2`): a do with a fixed value on the
targets of a regime makes their coordinates constant there, found as the
smallest generalised eigenvectors of the regime's covariance against the
pooled one; several targets give a block, overlapping blocks are
intersected, and regimes with unknown targets count their fixed coordinates.
A do with a random value leaves its coordinate varying; such regimes are
compared with the observational one through their first two moments
(:func:`~causalrep.estimators._do_stage2.peel_random_do`, then refined jointly
by :func:`~causalrep.estimators._do_stage2.refine_random_do`: exact for linear
latent SCMs, approximate for nonlinear ones, which its goodness-of-fit test flags).
The recovered coordinate j is :math:`z_j` up to scale (and in the order of
the targets; unknown targets give some order).

Without interventions, stage 2 can instead rotate :math:`\hat z` to make the
support of every pair of coordinates a product set (the paper's
independence-of-support penalty), which identifies latents whose supports are
independent, the comparison point the paper uses.
"""

import numbers
from collections.abc import Sequence
from types import MappingProxyType

import networkx as nx
import numpy as np
import scipy.linalg
import torch
from torch import nn

from ...data import InterventionalData
from ...exceptions import IdentifiabilityWarning, warn
from ...graphs import learn_latent_graph
from ...validation import ArrayLike, column_stats
from .._core.base import TorchEstimator
from .._core.nets import PolynomialDecoder, PolynomialFeatures, Standardizer, autoencoder, reconstruction_loss
from .._core.progress import logger
from . import _do_stage2, _varpro

__all__ = ["InterventionalCRL", "IdentifiabilityWarning", "ioss_penalty"]

# Stage 1 is judged on held-out samples: a residual above this multiple of the
# noise floor (plus an absolute 1e-6 of the whitened variance) is a failure.
_FLOOR_FACTOR = 4.0
_RESIDUAL_ATOL = 1e-6
# An MLP stage 1 has no noise floor; a held-out relative error above this warns.
_MLP_ERROR_LIMIT = 1e-2
# A linear stage-1 search that lands in a wrong basin stops within tens of
# iterations, so it gets this many times ``restarts`` initialisations.
_LINEAR_RESTARTS = 4
# A random-valued do-regime whose ratio-gradient matrix, known functionals
# projected out, has a second eigenvalue above this share of the first is not
# the change of one latent's mechanism (measured: below 0.08 on linear SCMs
# with 2,000 samples per regime, 0.17 where a nonlinear SCM cost MCC 0.93).
_RANK_ONE_LIMIT = 0.15
# A random-valued regime whose first two moments equal the observational ones
# at this level changed nothing that stage 2 can see.
_UNCHANGED_PVALUE = 1e-3
# The directions a fixed-value do holds constant are told apart from the others
# when the regime's spectrum jumps by at least this factor after them.
_FIXED_GAP = 1e3
# A fixed-value regime's power test solved to this relative residual is exact
# (the default acceptance of _varpro.fixed_value_directions).
_EXACT_RESIDUAL = 1e-10
# Residuals below this (squared, whitened units: an RMS error of 1e-10) are
# float64 rounding, whose digits vary with memory alignment between runs.
_ROUNDING_ZERO = 1e-20
# Spectrum checks of the latent dimension: a kept principal component within
# this factor of the noise level is noise; a discarded one above it is signal.
_SIGNAL_FACTOR = 10.0
# Multiples of float64's eps (relative to the top eigenvalue) below which an
# eigenvalue of the observations' covariance is rounding, whatever the data.
_RESOLVED_EPS = 4.0


class InterventionalCRL(TorchEstimator):
    """Latents up to permutation and scaling from hard do-interventions.

    Arguments:
        latent_dim: Number of latents d.
        decoder: ``"polynomial"`` (affine identification for polynomial mixing)
            or ``"mlp"``.
        degree: Degree of the polynomial decoder.
        encoder: ``"auto"``, ``"linear"`` or ``"mlp"``. ``"linear"`` solves
            stage 1 exactly for polynomial mixing (needs ``decoder="polynomial"``
            and dim_x >= C(d + degree, degree) - 1); ``"mlp"`` trains an MLP
            autoencoder. ``"auto"`` uses ``"linear"`` where it applies and falls
            back to ``"mlp"`` when its held-out residual stays above the noise
            floor, keeping the stage 1 that reconstructs held-out data better.
        hidden: Widths of the MLP encoder's hidden layers (the MLP decoder mirrors them).
        stage2: ``"auto"`` (``"do"`` when some regime intervenes, else
            ``"ioss"``), ``"do"``, ``"ioss"`` or ``"none"`` (stage 1 alone).
        max_steps: Optimiser steps of the MLP stage 1.
        max_epochs: Optional bound on epochs of the MLP stage 1.
        batch_size: Samples per step (MLP).
        lr: Adam learning rate (MLP; cosine decay); 3e-3 converges where 1e-2 diverges.
        restarts: Random initialisations of stage 1 (linear: 4 x restarts
            searches, stopping at the first that reaches the noise floor; a
            wrong basin is left within tens of iterations. MLP: short runs,
            the best trained to the end).
        ioss_lambda: Weight of the independence-of-support penalty.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        seed: Seed of initialisation, splits and batch order.
        verbose: Show progress bars.
        n_threads: CPU threads while fitting and transforming: ``"auto"``
            (from the model's size and the cores available), an int, or None
            to leave torch's setting alone.

    Attributes:
        modules_: Fitted networks (``scaler``, ``encoder``, ``decoder``).
        arrays_: ``center`` (d,) and ``gamma`` (d, d), the stage-2 map.
        stage1_: How stage 1 was solved and how well: ``encoder``, held-out
            ``heldout_error`` (share of the observations' variance not
            reconstructed), for the linear encoder also ``heldout_residual``
            and ``noise_floor`` (whitened units), the spectrum check, how many
            code directions the fixed-value regimes gave in closed form
            (``directions_from_regimes``) and the smallest over the largest
            kept principal variance (``lift_conditioning``: near 1e-10 or below,
            some latents are nearly deterministic functions of others and the
            search is slow).
        diagnostics_: One record per regime and target: ``variance_ratio``
            (variance left on the intervened coordinate relative to regime 0)
            and how the direction was found.
        blocks_: Lists of latents identified only as a block (multi-target
            regimes whose targets no other regime separates); empty when
            every latent is identified up to scaling.
        graph_: The DAG over the recovered latents learned from the regimes
            (:func:`causalrep.graphs.learn_latent_graph`), after a fit with
            do-regimes and an observational regime; its edges are ``graph_edges_``.
        history_: Training history of stage 1 (for the linear encoder: one
            entry, its residual on the fitting and held-out parts, and the
            quasi-Newton iterations as ``steps``).

    Example:
        >>> est = InterventionalCRL(latent_dim=3).fit(data)   # doctest: +SKIP
        >>> est.transform(data.X).shape                       # doctest: +SKIP
        (n, 3)
    """

    _saved_json = ("history_", "diagnostics_", "stage2_", "stage1_", "blocks_", "graph_edges_")
    _array_shapes = MappingProxyType({"center": ("latent_dim",), "gamma": ("latent_dim", "latent_dim")})

    def __init__(
        self,
        latent_dim: int,
        decoder: str = "polynomial",
        degree: int = 2,
        encoder: str = "auto",
        hidden: Sequence[int] = (256, 256),
        stage2: str = "auto",
        max_steps: int = 6000,
        max_epochs: int | None = None,
        batch_size: int = 256,
        lr: float = 3e-3,
        restarts: int = 4,
        ioss_lambda: float = 10.0,
        device: str | torch.device = "auto",
        seed: int = 0,
        verbose: int = 1,
        n_threads: int | str | None = "auto",
    ):
        self.latent_dim = latent_dim
        self.decoder = decoder
        self.degree = degree
        self.encoder = encoder
        self.hidden = hidden
        self.stage2 = stage2
        self.max_steps = max_steps
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.restarts = restarts
        self.ioss_lambda = ioss_lambda
        self.device = device
        self.seed = seed
        self.verbose = verbose
        self.n_threads = n_threads

    def _build(self, dims):
        if dims.get("encoder") == "linear":
            # float64: the exact encoder keeps its precision in transform.
            modules = nn.ModuleDict(
                {
                    "scaler": Standardizer(dims["dim_x"]),
                    "encoder": nn.Linear(dims["dim_x"], self.latent_dim),
                    "decoder": PolynomialDecoder(self.latent_dim, dims["dim_x"], self.degree),
                }
            ).double()
        else:
            modules = autoencoder(dims["dim_x"], self.latent_dim, self.hidden, self.decoder, self.degree)
        if dims.get("ioss"):
            modules["rotation"] = nn.Linear(self.latent_dim, self.latent_dim)
            modules["unrotation"] = nn.Linear(self.latent_dim, self.latent_dim)
        return modules

    def fit(self, data: InterventionalData) -> "InterventionalCRL":
        """Fit both stages on ``data`` (an InterventionalData); returns self.

        Raises:
            ValueError: for an interventional regime without targets, a target
                outside ``range(latent_dim)``, a regime with fewer than
                ``2 * latent_dim + 2`` samples, or bad hyperparameters.
        """
        self._check_data(data)
        self._start_fit(data)
        self._check_params(data)
        stage2 = self._stage2_kind(data)
        X = np.asarray(data.X, dtype=np.float64)
        order = np.random.default_rng(self.seed).permutation(data.n)
        n_val = max(1, int(round(0.1 * data.n)))
        fit_rows, val_rows = np.sort(order[n_val:]), np.sort(order[:n_val])
        if self._encoder_kind(data) == "linear":
            self._fit_linear(X, fit_rows, val_rows, data)
            if self.encoder == "auto" and not self._stage1_ok():
                linear = (self.modules_, self.dims_, self.stage1_, self.history_)
                self._fit_mlp(X, val_rows)
                if self.stage1_["heldout_error"] >= linear[2]["heldout_error"]:
                    self.modules_, self.dims_, self.stage1_, self.history_ = linear
                else:
                    self.stage1_["linear_residual"] = linear[2]["heldout_residual"]
                    self.stage1_["linear_noise_floor"] = linear[2]["noise_floor"]
                self.stage1_["fallback"] = True
                self.stage1_["dimension_warning"] = linear[2]["dimension_warning"]
        else:
            self._fit_mlp(X, val_rows)
        self._warn_stage1()
        self.stage2_ = stage2
        z_hat = self.stage1_transform(data.X)
        self.blocks_ = []
        if stage2 == "do":
            self._fit_do(z_hat, data)
            self._fit_graph(data)
        elif stage2 == "ioss":
            self._fit_ioss(z_hat)
        else:
            self.arrays_ = {"center": z_hat.mean(0), "gamma": np.eye(self.latent_dim)}
            self.diagnostics_ = []
        return self

    # -- stage 1 ----------------------------------------------------------

    def _encoder_kind(self, data):
        needed = _varpro.n_monomials(self.latent_dim, self.degree)
        applies = self.decoder == "polynomial" and data.dim_x >= needed and data.n >= 2 * (needed + 1)
        if self.encoder == "linear" and not applies:
            raise ValueError(
                f"encoder='linear' needs decoder='polynomial', dim_x >= C(d + degree, "
                f"degree) - 1 = {needed} and at least {2 * (needed + 1)} samples; got "
                f"decoder={self.decoder!r}, dim_x={data.dim_x}, n={data.n} "
                "(use encoder='mlp' or 'auto')"
            )
        if self.encoder == "mlp" or not applies:
            return "mlp"
        return "linear"

    def _fit_linear(self, X, fit_rows, val_rows, data):
        """Exact stage 1 (see :mod:`causalrep.estimators.interventional._varpro`)."""
        d, p = self.latent_dim, self.degree
        needed = _varpro.n_monomials(d, p)
        subspace = _varpro.principal_subspace(X[fit_rows], needed)
        floor = subspace.noise_floor()
        u = subspace.whiten(X[fit_rows])
        regime = data.regime[fit_rows]
        observational = np.flatnonzero(regime == 0)
        if self.verbose:
            logger.info(
                "InterventionalCRL: exact stage 1, a linear code of %d whitened principal "
                "components (degree %d decoder in closed form)",
                needed,
                p,
            )
        init, covered = self._fixed_value_start(u, regime, data.targets)
        code = _varpro.fit_linear_code(
            u,
            d,
            p,
            restarts=_LINEAR_RESTARTS * self.restarts,
            seed=self.seed,
            search_rows=observational if observational.size >= 4 * (needed + 1) else None,
            tolerance=_FLOOR_FACTOR * floor + 1e-9,
            init=init,
        )
        features = PolynomialFeatures(d, p).double()
        z = torch.from_numpy(u @ code.basis)
        coef = torch.linalg.lstsq(features(z), torch.from_numpy(u)).solution  # (K, M)
        u_val = subspace.whiten(X[val_rows])
        with torch.no_grad():
            fitted = (features(torch.from_numpy(u_val @ code.basis)) @ coef).numpy()
        heldout_residual = float(np.mean((u_val - fitted) ** 2))
        x_val = X[val_rows] - subspace.mean
        x_fit = (fitted * subspace.scale) @ subspace.components.T
        heldout_error = float(np.sum((x_val - x_fit) ** 2) / max(np.sum(x_val**2), 1e-300))

        # Fold the whitening into the modules: encoder x -> z, decoder z -> x,
        # both on x standardised by the scaler (mean, one common scale).
        spread = float(np.sqrt(subspace.eigenvalues.mean()))
        encoder_map = subspace.components / subspace.scale @ code.basis  # (D, d)
        decoder_map = coef.numpy() * subspace.scale @ subspace.components.T  # (K, D)
        with torch.random.fork_rng(devices=[]):  # the layers' initial draws are overwritten
            modules = self._build({"dim_x": X.shape[1], "encoder": "linear"})
        with torch.no_grad():
            modules["scaler"].mean.copy_(torch.from_numpy(subspace.mean))
            modules["scaler"].scale.fill_(spread)
            modules["encoder"].weight.copy_(torch.from_numpy(encoder_map.T * spread))
            modules["encoder"].bias.zero_()
            modules["decoder"].linear.weight.copy_(torch.from_numpy(decoder_map.T / spread))
        self.modules_ = modules.to(self.device_).eval()
        self.dims_ = {"dim_x": int(X.shape[1]), "encoder": "linear"}
        if self.verbose:
            logger.info(
                "InterventionalCRL: stage 1 done: %d of %d code directions in closed form "
                "from the fixed-value regimes, then %d L-BFGS iterations over %d "
                "search(es); held-out residual %.3g, noise floor %.3g",
                covered,
                d,
                code.iterations,
                code.restarts,
                heldout_residual,
                floor,
            )
        # Rounded to 12 digits: BLAS's alignment-dependent rounding must not make
        # two fits with one seed report different last digits.
        self.history_ = {
            "terms": {"residual": [_rounded(code.residual, _ROUNDING_ZERO)]},
            "val": [_rounded(heldout_residual, _ROUNDING_ZERO)],
            "best_epoch": 0,
            "steps": code.iterations,
        }
        self.stage1_ = {
            "encoder": "linear",
            "heldout_error": _rounded(heldout_error, _ROUNDING_ZERO),
            "heldout_residual": _rounded(heldout_residual, _ROUNDING_ZERO),
            "noise_floor": _rounded(floor, _ROUNDING_ZERO),
            "fit_residual": _rounded(code.residual, _ROUNDING_ZERO),
            "restarts": code.restarts,
            "iterations": code.iterations,
            "directions_from_regimes": covered,
            "lift_conditioning": _rounded(subspace.eigenvalues[needed - 1] / subspace.eigenvalues[0]),
            **_spectrum_check(subspace.eigenvalues, needed, subspace.noise_variance, d, p),
        }

    def _fixed_value_start(self, u, regime, targets):
        """A starting code (M, d) from the fixed-value do-regimes, and how many of
        its d directions they gave (:func:`_varpro.fixed_value_directions`); the
        rest is random. None when no regime fixes a latent.

        At degree >= 3 the first regime solved exactly (by Levenberg-Marquardt)
        gives the others their start in closed form; regimes tried before it are
        solved again with it."""
        d, p = self.latent_dim, self.degree
        needed = u.shape[1]
        problems = []
        for k in np.unique(regime):
            rows = regime == k
            if k == 0 or rows.sum() < 2 * needed + 2:
                continue
            values, vectors = _varpro.regime_spectrum(u[rows])
            known = targets[int(k)]
            n_targets = (
                len(known) if known is not None else _varpro.count_fixed_targets(values, d, p, _do_stage2.FIXED_SHARE)
            )
            if n_targets == 0:
                continue
            count = _varpro.n_fixed_functionals(d, p, n_targets)
            if values[count - 1] >= _do_stage2.FIXED_SHARE:
                continue  # not held at one value: a random-valued or soft intervention
            if count < needed and values[count] < _FIXED_GAP * max(values[count - 1], 1e-300):
                # Nearly deterministic relations among the latents put other directions
                # at the regime's numerical zero too: the fixed ones are not told apart.
                continue
            problems.append((vectors[:, :count], n_targets, self.seed + int(k)))
        columns, multipliers, unsolved = [], None, []
        for i, (fixed, n_targets, seed) in enumerate(problems):
            found, value = _varpro.fixed_value_directions(u, fixed, p, n_targets, seed=seed, multipliers=multipliers)
            if multipliers is None:
                if value > _EXACT_RESIDUAL:
                    unsolved.append(i)
                elif p >= 3:
                    multipliers = u @ found
            columns.append(found)
        if multipliers is not None:
            for i in unsolved:
                fixed, n_targets, seed = problems[i]
                columns[i] = _varpro.fixed_value_directions(u, fixed, p, n_targets, seed=seed, multipliers=multipliers)[
                    0
                ]
        if not columns:
            return None, 0
        stacked = np.hstack(columns)
        left, singular, _ = np.linalg.svd(stacked, full_matrices=False)
        covered = int(min(d, np.sum(singular > 1e-3 * singular[0])))
        start = left[:, :covered]
        if covered < d:
            rng = np.random.default_rng(self.seed)
            rest = rng.standard_normal((needed, d - covered))
            start = np.hstack([start, rest - start @ (start.T @ rest)])
        return start, covered

    def _fit_mlp(self, X, val_rows):
        """Stage 1 by an MLP autoencoder trained with the shared loop."""
        x = torch.tensor(X)  # float64: the scaler standardises, then casts
        dims = {"dim_x": int(X.shape[1])}

        def build():
            modules = self._build(dims).to(self.device_)
            modules["scaler"].fit(x.to(self.device_))
            return modules

        modules, history = self._train(
            build,
            lambda m, xb: {"reconstruction": reconstruction_loss(m, xb)},
            (x,),
            restarts=self.restarts,
            restart_steps=max(300, self.max_steps // 10),
            max_steps=self.max_steps,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            lr=self.lr,
        )
        self.modules_, self.dims_, self.history_ = modules, dims, history.to_dict()
        x_val = x[val_rows].to(self.device_)
        with torch.no_grad():
            scaled = modules["scaler"](x_val)
            error = ((modules["decoder"](modules["encoder"](scaled)) - scaled) ** 2).sum()
            heldout_error = float(error / (scaled - scaled.mean(0)).pow(2).sum().clamp_min(1e-30))
        self.stage1_ = {"encoder": "mlp", "heldout_error": heldout_error}

    def _stage1_ok(self):
        info = self.stage1_
        if info["encoder"] == "mlp":
            return info["heldout_error"] <= _MLP_ERROR_LIMIT
        return info["heldout_residual"] <= _FLOOR_FACTOR * info["noise_floor"] + _RESIDUAL_ATOL

    def _warn_stage1(self):
        info, problems = self.stage1_, []
        if not self._stage1_ok():
            if info["encoder"] == "linear":
                problems.append(
                    f"stage 1 leaves {info['heldout_residual']:.3g} of the whitened variance "
                    f"unexplained on held-out samples, above {_FLOOR_FACTOR:g} x the noise "
                    f"floor {info['noise_floor']:.3g}: the mixing may not be a degree-"
                    f"{self.degree} polynomial of {self.latent_dim} latents"
                )
            else:
                problems.append(
                    f"the MLP stage 1 leaves {info['heldout_error']:.3g} of the held-out "
                    f"variance unreconstructed (> {_MLP_ERROR_LIMIT:g}); raise max_steps"
                )
        if info.get("fallback") and info["encoder"] == "mlp":
            problems.append(
                f"the exact stage 1 left {info['linear_residual']:.3g} of the whitened variance "
                f"unexplained on held-out samples (noise floor {info['linear_noise_floor']:.3g}), "
                "so the MLP stage 1 was used: its latents are affine in the true ones only "
                f"approximately (held-out reconstruction error {info['heldout_error']:.3g})"
            )
        if info.get("dimension_warning"):
            problems.append(info["dimension_warning"])
        for problem in problems:
            warn(problem, IdentifiabilityWarning)

    # -- stage 2 ----------------------------------------------------------

    def _check_params(self, data):
        if self.decoder not in ("polynomial", "mlp"):
            raise ValueError(f"decoder must be 'polynomial' or 'mlp', got {self.decoder!r}")
        if isinstance(self.degree, bool) or not isinstance(self.degree, int) or self.degree < 1:
            raise ValueError(f"degree must be an int >= 1, got {self.degree!r}")
        if self.encoder not in ("auto", "linear", "mlp"):
            raise ValueError(f"encoder must be 'auto', 'linear' or 'mlp', got {self.encoder!r}")
        if self.stage2 not in ("auto", "do", "ioss", "none"):
            raise ValueError(f"stage2 must be 'auto', 'do', 'ioss' or 'none', got {self.stage2!r}")
        if isinstance(self.restarts, bool) or not isinstance(self.restarts, int) or self.restarts < 1:
            raise ValueError(f"restarts must be an int >= 1, got {self.restarts!r}")
        weight = self.ioss_lambda
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not 0 <= weight < np.inf:
            raise ValueError(f"ioss_lambda must be a finite number >= 0, got {weight!r}")
        minimum = 2 * self.latent_dim + 2
        for k, count in data.counts().items():
            targets = data.targets[k]
            if k != 0 and targets == ():
                raise ValueError(
                    f"regime {k} is interventional but its targets are empty; "
                    "name them in data.targets, or set them to None if unknown"
                )
            bad = [j for j in targets or () if j >= self.latent_dim]
            if bad:
                raise ValueError(f"regime {k} targets latent(s) {bad}, outside range(latent_dim={self.latent_dim})")
            if count < minimum:
                raise ValueError(
                    f"regime {k} has {count} samples; InterventionalCRL needs "
                    f"at least 2 * latent_dim + 2 = {minimum} per regime"
                )
            if k == 0 and not np.any(column_stats(data.X[data.regime == 0])[1] > 0):
                raise ValueError(
                    f"regime 0 (observational) has {count} identical rows: the "
                    "do-regimes' variance ratios would have no reference"
                )

    def _stage2_kind(self, data):
        intervened = any(data.targets[k] != () for k in data.regimes)
        if self.stage2 == "auto":
            return "do" if intervened else "ioss"
        if self.stage2 == "do" and not intervened:
            raise ValueError("stage2='do' needs interventional regimes; data has none (use stage2='ioss' or 'none')")
        return self.stage2

    def _fit_do(self, z_hat, data):
        """Stage 2 from the hard interventions; see :mod:`.do_stage2`."""
        d = self.latent_dim
        whiten = _do_stage2.Whitener.fit(z_hat)
        y = whiten(z_hat)
        known, unknown, random_valued = {}, [], []
        for k in data.regimes:
            targets = data.targets[k]
            if not targets and targets is not None:
                continue
            values, _ = _do_stage2.smallest_directions(y[data.regime == k])
            if targets is None:
                (unknown if _do_stage2.count_fixed(values) else random_valued).append(k)
            elif values[len(targets) - 1] >= _do_stage2.FIXED_SHARE and len(targets) == 1:
                random_valued.append(k)  # not held at one value: a do with a random value
            else:
                known.setdefault(targets, []).append(k)
        directions = np.zeros((d, d))
        found, how = [], {}
        # Subspace (whitened, orthonormal columns) fixed by each known target set.
        spans = {}
        for targets, regimes in known.items():
            rows = np.isin(data.regime, regimes)
            _, vectors = _do_stage2.smallest_directions(y[rows])
            spans[targets] = vectors[:, : len(targets)]
        # Intersect the spans of the target sets holding each latent: a latent
        # whose intersection is one-dimensional is identified up to scale.
        blocks = {}
        for j in sorted({j for targets in known for j in targets}):
            label, span = None, None
            for targets in sorted((t for t in known if j in t), key=len):
                if span is None:
                    label, span = set(targets), spans[targets]
                else:
                    shared = label & set(targets)
                    span, label = _do_stage2.intersect(span, spans[targets], len(shared)), shared
            if len(label) == 1:
                directions[j] = span[:, 0]
                found.append(j)
                how.setdefault(j, "do")
            else:
                blocks.setdefault(tuple(sorted(label)), span)
        # A block gives its members not identified alone directions in its span,
        # orthogonal to those that are: identified jointly, as a block.
        for members, span in blocks.items():
            alone = [m for m in members if m in found]
            free = [m for m in members if m not in found]
            if alone:
                span = scipy.linalg.orth(span - directions[alone].T @ (directions[alone] @ span))
            directions[free] = span[:, : len(free)].T
            found.extend(free)
            how.update({m: "block" for m in free})
            self.blocks_.append(list(members))
        for k in unknown:
            values, vectors = _do_stage2.smallest_directions(y[data.regime == k])
            for g in vectors[:, : _do_stage2.count_fixed(values)].T:
                if found and np.max(np.abs(directions[found] @ g)) > 0.9:
                    continue
                free = [j for j in range(d) if j not in found]
                if not free:
                    break
                directions[free[0]] = g
                found.append(free[0])
                how[free[0]] = f"do, targets unknown (regime {k})"
        random_found = self._fit_random_do(y, data, random_valued, directions, found, how)
        directions = _complete(directions, sorted(found))
        self.arrays_ = {"center": whiten.center, "gamma": whiten.rows(directions)}
        self.diagnostics_ = self._do_diagnostics(z_hat, data, how, random_found)

    def _fit_random_do(self, y, data, regimes, directions, found, how):
        """Directions from random-valued do-regimes (:func:`_do_stage2.peel_random_do`),
        written into ``directions``/``found``/``how``; returns regime -> (latent,
        rank-one ratio) for the diagnostics."""
        if not regimes or np.sum(data.regime == 0) < 2 * self.latent_dim + 2:
            return {}
        d = self.latent_dim
        result = _do_stage2.peel_random_do(y, data.regime, regimes, directions[sorted(found)])
        placed = {}
        for k in result.order:
            row, targets = result.directions[k], data.targets[k]
            if targets is not None:
                j = targets[0]
                if j in found:
                    continue
            else:
                if found and np.max(np.abs(directions[found] @ row)) > 0.9:
                    continue
                free = [j for j in range(d) if j not in found]
                if not free:
                    break
                j = free[0]
            directions[j] = row
            found.append(j)
            how[j] = "random do" + ("" if targets is not None else f", targets unknown (regime {k})")
            placed[k] = (j, result.rank_one_ratio[k], result.change_pvalue[k], result.linear_fit_pvalue)
        return placed

    def _fit_graph(self, data):
        """The DAG over the recovered latents, from the regimes (:mod:`causalrep.graphs`).

        Regimes with unknown targets count with the targets stage 2 found;
        without an observational regime large enough to test, no graph."""
        found = {k: tuple(r["target"] for r in self.diagnostics_ if r["regime"] == k) for k in data.regimes}
        targets = {k: found[k] if data.targets[k] is None else data.targets[k] for k in data.regimes}
        if (
            0 not in data.regimes
            or np.sum(data.regime == 0) < self.latent_dim + 3
            or not all(targets[k] for k in data.regimes if k)
        ):
            return
        graph = learn_latent_graph(self.transform(data.X), data.regime, targets)
        self.graph_edges_ = sorted([int(a), int(b)] for a, b in graph.edges)

    @property
    def graph_(self) -> nx.DiGraph:
        """The learned DAG over the recovered latents (``networkx.DiGraph`` over
        ``range(latent_dim)``, in the order of ``transform``'s columns)."""
        if "graph_edges_" not in vars(self):
            raise AttributeError("graph_ exists after a fit with do-regimes and an observational regime")
        graph = nx.DiGraph()
        graph.add_nodes_from(range(self.latent_dim))
        graph.add_edges_from(map(tuple, self.graph_edges_))
        return graph

    def _do_diagnostics(self, z_hat, data, how, random_found):
        """Variance of each intervened coordinate relative to regime 0; for
        random-valued regimes, how close their change is to one latent's."""
        z = (z_hat - self.arrays_["center"]) @ self.arrays_["gamma"].T
        reference = z[data.regime == 0] if 0 in data.regimes else z
        records = []
        for k in data.regimes:
            targets = data.targets[k]
            if k in random_found:
                j, ratio, pvalue, fit = random_found[k]
                records.append(
                    {
                        "regime": int(k),
                        "target": int(j),
                        "variance_ratio": float(z[data.regime == k, j].var() / reference[:, j].var()),
                        "found_by": how[j],
                        "rank_one_ratio": _rounded(ratio),
                        "change_pvalue": _rounded(pvalue),
                    }
                )
                if fit is not None:
                    records[-1]["linear_fit_pvalue"] = _rounded(fit)
                continue
            if targets is None:
                spread = z[data.regime == k].var(0) / reference.var(0)
                targets = tuple(int(j) for j in np.flatnonzero(spread < _do_stage2.FIXED_SHARE))
            for j in targets:
                ratio = float(z[data.regime == k, j].var() / reference[:, j].var())
                records.append(
                    {"regime": int(k), "target": int(j), "variance_ratio": ratio, "found_by": how.get(j, "do")}
                )
        same = [r for r in records if r.get("change_pvalue", 0.0) > _UNCHANGED_PVALUE]
        if same:
            warn(
                "some regimes declared interventional do not differ from the observational one "
                f"in mean or covariance ({', '.join(str(r['regime']) for r in same)}: p > "
                f"{_UNCHANGED_PVALUE:g}): their targets are not identified",
                IdentifiabilityWarning,
            )
        rejected = [r for r in records if r.get("linear_fit_pvalue", 1.0) < _do_stage2.LINEAR_FIT_PVALUE]
        if rejected:
            warn(
                "the random-valued do-regimes' means and covariances reject a linear latent SCM "
                f"(likelihood-ratio test, kurtosis-scaled: p = {rejected[0]['linear_fit_pvalue']:.2g}"
                f" < {_do_stage2.LINEAR_FIT_PVALUE:g}); their directions are approximate: the latent SCM "
                "may be nonlinear, or an intervention soft or on several latents",
                IdentifiabilityWarning,
            )
        # Where the joint refinement ran, its test supersedes the peeling's rank check.
        bent = [r for r in records if r.get("rank_one_ratio", 0.0) > _RANK_ONE_LIMIT and "linear_fit_pvalue" not in r]
        if bent:
            summary = ", ".join(f"regime {r['regime']}: {r['rank_one_ratio']:.2g}" for r in bent)
            warn(
                "some random-valued do-regimes change more than one latent's mechanism as far "
                f"as their first two moments tell (second/first eigenvalue > {_RANK_ONE_LIMIT:g}: "
                f"{summary}); their directions are approximate: the latent SCM may be "
                "nonlinear, or the intervention soft or on several latents",
                IdentifiabilityWarning,
            )
        worst = [r for r in records if "rank_one_ratio" not in r and r["variance_ratio"] > _do_stage2.FIXED_SHARE]
        if worst:
            summary = ", ".join(f"regime {r['regime']} latent {r['target']}: {r['variance_ratio']:.3g}" for r in worst)
            warn(
                "some intervened coordinates still vary under their do-intervention "
                f"(variance ratio > {_do_stage2.FIXED_SHARE:g}: {summary}); the intervention "
                "may be soft, or random-valued on several latents (not identified by this "
                "stage 2), or stage 1 is not affine",
                IdentifiabilityWarning,
            )
        return records

    def _fit_ioss(self, z_hat):
        """Learn a linear map whose coordinates have pairwise independent supports."""
        z = torch.as_tensor(z_hat, dtype=torch.float32)
        center, scale = z.mean(0), z.std(0)
        z = (z - center) / scale
        d = self.latent_dim
        dims = {**self.dims_, "ioss": True}

        def build():
            modules = self._build(dims).to(self.device_)
            modules.load_state_dict(self.modules_.state_dict(), strict=False)
            return modules

        def loss(modules, zb):
            rotated = modules["rotation"](zb)
            terms = {"reconstruction": ((modules["unrotation"](rotated) - zb) ** 2).mean()}
            if d > 1:
                pairs = torch.randint(0, d, (3, 2), device=zb.device)
                pairs = pairs[pairs[:, 0] != pairs[:, 1]]
                terms["ioss"] = self.ioss_lambda * sum(
                    (ioss_penalty(rotated[:, pair]) for pair in pairs), torch.zeros((), device=zb.device)
                )
            return terms

        modules, _ = self._train(
            build, loss, (z,), max_steps=max(500, self.max_steps // 4), batch_size=max(self.batch_size, 512), lr=1e-3
        )
        for p in list(modules["encoder"].parameters()) + list(modules["decoder"].parameters()):
            p.requires_grad_(False)
        self.dims_, self.modules_ = dims, modules
        weight = modules["rotation"].weight.detach().cpu().double().numpy()
        self.arrays_ = {"center": center.double().numpy(), "gamma": weight / scale.double().numpy()[None, :]}
        self.diagnostics_ = []

    def stage1_transform(self, X: ArrayLike | InterventionalData) -> np.ndarray:
        """Latents of stage 1 alone (affine identification), (n, d)."""
        self._check_fitted()
        modules = self.modules_
        if self.dims_.get("encoder") == "linear":
            # float64 throughout: the scaler's own forward casts to float32.
            scaler = modules["scaler"]
            return self._batched(lambda xb: modules["encoder"]((xb - scaler.mean) / scaler.scale), self._tensor(X))
        return self._batched(lambda xb: modules["encoder"](modules["scaler"](xb)), self._tensor(X))

    def transform(self, X: ArrayLike | InterventionalData) -> np.ndarray:
        """Recovered latents, shape (n, latent_dim): stage 1 then the stage-2 map."""
        z_hat = self.stage1_transform(X)
        return (z_hat - self.arrays_["center"]) @ self.arrays_["gamma"].T

    def diagnostics_table(self) -> str:
        """Stage-1 fit and the do-regime diagnostics as a short text table."""
        self._check_fitted()
        info = self.stage1_
        lines = [f"stage 1: {info['encoder']} encoder, held-out unexplained variance {info['heldout_error']:.2e}"]
        if info["encoder"] == "linear":
            lines[0] += f" (whitened residual {info['heldout_residual']:.2e}, noise floor {info['noise_floor']:.2e})"
        lines.append("regime  target  residual variance ratio  found by")
        lines += [
            f"{r['regime']:>6}  {r['target']:>6}  {r['variance_ratio']:>23.2e}  {r['found_by']}"
            for r in self.diagnostics_
        ]
        return "\n".join(lines)


def ioss_penalty(z: torch.Tensor, n_draws: int = 1000, quantile: float = 0.01) -> torch.Tensor:
    """Independence-of-support penalty of a pair of latents (Ahuja et al., 2023).

    Both coordinates are min-max normalised; points drawn uniformly in their
    robust bounding box (the ``quantile``/``1 - quantile`` sample quantiles)
    should all lie near some sample when the support is a product set. The
    penalty is the high quantile of the distance from a drawn point to its
    nearest sample: near 0 for a product support, large when a corner is empty.

    Arguments:
        z: Pair of latents, shape (n, 2).

    Returns:
        Scalar tensor.
    """
    low, high = z.min(0).values, z.max(0).values
    z = (z - low) / (high - low + 1e-8)
    lo = torch.quantile(z, quantile, dim=0)
    hi = torch.quantile(z, 1 - quantile, dim=0)
    draws = lo + torch.rand(n_draws, z.shape[1], device=z.device) * (hi - lo)
    nearest = torch.cdist(draws, z).min(dim=1).values
    return torch.quantile(nearest, 1 - quantile)


def _rounded(value, zero=0.0):
    """``value`` to 12 significant digits (diagnostics, not results); values
    below ``zero`` (float64 rounding, not information) are reported as 0."""
    return 0.0 if abs(value) < zero else float(f"{value:.12g}")


def _complete(directions, found):
    """Fill the rows of ``directions`` (d, d; unit rows in whitened
    coordinates) not set by an intervention with orthonormal directions
    orthogonal to the found ones."""
    d = directions.shape[0]
    missing = [j for j in range(d) if j not in found]
    if missing:
        rest = scipy.linalg.null_space(directions[found]) if found else np.eye(d)
        directions[missing] = rest.T[: len(missing)]
    return directions


def _spectrum_check(eigenvalues, needed, noise, latent_dim, degree):
    """What the spectrum of the observations says about the latent dimension.

    With a degree-p polynomial of d latents the observations have exactly
    ``needed`` = C(d + p, p) - 1 components above the noise. A kept component
    at the noise level says d (or p) is too large; a discarded one well above
    it says too small.
    """
    top = eigenvalues[0]
    # Eigenvalues of a float64 covariance are resolved to a few eps of the largest.
    level = max(noise, _RESOLVED_EPS * np.finfo(np.float64).eps * top)
    last_kept = eigenvalues[needed - 1]
    first_dropped = eigenvalues[needed] if needed < eigenvalues.size else None
    signal = int(np.sum(eigenvalues > _SIGNAL_FACTOR * level))
    check = {"signal_components": signal, "components_needed": int(needed), "dimension_warning": None}
    implied = [k for k in range(1, latent_dim + 3) if _varpro.n_monomials(k, degree) == signal]
    hint = f" (latent_dim={implied[0]} would span exactly {signal})" if implied else ""
    if last_kept <= _SIGNAL_FACTOR * level:
        check["dimension_warning"] = (
            f"only {signal} principal components of the observations rise above the noise "
            f"but latent_dim={latent_dim} and degree={degree} need {needed}: latent_dim "
            f"(or degree) may be too large{hint}"
        )
    elif first_dropped is not None and first_dropped > _SIGNAL_FACTOR * level and eigenvalues.size - needed >= 4:
        check["dimension_warning"] = (
            f"{signal} principal components of the observations rise above the noise but "
            f"latent_dim={latent_dim} and degree={degree} span only {needed}: latent_dim "
            f"(or degree) may be too small, or the mixing is not polynomial{hint}"
        )
    return check
