r"""Interventional causal representation learning (Ahuja, Mahajan, Wang, Bengio, 2023).

Stage 1 fits an autoencoder on all regimes. With a polynomial decoder whose
degree matches the mixing, its latents :math:`\hat z = A z + c` equal the true
ones up to an invertible affine map.

Stage 2 undoes :math:`A` with the interventions. Under :math:`do(z_j = c_j)`
the true :math:`z_j` is constant, so exactly one direction :math:`\gamma_j`
makes :math:`\gamma_j^\top \hat z` constant on those samples while it still
varies on the rest. It solves the generalised eigenproblem

.. math:: \Sigma_j \gamma = \lambda \Sigma \gamma, \quad \lambda \text{ smallest},

with :math:`\Sigma_j` the within-regime covariance of :math:`\hat z` under the
interventions on :math:`j` and :math:`\Sigma` the covariance over all samples,
scaled so that :math:`\gamma_j^\top \Sigma \gamma_j = 1`. The recovered
coordinate :math:`j` is :math:`\gamma_j^\top (\hat z - \bar z)`: the true
:math:`z_j` up to scale (and in the order of the targets). :math:`\lambda` is
the share of variance left on the intervened samples, the diagnostic that is
near 0 when the intervention is perfect and stage 1 is right.

Without interventions, stage 2 can instead rotate :math:`\hat z` to make the
support of every pair of coordinates a product set (the paper's
independence-of-support penalty), which identifies latents whose supports are
independent, the comparison point the paper uses.
"""

import numbers
import warnings

import numpy as np
import scipy.linalg
import torch
from torch import nn

from .base import BaseEstimator
from .nets import autoencoder, reconstruction_loss

__all__ = ["InterventionalCRL", "IdentifiabilityWarning", "ioss_penalty"]


class IdentifiabilityWarning(UserWarning):
    """A fitted model's diagnostics say the identification guarantee may not hold."""


