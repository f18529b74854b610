r"""Causal diffusion autoencoder (Komanduri, Zhao, Chen, Wu, 2024).

An encoder maps an observation :math:`x` to exogenous noise
:math:`u \sim q(u \mid x) = N(\mu(x), \operatorname{diag}\sigma^2(x))`; a causal
layer along a known DAG turns it into causal latents, in topological order,

.. math:: z_i = f_i(z_{\mathrm{pa}(i)}) + u_i,

with a small MLP :math:`f_i` per node that has parents; and a denoiser learns
the reverse diffusion of :math:`x` conditioned on :math:`z` (a small UNet for
images, an MLP for vectors). It predicts the velocity
:math:`v = \sqrt{\bar\alpha_t}\,\epsilon - \sqrt{1 - \bar\alpha_t}\,x` of the
noised :math:`x_t` (or the noise :math:`\epsilon` itself, ``prediction="eps"``).

Training minimises the squared error of that prediction plus ``beta`` times a
negative ELBO written in Pyro: the prior :math:`u \sim N(0, I)` pushed through
the causal layer, and a label-informed term that ties each :math:`z_i` to its
label :math:`y_i` (standardised) as :math:`y_i \sim N(z_i, s^2)` with
:math:`s` = ``label_scale``, for the samples whose labels are known. The
ELBO is estimated from Pyro traces of that model and the encoder's guide
(one reparameterised sample, what ``pyro.infer.Trace_ELBO`` computes, without
its four host reads per call); both terms go through the shared training loop. The
diffusion times of a batch are stratified over the schedule, and the schedule
and DDIM live in :mod:`causalrep.estimators.causaldiffae._diffusion`.

A counterfactual of :math:`x` under :math:`do(z_j = c)`:

1. abduction: :math:`u = \mu(x)`, :math:`z = \text{causal}(u)`;
2. action and prediction: set :math:`z_j = c` and recompute the descendants
   of :math:`j` from the same :math:`u`, giving :math:`z'`;
3. deterministic DDIM inversion of :math:`x` under :math:`z` gives
   :math:`x_T`, which keeps what :math:`z` does not (the stochastic detail);
   DDIM sampling from :math:`x_T` under :math:`z'` gives the counterfactual.

With ``label_fraction < 1`` part of the labels are hidden during training and
the denoiser's condition is dropped at random, so it also learns the
unconditional model; sampling then uses classifier-free guidance
:math:`\hat\epsilon = w\,\epsilon(x_t, z) + (1 - w)\,\epsilon(x_t, \varnothing)`
with :math:`w` = ``strength``: :math:`w > 1` amplifies an intervention,
:math:`w < 1` damps it.
"""

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

import networkx as nx
import numpy as np
import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
import torch.nn.functional as F
from pyro.nn import PyroModule
from torch import nn

from ...data import InterventionalData
from ...validation import ArrayLike, GraphLike, Interval, Options, Seed, as_dag, as_do, as_float_array, check_positive
from .._core.base import TorchEstimator
from .._core.nets import MLP, Standardizer, check_image_shape
from ._diffusion import (
    PREDICTIONS,
    alpha_bars,
    ddim,
    ddim_times,
    noise_from,
    noised,
    stratified_times,
    target,
)
from ._nets import ConditionalDenoiser, ConvEncoder, UNet, VectorDenoiser, VectorEncoder, patch_size

__all__ = ["CausalDiffAE"]

_INFERENCE_BATCH = 256


