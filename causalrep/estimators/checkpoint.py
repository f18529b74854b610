"""Checkpoints: state dicts and JSON, written atomically, read without pickle code.

A file holds the estimator's class name, its hyperparameters, the sizes of its
networks (JSON), the networks' state dict and fitted arrays (tensors). It is
read with ``torch.load(weights_only=True)``, so a tampered file cannot run
code; anything unexpected raises :class:`~causalrep.exceptions.CheckpointError`.
"""

import json
import os
import tempfile

import numpy as np
import torch

from .. import __version__
from ..exceptions import CheckpointError
from .base import BaseEstimator, resolve_device

__all__ = ["save", "load"]

_FORMAT = "causalrep.estimator"


def save(estimator, path):
    """Write a fitted estimator to ``path``; the old file survives a failed write."""
    estimator._check_fitted()
    payload = {
        "format": _FORMAT,
        "version": __version__,
        "class": type(estimator).__name__,
        "params": json.dumps(estimator.get_params()),
        "dims": json.dumps(estimator.dims_),
        "fitted": json.dumps({name: getattr(estimator, name)
                              for name in estimator._saved_json if hasattr(estimator, name)}),
        "state": {k: v.detach().cpu() for k, v in estimator.modules_.state_dict().items()},
        "arrays": {k: torch.as_tensor(np.asarray(v)) for k, v in estimator.arrays_.items()},
    }
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load(path, device="auto"):
    """Read an estimator saved with ``estimator.save(path)``.

    Arguments:
        path: File written by ``save``.
        device: Where the loaded networks run ("auto", "cpu", "cuda", ...).

    Returns:
        The fitted estimator, ready for ``transform``.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        CheckpointError: if the file is truncated, corrupt, holds code, was
            written by something else, or does not match its class.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such checkpoint: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for bad bytes; all mean the same
        raise CheckpointError(f"cannot read checkpoint {path}: {type(err).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else ''}") from None
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise CheckpointError(f"{path} is not a causalrep estimator checkpoint")
    classes = _estimator_classes()
    name = payload.get("class")
    if name not in classes:
        raise CheckpointError(f"checkpoint {path} names unknown estimator {name!r}")
    try:
        params = json.loads(payload["params"])
        estimator = classes[name](**{k: tuple(v) if isinstance(v, list) else v
                                     for k, v in params.items()})
        estimator.device_ = resolve_device(device)
        estimator.dims_ = json.loads(payload["dims"])
        for key, value in json.loads(payload["fitted"]).items():
            setattr(estimator, key, value)
        estimator.arrays_ = {k: v.numpy() for k, v in payload["arrays"].items()}
        modules = estimator._build(estimator.dims_)
        modules.load_state_dict(payload["state"], strict=True)
        estimator.modules_ = modules.to(estimator.device_).eval()
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:
        raise CheckpointError(f"checkpoint {path} does not match {name}: "
                              f"{str(err).splitlines()[0]}") from None
    return estimator


def _estimator_classes():
    found, stack = {}, [BaseEstimator]
    while stack:
        for cls in stack.pop().__subclasses__():
            found[cls.__name__] = cls
            stack.append(cls)
    return found
