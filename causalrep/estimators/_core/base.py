"""The estimator contract shared by every method, and the template of the torch ones.

Two classes, one on top of the other:

* :class:`BaseEstimator` is any estimator, and a scikit-learn transformer: it
  derives from scikit-learn's ``BaseEstimator`` and ``TransformerMixin``
  (``get_params``/``set_params``, ``clone``, ``repr``, ``set_output``,
  ``get_feature_names_out``), so it plugs into pipelines. The constructor
  stores hyperparameters exactly as given (all but ``latent_dim`` by keyword
  only); ``fit(X, y=None, **fit_params)`` first checks them against the
  class's ``_parameter_constraints`` (declared once per class, in
  scikit-learn's shape, with the constraints of :mod:`causalrep.validation`),
  then builds an InterventionalData from ``X`` (one as it is, or any array-like:
  numpy, torch, a DataFrame, lists, with ``regime``, ``targets``, ``A``, ... by
  keyword), draws the fit's seed, and hands the data to the subclass's
  ``_fit(data)``, which learns, sets attributes ending in ``_`` and returns
  ``self``. ``transform(X)`` maps observations to latents as numpy. Fitted
  modules live in ``modules_`` (an ``nn.ModuleDict``), fitted arrays in
  ``arrays_`` and the sizes needed to rebuild the modules in ``dims_``: that
  is all a checkpoint holds (``n_features_in_`` is ``dims_["dim_x"]``).
  Every public computing method a subclass defines (``fit``, ``transform``,
  ``predict_interventional``, ...) runs inside the estimator's thread policy
  (``n_threads``, see :mod:`causalrep.estimators._core.threads`) and with Pyro's
  module-local parameters (no network ever enters Pyro's global parameter
  store, so several fitted models live side by side in one process), both
  restored after the call.
* :class:`TorchEstimator` adds what every network estimator needs: device,
  seeding, the shared hyperparameters and their constraints, the shared
  training loop (:func:`~causalrep.estimators._core.training.train_with_restarts`)
  and batched inference. A subclass supplies ``_build(dims)`` (its networks),
  a loss and the tensors it trains on, and ``_encode``.
"""

import contextlib
import functools
import inspect
import numbers
import os
import re
from collections.abc import Mapping
from itertools import pairwise
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
import pyro
import scipy.sparse
import sklearn.base
import torch
from sklearn.utils.validation import _check_feature_names, _get_feature_names
from torch import nn

from ...data import InterventionalData
from ...exceptions import NotFittedError, warn
from ...validation import (
    FLOAT32_LIMIT,
    SEED,
    ArrayLike,
    Interval,
    Options,
    as_float_array,
    as_generator,
    check_param,
    check_standardisable,
)
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
    if resolved.type not in ("cpu", "cuda"):  # "meta", "mps", ...: torch fails later, inside a copy
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}: causalrep runs on CPUs "
            f"and CUDA GPUs, not on {resolved.type!r} devices"
        )
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} asked for CUDA but no CUDA device is available")
    return resolved


