r"""The pieces the VAE-based estimators share: decoding latents back to
observations, and a Gaussian VAE written as a Pyro model/guide pair whose
negative ELBO is the loss of the shared training loop.
"""

from types import MappingProxyType

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from torch import nn
from torch.nn import functional as F

from ...validation import FLOAT32_LIMIT, ArrayLike, as_float_array
from .base import TorchEstimator
from .nets import MLP, Standardizer

__all__ = ["MIN_SCALE", "VAE", "Decoding"]

#: Smallest standard deviation of a Gaussian in the VAEs.
MIN_SCALE = 1e-4


class Decoding:
    """``inverse_transform`` for estimators with ``scaler`` and ``decoder``."""

    def inverse_transform(self, Z: ArrayLike) -> np.ndarray:
        """Observations the decoder maps latents to (the mean, for a VAE).

        Arguments:
            Z: Latents in the estimator's coordinates, shape (n, latent_dim).

        Returns:
            numpy array of shape (n, dim_x), in the units of the fitted data.
        """
        self._check_fitted()
        Z = as_float_array(Z, "Z", ndim=2)
        if Z.shape[1] != self.latent_dim:
            raise ValueError(f"Z has {Z.shape[1]} columns but {type(self).__name__} has latent_dim={self.latent_dim}")
        largest = float(np.max(np.abs(Z)))
        if largest > FLOAT32_LIMIT:
            raise ValueError(
                f"Z has values up to {largest:.3g} in magnitude; "
                f"{type(self).__name__} decodes in float32 and accepts "
                f"up to {FLOAT32_LIMIT:g}"
            )
        modules = self.modules_
        X = self._batched(
            lambda z: modules["scaler"].inverse(modules["decoder"](z)), torch.from_numpy(Z.astype(np.float32))
        )
        if not np.all(np.isfinite(X)):
            raise ValueError(
                "Z decodes to observations beyond float64's range; these latents lie far outside the fitted data"
            )
        return X


class VAE(Decoding, TorchEstimator):
    r"""Gaussian VAE as a Pyro model/guide pair; subclasses choose the prior.

    Model: :math:`z \sim p(z \mid u)`, :math:`x \sim N(f(z), \mathrm{diag}(s^2))`
    on standardised :math:`x`, with a learned per-feature scale :math:`s`.
    Guide: :math:`q(z \mid x) = N(\mu(x), \mathrm{diag}(\sigma^2(x)))`.
    """

    _beta = 1.0
    _array_shapes = MappingProxyType({})

    def _build(self, dims):
        d, dim_x = self.latent_dim, dims["dim_x"]
        return nn.ModuleDict(
            {
                "scaler": Standardizer(dim_x),
                "encoder": MLP(dim_x, 2 * d, self.hidden, skip=True),
                "decoder": MLP(d, dim_x, tuple(reversed(self.hidden))),
                "likelihood": nn.ParameterDict({"log_scale": nn.Parameter(torch.zeros(dim_x))}),
                **self._prior_modules(dims),
            }
        )

    def _prior_modules(self, dims):
        return {}

    def _prior(self, modules, u, n):
        """(loc, scale) of p(z | u), each broadcastable to (n, latent_dim)."""
        raise NotImplementedError

    def _posterior(self, modules, x):
        loc, raw = modules["encoder"](x).chunk(2, dim=-1)
        return loc, F.softplus(raw) + MIN_SCALE

    def _model(self, modules, x, u):
        loc, scale = self._prior(modules, u, x.shape[0])
        obs_scale = modules["likelihood"]["log_scale"].exp() + MIN_SCALE
        with pyro.plate("data", x.shape[0]):
            with poutine.scale(scale=self._beta):
                z = pyro.sample("z", dist.Normal(loc, scale).to_event(1))
            pyro.sample("x", dist.Normal(modules["decoder"](z), obs_scale).to_event(1), obs=x)

    def _guide(self, modules, x, u):
        loc, scale = self._posterior(modules, x)
        with pyro.plate("data", x.shape[0]):
            with poutine.scale(scale=self._beta):
                pyro.sample("z", dist.Normal(loc, scale).to_event(1))

    def _aux(self, data):
        """Auxiliary tensors passed with x (a tuple, possibly empty)."""
        return ()

    def _fit_vae(self, data):
        self._start_fit(data)
        x = torch.tensor(data.X)
        aux = self._aux(data)
        elbo = pyro.infer.Trace_ELBO(max_plate_nesting=1)

        def build():
            modules = self._build(self.dims_).to(self.device_)
            modules["scaler"].fit(x.to(self.device_))
            if "aux_scaler" in modules:
                modules["aux_scaler"].fit(aux[0].to(self.device_))
            return modules

        def loss(modules, xb, *ub):
            xb = modules["scaler"](xb)
            u = ub[0] if ub else None
            if "aux_scaler" in modules:
                u = modules["aux_scaler"](u)
            # Without argument validation a diverged network gives a NaN
            # ELBO, which the training loop reports by name, instead of an
            # error from inside a distribution.
            with pyro.validation_enabled(False):
                negative_elbo = elbo.differentiable_loss(
                    lambda: self._model(modules, xb, u), lambda: self._guide(modules, xb, u)
                )
            return {"negative_elbo": negative_elbo / xb.shape[0]}

        self.modules_, history = self._train(
            build,
            loss,
            (x, *aux),
        )
        self.history_ = history.to_dict()
        return self

    def _encode(self, x):
        return self._posterior(self.modules_, self.modules_["scaler"](x))[0]
