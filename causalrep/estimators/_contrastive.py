r"""Contrastive causal representation learning (Buchholz et al., NeurIPS 2023).

"Learning Linear Causal Representations from Interventions under General
Nonlinear Mixing" (Buchholz, Rajendran, Rosenfeld, Aragam, Scholkopf,
Ravikumar). The latents follow a linear Gaussian SCM,
:math:`z_t = \sum_i B_{it} z_i + \sigma_t \varepsilon_t` with
:math:`\varepsilon_t \sim N(0, 1)`, observed through any injective mixing
:math:`x = g(z)`, once observationally (regime 0) and once under a perfect
stochastic intervention on each latent, :math:`z_t \sim N(\eta_t, \tau_t^2)`
independently of its parents. The log density ratio of the regime on t to
the observational one is then a quadratic in :math:`z`,

.. math::

    \log \frac{p_t(z)}{p_0(z)} = \log N(z_t; \eta_t, \tau_t^2)
    - \log N\big(z_t; \textstyle\sum_i B_{it} z_i, \sigma_t^2\big)

(:class:`ParametricLogOdds`). An encoder :math:`\hat z = f(x)` is trained
together with these parameters so that the closed form at :math:`f(x)`
classifies each regime against the observational one (binary cross-entropy,
one classifier per regime, regimes weighted equally); at the optimum it is
the log density ratio, which identifies :math:`f` up to permutation and
scaling of the latents, and the graph. Regime k is tied to latent k - 1 of
the learned coordinates, so which latent a regime hits need not be known:
the encoder learns the permutation.

Besides the paper's objective, the fit penalises the first two moments of
the recovered noises :math:`(\hat z_t - \sum_i B_{it} \hat z_i) / \sigma_t`
of each regime that are not its target for departing from :math:`N(0, I)`
(``moments``), which the model implies; measured on
:func:`simulators.contrastive_crl`, it moves fits out of the poor local
optima the classification loss alone leaves them in (see
docs/estimators/contrastive_crl.md).

The MLP encoder starts from a linear one. Which basin a fit ends in is
decided early, and the problem restricted to an affine encoder is small and
smooth: ``restarts`` affine encoders are fitted with the log-odds by L-BFGS on
a subsample of each regime; each of the two with the lowest held-out loss
becomes the MLP's skip path with its hidden branch switched off (last layer
zeroed), Adam refines both on the same validation split, and the one with the
lower validation loss is kept. Short Adam restarts from random encoders lost a
latent on some seeds of the reference code's own data, and so did refining the
best linear start alone on one seed in six.
"""

import math
import numbers
from collections.abc import Sequence
from types import MappingProxyType

import networkx as nx
import numpy as np
import scipy.stats
import torch
from pyro.nn import PyroModule
from torch import nn
from torch.nn import functional as F

from ..data import InterventionalData
from ..exceptions import IdentifiabilityWarning, TrainingDivergedError, warn
from ..validation import Interval, Options, Seed
from ._core.base import TorchEstimator
from ._core.nets import MLP, ConvNet, Standardizer, check_image_shape
from ._core.training import minimise_full_batch

__all__ = ["ContrastiveCRL", "ParametricLogOdds"]

# Diagnostics' thresholds, on the observational noise recovered by the fit
# (unit variance when the assumptions hold). Measured on fits to
# simulators.contrastive_crl (see docs/estimators/contrastive_crl.md).
_MAX_EXCESS_KURTOSIS = 1.5
_MAX_SKEWNESS = 1.0
_MAX_LOG_VARIANCE_RATIO = math.log(1.5)
_MAX_MEAN_SHIFT = 0.5
# The linear start: samples per regime and L-BFGS iterations of each start.
_LINEAR_ROWS = 2000
_LINEAR_ITERATIONS = 200
# How many of the best linear starts are refined into full fits.
_REFINED_STARTS = 2