_THREADED = (
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
_DATA_FIELDS = ("regime", "targets", "Z", "A", "Y", "graph")


# Hyperparameters that configure the shared training loop, where an estimator has them.
_TRAINING_PARAMETERS = ("max_steps", "max_epochs", "batch_size", "lr", "restarts")


class _Widths:
    """Constraint: layer widths, a sequence of positive ints (empty: no hidden layer)."""

    def __contains__(self, value: object) -> bool:
        return (
            isinstance(value, (list, tuple, np.ndarray))
            and np.ndim(value) == 1
            and all(isinstance(h, numbers.Integral) and not isinstance(h, bool) and h > 0 for h in value)
        )

    def __str__(self) -> str:
        return "a sequence of positive ints"


class _Devices:
    """Constraint: what :func:`resolve_device` reads (whether CUDA is present is checked there)."""

    _NAMES = re.compile(r"auto|cpu|cuda(:\d+)?")

    def __contains__(self, value: object) -> bool:
        if isinstance(value, torch.device):
            return value.type in ("cpu", "cuda")
        return isinstance(value, str) and self._NAMES.fullmatch(value) is not None

    def __str__(self) -> str:
        return "'auto', 'cpu', 'cuda', 'cuda:N' or such a torch.device"


def _draw_seed(seed):
    """The int seed of one fit: ``seed`` itself, else one draw from the Generator
    (from fresh entropy for None)."""
    if isinstance(seed, numbers.Integral):
        return int(seed)
    return int(as_generator(seed).integers(2**32))


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


class BaseEstimator(
    sklearn.base.ClassNamePrefixFeaturesOutMixin, sklearn.base.TransformerMixin, sklearn.base.BaseEstimator
):
    """Any estimator: parameters and their checks, thread policy, data checks, transform, save."""

    #: Hyperparameter -> the constraints its value may satisfy (any one of
    #: them): :class:`~causalrep.validation.Interval`,
    #: :class:`~causalrep.validation.Options`, a type, None, or any object with
    #: ``__contains__`` and ``__str__``. Checked at the start of ``fit``.
    _parameter_constraints: ClassVar[Mapping[str, tuple]] = MappingProxyType({})
    #: Fields of InterventionalData that ``fit`` reads besides X. An estimator
    #: that has some refuses a ``y``, which would be mistaken for one of them;
    #: the others ignore it (scikit-learn's pipelines pass ``y`` on).
    _fit_fields: ClassVar[tuple[str, ...]] = ()
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
                setattr(cls, name, _threaded(method))

    # -- fitting ------------------------------------------------------------

    def fit(self, X: ArrayLike | InterventionalData, y: None = None, **fit_params: Any) -> "BaseEstimator":
        """Fit on ``X``; returns self.

        The template: checks the hyperparameters against ``_parameter_constraints``,
        builds the InterventionalData, draws the fit's seed and hands the data to
        the subclass's ``_fit`` under the thread policy.

        Arguments:
            X: An InterventionalData, or the observations, shape (n, dim_x), as
                any array-like: numpy, torch, a pandas DataFrame (its string
                column names become ``feature_names_in_``), nested lists.
            y: Unused; scikit-learn's pipelines pass it on. An estimator that
                reads the regimes, actions or labels refuses it: pass those by
                keyword.
            **fit_params: With an array-like ``X``, the other fields of
                InterventionalData by keyword: ``regime``, ``targets``, ``Z``,
                ``A``, ``Y``, ``graph``.

        Raises:
            causalrep.exceptions.ParameterError: (a ValueError and a TypeError)
                for a hyperparameter outside its constraints, naming it and
                the values it accepts.
            TypeError: for a ``y`` where the estimator reads regimes, actions
                or labels, or for keywords that are no field of InterventionalData.
        """
        self._validate_params()
        names = None if isinstance(X, InterventionalData) else _get_feature_names(X)
        data = self._fit_data(X, y, fit_params)
        # Removed while fitting: the fit's own transform of data.X has no names.
        vars(self).pop("feature_names_in_", None)
        with thread_scope(self._threads(data.dim_x)), local_params():
            self._seed = _draw_seed(self.seed)
            fitted = self._fit(data)
        if names is not None:
            self.feature_names_in_ = names
        return fitted

    def _fit(self, data: InterventionalData) -> "BaseEstimator":
        """Learn from ``data`` (InterventionalData); returns self. Overridden."""
        raise NotImplementedError

    def _fit_data(self, X, y, fit_params):
        """``X`` and the keyword fields as an InterventionalData."""
        owner = type(self).__name__
        unknown = sorted(set(fit_params) - set(_DATA_FIELDS))
        if unknown:
            raise TypeError(
                f"{owner}.fit got unexpected keyword(s) {unknown}; with arrays it takes {list(_DATA_FIELDS)}"
            )
        if y is not None and self._fit_fields:
            fields = ", ".join(f"{field}=..." for field in self._fit_fields)
            raise TypeError(
                f"{owner}.fit takes no y: pass an InterventionalData, or the arrays by keyword, fit(X, {fields})"
            )
        if isinstance(X, InterventionalData):
            if fit_params:
                raise TypeError(
                    f"{owner}.fit got an InterventionalData and {sorted(fit_params)}: pass one or the other"
                )
            return X
        X = self._dense(X)  # before the test below: scipy's dok arrays are dicts
        if X is None or isinstance(X, (str, bytes, Mapping)):
            raise TypeError(
                f"{owner}.fit takes a causalrep.InterventionalData or an array-like X, got "
                f"{type(X).__name__}; call fit(X, regime=..., targets=...) with arrays"
            )
        return InterventionalData(X=X, **fit_params)

    def _dense(self, X, name="X"):
        """``X`` unless it is a scipy sparse matrix, which is refused by name."""
        if scipy.sparse.issparse(X):
            raise TypeError(
                f"{name} is a sparse {type(X).__name__}; {type(self).__name__} takes dense arrays: "
                f"pass {name}.toarray()"
            )
        return X

    def _validate_params(self) -> None:
        """Check every hyperparameter against ``_parameter_constraints``; the first
        thing ``fit`` does.

        Raises:
            causalrep.exceptions.ParameterError: naming the parameter, the
                values it accepts and the value given.
        """
        for name, value in self.get_params(deep=False).items():
            if name in self._parameter_constraints:
                check_param(value, name, *self._parameter_constraints[name])

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "modules_")

    @property
    def n_features_in_(self) -> int:
        """Number of features of the observations seen in ``fit`` (``dim_x``)."""
        self._check_fitted()
        return int(self.dims_["dim_x"])

    @property
    def _n_features_out(self):
        """Number of latents ``transform`` returns (names of ``get_feature_names_out``)."""
        self._check_fitted()
        return int(self.dims_.get("latent_dim", self.latent_dim))

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
        """Refuse ``data`` (InterventionalData) without the fields in ``need``."""
        for name in need:
            if getattr(data, name) is None:
                raise ValueError(f"{type(self).__name__}.fit needs data.{name}, which is None")
        return data

    def _check_samples(self, data, minimum=2):
        """Refuse data with fewer than ``minimum`` samples, naming the estimator."""
        if data.n < minimum:
            raise ValueError(
                f"{type(self).__name__}.fit needs at least {minimum} samples, data has {data.n} "
                + ("sample" if data.n == 1 else "samples")
            )

    def _check_latent_dim(self, data, latent_dim=None):
        """Check ``latent_dim`` (the hyperparameter, or its resolved value) against ``data``."""
        latent_dim = self.latent_dim if latent_dim is None else latent_dim
        if latent_dim > data.dim_x:
            raise ValueError(f"latent_dim={latent_dim} is larger than the observation dimension dim_x={data.dim_x}")

    def _check_fitted(self):
        if not hasattr(self, "modules_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(data) first")

    def _observations(self, X, name="X"):
        """``X`` (any array-like, or an InterventionalData) as float64 numpy,
        checked against the fitted dimension and, for a DataFrame, its column
        names (scikit-learn's warning or error)."""
        self._check_fitted()
        if isinstance(X, InterventionalData):
            X = X.X
        elif name == "X":
            _check_feature_names(self, X, reset=False)
        X = as_float_array(self._dense(X, name), name, ndim=2)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{name} has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input"
            )
        return X

    # -- using a fitted estimator -----------------------------------------

    def fit_transform(self, X: ArrayLike | InterventionalData, y: None = None, **fit_params: Any) -> np.ndarray:
        """``fit(X, y, **fit_params)`` then ``transform(X)``: the latents of the
        fitted observations, shape (n, latent_dim)."""
        return self.fit(X, y, **fit_params).transform(X)

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        """Write a checkpoint (state dicts + JSON config) atomically; see ``causalrep.load``.

        A dataset at ``path`` is refused (FileExistsError) unless ``overwrite``.
        """
        from .checkpoint import save

        save(self, path, overwrite=overwrite)


