"""The estimator contract shared by every method, and the template of the torch ones.

Two classes, one on top of the other:

* :class:`BaseEstimator` is any estimator. It derives from scikit-learn's own
  ``BaseEstimator`` (``get_params``/``set_params``, ``clone``, ``repr``): the
  constructor stores hyperparameters exactly as given; ``fit(data)`` validates
  them, learns, sets attributes ending in ``_`` and returns ``self``;
  ``transform(X)`` maps observations to latents as numpy. Fitted modules live in
  ``modules_`` (an ``nn.ModuleDict``), fitted arrays in ``arrays_`` and the sizes
  needed to rebuild the modules in ``dims_``: that is all a checkpoint holds.
  Every public computing method a subclass defines (``fit``, ``transform``,
  ``predict_interventional``, ...) runs inside the estimator's thread policy
  (``n_threads``, see :mod:`causalrep.estimators._core.threads`) and with Pyro's
  module-local parameters (no network ever enters Pyro's global parameter
  store, so several fitted models live side by side in one process), both
  restored after the call. ``fit`` also accepts arrays,
  ``fit(X, regime=..., targets=...)``, and builds the InterventionalData itself.
* :class:`TorchEstimator` adds what every network estimator needs: device,
  seeding, the shared hyperparameter checks, the shared training loop
  (:func:`~causalrep.estimators._core.training.train_with_restarts`) and batched
  inference. A subclass supplies ``_build(dims)`` (its networks), a loss and
  the tensors it trains on, and ``_encode``.
"""

import contextlib
import functools
import inspect
import os
from itertools import pairwise
from types import MappingProxyType
from typing import Any

import numpy as np
import pyro
import sklearn.base
import torch
from torch import nn

from ...data import InterventionalData
from ...exceptions import NotFittedError, warn
from ...validation import FLOAT32_LIMIT, ArrayLike, as_float_array, check_positive, check_standardisable
from .threads import resolve_threads, thread_scope
from .training import TrainConfig, train_with_restarts

__all__ = ["BaseEstimator", "TorchEstimator", "resolve_device", "DEPRECATED"]

#: Default of a hyperparameter's former name, kept for one release after a rename.
DEPRECATED = "deprecated"


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; else ``torch.device(device)``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} asked for CUDA but no CUDA device is available")
    return resolved


_THREADED = (
    "fit",
    "transform",
    "inverse_transform",
    "stage1_transform",
    "predict",
    "predict_interventional",
    "counterfactual",
    "reconstruct",
    "sample",
    "intervene",
    "invert",
    "decode",
)
_ARRAY_FIELDS = ("regime", "targets", "Z", "A", "Y", "graph")


def local_params() -> contextlib.AbstractContextManager:
    """Context in which Pyro modules keep their parameters to themselves (Pyro
    fixes this when a module is built, and checks it when one is called)."""
    return pyro.settings.context(module_local_params=True)


def _threaded(method):
    """``method`` run under the estimator's thread policy."""

    @functools.wraps(method)
    def scoped(self, *args, **kwargs):
        with thread_scope(self._threads()), local_params():
            return method(self, *args, **kwargs)

    scoped._thread_scoped = True
    return scoped


def _fit_entry(fit):
    """``fit(data)`` that also takes ``fit(X, regime=..., targets=..., Z=..., A=..., Y=...)``."""

    @functools.wraps(fit)
    def entry(self, data, *extra, **arrays):
        if extra:
            raise TypeError(
                f"{type(self).__name__}.fit takes the data as one argument, got "
                f"{1 + len(extra)} positional arguments: pass an InterventionalData, or "
                "arrays by keyword, e.g. fit(X, regime=regime, targets={0: (), 1: (0,)})"
            )
        unknown = sorted(set(arrays) - set(_ARRAY_FIELDS))
        if unknown:
            raise TypeError(
                f"{type(self).__name__}.fit got unexpected keyword(s) {unknown}; "
                f"with arrays it takes {list(_ARRAY_FIELDS)}"
            )
        if isinstance(data, InterventionalData):
            if arrays:
                raise TypeError(
                    f"{type(self).__name__}.fit got an InterventionalData and {sorted(arrays)}: pass one or the other"
                )
        elif isinstance(data, (np.ndarray, torch.Tensor, list)):
            data = InterventionalData(X=data, **arrays)
        with thread_scope(self._threads(getattr(data, "dim_x", 0))), local_params():
            return fit(self, data)

    entry._thread_scoped = True
    return entry