class ParametricLogOdds(PyroModule):
    r"""Log density ratio of each single-node perfect intervention against the observational linear SCM.

    For the regime on latent t,

    .. math::

        \log \frac{p_t(z)}{p_0(z)} = \log N(z_t; \eta_t, \tau_t^2)
        - \log N\big(z_t; \textstyle\sum_i B_{it} z_i, \sigma_t^2\big) + c_t,

    with ``weight`` the adjacency :math:`B` (``weight[i, t]`` the edge
    i -> t; its diagonal is held at 0), ``loc`` :math:`\eta`, ``log_scale``
    :math:`\log \tau`, ``log_noise`` :math:`\log \sigma` and ``offset``
    :math:`c`. The exact ratio has :math:`c = 0`; a free offset (the
    parametrisation of the authors' code, whose constant is free too) lets the
    classifier calibrate while the encoder is still far off, and returns to
    about 0 as the fit converges.

    Shapes:
        (n, d) -> (n, d): column t is the log-odds of the regime on latent t.
    """

    def __init__(self, latent_dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(latent_dim, latent_dim))
        self.loc = nn.Parameter(torch.zeros(latent_dim))
        self.log_scale = nn.Parameter(torch.zeros(latent_dim))
        self.log_noise = nn.Parameter(torch.zeros(latent_dim))
        self.offset = nn.Parameter(torch.zeros(latent_dim))
        self.register_buffer("off_diagonal", 1.0 - torch.eye(latent_dim))

    def adjacency(self) -> torch.Tensor:
        """:math:`B` (d, d), zero diagonal, in the units of ``z``."""
        return self.weight * self.off_diagonal

    def standardised_adjacency(self) -> torch.Tensor:
        r""":math:`B_{ij} \sigma_i / \sigma_j`: the adjacency of the latents divided by their noise scales."""
        sigma = torch.exp(self.log_noise)
        return self.adjacency() * sigma[:, None] / sigma[None, :]

    def noise(self, z: torch.Tensor) -> torch.Tensor:
        r"""Observational noise of each latent, standardised: :math:`(z_t - \sum_i B_{it} z_i) / \sigma_t`, (n, d)."""
        return (z - z @ self.adjacency()) * torch.exp(-self.log_noise)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        interventional = -0.5 * ((z - self.loc) * torch.exp(-self.log_scale)) ** 2 - self.log_scale
        observational = -0.5 * self.noise(z) ** 2 - self.log_noise
        return interventional - observational + self.offset


def acyclicity(adjacency: torch.Tensor) -> torch.Tensor:
    r"""NOTEARS' :math:`\operatorname{tr} \exp(B \circ B) - d`, zero exactly for a DAG."""
    return torch.trace(torch.matrix_exp(adjacency * adjacency)) - adjacency.shape[0]


def _moment_gap(noise, latent, d):
    """Squared distance of the first two moments of the untargeted noises of each regime from N(0, I).

    ``noise`` (n, d), ``latent`` (n,) the latent each row's regime targets (-1 observational);
    groups of fewer than 2 rows are left out.
    """
    group = F.one_hot(latent + 1, d + 1).to(noise.dtype)  # (n, d + 1)
    count = group.sum(0)
    weight = group / count.clamp(min=1)
    mean = weight.T @ noise  # (d + 1, d)
    second = torch.einsum("ng,ni,nj->gij", weight, noise, noise)
    # Group g > 0 leaves out its target g - 1; the observational group keeps every latent.
    eye = torch.eye(d, device=noise.device, dtype=noise.dtype)
    keep = torch.cat([torch.ones_like(eye[:1]), 1.0 - eye]) * (count >= 2).to(noise.dtype)[:, None]
    gap = (keep[:, :, None] * keep[:, None, :] * (second - eye) ** 2).sum() + (keep * mean**2).sum()
    return gap / (d + 1)