class CausalDiffAE(TorchEstimator):
    r"""Diffusion autoencoder with a causal latent layer; counterfactual images.

    Arguments:
        latent_dim: Number of causal variables d; None takes it from the graph,
            else from ``data.Z``.
        graph: DAG over the latents, nodes ``0..d-1``: a ``networkx.DiGraph``,
            an iterable of edges ``(parent, child)`` or a dict with ``nodes``
            and ``edges``; None uses ``data.graph``, and an empty graph
            (independent latents) when the data have none.
        label_fraction: Share of the training samples whose labels (``data.Z``)
            are used, in [0, 1]; a fixed random subset. Below 1 the condition
            of the denoiser is also dropped at random (see ``cond_dropout``),
            which enables guidance.
        label_scale: Standard deviation :math:`s` of a label around its latent
            (standardised units); smaller ties the latents tighter.
        beta: Weight of the variational term against the diffusion loss.
        cond_dropout: Probability of training the denoiser without its
            condition; None means 0.1 when ``label_fraction < 1`` else 0.
        diffusion_steps: Number of diffusion steps T (linear schedule).
        prediction: What the denoiser predicts: ``"v"``, the velocity
            :math:`\sqrt{\bar\alpha_t}\,\epsilon - \sqrt{1 - \bar\alpha_t}\,x_0`,
            or ``"eps"``, the noise. A noise predictor learns almost nothing
            at the noisy end of the schedule (see
            :mod:`~causalrep.estimators.causaldiffae._diffusion`), where the latents decide
            what the image shows.
        channels: Base width of the convolutional encoder and UNet (images),
            and a quarter of the embedding width. None: twice the number of
            values in one of the UNet's pixel patches, at least 16 (16 for
            16 x 16 grey images on 2 x 2 patches, 32 for 32 x 32 ones on
            4 x 4 patches), so that turning patches into channels leaves no
            bottleneck at the first layer; 32 for vectors.
        hidden: Widths of the hidden layers of the causal mechanisms, the
            vector encoder and the vector denoiser.
        max_steps: Optimiser steps.
        max_epochs: Optional bound on epochs.
        batch_size: Samples per step.
        lr: Adam learning rate (cosine decay).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        seed: Seed of initialisation, label mask, splits and batch order.
        verbose: Show a progress bar.
        n_threads: CPU threads while fitting and predicting: ``"auto"`` (one for
            small networks, more only for large layers, never more than the
            cores available), an int, or None to leave torch's setting.

    Attributes:
        modules_: ``scaler``, ``encoder``, ``causal`` (mechanisms) and ``denoiser``.
        arrays_: ``label_mean``, ``label_std`` (d,), the units of the latents;
            ``u_mean``, ``u_std`` (d,), the spread of the encoded noise, used
            by :meth:`sample`.
        dims_: ``dim_x``, ``latent_dim``, ``image_shape`` (or None), ``edges``,
            ``channels`` (the width used).
        variables_: Names of the latents (from ``data.meta["variables"]``) or None.
        guidance_: Whether the denoiser was trained without condition too.
        prediction_: What the denoiser predicts (``"v"`` or ``"eps"``).
        history_: Training history.

    Example:
        >>> from simulators import pendulum
        >>> data = pendulum(2000, size=32)
        >>> est = CausalDiffAE().fit(data)                          # doctest: +SKIP
        >>> x_cf = est.counterfactual(data.X[:8], do={"angle": 30.0})  # doctest: +SKIP
        >>> x_cf.shape                                               # doctest: +SKIP
        (8, 1024)
    """

    _saved_json = ("history_", "variables_", "guidance_", "prediction_")
    _array_shapes = MappingProxyType({name: ("latent_dim",) for name in ("u_mean", "u_std", "label_mean", "label_std")})
    _parameter_constraints = MappingProxyType(
        {
            **{name: c for name, c in TorchEstimator._parameter_constraints.items() if name != "restarts"},
            "latent_dim": (Interval(numbers.Integral, 1, None), None),
            # what as_dag reads; their contents are checked in fit, against latent_dim
            "graph": (None, nx.DiGraph, dict, list, tuple, set),
            "label_fraction": (Interval(numbers.Real, 0, 1),),
            "label_scale": (Interval(numbers.Real, 0, None, closed="neither"),),
            "beta": (Interval(numbers.Real, 0, None),),
            "cond_dropout": (Interval(numbers.Real, 0, 1, closed="left"), None),
            "diffusion_steps": (Interval(numbers.Integral, 1, None),),
            "prediction": (Options(*PREDICTIONS),),
            "channels": (Interval(numbers.Integral, 1, None), None),
        }
    )
    _fit_fields = ("Z", "graph")

    def __init__(
        self,
        latent_dim: int | None = None,
        *,
        graph: GraphLike | None = None,
        label_fraction: float = 1.0,
        label_scale: float = 0.1,
        beta: float = 0.05,
        cond_dropout: float | None = None,
        diffusion_steps: int = 1000,
        prediction: str = "v",
        channels: int | None = None,
        hidden: Sequence[int] = (128, 128),
        max_steps: int = 1000,
        max_epochs: int | None = None,
        batch_size: int = 48,
        lr: float = 3e-3,
        device: str | torch.device = "auto",
        seed: Seed = 0,
        verbose: int = 1,
        n_threads: int | str | None = "auto",
    ):
        self.latent_dim = latent_dim
        self.graph = graph
        self.label_fraction = label_fraction
        self.label_scale = label_scale
        self.beta = beta
        self.cond_dropout = cond_dropout
        self.prediction = prediction
        self.diffusion_steps = diffusion_steps
        self.channels = channels
        self.hidden = hidden
        self.max_steps = max_steps
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.seed = seed
        self.verbose = verbose
        self.n_threads = n_threads

    def _json_params(self):
        """Hyperparameters for checkpoints; a given ``graph`` is written as
        ``{"nodes", "edges"}`` lists, so that they stay JSON."""
        params = super()._json_params()
        if params["graph"] is not None:
            try:
                graph = _as_dag(params["graph"], self.latent_dim)
            except (TypeError, ValueError):
                return params
            params["graph"] = {"nodes": sorted(graph.nodes), "edges": sorted([int(a), int(b)] for a, b in graph.edges)}
        return params

    # -- fitting ----------------------------------------------------------

    def _build(self, dims):
        d, image_shape = dims["latent_dim"], dims["image_shape"]
        # Checkpoints written before ``dims_["channels"]`` existed had an int.
        channels = dims.get("channels", self.channels)
        emb_dim = 4 * channels
        if image_shape is None:
            encoder = VectorEncoder(dims["dim_x"], d, self.hidden)
            backbone = VectorDenoiser(dims["dim_x"], emb_dim, self.hidden)
        else:
            encoder = ConvEncoder(image_shape, d, channels)
            backbone = UNet(image_shape, channels, emb_dim)
        return nn.ModuleDict(
            {
                "scaler": Standardizer(dims["dim_x"]),
                "encoder": encoder,
                "causal": CausalLayer(d, dims["edges"], self.hidden),
                "denoiser": ConditionalDenoiser(backbone, d, emb_dim),
            }
        )

    def _fit(self, data: InterventionalData) -> "CausalDiffAE":
        """Fit encoder, causal layer and denoiser on ``data``; returns self.

        Raises:
            ValueError: for a graph with a cycle or whose size differs from
                ``latent_dim``, labels whose width differs from it, or
                ``meta["image_shape"]`` that does not match ``dim_x``.
        """
        d, graph = self._resolve_graph(data)
        self._check_labels(data, d)
        self._start_fit(data, latent_dim=d)
        image_shape = data.meta.get("image_shape")
        if image_shape is not None:
            image_shape = check_image_shape(image_shape, data.dim_x)
        self.dims_ = {
            "dim_x": int(data.dim_x),
            "latent_dim": d,
            "image_shape": image_shape,
            "edges": sorted([int(a), int(b)] for a, b in graph.edges),
            "channels": self._channels(image_shape),
        }
        variables = data.meta.get("variables")
        named = isinstance(variables, (list, tuple)) and len(variables) == d
        self.variables_ = [str(v) for v in variables] if named else None

        x = torch.tensor(data.X)
        labels, labeled = self._labels(data, d)
        dropout = self._dropout()
        self.guidance_ = dropout > 0
        self.prediction_ = self.prediction

        def build():
            modules = self._build(self.dims_).to(self.device_)
            # one affine map of the whole image to [-1, 1]; per-feature standardisation for vectors
            if image_shape is not None:
                modules["scaler"].fit_range(x.to(self.device_))
            else:
                modules["scaler"].fit(x.to(self.device_))
            return modules

        schedule = alpha_bars(self.diffusion_steps).to(self.device_)

        def loss(modules, xb, yb, mb):
            return self._loss(modules, schedule, dropout, xb, yb, mb)

        modules, history = self._train(
            build,
            loss,
            (x, labels, labeled),
            fused=True,
        )
        self.modules_, self.history_ = modules, history.to_dict()
        u = self._batched(self._exogenous, x)
        self.arrays_["u_mean"], self.arrays_["u_std"] = u.mean(0), u.std(0) + 1e-6
        return self

    def _channels(self, image_shape):
        if self.channels is not None:
            return int(self.channels)
        if image_shape is None:
            return 32
        values = image_shape[0] * patch_size(*image_shape[1:]) ** 2
        return max(16, 2 * values)

    def _resolve_graph(self, data):
        source = self.graph if self.graph is not None else data.graph
        graph = None if source is None else _as_dag(source, self.latent_dim)
        if graph is not None:
            d = graph.number_of_nodes()
            if self.latent_dim is not None and self.latent_dim != d:
                raise ValueError(f"latent_dim={self.latent_dim} does not match the graph, which has {d} nodes")
        elif self.latent_dim is not None:
            d = self.latent_dim
        elif data.Z is not None:
            d = data.Z.shape[1]
        else:
            raise ValueError("CausalDiffAE needs latent_dim, a graph or data.Z to know the number of latents")
        check_positive(d, "latent_dim", integer=True)
        if graph is None:
            graph = nx.DiGraph()
            graph.add_nodes_from(range(d))
        return int(d), graph

    def _check_labels(self, data, d):
        """Refuse labels (``data.Z``) of another width than the ``d`` latents, unless unused."""
        if data.Z is not None and self.label_fraction > 0 and data.Z.shape[1] != d:
            raise ValueError(
                f"data.Z has {data.Z.shape[1]} columns but there are {d} latents "
                "(latent_dim / graph); labels must name one value per latent, "
                "or set label_fraction=0 to ignore them"
            )

    def _labels(self, data, d):
        """Standardised labels (n, d) and the mask of samples whose labels are used."""
        n = data.n
        if data.Z is None or self.label_fraction == 0:
            self.arrays_["label_mean"], self.arrays_["label_std"] = np.zeros(d), np.ones(d)
            return torch.zeros(n, d), torch.zeros(n, dtype=torch.bool)
        rng = np.random.default_rng(self._seed)
        labeled = np.zeros(n, dtype=bool)
        labeled[rng.permutation(n)[: max(1, round(self.label_fraction * n))]] = True
        known = data.Z[labeled]
        mean, std = known.mean(0), known.std(0)
        std = np.where(std > 0, std, 1.0)
        self.arrays_["label_mean"], self.arrays_["label_std"] = mean, std
        labels = np.where(labeled[:, None], (data.Z - mean) / std, 0.0)
        return torch.tensor(labels, dtype=torch.float32), torch.from_numpy(labeled)

    def _dropout(self):
        if self.cond_dropout is not None:
            return float(self.cond_dropout)
        return 0.1 if self.label_fraction < 1 else 0.0

    def _loss(self, modules, alpha_bars, dropout, x, labels, labeled):
        x = self._shaped(modules["scaler"](x))
        mu, log_scale = modules["encoder"](x)
        z = modules["causal"](mu)
        n = x.shape[0]
        # Validation batches get the same times and noise every epoch, so that
        # early stopping compares parameters, not draws.
        generator = None
        if not modules.training:
            generator = torch.Generator(device=x.device).manual_seed(0)
        t = stratified_times(n, len(alpha_bars), x.device, generator)
        noise = torch.randn(x.shape, device=x.device, generator=generator)
        keep = torch.ones(n, device=x.device)
        if dropout > 0 and modules.training:
            keep = (torch.rand(n, device=x.device) >= dropout).float()
        output = modules["denoiser"](noised(x, t, noise, alpha_bars), t, z, keep)
        # Validation off: a diverged network gives a NaN ELBO, which the
        # training loop reports by name, not an error inside a distribution.
        with pyro.validation_enabled(False):
            elbo = _negative_elbo(modules["causal"], mu, log_scale, labels, labeled, self.label_scale)
        return {
            "diffusion": F.mse_loss(output, target(x, t, noise, alpha_bars, self.prediction_)),
            "elbo": self.beta * elbo / n,
        }

    # -- latents ----------------------------------------------------------

    def _exogenous(self, x):
        return self.modules_["encoder"](self.modules_["scaler"](x))[0]

    def _encode(self, x):
        z = self.modules_["causal"](self._exogenous(x))
        return self._to_label_units(z)

    def _to_label_units(self, z):
        mean = torch.as_tensor(self.arrays_["label_mean"], dtype=z.dtype, device=z.device)
        std = torch.as_tensor(self.arrays_["label_std"], dtype=z.dtype, device=z.device)
        return z * std + mean

    def _from_label_units(self, z):
        mean = torch.as_tensor(self.arrays_["label_mean"], dtype=z.dtype, device=z.device)
        std = torch.as_tensor(self.arrays_["label_std"], dtype=z.dtype, device=z.device)
        return (z - mean) / std

    def intervene(self, X: ArrayLike | InterventionalData, do: Mapping[int | str, ArrayLike]) -> np.ndarray:
        """Latents of ``X`` after ``do``, propagated to the descendants, (n, d).

        Arguments:
            X: Observations, shape (n, dim_x).
            do: ``{node: value}``; node an index (or a name when the data named
                their variables), value a number or an array of shape (n,), in
                the labels' units.

        Returns:
            numpy array (n, latent_dim) in the labels' units: intervened nodes
            hold their values, descendants follow the learned mechanisms with
            the encoded noise, the other nodes are unchanged.
        """
        x = self._tensor(X)
        do = self._check_do(do, x.shape[0])
        return self._batched(
            lambda xb, *values: self._intervened(xb, dict(zip(do, values, strict=True))),
            x,
            *do.values(),
            batch_size=_INFERENCE_BATCH,
        )

    def _intervened(self, x, do):
        u = self._exogenous(x)
        mean = torch.as_tensor(self.arrays_["label_mean"], dtype=u.dtype, device=u.device)
        std = torch.as_tensor(self.arrays_["label_std"], dtype=u.dtype, device=u.device)
        do = {j: (value - mean[j]) / std[j] for j, value in do.items()}
        return self._to_label_units(self.modules_["causal"](u, do))

    def _check_do(self, do, n):
        """``{index or name: value}`` -> ``{index: float32 tensor (n,)}``."""
        self._check_fitted()
        values = as_do(do, self.variables_ or self.dims_["latent_dim"], n)
        return {j: torch.from_numpy(v.astype(np.float32)) for j, v in values.items()}

    # -- diffusion --------------------------------------------------------

    def invert(self, X: ArrayLike | InterventionalData, steps: int = 20, refine: int = 0) -> np.ndarray:
        """Deterministic DDIM inversion of ``X`` under its own latents.

        Arguments:
            X: Observations, shape (n, dim_x).
            steps: Number of DDIM steps (at most ``diffusion_steps``).
            refine: Fixed-point iterations per step (each one more network
                evaluation): they make :meth:`decode` retrace the inversion
                more exactly; 0 is plain DDIM inversion.

        Returns:
            numpy array (n, dim_x): the noise :math:`x_T` (standardised units)
            from which :meth:`decode` with the same latents gives ``X`` back.
        """
        x = self._tensor(X)
        times = self._times(steps)
        if isinstance(refine, bool) or not isinstance(refine, numbers.Integral) or refine < 0:
            raise ValueError(f"refine must be an int >= 0, got {refine!r}")
        return self._batched(
            lambda xb: self._ddim(
                self._shaped(self.modules_["scaler"](xb)),
                self.modules_["causal"](self._exogenous(xb)),
                times,
                1.0,
                invert=True,
                refine=refine,
            ).flatten(1),
            x,
            batch_size=_INFERENCE_BATCH,
        )

    def decode(self, x_T: ArrayLike, z: ArrayLike, steps: int = 20, strength: float = 1.0) -> np.ndarray:
        """DDIM sampling from noise ``x_T`` under latents ``z``.

        Arguments:
            x_T: Noise, shape (n, dim_x), e.g. from :meth:`invert`, or standard
                normal draws.
            z: Latents, shape (n, latent_dim), in the labels' units (as
                :meth:`transform` and :meth:`intervene` return them).
            steps: Number of DDIM steps.
            strength: Guidance weight w (1: plain conditional sampling).

        Returns:
            numpy array (n, dim_x) in the units of the training observations.
        """
        self._check_fitted()
        x_T = self._tensor(x_T, "x_T", scaled=False).float()
        z = torch.from_numpy(as_float_array(z, "z", ndim=2).astype(np.float32))
        if z.shape != (x_T.shape[0], self.dims_["latent_dim"]):
            raise ValueError(f"z must have shape ({x_T.shape[0]}, {self.dims_['latent_dim']}), got {tuple(z.shape)}")
        times, strength = self._times(steps), self._check_strength(strength)
        return self._batched(
            lambda xb, zb: self._output(
                self._ddim(self._shaped(xb), self._from_label_units(zb), times, strength, invert=False)
            ),
            x_T,
            z,
            batch_size=_INFERENCE_BATCH,
        )

    def reconstruct(self, X: ArrayLike | InterventionalData, steps: int = 20, refine: int = 0) -> np.ndarray:
        """``decode(invert(X), transform(X))``: X through the whole model, (n, dim_x)."""
        return self.decode(self.invert(X, steps, refine), self.transform(X), steps)

    def counterfactual(
        self,
        X: ArrayLike | InterventionalData,
        do: Mapping[int | str, ArrayLike],
        steps: int = 20,
        strength: float = 1.0,
        refine: int = 0,
    ) -> np.ndarray:
        """What ``X`` would have looked like under ``do``.

        Encodes ``X``, intervenes in the causal layer (descendants follow),
        inverts ``X`` to its noise with DDIM under the factual latents, and
        decodes that noise under the intervened latents.

        Arguments:
            X: Observations, shape (n, dim_x).
            do: ``{node: value}``, value a number or (n,) array in the labels'
                units; node an index or a variable name.
            steps: Number of DDIM steps for inversion and decoding.
            strength: Guidance weight w: 1 is the plain conditional model;
                other values need a model trained with condition dropout
                (``label_fraction < 1`` or ``cond_dropout > 0``).
            refine: Fixed-point iterations per inversion step (see :meth:`invert`).

        Returns:
            numpy array (n, dim_x): the counterfactual observations.

        Raises:
            ValueError: for an unknown node, a value of the wrong shape, or a
                strength other than 1 on a model trained without dropout.
        """
        self._check_strength(strength)
        z_cf = self.intervene(X, do)
        return self.decode(self.invert(X, steps, refine), z_cf, steps, strength)

    def sample(
        self, n: int, steps: int = 20, z: ArrayLike | None = None, seed: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw new observations from the model.

        Arguments:
            n: Number of samples.
            steps: Number of DDIM steps.
            z: Latents (n, latent_dim) in the labels' units; None draws the
                noise u from a Gaussian fitted to the encoded training data and
                pushes it through the causal layer.
            seed: int seeding the draws.

        Returns:
            Tuple (X (n, dim_x), z (n, latent_dim)).
        """
        self._check_fitted()
        check_positive(n, "n", integer=True)
        generator = torch.Generator().manual_seed(int(seed))
        if z is None:
            u = torch.randn(n, self.dims_["latent_dim"], generator=generator)
            u = u * torch.as_tensor(self.arrays_["u_std"], dtype=torch.float32) + torch.as_tensor(
                self.arrays_["u_mean"], dtype=torch.float32
            )
            z = self._batched(lambda ub: self._to_label_units(self.modules_["causal"](ub)), u)
        x_T = torch.randn(n, self.dims_["dim_x"], generator=generator).numpy()
        return self.decode(x_T, z, steps), np.asarray(z, dtype=np.float64)

    def _check_strength(self, strength):
        if isinstance(strength, bool) or not isinstance(strength, numbers.Real) or not math.isfinite(strength):
            raise ValueError(f"strength must be a finite number, got {strength!r}")
        if strength != 1 and not self.guidance_:
            raise ValueError(
                "strength != 1 needs classifier-free guidance, but this model "
                "was trained without condition dropout; fit with "
                "label_fraction < 1 or cond_dropout > 0"
            )
        return float(strength)

    def _times(self, steps):
        check_positive(steps, "steps", integer=True)
        return ddim_times(self.diffusion_steps, steps)

    def _shaped(self, x):
        shape = self.dims_["image_shape"]
        return x if shape is None else x.view(x.shape[0], *shape)

    def _output(self, x):
        x = self.modules_["scaler"].inverse(x.flatten(1))
        if self.dims_["image_shape"] is not None:
            scaler = self.modules_["scaler"]
            low, high = (scaler.mean - scaler.scale).min(), (scaler.mean + scaler.scale).max()
            x = torch.clamp(x, low, high)
        return x

    def _eps(self, x, t, a, z, strength):
        denoiser = self.modules_["denoiser"]
        steps = torch.full((x.shape[0],), int(t), device=x.device, dtype=torch.long)
        keep = torch.ones(x.shape[0], device=x.device)
        output = denoiser(x, steps, z, keep)
        if strength != 1:
            output = strength * output + (1 - strength) * denoiser(x, steps, z, torch.zeros_like(keep))
        return noise_from(output, x, a, self._prediction())

    def _ddim(self, x, z, times, strength, invert, refine=0):
        """DDIM under latents ``z`` (standardised), see :func:`diffusion.ddim`."""
        schedule = alpha_bars(self.diffusion_steps)
        values = dict(zip(times, schedule[torch.tensor(times)].tolist(), strict=True))
        return ddim(
            lambda xt, t: self._eps(xt, t, values[t], z, strength), x, schedule.to(x.device), times, invert, refine
        )

    def _prediction(self):
        # Checkpoints written before ``prediction`` existed hold noise predictors.
        return getattr(self, "prediction_", "eps")


# -- the variational part (Pyro) ----------------------------------------------


def _negative_elbo(*args):
    """-ELBO of :func:`_model` and :func:`_guide` on ``args``, one reparameterised
    draw of u: the value and gradient of ``Trace_ELBO().differentiable_loss``,
    which also reads four values to the host per call (a wait at every step
    on a GPU)."""
    guide = poutine.trace(_guide).get_trace(*args)
    model = poutine.trace(poutine.replay(_model, trace=guide)).get_trace(*args)
    return guide.log_prob_sum() - model.log_prob_sum()


def _model(causal, mu, log_scale, labels, labeled, label_scale):
    """Prior u ~ N(0, I), z = causal(u), labels ~ N(z, label_scale^2) where known."""
    n, d = mu.shape
    with pyro.plate("samples", n):
        u = pyro.sample("u", dist.Normal(mu.new_zeros(n, d), 1.0).to_event(1))
        # Masked rather than skipped when a batch has no label: asking would
        # wait for the device at every step.
        pyro.sample("labels", dist.Normal(causal(u), label_scale).to_event(1).mask(labeled), obs=labels)


def _guide(causal, mu, log_scale, labels, labeled, label_scale):
    """q(u | x) = N(mu(x), sigma(x)^2), the encoder's output."""
    with pyro.plate("samples", mu.shape[0]):
        pyro.sample("u", dist.Normal(mu, log_scale.exp()).to_event(1))


# -- the causal layer ----------------------------------------------------------


class CausalLayer(PyroModule):
    """z_i = f_i(z_pa(i)) + u_i in topological order; f_i an MLP per node with parents.

    Shapes:
        u (n, d) -> z (n, d)
    """

    def __init__(self, d: int, edges: Iterable[Sequence[int]], hidden: Sequence[int]):
        super().__init__()
        graph = nx.DiGraph()
        graph.add_nodes_from(range(d))
        graph.add_edges_from((int(a), int(b)) for a, b in edges)
        self.order = list(nx.lexicographical_topological_sort(graph))
        self.parents = {j: sorted(graph.predecessors(j)) for j in range(d)}
        self.mechanisms = nn.ModuleDict(
            {str(j): MLP(len(pa), 1, tuple(hidden)) for j, pa in self.parents.items() if pa}
        )

    def forward(self, u: torch.Tensor, do: Mapping[int, torch.Tensor] | None = None) -> torch.Tensor:
        do = do or {}
        # Read once: each read of a plain child announces its parameters to Pyro.
        mechanisms = self.mechanisms
        z = [None] * u.shape[1]
        for j in self.order:
            if j in do:
                z[j] = do[j].to(u)
            elif self.parents[j]:
                parents = torch.stack([z[p] for p in self.parents[j]], dim=1)
                z[j] = mechanisms[str(j)](parents)[:, 0] + u[:, j]
            else:
                z[j] = u[:, j]
        return torch.stack(z, dim=1)


def _as_dag(graph, latent_dim):
    """:func:`~causalrep.validation.as_dag`, with ``latent_dim`` giving the nodes of an
    edge list only: a graph with its own nodes is checked against it by the estimator."""
    edges_only = not isinstance(graph, (nx.DiGraph, nx.Graph, dict))
    return as_dag(graph, latent_dim if edges_only else None)