class BaseEstimator(sklearn.base.BaseEstimator):
    """Any estimator: parameters, thread policy, data checks, transform, save."""

    _saved_json = ("history_",)
    #: Fitted attributes of ``_saved_json`` that are not plain JSON, name ->
    #: function that rebuilds the attribute from the JSON a checkpoint holds
    #: (dataclasses are saved as objects of their fields).
    _json_readers = MappingProxyType({})
    #: Shapes of the fitted arrays in ``arrays_``, checked when a checkpoint is
    #: loaded: name -> tuple of sizes, each an int, the name of an entry of
    #: ``dims_`` or of a hyperparameter (e.g. ``"latent_dim"``), or ``"*"``
    #: for any size. ``None``: the class declares none, and only finiteness
    #: is checked.
    _array_shapes = None
    #: Hyperparameters renamed in this release, former name -> name. The former
    #: name stays in the constructor for one release with the default
    #: :data:`DEPRECATED`: a value given under it is used, with a FutureWarning
    #: in ``fit``; checkpoints store the new name and a checkpoint that carries
    #: the former one loads under the new one.
    _renamed = MappingProxyType({})

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in _THREADED:
            method = cls.__dict__.get(name)
            if callable(method) and not hasattr(method, "_thread_scoped"):
                setattr(cls, name, (_fit_entry if name == "fit" else _threaded)(method))

    def _layer_work(self, dim_x):
        """Multiply-adds of the largest layer on one batch; guides ``n_threads="auto"``."""
        hidden = getattr(self, "hidden", ())
        try:
            widths = [int(dim_x), *(int(h) for h in hidden), int(self.latent_dim or 1)]
            return int(getattr(self, "batch_size", 1)) * max(a * b for a, b in pairwise(widths))
        except (TypeError, ValueError):
            return 0

    def _threads(self, dim_x=None):
        """Thread count of the policy ``n_threads`` for observations of ``dim_x``."""
        if dim_x is None:
            dim_x = getattr(self, "dims_", {}).get("dim_x", 0)
        return resolve_threads(getattr(self, "n_threads", None), self._layer_work(dim_x))

    def set_params(self, **params: Any) -> "BaseEstimator":
        """Set hyperparameters by name; returns self."""
        valid = self.get_params(deep=False)
        for name in params:
            if name not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}; valid: {sorted(valid)}")
        return super().set_params(**params)

    def _json_params(self):
        """Hyperparameters as JSON values, for checkpoints; the constructor
        accepts them back (lists where it was given tuples). Renamed
        hyperparameters are stored under their new name only."""
        return self._current_params(self.get_params(deep=False))

    @classmethod
    def _current_params(cls, params):
        """``params`` with the former names of renamed hyperparameters replaced by the new ones."""
        params = dict(params)
        for old, new in cls._renamed.items():
            value = params.pop(old, DEPRECATED)
            if value != DEPRECATED:
                params[new] = value
        return params

    def _param(self, name):
        """Hyperparameter ``name``, or its former name's value when that was given
        (FutureWarning); ``fit`` reads renamed hyperparameters through this.

        Raises:
            ValueError: when both names were given.
        """
        for old, new in self._renamed.items():
            given = getattr(self, old)
            if new != name or given == DEPRECATED:
                continue
            if getattr(self, new) != inspect.signature(type(self)).parameters[new].default:
                raise ValueError(f"{type(self).__name__} got both {new} and its former name {old}; give {new} only")
            warn(
                f"{type(self).__name__}: {old} is renamed {new}; {old} still works in "
                "this release and will then be removed",
                FutureWarning,
            )
            return given
        return getattr(self, name)

    # -- checks -----------------------------------------------------------

    def _check_data(self, data, need=()):
        if not isinstance(data, InterventionalData):
            raise TypeError(
                "fit expects a causalrep.InterventionalData, got "
                f"{type(data).__name__}; wrap arrays with InterventionalData(X=...) "
                "or call fit(X, regime=..., targets=...)"
            )
        for name in need:
            if getattr(data, name) is None:
                raise ValueError(f"{type(self).__name__}.fit needs data.{name}, which is None")
        return data

    def _check_samples(self, data, minimum=2):
        """Refuse data with fewer than ``minimum`` samples, naming the estimator."""
        if data.n < minimum:
            raise ValueError(f"{type(self).__name__}.fit needs at least {minimum} samples, data has {data.n}")

    def _check_latent_dim(self, data, latent_dim=None):
        """Check ``latent_dim`` (the hyperparameter, or its resolved value) against ``data``."""
        latent_dim = self.latent_dim if latent_dim is None else latent_dim
        check_positive(latent_dim, "latent_dim", integer=True)
        if latent_dim > data.dim_x:
            raise ValueError(f"latent_dim={latent_dim} is larger than the observation dimension dim_x={data.dim_x}")

    def _check_seed(self):
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")

    def _check_fitted(self):
        if not hasattr(self, "modules_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(data) first")

    def _observations(self, X, name="X"):
        """``X`` (array, tensor or InterventionalData) as float64 numpy, checked
        against the fitted dimension."""
        self._check_fitted()
        if isinstance(X, InterventionalData):
            X = X.X
        X = as_float_array(X, name, ndim=2)
        if X.shape[1] != self.dims_["dim_x"]:
            raise ValueError(
                f"{name} has {X.shape[1]} features but {type(self).__name__} was fitted on {self.dims_['dim_x']}"
            )
        return X

    # -- using a fitted estimator -----------------------------------------

    def fit_transform(self, data: InterventionalData) -> np.ndarray:
        """``fit(data)`` then ``transform(data.X)``."""
        return self.fit(data).transform(data.X)

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        """Write a checkpoint (state dicts + JSON config) atomically; see ``causalrep.load``.

        A dataset at ``path`` is refused (FileExistsError) unless ``overwrite``.
        """
        from .checkpoint import save

        save(self, path, overwrite=overwrite)