class InterventionalCRL(BaseEstimator):
    """Latents up to permutation and scaling from hard do-interventions.

    Arguments:
        latent_dim: Number of latents d.
        decoder: ``"polynomial"`` (affine identification for polynomial mixing)
            or ``"mlp"``.
        degree: Degree of the polynomial decoder.
        hidden: Widths of the encoder's hidden layers (the MLP decoder mirrors them).
        stage2: ``"auto"`` (``"do"`` when some regime intervenes, else
            ``"ioss"``), ``"do"``, ``"ioss"`` or ``"none"`` (stage 1 alone).
        max_steps: Optimiser steps of stage 1.
        max_epochs: Optional bound on epochs of stage 1.
        batch_size: Samples per step.
        lr: Adam learning rate (cosine decay); 3e-3 converges where 1e-2 diverges.
        restarts: Short stage-1 restarts; the one with the lowest validation
            reconstruction error is trained to the end.
        ioss_lambda: Weight of the independence-of-support penalty.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        seed: Seed of initialisation, splits and batch order.
        verbose: Show progress bars.

    Attributes:
        modules_: Fitted networks (``scaler``, ``encoder``, ``decoder``).
        arrays_: ``center`` (d,) and ``gamma`` (d, d), the stage-2 map.
        diagnostics_: One record per do-regime: target, residual variance ratio.
        history_: Stage-1 training history.

    Example:
        >>> est = InterventionalCRL(latent_dim=3).fit(data)   # doctest: +SKIP
        >>> est.transform(data.X).shape                       # doctest: +SKIP
        (n, 3)
    """

    _saved_json = ("history_", "diagnostics_", "stage2_")

    def __init__(self, latent_dim, decoder="polynomial", degree=2, hidden=(256, 256),
                 stage2="auto", max_steps=6000, max_epochs=None, batch_size=256,
                 lr=3e-3, restarts=4, ioss_lambda=10.0, device="auto", seed=0,
                 verbose=1, n_threads="auto"):
        self.latent_dim = latent_dim
        self.decoder = decoder
        self.degree = degree
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
        modules = autoencoder(dims["dim_x"], self.latent_dim, self.hidden,
                              self.decoder, self.degree)
        if dims.get("ioss"):
            modules["rotation"] = nn.Linear(self.latent_dim, self.latent_dim)
            modules["unrotation"] = nn.Linear(self.latent_dim, self.latent_dim)
        return modules

    def fit(self, data):
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
        x = torch.tensor(data.X, dtype=torch.float32)

        def build():
            modules = self._build({"dim_x": data.dim_x}).to(self.device_)
            modules["scaler"].fit(x.to(self.device_))
            return modules

        modules, history = self._train(
            build, lambda m, xb: {"reconstruction": reconstruction_loss(m, xb)}, (x,),
            restarts=self.restarts, restart_steps=max(300, self.max_steps // 10),
            max_steps=self.max_steps, max_epochs=self.max_epochs,
            batch_size=self.batch_size, lr=self.lr)
        self.modules_, self.history_, self.stage2_ = modules, history.to_dict(), stage2
        z_hat = self.stage1_transform(data.X)
        if stage2 == "do":
            self._fit_do(z_hat, data)
        elif stage2 == "ioss":
            self._fit_ioss(z_hat)
        else:
            self.arrays_ = {"center": z_hat.mean(0), "gamma": np.eye(self.latent_dim)}
            self.diagnostics_ = []
        return self

    def _check_params(self, data):
        if self.decoder not in ("polynomial", "mlp"):
            raise ValueError(f"decoder must be 'polynomial' or 'mlp', got {self.decoder!r}")
        if not isinstance(self.degree, int) or self.degree < 1:
            raise ValueError(f"degree must be an int >= 1, got {self.degree!r}")
        if self.stage2 not in ("auto", "do", "ioss", "none"):
            raise ValueError(f"stage2 must be 'auto', 'do', 'ioss' or 'none', got {self.stage2!r}")
        if not isinstance(self.restarts, int) or self.restarts < 1:
            raise ValueError(f"restarts must be an int >= 1, got {self.restarts!r}")
        weight = self.ioss_lambda
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real) \
                or not 0 <= weight < np.inf:
            raise ValueError(f"ioss_lambda must be a finite number >= 0, got {weight!r}")
        minimum = 2 * self.latent_dim + 2
        for k, count in data.counts().items():
            targets = data.targets[k]
            if k != 0 and not targets:
                raise ValueError(f"regime {k} is interventional but its targets are unknown "
                                 "(empty); name them in data.targets")
            bad = [j for j in targets if j >= self.latent_dim]
            if bad:
                raise ValueError(f"regime {k} targets latent(s) {bad}, outside "
                                 f"range(latent_dim={self.latent_dim})")
            if count < minimum:
                raise ValueError(f"regime {k} has {count} samples; InterventionalCRL needs "
                                 f"at least 2 * latent_dim + 2 = {minimum} per regime")

    def _stage2_kind(self, data):
        intervened = any(data.targets[k] for k in data.regimes)
        if self.stage2 == "auto":
            return "do" if intervened else "ioss"
        if self.stage2 == "do" and not intervened:
            raise ValueError("stage2='do' needs interventional regimes with targets; "
                             "data has none (use stage2='ioss' or 'none')")
        return self.stage2

    def _fit_do(self, z_hat, data):
        """Closed-form stage 2 from the hard do-regimes; see the module docstring."""
        d = self.latent_dim
        center = z_hat.mean(0)
        total = np.cov(z_hat, rowvar=False) + 1e-9 * np.eye(d)
        within = {}
        for k in data.regimes:
            if len(data.targets[k]) == 1:
                (j,) = data.targets[k]
                within.setdefault(j, []).append(np.cov(z_hat[data.regime == k], rowvar=False))
        gamma = np.zeros((d, d))
        for j, covs in within.items():
            _, vectors = scipy.linalg.eigh(np.mean(covs, axis=0), total, subset_by_index=[0, 0])
            gamma[j] = vectors[:, 0] / np.sqrt(vectors[:, 0] @ total @ vectors[:, 0])
        gamma = _complete(gamma, sorted(within), total)
        self.arrays_ = {"center": center, "gamma": gamma}
        self.diagnostics_ = self._do_diagnostics(z_hat, data)

    def _do_diagnostics(self, z_hat, data):
        """Residual variance of each intervened coordinate relative to regime 0."""
        z = (z_hat - self.arrays_["center"]) @ self.arrays_["gamma"].T
        reference = z[data.regime == 0] if 0 in data.regimes else z
        records = []
        for k in data.regimes:
            for j in data.targets[k]:
                ratio = float(z[data.regime == k, j].var() / reference[:, j].var())
                records.append({"regime": int(k), "target": int(j), "variance_ratio": ratio})
        worst = [r for r in records if r["variance_ratio"] > 0.05]
        if worst:
            warnings.warn(
                "some intervened coordinates still vary under their do-intervention "
                f"(variance ratio > 0.05: {worst}); the intervention may be soft or "
                "random-valued, or stage 1 did not converge", IdentifiabilityWarning,
                stacklevel=3)
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
                    (ioss_penalty(rotated[:, pair]) for pair in pairs), torch.zeros((), device=zb.device))
            return terms

        modules, _ = self._train(build, loss, (z,), max_steps=max(500, self.max_steps // 4),
                                 batch_size=max(self.batch_size, 512), lr=1e-3)
        for p in list(modules["encoder"].parameters()) + list(modules["decoder"].parameters()):
            p.requires_grad_(False)
        self.dims_, self.modules_ = dims, modules
        weight = modules["rotation"].weight.detach().cpu().double().numpy()
        self.arrays_ = {"center": center.double().numpy(),
                        "gamma": weight / scale.double().numpy()[None, :]}
        self.diagnostics_ = []

    def stage1_transform(self, X):
        """Latents of the stage-1 autoencoder alone (affine identification), (n, d)."""
        self._check_fitted()
        modules = self.modules_
        return self._batched(lambda xb: modules["encoder"](modules["scaler"](xb)), self._tensor(X))

    def transform(self, X):
        """Recovered latents, shape (n, latent_dim): stage 1 then the stage-2 map."""
        z_hat = self.stage1_transform(X)
        return (z_hat - self.arrays_["center"]) @ self.arrays_["gamma"].T

    def diagnostics_table(self):
        """The do-regime diagnostics as a short text table."""
        self._check_fitted()
        lines = ["regime  target  residual variance ratio"]
        lines += [f"{r['regime']:>6}  {r['target']:>6}  {r['variance_ratio']:.2e}"
                  for r in self.diagnostics_]
        return "\n".join(lines)


def ioss_penalty(z, n_draws=1000, quantile=0.01):
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


def _complete(gamma, found, total):
    """Fill rows of ``gamma`` not set by an intervention with directions
    uncorrelated with the found ones, unit variance under ``total``."""
    d = gamma.shape[0]
    missing = [j for j in range(d) if j not in found]
    if not missing:
        return gamma
    basis = (scipy.linalg.null_space(gamma[found] @ total) if found else np.eye(d)).T
    inner = basis @ total @ basis.T
    _, vectors = scipy.linalg.eigh(inner)
    rows = vectors.T @ basis
    rows /= np.sqrt(np.einsum("ij,jk,ik->i", rows, total, rows))[:, None]
    gamma[missing] = rows[: len(missing)]
    return gamma
