r"""Autoencoder baselines, to compare identifiable estimators against.

* :class:`Autoencoder`: a deterministic MLP autoencoder. Its latents are some
  invertible function of the true ones at best; nothing pins down which.
* :class:`BetaVAE` (Higgins et al., 2017): a VAE with an isotropic Gaussian
  prior whose KL term is weighted by ``beta``. The prior is invariant to
  rotations, so the latents are not identifiable.
* :class:`IVAE` (Khemakhem, Kingma, Monti, Hyvarinen, 2020): a VAE whose prior
  :math:`p(z \mid u) = \prod_i N(z_i; \mu_i(u), \sigma_i^2(u))` is factorised
  given an observed auxiliary variable :math:`u` (the regime, or the actions).
  When the mean and variance move enough across values of :math:`u` (for a
  Gaussian prior, :math:`2d + 1` regimes in general position), the latents are
  identified up to permutation and element-wise affine maps.

The VAEs are written in Pyro: the networks are ``PyroModule``\ s and the
objective is a model/guide pair whose negative ELBO
(``Trace_ELBO().differentiable_loss``) is the loss of the shared training loop,
so SVI runs through the same loop, early stopping and divergence guard as
every other estimator.
"""

import numbers
from collections.abc import Sequence
from types import MappingProxyType

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..data import InterventionalData
from ..validation import Interval, Options, Seed, check_standardisable
from ._core.base import TorchEstimator
from ._core.nets import MLP, Standardizer, autoencoder, reconstruction_loss
from ._core.vae import MIN_SCALE, VAE, Decoding

__all__ = ["Autoencoder", "BetaVAE", "IVAE"]

# Width of the hidden layer of iVAE's prior network when u is a vector of actions.
_PRIOR_HIDDEN = (64,)


class Autoencoder(Decoding, TorchEstimator):
    """Deterministic MLP autoencoder on standardised observations.

    Arguments:
        latent_dim: Number of latents d.
        hidden: Widths of the encoder's hidden layers; the decoder mirrors them.
        max_steps: Optimiser steps.
        max_epochs: Optional bound on epochs.
        batch_size: Samples per step.
        lr: Adam learning rate (cosine decay).
        restarts: Short restarts; the one with the lowest validation error is
            trained to the end.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        seed: Seed of initialisation, splits and batch order.
        verbose: Show progress bars.
        n_threads: CPU threads while fitting and predicting: ``"auto"`` (one for
            small networks, more only for large layers, never more than the
            cores available), an int, or None to leave torch's setting.

    Attributes:
        modules_: ``scaler``, ``encoder`` and ``decoder``.
        history_: Training history.

    Example:
        >>> est = Autoencoder(latent_dim=3).fit(data)          # doctest: +SKIP
        >>> est.inverse_transform(est.transform(data.X))       # doctest: +SKIP
    """

    def __init__(
        self,
        latent_dim: int,
        *,
        hidden: Sequence[int] = (256, 256),
        max_steps: int = 6000,
        max_epochs: int | None = None,
        batch_size: int = 256,
        lr: float = 3e-3,
        restarts: int = 1,
        device: str | torch.device = "auto",
        seed: Seed = 0,
        verbose: int = 1,
        n_threads: int | str | None = "auto",
    ):
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.max_steps = max_steps
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.restarts = restarts
        self.device = device
        self.seed = seed
        self.verbose = verbose
        self.n_threads = n_threads

    _array_shapes = MappingProxyType({})

    def _build(self, dims):
        return autoencoder(dims["dim_x"], self.latent_dim, self.hidden, decoder="mlp")

    def _fit(self, data: InterventionalData) -> "Autoencoder":
        """Minimise the reconstruction error on ``data``; returns self."""
        self._start_fit(data)
        x = torch.tensor(data.X)

        def build():
            modules = self._build(self.dims_).to(self.device_)
            modules["scaler"].fit(x.to(self.device_))
            return modules

        self.modules_, history = self._train(
            build,
            lambda m, xb: {"reconstruction": reconstruction_loss(m, xb)},
            (x,),
        )
        self.history_ = history.to_dict()
        return self

    def _encode(self, x):
        return self.modules_["encoder"](self.modules_["scaler"](x))