class TorchEstimator(BaseEstimator):
    """Network estimators: device, seeding, the shared training loop, batched inference."""

    def _start_fit(self, data, latent_dim=None):
        """Check the shared hyperparameters (``latent_dim`` resolved by the
        subclass when given) and that every column of X can be standardised in
        float64, resolve the device, note dim_x."""
        self._check_latent_dim(data, latent_dim)
        self._check_seed()
        check_positive(self.lr, "lr")
        check_positive(self.batch_size, "batch_size", integer=True)
        check_positive(self.max_steps, "max_steps", integer=True)
        if getattr(self, "max_epochs", None) is not None:
            check_positive(self.max_epochs, "max_epochs", integer=True)
        hidden = self.hidden
        if (
            isinstance(hidden, (str, bytes))
            or not hasattr(hidden, "__iter__")
            or not all(isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in hidden)
        ):
            raise ValueError(f"hidden must be a sequence of positive ints, got {hidden!r}")
        self._check_samples(data)
        check_standardisable(data.X, "X", type(self).__name__)
        self.device_ = resolve_device(self.device)
        self.dims_ = {"dim_x": int(data.dim_x)}
        self.arrays_ = {}

    def _train(self, build, loss_fn, tensors, restarts=1, restart_steps=1000, **config):
        """Run the shared training loop; returns (module, History)."""
        config = TrainConfig(verbose=bool(self.verbose), desc=type(self).__name__, **config)
        with torch.random.fork_rng(devices=[self.device_.index or 0] if self.device_.type == "cuda" else []):
            torch.manual_seed(self.seed)
            return train_with_restarts(
                build, loss_fn, tensors, config, self.seed, self.device_, restarts=restarts, restart_steps=restart_steps
            )

    def _build(self, dims):
        """Networks for the given sizes, as an ``nn.ModuleDict``; overridden."""
        return nn.ModuleDict()

    def _tensor(self, X, name="X", scaled=True):
        """Validate observations against the fitted dimension; float64 tensor.

        With ``scaled`` (observations that go through ``modules_["scaler"]``),
        the values are checked in the fitted standardised units, where the
        float32 networks see them; otherwise as they are.
        """
        X = self._observations(X, name)
        scaler = self.modules_["scaler"] if scaled and "scaler" in self.modules_ else None
        if scaler is None:
            largest = float(np.max(np.abs(X)))
        else:
            mean, scale = (scaler.mean.cpu().numpy(), scaler.scale.cpu().numpy())
            largest = float(np.max(np.abs((X - mean) / scale)))
        if not largest <= FLOAT32_LIMIT:
            units = "in magnitude" if scaler is None else "standard deviations away from the fitted data's mean"
            raise ValueError(
                f"{name} has values up to {largest:.3g} {units}; "
                f"{type(self).__name__} computes in float32 and accepts "
                f"up to {FLOAT32_LIMIT:g}"
            )
        return torch.from_numpy(X if X.flags.writeable else X.copy())

    @torch.no_grad()
    def _batched(self, fn, *inputs, batch_size=8192):
        """Apply ``fn`` to tensors in chunks on the fitted device; numpy out."""
        outputs = []
        for start in range(0, inputs[0].shape[0], batch_size):
            chunk = [t[start : start + batch_size].to(self.device_) for t in inputs]
            outputs.append(fn(*chunk).cpu())
        return torch.cat(outputs).numpy().astype(np.float64)

    def transform(self, X: ArrayLike | InterventionalData) -> np.ndarray:
        """Estimated latents of ``X``.

        Arguments:
            X: Observations, shape (n, dim_x), numpy or torch, or an
                InterventionalData.

        Returns:
            numpy array of shape (n, latent_dim).
        """
        return self._batched(self._encode, self._tensor(X))
