"""Checkpoints: state dicts and JSON, written atomically, read without pickle code.

A file holds the estimator's class name, its hyperparameters, the sizes of its
networks (JSON), the networks' state dict and fitted arrays (tensors), and a
SHA-256 digest of all of these. It is read with
``torch.load(weights_only=True)``, so a tampered file cannot run code; a file
whose contents no longer match their digest (a flipped byte in a weight, say)
is refused; anything unexpected raises
:class:`~causalrep.exceptions.CheckpointError`.
"""

import hashlib
import json
import os

import numpy as np
import torch

from .. import __version__
from ..data import atomic_write
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
    payload["sha256"] = _digest(payload)
    atomic_write(os.fspath(path), lambda handle: torch.save(payload, handle))


def load(path, device="auto"):
    """Read an estimator saved with ``estimator.save(path)``.

    Arguments:
        path: File written by ``save``.
        device: Where the loaded networks run ("auto", "cpu", "cuda", ...).

    Returns:
        The fitted estimator, ready for ``transform``.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: for an unknown ``device``.
        CheckpointError: if the file is truncated, corrupt (its SHA-256
            digest differs), holds code, was written by something else, or
            does not match its class.
    """
    path = os.fspath(path)
    device = resolve_device(device)
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
    if not isinstance(name, str) or name not in classes:
        raise CheckpointError(f"checkpoint {path} names unknown estimator {name!r}")
    # The digest is checked before anything is built from the file, so that
    # corrupted sizes never reach the network constructors.
    try:
        intact = "sha256" not in payload or payload["sha256"] == _digest(payload)
    except (TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"checkpoint {path} is corrupt: {err}") from None
    if not intact:
        raise CheckpointError(f"checkpoint {path} does not match its SHA-256 digest: the "
                              "file is corrupt or was modified after it was saved")
    try:
        params = json.loads(payload["params"])
        estimator = classes[name](**{k: tuple(v) if isinstance(v, list) else v
                                     for k, v in params.items()})
        estimator.device_ = device
        estimator.dims_ = json.loads(payload["dims"])
        for key, value in json.loads(payload["fitted"]).items():
            if key not in type(estimator)._saved_json:
                raise ValueError(f"unexpected fitted attribute {key!r}")
            setattr(estimator, key, value)
        estimator.arrays_ = {k: v.numpy() for k, v in payload["arrays"].items()}
        modules = estimator._build(estimator.dims_)
        modules.load_state_dict(payload["state"], strict=True)
        estimator.modules_ = modules.to(estimator.device_).eval()
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, OverflowError,
            MemoryError) as err:
        raise CheckpointError(f"checkpoint {path} does not match {name}: "
                              f"{str(err).splitlines()[0] if str(err) else type(err).__name__}"
                              ) from None
    return estimator


def _digest(payload):
    """SHA-256 over every entry of a payload except the digest itself: JSON
    strings as UTF-8, tensors as name, dtype, shape and raw bytes."""
    digest = hashlib.sha256()

    def feed(key, value):
        digest.update(f"{key}\0".encode())
        if isinstance(value, torch.Tensor):
            flat = value.detach().cpu().contiguous().reshape(-1)
            digest.update(f"{value.dtype}{tuple(value.shape)}\0".encode())
            digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
        elif isinstance(value, dict):
            for inner in sorted(value, key=str):
                feed(f"{key}/{inner}", value[inner])
        else:
            digest.update(json.dumps(value, sort_keys=True, default=repr).encode())

    for key in sorted(k for k in payload if k != "sha256"):
        feed(key, payload[key])
    return digest.hexdigest()


def _estimator_classes():
    found, stack = {}, [BaseEstimator]
    while stack:
        for cls in stack.pop().__subclasses__():
            found[cls.__name__] = cls
            stack.append(cls)
    return found