class BetaVAE(VAE):
    r"""beta-VAE (Higgins et al., 2017) with an isotropic Gaussian prior, in Pyro.

    Maximises :math:`E_q[\log p(x \mid z)] - \beta\, KL(q(z \mid x) \,\|\, N(0, I))`;
    ``beta`` scales the latent sample site (``pyro.poutine.scale``) in both
    model and guide, which scales the KL term. ``transform`` returns the
    posterior means.

    Arguments:
        latent_dim: Number of latents d.
        beta: Weight of the KL term; 1 is the plain VAE.
        hidden: Widths of the encoder's hidden layers; the decoder mirrors them.
        max_steps: Optimiser steps.
        max_epochs: Optional bound on epochs.
        batch_size: Samples per step.
        lr: Adam learning rate (cosine decay).
        restarts: Short restarts; the one with the lowest validation loss is
            trained to the end.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        seed: Seed of initialisation, splits, batch order and ELBO samples.
        verbose: Show progress bars.
        n_threads: CPU threads while fitting and predicting: ``"auto"`` (one for
            small networks, more only for large layers, never more than the
            cores available), an int, or None to leave torch's setting.

    Attributes:
        modules_: ``scaler``, ``encoder`` (mean and scale of q), ``decoder``,
            ``likelihood`` (per-feature log-scale of p(x | z)).
        history_: Training history of the negative ELBO per sample.
    """

    _parameter_constraints = MappingProxyType(
        {**TorchEstimator._parameter_constraints, "beta": (Interval(numbers.Real, 0, None, closed="neither"),)}
    )

    def __init__(
        self,
        latent_dim: int,
        *,
        beta: float = 4.0,
        hidden: Sequence[int] = (256, 256),
        max_steps: int = 6000,
        max_epochs: int | None = None,
        batch_size: int = 256,
        lr: float = 1e-3,
        restarts: int = 1,
        device: str | torch.device = "auto",
        seed: Seed = 0,
        verbose: int = 1,
        n_threads: int | str | None = "auto",
    ):
        self.latent_dim = latent_dim
        self.beta = beta
        self.hidden = hidden
        self.max_steps = max_steps
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.restarts = restarts
        self.device = device
        self.seed = seed
        self.verbose = verbose
        self.n_threads = n_threads

    @property
    def _beta(self):
        return float(self.beta)

    def _fit(self, data: InterventionalData) -> "BetaVAE":
        """Fit by maximising the beta-weighted ELBO on ``data``; returns self."""
        return self._fit_vae(data)

    def _prior(self, modules, u, n):
        loc = modules["likelihood"]["log_scale"].new_zeros((n, self.latent_dim))
        return loc, torch.ones_like(loc)


