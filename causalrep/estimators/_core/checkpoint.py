"""Checkpoints: state dicts and JSON, written atomically, read without pickle code.

A file holds the estimator's class name (resolved through
:mod:`~causalrep.estimators._registry`, which keeps every former name), its hyperparameters, the sizes of its
networks (JSON), the networks' state dict and fitted arrays (tensors), and a
SHA-256 digest of all of these. It is read with
``torch.load(weights_only=True)``, so a tampered file cannot run code; a file
whose contents no longer match their digest (a flipped byte in a weight, say)
is refused; anything unexpected raises
:class:`~causalrep.exceptions.CheckpointError`.
"""

import dataclasses
import fnmatch
import hashlib
import io
import json
import os

import numpy as np
import torch

from ..._version import __version__
from ...data import atomic_write, check_output
from ...exceptions import CheckpointError
from .._registry import lookup
from .base import BaseEstimator, local_params, resolve_device

__all__ = ["save", "load"]

_FORMAT = "causalrep.estimator"
# scikit-learn's attribute: the column names of the DataFrame fit was given.
_FEATURE_NAMES = "feature_names_in_"


def save(estimator: BaseEstimator, path: str | os.PathLike, overwrite: bool = False) -> None:
    """Write a fitted estimator to ``path``; the old file survives a failed write.

    A dataset at ``path`` is replaced only with ``overwrite`` (see
    :func:`causalrep.data.check_output`).
    """
    estimator._check_fitted()
    check_output(path, "checkpoint", overwrite=overwrite)
    payload = {
        "format": _FORMAT,
        "version": __version__,
        "class": type(estimator).__name__,
        "params": json.dumps(estimator._json_params()),
        "dims": json.dumps(estimator.dims_),
        "fitted": json.dumps(_fitted_json(estimator), default=_json_record),
        "state": {k: v.detach().cpu() for k, v in estimator.modules_.state_dict().items()},
        "arrays": {k: torch.as_tensor(np.asarray(v)) for k, v in estimator.arrays_.items()},
    }
    payload["sha256"] = _digest(payload)
    atomic_write(os.fspath(path), lambda handle: handle.write(_serialised(payload)))


def _serialised(payload: dict) -> bytes:
    """``torch.save`` of ``payload``, into memory.

    torch's C++ writer calls back into the file it is given and, when an
    interrupt stops it half-way, writes its closing records from its destructor,
    later. Into the saved file, already closed by then, that write raised inside
    C++ and aborted the process (SIGABRT, seen once in the interrupt test of
    ``tests/test_reliability_files.py``); into a buffer nobody closes, it is harmless.
    """
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def load(path: str | os.PathLike, device: str | torch.device = "auto", allow_legacy: bool = False) -> BaseEstimator:
    """Read an estimator saved with ``estimator.save(path)``.

    Arguments:
        path: File written by ``save``.
        device: Where the loaded networks run ("auto", "cpu", "cuda", ...).
        allow_legacy: Accept a file without a SHA-256 digest (written before
            digests existed, or with its digest removed) and load it unchecked;
            only for files from a source you trust.

    Returns:
        The fitted estimator, ready for ``transform``.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: for an unknown ``device``.
        CheckpointError: if the file is truncated, corrupt (its SHA-256
            digest differs, or is missing and ``allow_legacy`` is false),
            holds code, was written by something else, or does not match its
            class (a network or array of the wrong shape, a non-finite value).
    """
    path = os.fspath(path)
    device = resolve_device(device)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such checkpoint: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for bad bytes; all mean the same
        raise CheckpointError(
            f"cannot read checkpoint {path}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise CheckpointError(f"{path} is not a causalrep estimator checkpoint")
    name = payload.get("class")
    try:
        cls = lookup(name).load()
    except ValueError:
        raise CheckpointError(f"checkpoint {path} names unknown estimator {name!r}") from None
    # The digest is checked before anything is built from the file, so that
    # corrupted sizes never reach the network constructors.
    if "sha256" not in payload and not allow_legacy:
        raise CheckpointError(
            f"checkpoint {path} has no SHA-256 digest, so its integrity cannot "
            "be checked (a file from an old version, or one whose digest was "
            "removed); load(path, allow_legacy=True) reads it if you trust it"
        )
    try:
        intact = "sha256" not in payload or payload["sha256"] == _digest(payload)
    except (TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"checkpoint {path} is corrupt: {err}") from None
    if not intact:
        raise CheckpointError(
            f"checkpoint {path} does not match its SHA-256 digest: the "
            "file is corrupt or was modified after it was saved"
        )
    try:
        params = cls._current_params(json.loads(payload["params"]))
        estimator = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})
        estimator.device_ = device
        estimator.dims_ = json.loads(payload["dims"])
        for key, value in json.loads(payload["fitted"]).items():
            if key == _FEATURE_NAMES:
                value = np.asarray(value, dtype=object)
            elif key not in cls._saved_json:
                raise ValueError(f"unexpected fitted attribute {key!r}")
            reader = cls._json_readers.get(key)
            setattr(estimator, key, value if reader is None else reader(value))
        estimator.arrays_ = _checked_arrays(estimator, payload["arrays"])
        for key, value in payload["state"].items():
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise ValueError(f"network weight {key!r} holds non-finite values")
        with local_params():
            modules = estimator._build(estimator.dims_)
        modules.load_state_dict(payload["state"], strict=True)
        estimator.modules_ = modules.to(estimator.device_).eval()
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, OverflowError, MemoryError) as err:
        raise CheckpointError(
            f"checkpoint {path} does not match {name}: {str(err).splitlines()[0] if str(err) else type(err).__name__}"
        ) from None
    return estimator


