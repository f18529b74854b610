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
(:func:`~causalrep.estimators.interventional._do_stage2.peel_random_do`, then refined jointly
by :func:`~causalrep.estimators.interventional._do_stage2.refine_random_do`: exact for linear
latent SCMs, approximate for nonlinear ones, which its goodness-of-fit test flags).
The recovered coordinate j is :math:`z_j` up to scale (and in the order of
the targets; unknown targets give some order).

Without interventions, stage 2 can instead rotate :math:`\hat z` to make the
support of every pair of coordinates a product set (the paper's
independence-of-support penalty), which identifies latents whose supports are
independent, the comparison point the paper uses
(:mod:`causalrep.estimators.interventional._ioss`).

This module holds the estimator; stage 1 is in
:mod:`~causalrep.estimators.interventional._stage1`, the do stage 2 in
:mod:`~causalrep.estimators.interventional._do_stage2` and its checks in
:mod:`~causalrep.estimators.interventional._diagnostics`.
"""

import numbers
from collections.abc import Sequence
from dataclasses import asdict, replace
from types import MappingProxyType

import networkx as nx
import numpy as np
import torch
from torch import nn

from ...data import InterventionalData
from ...exceptions import IdentifiabilityWarning, warn
from ...graphs import learn_latent_graph
from ...validation import ArrayLike, Interval, Options, Seed, column_stats
from .._core.base import TorchEstimator
from .._core.nets import PolynomialDecoder, Standardizer, autoencoder
from .._core.progress import logger
from . import _diagnostics, _do_stage2, _ioss, _stage1
from ._diagnostics import RegimeDiagnostic
from ._stage1 import Stage1Report

__all__ = ["InterventionalCRL", "IdentifiabilityWarning"]


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
        stage1_: How stage 1 was solved and how well, a
            :class:`~causalrep.estimators.interventional.Stage1Report`:
            ``encoder``, held-out ``heldout_error`` (share of the observations'
            variance not reconstructed), for the linear encoder also
            ``heldout_residual`` and ``noise_floor`` (whitened units), the
            spectrum check, how many code directions the fixed-value regimes
            gave in closed form (``directions_from_regimes``) and the smallest
            over the largest kept principal variance (``lift_conditioning``:
            near 1e-10 or below, some latents are nearly deterministic
            functions of others and the search is slow).
        diagnostics_: One :class:`~causalrep.estimators.interventional.RegimeDiagnostic`
            per do-regime and target: ``variance_ratio`` (variance left on the
            intervened coordinate relative to regime 0) and how the direction
            was found (``found_by``); empty without a do stage 2.
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
    _json_readers = MappingProxyType({"stage1_": Stage1Report.from_json, "diagnostics_": RegimeDiagnostic.from_json})
    _array_shapes = MappingProxyType({"center": ("latent_dim",), "gamma": ("latent_dim", "latent_dim")})
    _parameter_constraints = MappingProxyType(
        {
            **TorchEstimator._parameter_constraints,
            "decoder": (Options("polynomial", "mlp"),),
            "degree": (Interval(numbers.Integral, 1, None),),
            "encoder": (Options("auto", "linear", "mlp"),),
            "stage2": (Options("auto", "do", "ioss", "none"),),
            "ioss_lambda": (Interval(numbers.Real, 0, None),),
        }
    )
    _fit_fields = ("regime", "targets")

    def __init__(
        self,
        latent_dim: int,
        *,
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
        seed: Seed = 0,
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

    def _fit(self, data: InterventionalData) -> "InterventionalCRL":
        """Fit both stages on ``data``; returns self.

        Raises:
            ValueError: for an interventional regime without targets, a target
                outside ``range(latent_dim)``, or a regime with fewer than
                ``2 * latent_dim + 2`` samples.
        """
        self._start_fit(data)
        self._check_regimes(data)
        stage2 = self._stage2_kind(data)
        self._fit_stage1(np.asarray(data.X, dtype=np.float64), data)
        for problem in _stage1.problems(self.stage1_, self.latent_dim, self.degree):
            warn(problem, IdentifiabilityWarning)
        self.stage2_ = stage2
        z_hat = self.stage1_transform(data.X)
        self.blocks_ = []
        if stage2 == "do":
            self._fit_do(z_hat, data)
            self._fit_graph(data)
        elif stage2 == "ioss":
            self.dims_, self.modules_, center, gamma = _ioss.fit_ioss(self, z_hat)
            self.arrays_ = {"center": center, "gamma": gamma}
            self.diagnostics_ = []
        else:
            self.arrays_ = {"center": z_hat.mean(0), "gamma": np.eye(self.latent_dim)}
            self.diagnostics_ = []
        return self

    def _fit_stage1(self, X, data):
        """Stage 1 on ``X`` (n, dim_x), judged on a held-out tenth of the samples
        (:mod:`~causalrep.estimators.interventional._stage1`): exact where it
        applies, the MLP where asked or where the exact one misses its noise floor."""
        order = np.random.default_rng(self._seed).permutation(data.n)
        n_val = max(1, int(round(0.1 * data.n)))
        fit_rows, val_rows = np.sort(order[n_val:]), np.sort(order[:n_val])
        if _stage1.encoder_kind(self, data) == "mlp":
            self.modules_, self.dims_, self.history_, self.stage1_ = _stage1.fit_mlp(self, X, val_rows)
            return
        subspace, check = _stage1.spectrum(self, X[fit_rows])
        reason = _stage1.mlp_route_reason(check) if self.encoder == "auto" else None
        if reason:
            # Too few components above the noise for a full-rank lift: the exact route cannot apply.
            if self.verbose:
                logger.info("InterventionalCRL: %s", reason)
            fitted = _stage1.fit_mlp(self, X, val_rows)
            fitted = fitted._replace(report=replace(fitted.report, route_reason=reason, **asdict(check)))
        else:
            fitted = _stage1.fit_linear(self, X, fit_rows, val_rows, data, subspace)
            if self.encoder == "auto" and not _stage1.acceptable(fitted.report):
                kept = _stage1.near_exact(fitted, X, data, self.latent_dim) if self.stage2 in ("auto", "do") else None
                if kept is not None and self.verbose:
                    logger.info("InterventionalCRL: %s", _stage1.near_exact_note(kept.report))
                fitted = kept or _stage1.with_fallback(fitted, _stage1.fit_mlp(self, X, val_rows))
        self.modules_, self.dims_, self.history_, self.stage1_ = fitted

    # -- stage 2 ----------------------------------------------------------

    def _check_regimes(self, data):
        """Refuse regimes without targets, targets outside the latents and regimes too small."""
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
        """Stage 2 from the hard interventions
        (:func:`~causalrep.estimators.interventional._do_stage2.fit_do`), and its diagnostics."""
        fitted = _do_stage2.fit_do(z_hat, data, self.latent_dim)
        self.arrays_ = {"center": fitted.center, "gamma": fitted.gamma}
        self.blocks_ = fitted.blocks
        z = (z_hat - fitted.center) @ fitted.gamma.T
        self.diagnostics_ = _diagnostics.do_diagnostics(z, data, fitted, _stage1.trusted(self.stage1_))

    def _fit_graph(self, data):
        """The DAG over the recovered latents, from the regimes (:mod:`causalrep.graphs`).

        Regimes with unknown targets count with the targets stage 2 found;
        without an observational regime large enough to test, no graph."""
        found = {k: tuple(r.target for r in self.diagnostics_ if r.regime == k) for k in data.regimes}
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
    def unidentified_latents_(self) -> dict[int, str]:
        """Latent -> what is and is not identified of it, for every latent no
        regime intervenes on (from ``diagnostics_``); empty when each has one."""
        self._check_fitted()
        return {r.target: r.found_by for r in self.diagnostics_ if r.regime is None}

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
        return _diagnostics.table(self.stage1_, self.diagnostics_)