class IVAE(VAE):
    r"""Identifiable VAE (Khemakhem et al., 2020) with a prior conditioned on the regime, in Pyro.

    The prior :math:`p(z \mid u) = \prod_i N(z_i; \mu_i(u), \sigma_i^2(u))`
    is conditionally factorised given the auxiliary variable :math:`u`: with
    ``auxiliary="regime"`` a learned table (an embedding of the one-hot regime)
    holds mean and log-scale per regime; with ``auxiliary="actions"`` an MLP of
    the standardised ``data.A`` gives them. The guide is :math:`q(z \mid x)`:
    with an injective mixing :math:`z` is a function of :math:`x`, so
    conditioning the posterior on :math:`u` too adds nothing at the optimum,
    and ``transform`` needs only ``X``. ``transform`` returns posterior means.

    Identification (up to permutation and element-wise affine maps) needs the
    prior to vary enough with :math:`u`: :math:`2d + 1` regimes whose means and
    variances are in general position.

    Arguments:
        latent_dim: Number of latents d.
        auxiliary: ``"regime"`` or ``"actions"`` (needs ``data.A``).
        hidden: Widths of the encoder's hidden layers; the decoder mirrors them.
        max_steps: Optimiser steps.
        max_epochs: Optional bound on epochs.
        batch_size: Samples per step.
        lr: Adam learning rate (cosine decay).
        restarts: Short restarts; the one with the lowest validation loss is
            trained to the end.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        seed: Seed of initialisation, splits, batch order and ELBO samples.
        verbose: Show progress bars.
        n_threads: CPU threads while fitting and predicting: ``"auto"`` (one for
            small networks, more only for large layers, never more than the
            cores available), an int, or None to leave torch's setting.

    Attributes:
        modules_: as :class:`BetaVAE`, plus ``prior`` (and ``aux_scaler`` for actions).
        arrays_: ``regimes``, the regime of each row of the prior table.
        history_: Training history of the negative ELBO per sample.
    """

    _array_shapes = MappingProxyType({"regimes": ("n_regimes",)})
    _parameter_constraints = MappingProxyType(
        {**TorchEstimator._parameter_constraints, "auxiliary": (Options("regime", "actions"),)}
    )
    _fit_fields = ("regime", "A")

    def __init__(
        self,
        latent_dim: int,
        *,
        auxiliary: str = "regime",
        hidden: Sequence[int] = (256, 256),
        max_steps: int = 6000,
        max_epochs: int | None = None,
        batch_size: int = 256,
        lr: float = 1e-3,
        restarts: int = 1,
        device: str | torch.device = "auto",
        seed: Seed = 0,
        verbose: int = 1,
        n_threads: int | str | None = "auto",
    ):
        self.latent_dim = latent_dim
        self.auxiliary = auxiliary
        self.hidden = hidden
        self.max_steps = max_steps
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.restarts = restarts
        self.device = device
        self.seed = seed
        self.verbose = verbose
        self.n_threads = n_threads

    def _fit(self, data: InterventionalData) -> "IVAE":
        """Fit by maximising the ELBO under the conditional prior; returns self.

        Raises:
            ValueError: for ``auxiliary="regime"`` with a single regime, or for
                ``auxiliary="actions"`` without ``data.A``.
        """
        self._check_data(data, need=("A",) if self.auxiliary == "actions" else ())
        if self.auxiliary == "regime" and len(data.regimes) < 2:
            raise ValueError(
                "IVAE with auxiliary='regime' needs several regimes; data has "
                f"only regime {data.regimes[0]} (the prior could not vary)"
            )
        return self._fit_vae(data)

    def _aux(self, data):
        if self.auxiliary == "actions":
            check_standardisable(data.A, "A", type(self).__name__)
            self.dims_["dim_a"] = int(data.A.shape[1])
            return (torch.tensor(data.A),)
        regimes = np.asarray(data.regimes, dtype=np.int64)
        self.dims_["n_regimes"] = int(regimes.size)
        self.arrays_["regimes"] = regimes
        return (torch.from_numpy(np.searchsorted(regimes, data.regime)),)

    def _prior_modules(self, dims):
        if "dim_a" in dims:
            return {
                "aux_scaler": Standardizer(dims["dim_a"]),
                "prior": MLP(dims["dim_a"], 2 * self.latent_dim, _PRIOR_HIDDEN),
            }
        table = nn.Embedding(dims["n_regimes"], 2 * self.latent_dim)
        nn.init.normal_(table.weight, std=0.1)
        return {"prior": table}

    def _prior(self, modules, u, n):
        loc, raw = modules["prior"](u).chunk(2, dim=-1)
        return loc, F.softplus(raw + 0.5413) + MIN_SCALE  # softplus(0.5413) = 1