def _regime_weight(latent):
    """Weight of each row (n,) so that every regime weighs the same: n / (rows of its regime).

    ``latent`` (n,): the latent each row's regime targets, -1 observational. The
    mean over a uniform batch of weight * term is then the sum over regimes of the
    regime's mean term.
    """
    counts = torch.bincount(latent + 1)
    return (latent.numel() / counts[latent + 1]).float()


class ContrastiveCRL(TorchEstimator):
    r"""Latents and their graph from one single-node perfect intervention per latent, under any mixing.

    Buchholz et al. (NeurIPS 2023); see the module docstring for the model
    and the objective. ``transform`` returns the latents in units of their
    observational noise standard deviation (centred on regime 0), in which
    ``adjacency_`` is expressed. Needs an observational regime 0 and exactly
    ``latent_dim`` interventional regimes. Which latent a regime intervenes on may be unknown
    (``data.targets[k] = None``): regime k is then tied to latent k - 1 in
    regime order, and the encoder finds the permutation. Known single
    targets place their regime's latent at the target's index, so the
    columns of ``transform`` follow the true order.

    Arguments:
        latent_dim: Number of latents d, equal to the number of
            interventional regimes.
        hidden: Widths of the MLP encoder's hidden layers (it has a linear
            skip path from input to output too).
        encoder: ``"mlp"``; ``"cnn"``, a small convolutional network for
            images, which needs ``data.meta["image_shape"]`` = [C, H, W] with
            C*H*W = dim_x (H, W >= 4); or ``"auto"``: the CNN when the data
            carry such an image shape, else the MLP. The MLP sees each feature
            standardised, the CNN the whole image mapped to [-1, 1] by one
            affine map.
        channels: Width of the CNN's first convolution (the others have twice
            as many channels, its head's hidden layer four times as many units).
        sparsity: Weight of the L1 penalty on the adjacency.
        acyclicity: Weight of NOTEARS' acyclicity penalty
            :math:`\operatorname{tr} \exp(B \circ B) - d`.
        centering: Weight of the penalty on the squared mean of the
            observational latents (fixes the translation).
        moments: Weight of the penalty on the first two moments of the
            untargeted noises of each regime (0: the paper's objective alone).
        graph_threshold: Edges of ``graph_`` are the adjacency entries larger
            in magnitude, in units of the child's noise standard deviation.
        max_steps: Optimiser steps.
        max_epochs: Optional bound on epochs.
        batch_size: Samples per step.
        lr: Adam learning rate (cosine decay).
        restarts: Linear starts for the MLP encoder (the two best by held-out
            loss are refined, the lower validation loss kept); for the CNN,
            short restarts, the one with the lowest validation loss trained to
            the end.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        seed: Seed of initialisation, splits and batch order.
        verbose: Show progress bars.
        n_threads: CPU threads while fitting and transforming: ``"auto"`` (from
            the model's size and the cores available), an int, or None.

    Attributes:
        modules_: ``scaler``, ``encoder`` and ``log_odds`` (a
            :class:`ParametricLogOdds`).
        dims_: ``dim_x``, ``n_regimes``, ``encoder`` (the one used,
            ``"mlp"`` or ``"cnn"``) and ``image_shape`` ([C, H, W] for the CNN,
            else None).
        arrays_: ``regimes`` (the regime labels, observational first) and
            ``latents`` (the latent each regime intervenes on, -1 for regime 0).
        targets_: Regime -> ``(latent,)`` in the coordinates of ``transform``,
            ``{0: ()}`` included: the learned assignment of regimes to latents.
        adjacency_: The weighted adjacency (d, d), ``adjacency_[i, j]`` the
            edge i -> j, in units of the child's noise standard deviation.
        graph_: The DAG of the adjacency's entries above ``graph_threshold``
            (``networkx.DiGraph`` over ``range(latent_dim)``; an edge that
            would close a cycle is dropped, weakest first).
        diagnostics_: What the assumption checks measured on the training
            data: ``noise_excess_kurtosis`` and ``noise_skewness`` per latent
            (of the observational noise; 0 for Gaussian latents), and per
            interventional regime its ``latent``, that latent's ``skewness``
            and ``excess_kurtosis`` on the regime, the non-target latent whose
            noise changed most (``other``), and that noise's
            ``log_variance_ratio`` and standardised ``mean_shift`` against
            regime 0 (0 under a single-node perfect intervention).
        history_: Training history (``classification``: the mean binary
            cross-entropy per regime, :math:`2 \log 2` at chance, and the
            penalties; ``linear_start``: the held-out loss of each linear
            start, ``refined``: the validation loss of each refined one, both
            empty for the CNN).

    Example:
        >>> import simulators
        >>> data = simulators.contrastive_crl(latent_dim=5, seed=0)   # doctest: +SKIP
        >>> est = ContrastiveCRL(latent_dim=5).fit(data)              # doctest: +SKIP
        >>> est.targets_, est.graph_.edges                            # doctest: +SKIP
    """

    _saved_json = ("history_", "diagnostics_")
    _array_shapes = MappingProxyType({"regimes": ("n_regimes",), "latents": ("n_regimes",)})
    _parameter_constraints = MappingProxyType(
        {
            **TorchEstimator._parameter_constraints,
            "sparsity": (Interval(numbers.Real, 0, None),),
            "acyclicity": (Interval(numbers.Real, 0, None),),
            "centering": (Interval(numbers.Real, 0, None),),
            "moments": (Interval(numbers.Real, 0, None),),
            "encoder": (Options("auto", "mlp", "cnn"),),
            "channels": (Interval(numbers.Integral, 1, None),),
            "graph_threshold": (Interval(numbers.Real, 0, None),),
        }
    )
    _fit_fields = ("regime", "targets")

    def __init__(
        self,
        latent_dim: int,
        *,
        hidden: Sequence[int] = (512,),
        encoder: str = "auto",
        channels: int = 32,
        sparsity: float = 1e-4,
        acyclicity: float = 1e-3,
        centering: float = 0.1,
        moments: float = 0.1,
        graph_threshold: float = 0.3,
        max_steps: int = 3000,
        max_epochs: int | None = None,
        batch_size: int = 512,
        lr: float = 1e-3,
        restarts: int = 6,
        device: str | torch.device = "auto",
        seed: Seed = 0,
        verbose: int = 1,
        n_threads: int | str | None = "auto",
    ):
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.encoder = encoder
        self.channels = channels
        self.sparsity = sparsity
        self.acyclicity = acyclicity
        self.centering = centering
        self.moments = moments
        self.graph_threshold = graph_threshold
        self.max_steps = max_steps
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.restarts = restarts
        self.device = device
        self.seed = seed
        self.verbose = verbose
        self.n_threads = n_threads

    def _build(self, dims):
        # Checkpoints written before ``dims_["encoder"]`` existed hold an MLP.
        if dims.get("encoder", "mlp") == "cnn":
            encoder = ConvNet(dims["image_shape"], self.latent_dim, self.channels)
        else:
            encoder = MLP(dims["dim_x"], self.latent_dim, self.hidden, skip=True)
        return nn.ModuleDict(
            {
                "scaler": Standardizer(dims["dim_x"]),
                "encoder": encoder,
                "log_odds": ParametricLogOdds(self.latent_dim),
            }
        )

    def _fit(self, data: InterventionalData) -> "ContrastiveCRL":
        """Train encoder and log-odds on ``data``; returns self.

        Raises:
            ValueError: without an observational regime 0, with a number of
                interventional regimes other than ``latent_dim``, with a
                regime of fewer than 2 samples, or with ``encoder="cnn"`` and
                no valid ``data.meta["image_shape"]``.
        """
        self._start_fit(data)
        latents = self._assign(data)
        regimes = np.asarray(data.regimes, dtype=np.int64)
        self.dims_["n_regimes"] = int(regimes.size)
        image_shape = self._image_shape(data)
        self.dims_["encoder"] = "mlp" if image_shape is None else "cnn"
        self.dims_["image_shape"] = image_shape
        self.arrays_ = {"regimes": regimes, "latents": latents}
        x = torch.tensor(data.X)
        # -1 for observational rows; else the latent their regime intervenes on
        latent = torch.from_numpy(latents[np.searchsorted(regimes, data.regime)])
        tensors = (x, latent, _regime_weight(latent))
        if image_shape is not None:
            self.modules_, history = self._train(lambda: self._built_on(x, None), self._loss, tensors)
            self.history_ = {**history.to_dict(), "linear_start": [], "refined": []}
        else:
            # The linear starts replace the template's short restarts: the best
            # few are refined on the same split, the lowest validation loss wins.
            starts, losses = self._linear_starts(x, latent)
            refined = []
            for start in starts[:_REFINED_STARTS]:
                modules, history = self._train(
                    lambda start=start: self._built_on(x, start), self._loss, tensors, restarts=1
                )
                refined.append((min(history.val), modules, history))
            _, self.modules_, history = min(refined, key=lambda fit: fit[0])
            self.history_ = {**history.to_dict(), "linear_start": losses, "refined": [fit[0] for fit in refined]}
        self._diagnose(data)
        return self

    def _built_on(self, x, start):
        """Fresh modules: for the CNN scaled to ``x``'s range; for the MLP, the affine map of ``start``."""
        modules = self._build(self.dims_).to(self.device_)
        if start is None:
            modules["scaler"].fit_range(x.to(self.device_))
            return modules
        modules["scaler"].load_state_dict(start["scaler"].state_dict())
        linear = start["encoder"].net[0]
        modules["encoder"].start_affine(linear.weight, linear.bias)
        modules["log_odds"].load_state_dict(start["log_odds"].state_dict())
        return modules

    def _image_shape(self, data):
        """[C, H, W] when the CNN encodes ``data``, None for the MLP (see ``encoder``)."""
        if self.encoder == "mlp":
            return None
        shape = data.meta.get("image_shape")
        if shape is None:
            if self.encoder == "cnn":
                raise ValueError(
                    f"{type(self).__name__}(encoder='cnn') needs images: data.meta['image_shape'] = [C, H, W] "
                    f"with C*H*W = dim_x={data.dim_x}, which the data lack; use encoder='mlp' for vectors"
                )
            return None
        try:
            return check_image_shape(shape, data.dim_x)
        except ValueError as err:
            if self.encoder == "cnn":
                raise ValueError(f"{type(self).__name__}(encoder='cnn') needs images: {err}") from None
            return None

    def _assign(self, data):
        """The latent of each regime (-1 for regime 0), after checking the regimes."""
        regimes = data.regimes
        name = type(self).__name__
        if 0 not in regimes:
            raise ValueError(
                f"{name} contrasts every regime with the observational one, regime 0, which the data "
                f"lack (regimes {list(regimes)})"
            )
        interventional = [k for k in regimes if k != 0]
        if len(interventional) != self.latent_dim:
            raise ValueError(
                f"{name} needs one interventional regime per latent: latent_dim={self.latent_dim} but the data "
                f"have {len(interventional)} ({interventional})"
            )
        small = {k: c for k, c in data.counts().items() if c < 2}
        if small:
            raise ValueError(f"{name} needs at least 2 samples per regime; regime(s) {small} have fewer")
        known = {}
        for k in interventional:
            targets = data.targets[k]
            if targets is None:
                continue
            if len(targets) != 1:
                warn(
                    f"regime {k} has targets {targets}: {name} assumes one intervened latent per regime, "
                    "and treats the regime as one whose target is unknown",
                    IdentifiabilityWarning,
                )
            elif targets[0] < self.latent_dim and targets[0] not in known.values():
                known[k] = targets[0]
        free = iter(j for j in range(self.latent_dim) if j not in known.values())
        return np.array([-1] + [known[k] if k in known else next(free) for k in interventional], dtype=np.int64)

    def _linear_starts(self, x, latent):
        """``restarts`` linear encoders fitted by L-BFGS, best first, and each one's held-out loss.

        Each start fits an affine encoder with the log-odds, by the full
        objective, to four fifths of at most ``_LINEAR_ROWS`` samples per regime
        and is scored on the rest. Returns the finite starts as ``ModuleDict``s
        like ``modules_`` whose encoder is an MLP without hidden layers, lowest
        held-out loss first, and the held-out losses in the order the starts
        were drawn (inf for a start that diverged).
        """
        generator = torch.Generator().manual_seed(self._seed)
        fit, held = [], []
        for t in latent.unique():
            rows = (latent == t).nonzero()[:, 0]
            rows = rows[torch.randperm(rows.numel(), generator=generator)[:_LINEAR_ROWS]]
            cut = max(1, rows.numel() // 5)
            held.append(rows[:cut])
            fit.append(rows[cut:])
        parts = []
        for rows in (torch.cat(fit), torch.cat(held)):
            parts.append(tuple(t.to(self.device_) for t in (x[rows], latent[rows], _regime_weight(latent[rows]))))
        # The scaler has no parameters: one fitted on all of x serves every start.
        scaler = Standardizer(self.dims_["dim_x"]).to(self.device_).fit(x.to(self.device_))
        fitted, losses = [], []
        for r in range(self.restarts):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self._seed * 1000 + r)
                modules = nn.ModuleDict(
                    {
                        "scaler": scaler,
                        "encoder": MLP(self.dims_["dim_x"], self.latent_dim, ()),
                        "log_odds": ParametricLogOdds(self.latent_dim),
                    }
                ).to(self.device_)
            loss = minimise_full_batch(modules, self._loss, parts[0], _LINEAR_ITERATIONS)
            if math.isfinite(loss):
                with torch.no_grad():
                    loss = float(sum(self._loss(modules, *parts[1]).values()))
            if not math.isfinite(loss):
                loss = math.inf
            losses.append(loss)
            if loss < math.inf:
                fitted.append((loss, r, modules))
        if not fitted:
            raise TrainingDivergedError(
                f"{type(self).__name__}: every linear start ({self.restarts}) diverged; check the input scale"
            )
        return [modules for _, _, modules in sorted(fitted, key=lambda fit: fit[:2])], losses

    def _loss(self, modules, x, latent, weight):
        z = modules["encoder"](modules["scaler"](x))
        log_odds = modules["log_odds"](z)
        observational = latent < 0
        # Observational rows are negatives of every regime's classifier; the
        # others positives of their own regime's.
        own = log_odds.gather(1, latent.clamp(min=0)[:, None])[:, 0]
        term = torch.where(observational, F.softplus(log_odds).sum(1), F.softplus(-own))
        classification = (weight * term).mean() / self.latent_dim
        obs_weight = weight * observational
        center = (obs_weight[:, None] * z).sum(0) / obs_weight.sum().clamp(min=1e-12)
        adjacency = modules["log_odds"].standardised_adjacency()
        terms = {
            "classification": classification,
            "centering": self.centering * (center**2).sum(),
            "sparsity": self.sparsity * adjacency.abs().sum(),
            "acyclicity": self.acyclicity * acyclicity(adjacency),
        }
        if self.moments:
            terms["moments"] = self.moments * _moment_gap(modules["log_odds"].noise(z), latent, self.latent_dim)
        return terms

    def _encode(self, x):
        # in units of each latent's observational noise scale
        return self.modules_["encoder"](self.modules_["scaler"](x)) * torch.exp(-self.modules_["log_odds"].log_noise)

    # -- assumptions ------------------------------------------------------

    def _diagnose(self, data):
        """Measure what the guarantee assumes on the fitted latents; warn where it fails.

        Gaussian latents: the recovered observational noises and each
        intervened latent on its own regime have no excess kurtosis or skew.
        One perfectly intervened latent per regime: the noises of the other
        latents keep their observational mean and variance there.
        """
        z = self.transform(data.X)
        noise = self._noise(z)
        observational = noise[data.regime == 0]
        skewness, kurtosis = scipy.stats.skew(observational), scipy.stats.kurtosis(observational)
        spread = observational.std(0)
        name = type(self).__name__
        regimes = []
        for k, t in zip(self.arrays_["regimes"][1:], self.arrays_["latents"][1:], strict=True):
            rows = data.regime == k
            target = z[rows, t]
            log_ratio = np.log(noise[rows].var(0) / observational.var(0))
            shift = (noise[rows].mean(0) - observational.mean(0)) / spread
            change = np.maximum(np.abs(log_ratio) / _MAX_LOG_VARIANCE_RATIO, np.abs(shift) / _MAX_MEAN_SHIFT)
            change[t] = -np.inf
            other = int(np.argmax(change))
            regimes.append(
                {
                    "regime": int(k),
                    "latent": int(t),
                    "skewness": float(scipy.stats.skew(target)),
                    "excess_kurtosis": float(scipy.stats.kurtosis(target)),
                    "other": other,
                    "log_variance_ratio": float(log_ratio[other]),
                    "mean_shift": float(shift[other]),
                }
            )
            if change[other] > 1:
                warn(
                    f"{name}: regime {k} changes latent {other} besides its target {t} (noise variance x"
                    f"{math.exp(log_ratio[other]):.2g}, mean shifted by {shift[other]:.2g} standard deviations): "
                    "the guarantee assumes one perfectly intervened latent per regime",
                    IdentifiabilityWarning,
                )
        for j in range(self.latent_dim):
            record = next(r for r in regimes if r["latent"] == j)
            worst = max(abs(kurtosis[j]), abs(record["excess_kurtosis"]))
            if worst > _MAX_EXCESS_KURTOSIS or abs(record["skewness"]) > _MAX_SKEWNESS:
                warn(
                    f"{name}: latent {j} is not Gaussian (excess kurtosis {kurtosis[j]:.2g} of its observational "
                    f"noise, {record['excess_kurtosis']:.2g} on regime {record['regime']}, which intervenes on it, "
                    f"skewness there {record['skewness']:.2g}; all 0 for a Gaussian): the guarantee assumes a "
                    "linear Gaussian latent SCM",
                    IdentifiabilityWarning,
                )
        self.diagnostics_ = {
            "noise_excess_kurtosis": kurtosis.tolist(),
            "noise_skewness": skewness.tolist(),
            "regimes": regimes,
        }

    def _noise(self, z):
        """Observational noise of each latent of ``z`` (n, d) under the fitted SCM."""
        return z - z @ self.adjacency_

    # -- fitted model -----------------------------------------------------

    @property
    def targets_(self) -> dict[int, tuple[int, ...]]:
        self._check_fitted()
        return {
            int(k): () if t < 0 else (int(t),)
            for k, t in zip(self.arrays_["regimes"], self.arrays_["latents"], strict=True)
        }

    @property
    def adjacency_(self) -> np.ndarray:
        self._check_fitted()
        with torch.no_grad():
            return self.modules_["log_odds"].standardised_adjacency().cpu().numpy().astype(np.float64)

    @property
    def graph_(self) -> nx.DiGraph:
        adjacency = self.adjacency_
        graph = nx.DiGraph()
        graph.add_nodes_from(range(self.latent_dim))
        strong = np.argwhere(np.abs(adjacency) > self.graph_threshold)
        for i, j in sorted(strong.tolist(), key=lambda e: -abs(adjacency[e[0], e[1]])):
            if not nx.has_path(graph, j, i):
                graph.add_edge(i, j)
        return graph
