r"""Latent polynomial causal models identified through changes across environments.

Liu, Zhang, Gong, Huang, Zhang, "Identifiable Latent Polynomial Causal Models
Through the Lens of Change" (ICLR 2024). A variational autoencoder whose prior
is a latent polynomial SCM along a fixed causal order, with environment-specific
coefficients and noise:

.. math::

    p(z \mid e) = \prod_{i=1}^{d} N\Big(z_i;\; \mu_i(e) + \sum_k \lambda_{i,k}(e)\,
    m_k(z_{<i}),\; \sigma_i^2(e)\Big),

where :math:`m_k` runs over the monomials of degree 1 to ``degree`` in the
latents before :math:`i`. The reference environment (regime 0) has
:math:`\lambda(0) = 0`: this anchor is what separates :math:`z_i` from
:math:`z_i - c\,z_j` (the discrete form of the paper's condition
:math:`\lambda(u = 0) = 0`). The encoder :math:`q(z \mid x)` is the guide, the
decoder an MLP, and the negative ELBO (Pyro ``Trace_ELBO``) is the loss of the
shared training loop.
"""

import itertools
import numbers
from collections.abc import Sequence
from types import MappingProxyType
from typing import ClassVar

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.distributions import constraints
from pyro.nn import PyroModule
from torch import nn
from torch.nn import functional as F

from ..data import InterventionalData
from ..validation import ArrayLike, Interval, Seed, as_float_array
from ._core.base import TorchEstimator
from ._core.vae import MIN_SCALE, VAE

__all__ = ["MIN_ENVIRONMENTS", "LatentPolynomialSCM", "MultiEnvCRL", "monomial_exponents"]

#: 2 * 2 + 1: the number of environments the theory asks for with Gaussian
#: noise (two sufficient statistics per latent).
MIN_ENVIRONMENTS = 5


class LatentPolynomialSCM(dist.TorchDistribution):
    r"""Density of latents generated along the order 0..d-1 by polynomial mechanisms.

    :math:`z_i = \mu_i + \sum_k w_{i,k}\, m_k(z) + \sigma_i \varepsilon_i` where
    :math:`m_k` are the monomials of degree 1..``degree`` and :math:`w_{i,k} = 0` unless
    monomial :math:`k` involves only latents before :math:`i`. The map from
    :math:`\varepsilon` to :math:`z` is triangular with unit diagonal (up to
    :math:`\sigma`), so :math:`\log p(z) = \sum_i \log N(z_i; \text{mean}_i(z), \sigma_i^2)`.

    Arguments:
        loc: Noise means, shape (n, d).
        scale: Noise standard deviations, shape (n, d), > 0.
        weight: Coefficients, shape (n, d, m), m the number of monomials of
            degree 1..``degree`` in d variables, ordered by degree and then
            as ``itertools.combinations_with_replacement``; entries on
            monomials that involve latent i or later are ignored.
        degree: Highest degree of the monomials.
    """

    arg_constraints: ClassVar[dict] = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real_vector
    has_rsample = True

    def __init__(
        self,
        loc: torch.Tensor,
        scale: torch.Tensor,
        weight: torch.Tensor,
        degree: int,
        validate_args: bool | None = None,
    ):
        d = loc.shape[-1]
        self.loc, self.scale, self.degree = loc, scale, degree
        self._index = [
            torch.tensor(list(itertools.combinations_with_replacement(range(d), k)), device=loc.device)
            for k in range(1, degree + 1)
        ]
        # Monomial k may enter latent i only if every latent it uses is < i.
        last = torch.cat([index.max(dim=1).values for index in self._index])
        allowed = last[None, :] < torch.arange(d, device=loc.device)[:, None]
        self.weight = weight * allowed
        super().__init__(loc.shape[:-1], loc.shape[-1:], validate_args=validate_args)

    def monomials(self, z: torch.Tensor) -> torch.Tensor:
        """Monomials of ``z`` (n, d), shape (n, m)."""
        return torch.cat([z[..., index].prod(dim=-1) for index in self._index], dim=-1)

    def mean(self, z: torch.Tensor) -> torch.Tensor:
        """Mean of each latent given the latents before it, shape (n, d)."""
        return self.loc + torch.einsum("...im,...m->...i", self.weight, self.monomials(z))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return dist.Normal(self.mean(z), self.scale).log_prob(z).sum(-1)

    def rsample(self, sample_shape: tuple[int, ...] = ()) -> torch.Tensor:
        shape = self._extended_shape(torch.Size(sample_shape))
        eps = torch.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        z = torch.zeros(shape, dtype=self.loc.dtype, device=self.loc.device)
        for i in range(shape[-1]):
            value = self.mean(z)[..., i] + self.scale[..., i] * eps[..., i]
            z = torch.cat([z[..., :i], value[..., None], z[..., i + 1 :]], dim=-1)
        return z