class TorchEstimator(BaseEstimator):
    """Network estimators: device, seeding, the shared training loop, batched inference."""

    #: The hyperparameters every network estimator shares; a subclass adds its own.
    _parameter_constraints = MappingProxyType(
        {
            "latent_dim": (Interval(numbers.Integral, 1, None),),
            "hidden": (_Widths(),),
            "max_steps": (Interval(numbers.Integral, 1, None),),
            "max_epochs": (Interval(numbers.Integral, 1, None), None),
            "batch_size": (Interval(numbers.Integral, 1, None),),
            "lr": (Interval(numbers.Real, 0, None, closed="neither"),),
            "restarts": (Interval(numbers.Integral, 1, None),),
            "device": (_Devices(),),
            "seed": SEED,
            "verbose": (bool, Interval(numbers.Integral, 0, None)),
            "n_threads": (Options("auto"), Interval(numbers.Integral, 1, None), None),
        }
    )

    def _start_fit(self, data, latent_dim=None):
        """Check ``latent_dim`` (resolved by the subclass when given) against the
        data and that every column of X can be standardised in float64, resolve
        the device, note dim_x."""
        self._check_latent_dim(data, latent_dim)
        self._check_samples(data)
        check_standardisable(data.X, "X", type(self).__name__)
        self.device_ = resolve_device(self.device)
        self.dims_ = {"dim_x": int(data.dim_x)}
        self.arrays_ = {}

    def _train(self, build, loss_fn, tensors, **overrides):
        """Run the shared training loop with the fit's seed; returns (module, History).

        The estimator's own ``max_steps``, ``max_epochs``, ``batch_size``, ``lr`` and
        ``restarts``, those it has, configure the run; ``restart_steps`` defaults to a tenth
        of ``max_steps`` (at least 300). ``overrides`` replace any of these or set other
        fields of :class:`~causalrep.estimators._core.training.TrainConfig`.
        """
        config = {name: getattr(self, name) for name in _TRAINING_PARAMETERS if hasattr(self, name)}
        config["restart_steps"] = max(300, config.get("max_steps", 0) // 10)
        config.update(overrides)
        restarts, restart_steps = config.pop("restarts", 1), config.pop("restart_steps")
        config = TrainConfig(verbose=bool(self.verbose), desc=type(self).__name__, **config)
        with torch.random.fork_rng(devices=[self.device_.index or 0] if self.device_.type == "cuda" else []):
            torch.manual_seed(self._seed)
            return train_with_restarts(
                build,
                loss_fn,
                tensors,
                config,
                self._seed,
                self.device_,
                restarts=restarts,
                restart_steps=restart_steps,
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