def _fitted_json(estimator):
    """The fitted attributes a checkpoint keeps as JSON: the class's ``_saved_json``
    and, after a fit on a DataFrame, ``feature_names_in_``."""
    fitted = {name: getattr(estimator, name) for name in estimator._saved_json if hasattr(estimator, name)}
    if hasattr(estimator, _FEATURE_NAMES):
        fitted[_FEATURE_NAMES] = [str(name) for name in estimator.feature_names_in_]
    return fitted


def _json_record(value):
    """A dataclass record of a fitted attribute as a JSON object of its fields."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _checked_arrays(estimator, arrays):
    """Fitted arrays as numpy, each finite and of the shape the class declares."""
    if not isinstance(arrays, dict):
        raise TypeError(f"arrays must be a dict, got {type(arrays).__name__}")
    out = {}
    for key, value in arrays.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"array {key!r} is a {type(value).__name__}, not a tensor")
        out[key] = value.numpy()
        if out[key].dtype.kind == "f" and not np.all(np.isfinite(out[key])):
            raise ValueError(f"array {key!r} holds non-finite values")
    spec = type(estimator)._array_shapes
    if spec is None:
        return out
    sizes = {**estimator.get_params(), **estimator.dims_}
    # A key with "*" declares a family of arrays ("bootstrap*_cf_V"): none is required.
    patterns = {key: shape for key, shape in spec.items() if "*" in key}
    for key in out:
        if key not in spec:
            shape = next((s for pattern, s in patterns.items() if fnmatch.fnmatchcase(key, pattern)), None)
            if shape is not None:
                _check_shape(key, out[key].shape, shape, sizes)
    for key, shape in spec.items():
        if key in patterns:
            continue
        if not all(s == "*" or isinstance(s, int) or isinstance(sizes.get(s), int) for s in shape):
            continue  # sizes this configuration does not have: the array is not used
        if any(not isinstance(s, int) and sizes.get(s) == 0 for s in shape):
            continue  # a size this configuration sets to 0 (no refits, say): the array may be absent
        if key not in out:
            raise ValueError(f"array {key!r} is missing")
        _check_shape(key, out[key].shape, shape, sizes)
    unknown = sorted(k for k in set(out) - set(spec) if not any(fnmatch.fnmatchcase(k, p) for p in patterns))
    if unknown:
        raise ValueError(f"unexpected array(s) {unknown}")
    return out


def _check_shape(key, got, shape, sizes):
    want = tuple(s if isinstance(s, int) or s == "*" else sizes[s] for s in shape)
    if len(got) != len(want) or any(w != "*" and w != g for w, g in zip(want, got, strict=True)):
        raise ValueError(f"array {key!r} has shape {got} but the configuration gives {want}")


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