class _EnvironmentPrior(PyroModule):
    """Per-environment tables: coefficients (n_envs, d, m), noise loc and scale (n_envs, d).

    Row 0 is the reference environment, whose coefficients are held at 0.
    """

    def __init__(self, n_envs, latent_dim, degree):
        super().__init__()
        self.degree = degree
        self.register_buffer("exponents", torch.as_tensor(monomial_exponents(latent_dim, degree)))
        self.register_buffer("free", (torch.arange(n_envs) > 0).float()[:, None, None])
        self.coef = nn.Parameter(torch.zeros(n_envs, latent_dim, self.exponents.shape[0]))
        self.loc = nn.Parameter(0.1 * torch.randn(n_envs, latent_dim))
        self.raw_scale = nn.Parameter(0.1 * torch.randn(n_envs, latent_dim))

    def forward(self, env):
        """The prior of samples in environments ``env`` (n,) (indices into the tables)."""
        return LatentPolynomialSCM(self.loc[env], self.scales()[env], (self.coef * self.free)[env], self.degree)

    def scales(self):
        return F.softplus(self.raw_scale + 0.5413) + MIN_SCALE  # softplus(0.5413) = 1


class MultiEnvCRL(VAE):
    r"""Latent polynomial causal VAE identified by changes across environments (Liu et al., 2024).

    The prior is :class:`LatentPolynomialSCM` along the order 0..d-1 with a
    table of coefficients, noise means and noise scales per environment
    (``data.regime``); regime 0 is the reference environment whose
    coefficients are 0. The guide is :math:`q(z \mid x)`, a Gaussian from an
    MLP encoder; ``transform`` returns its mean. With enough environments
    (:data:`MIN_ENVIRONMENTS`) in which coefficients and noise parameters
    change, the latents are identified up to permutation and scaling; a
    latent whose coefficients never change is identified only up to a
    polynomial of its parents.

    Arguments:
        latent_dim: Number of latents d.
        degree: Degree of the polynomial mechanisms of the prior.
        min_environments: Fewest environments ``fit`` accepts (>= 2).
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
        n_threads: CPU threads while fitting and transforming: ``"auto"`` (from
            the model's size and the cores available), an int, or None.

    Attributes:
        modules_: ``scaler``, ``encoder``, ``decoder``, ``likelihood`` and
            ``prior`` (the environment tables).
        arrays_: ``regimes``, the regime of each row of the tables.
        environments_: Regime labels, shape (n_envs,); row 0 is the reference.
        coefficients_: Learned coefficients, shape (n_envs, d, m), 0 where a
            monomial may not enter (see ``monomials_``) and in the reference row.
        monomials_: Powers of the m monomials, shape (m, d).
        noise_loc_: Noise means, shape (n_envs, d).
        noise_scale_: Noise standard deviations, shape (n_envs, d).
        history_: Training history of the negative ELBO per sample.

    Example:
        >>> import simulators
        >>> data = simulators.multienv(latent_dim=3, n_envs=5, seed=0)   # doctest: +SKIP
        >>> est = MultiEnvCRL(latent_dim=3).fit(data)                     # doctest: +SKIP
        >>> est.coefficients_.shape                                      # doctest: +SKIP
        (5, 3, 9)
    """

    _array_shapes = MappingProxyType({"regimes": ("n_envs",)})
    _parameter_constraints = MappingProxyType(
        {
            **TorchEstimator._parameter_constraints,
            "degree": (Interval(numbers.Integral, 1, None),),
            "min_environments": (Interval(numbers.Integral, 2, None),),
        }
    )
    _fit_fields = ("regime",)

    def __init__(
        self,
        latent_dim: int,
        *,
        degree: int = 2,
        min_environments: int = MIN_ENVIRONMENTS,
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
        self.degree = degree
        self.min_environments = min_environments
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

    def _fit(self, data: InterventionalData) -> "MultiEnvCRL":
        """Maximise the ELBO under the environment-dependent polynomial prior; returns self.

        Arguments:
            data: InterventionalData whose ``regime`` is the environment of
                each sample, regime 0 the reference.

        Raises:
            ValueError: if the environments are missing (a single regime),
                fewer than ``min_environments``, or without the reference
                regime 0.
        """
        envs = data.regimes
        if len(envs) < 2:
            raise ValueError(
                f"MultiEnvCRL needs the environment of each sample in data.regime, but all "
                f"samples are in regime {envs[0]}: the latents are not identifiable from "
                "one environment"
            )
        if len(envs) < self.min_environments:
            raise ValueError(
                f"MultiEnvCRL needs at least min_environments={self.min_environments} "
                f"environments (2 * 2 + 1 for Gaussian noise), data has {len(envs)}: "
                f"{list(envs)}; add environments or lower min_environments knowingly"
            )
        if envs[0] != 0:
            raise ValueError(
                f"MultiEnvCRL needs the reference environment, regime 0 "
                f"(coefficients 0 there), data has regimes {list(envs)}"
            )
        return self._fit_vae(data)

    def _aux(self, data):
        regimes = np.asarray(data.regimes, dtype=np.int64)
        self.dims_["n_envs"] = int(regimes.size)
        self.arrays_["regimes"] = regimes
        return (torch.from_numpy(np.searchsorted(regimes, data.regime)),)

    def _prior_modules(self, dims):
        return {"prior": _EnvironmentPrior(dims["n_envs"], self.latent_dim, self.degree)}

    def _model(self, modules, x, env):
        obs_scale = modules["likelihood"]["log_scale"].exp() + MIN_SCALE
        with pyro.plate("data", x.shape[0]):
            with poutine.scale(scale=self._beta):
                z = pyro.sample("z", modules["prior"](env))
            pyro.sample("x", dist.Normal(modules["decoder"](z), obs_scale).to_event(1), obs=x)

    # -- fitted environment parameters --------------------------------------

    @property
    def environments_(self) -> np.ndarray:
        self._check_fitted()
        return np.asarray(self.arrays_["regimes"])

    @property
    def monomials_(self) -> np.ndarray:
        self._check_fitted()
        return self.modules_["prior"].exponents.cpu().numpy()

    @property
    def coefficients_(self) -> np.ndarray:
        self._check_fitted()
        prior = self.modules_["prior"]
        with torch.no_grad():
            env = torch.arange(prior.coef.shape[0], device=prior.coef.device)
            return prior(env).weight.cpu().numpy().astype(np.float64)

    @property
    def noise_loc_(self) -> np.ndarray:
        self._check_fitted()
        return self.modules_["prior"].loc.detach().cpu().numpy().astype(np.float64)

    @property
    def noise_scale_(self) -> np.ndarray:
        self._check_fitted()
        with torch.no_grad():
            return self.modules_["prior"].scales().cpu().numpy().astype(np.float64)

    def prior_log_prob(self, Z: ArrayLike, regime: ArrayLike) -> np.ndarray:
        r"""Log-density of latents under the learned prior, :math:`\log p(z \mid e)`.

        Arguments:
            Z: Latents in the estimator's coordinates, shape (n, latent_dim).
            regime: Environment (regime label) of each row, shape (n,).

        Returns:
            numpy array of shape (n,).

        Raises:
            ValueError: for a shape mismatch or a regime not seen in ``fit``.
        """
        self._check_fitted()
        Z = as_float_array(Z, "Z", ndim=2)
        if Z.shape[1] != self.latent_dim:
            raise ValueError(f"Z has {Z.shape[1]} columns but MultiEnvCRL has latent_dim={self.latent_dim}")
        regime = np.asarray(regime)
        if regime.shape != (Z.shape[0],):
            raise ValueError(f"regime must have shape ({Z.shape[0]},), got {regime.shape}")
        unknown = sorted(set(regime.tolist()) - set(self.environments_.tolist()))
        if unknown:
            raise ValueError(f"regime(s) {unknown} were not seen in fit; known: {self.environments_.tolist()}")
        env = torch.from_numpy(np.searchsorted(self.environments_, regime))
        prior = self.modules_["prior"]
        return self._batched(lambda z, e: prior(e).log_prob(z), torch.from_numpy(Z.astype(np.float32)), env)


def monomial_exponents(d: int, degree: int) -> np.ndarray:
    """Powers (m, d) of the monomials of degree 1..degree in d variables, in the
    order of :class:`LatentPolynomialSCM`."""
    rows = []
    for k in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(range(d), k):
            rows.append(np.bincount(combo, minlength=d))
    return np.array(rows, dtype=np.int64)
