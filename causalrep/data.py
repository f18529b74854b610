"""The container that moves between simulators, estimators and checks."""

import contextlib
import functools
import json
import numbers
import os
import secrets
import signal
import threading
import tokenize
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import IO, Any

import networkx as nx
import numpy as np

from .validation import (
    SEED,
    ArrayLike,
    Interval,
    Seed,
    as_dag,
    as_float_array,
    as_generator,
    check_param,
    validate_params,
)

__all__ = ["InterventionalData", "check_output", "file_kind", "same_file", "FILE_KINDS"]

_FORMAT = "causalrep.InterventionalData"
_ARRAYS = ("X", "regime", "Z", "A", "Y")


@dataclass(frozen=True, eq=False)
class InterventionalData:
    r"""Observations pooled over regimes, with optional ground truth.

    Arrays are stored read-only; every method returns a new container.

    Arguments:
        X: Observations, shape (n, dim_x).
        regime: Regime of each sample, shape (n,), int; 0 is observational,
            k > 0 the k-th interventional regime.
        targets: Regime -> tuple of intervened latent indices; regime 0 maps
            to (). An interventional regime whose targets are unknown maps to
            None. Every regime in ``regime`` must appear here.
        Z: True latents, shape (n, d), when known.
        A: Actions (exogenous variables acting on Z), shape (n, dim_a).
        Y: Outcomes, shape (n,) or (n, dim_y).
        graph: DAG over the latents, nodes 0..d-1.
        meta: JSON-safe description of how the data were made.

    Example:
        >>> import numpy as np
        >>> data = InterventionalData(X=np.zeros((4, 2)), regime=[0, 0, 1, 1],
        ...                           targets={0: (), 1: (0,)})
        >>> data.n, data.regimes
        (4, (0, 1))
    """

    X: ArrayLike
    regime: ArrayLike | None = None
    targets: Mapping[int, tuple[int, ...] | None] | None = None
    Z: ArrayLike | None = None
    A: ArrayLike | None = None
    Y: ArrayLike | None = None
    graph: nx.DiGraph | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        X = as_float_array(self.X, "X", ndim=2)
        n = X.shape[0]
        regime = np.zeros(n, dtype=np.int64) if self.regime is None else self.regime
        regime = _as_regime(regime, n)
        targets = _as_targets(self.targets, regime)
        Z = _optional(self.Z, "Z", n, ndims=(2,))
        A = _optional(self.A, "A", n, ndims=(2,))
        Y = _optional(self.Y, "Y", n, ndims=(1, 2))
        if Z is not None:
            d = Z.shape[1]
            for k, nodes in targets.items():
                bad = [j for j in nodes or () if j >= d]
                if bad:
                    raise ValueError(
                        f"targets[{k}] names latent(s) {bad} but Z has only {d} columns (valid indices 0..{d - 1})"
                    )
        graph = self.graph
        if graph is not None:
            graph = _as_graph(graph, None if Z is None else Z.shape[1])
        meta = _as_meta(self.meta)
        for name, value in (("X", X), ("regime", regime), ("Z", Z), ("A", A), ("Y", Y)):
            if value is not None:
                # A view: the container's copy is read-only, the caller's array is untouched.
                value = value.view()
                value.setflags(write=False)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "targets", MappingProxyType(targets))
        object.__setattr__(self, "graph", graph)
        object.__setattr__(self, "meta", meta)

    @property
    def n(self) -> int:
        """Number of samples."""
        return self.X.shape[0]

    @property
    def dim_x(self) -> int:
        """Dimension of the observations."""
        return self.X.shape[1]

    @property
    def regimes(self) -> tuple[int, ...]:
        """Sorted tuple of the regimes present in the samples."""
        return tuple(int(k) for k in np.unique(self.regime))

    def counts(self) -> dict[int, int]:
        """Number of samples in each regime present, as a dict."""
        values, counts = np.unique(self.regime, return_counts=True)
        return {int(k): int(c) for k, c in zip(values, counts, strict=True)}

    def take(self, index: ArrayLike) -> "InterventionalData":
        """A new container holding the samples ``index``.

        Arguments:
            index: Row indices (ints in [-n, n)) or a boolean mask of shape (n,).

        Raises:
            ValueError: for an empty selection, indices out of range or a mask
                of the wrong length. TypeError: for indices that are not ints.
        """
        index = _as_index(index, self.n)
        pick = lambda a: None if a is None else a[index]  # noqa: E731
        present = set(np.unique(self.regime[index]).tolist())
        return InterventionalData(
            X=self.X[index],
            regime=self.regime[index],
            targets={k: v for k, v in self.targets.items() if k in present},
            Z=pick(self.Z),
            A=pick(self.A),
            Y=pick(self.Y),
            graph=self.graph,
            meta=self.meta,
        )

    def subset(self, regimes: Iterable[int]) -> "InterventionalData":
        """The samples of the given regimes, e.g. ``subset([0])``.

        Raises:
            ValueError: if a regime is unknown or ``regimes`` is empty.
            TypeError: if ``regimes`` holds something other than ints.
        """
        regimes = np.atleast_1d(np.asarray(regimes, dtype=object) if isinstance(regimes, (list, tuple)) else regimes)
        odd = [k for k in regimes.ravel().tolist() if not _is_index(k)]
        if odd or regimes.ndim != 1:
            shown = odd[0] if odd else regimes.tolist()
            raise TypeError(f"regimes must be a sequence of regime ints, e.g. [0, 2], got {shown!r}")
        regimes = [int(k) for k in regimes]
        if not regimes:
            raise ValueError("regimes is empty: name at least one regime")
        unknown = sorted(set(regimes) - set(self.regimes))
        if unknown:
            raise ValueError(f"unknown regime(s) {unknown}; present: {list(self.regimes)}")
        return self.take(np.isin(self.regime, regimes))

    @validate_params(test_fraction=Interval(numbers.Real, 0, 1, closed="neither"), seed=SEED)
    def split(self, test_fraction: float = 0.2, seed: Seed = 0) -> tuple["InterventionalData", "InterventionalData"]:
        """Split into (train, test), stratified by regime.

        Arguments:
            test_fraction: Share of each regime sent to the test part, in (0, 1).
            seed: int or numpy Generator.

        Returns:
            Tuple (train, test) of InterventionalData.
        """
        rng = as_generator(seed)
        test = np.zeros(self.n, dtype=bool)
        for k in self.regimes:
            members = np.flatnonzero(self.regime == k)
            n_test = int(round(test_fraction * members.size))
            if n_test == 0 or n_test == members.size:
                raise ValueError(
                    f"regime {k} has {members.size} samples: too few to split with test_fraction={test_fraction}"
                )
            test[rng.choice(members, n_test, replace=False)] = True
        return self.take(~test), self.take(test)

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        """Write to ``path`` (.npz of arrays + JSON header), atomically.

        The data go to a temporary file in the same folder, are flushed to
        disk, and only then replace ``path``: the previous file at ``path``
        stays intact if writing fails or the process is killed part-way.

        Arguments:
            path: File to write; a dataset already there is replaced.
            overwrite: Replace a file of another kind (an estimator
                checkpoint) too; without it, that is refused.

        Raises:
            FileNotFoundError: if the folder of ``path`` does not exist.
            FileExistsError: if ``path`` holds a checkpoint and ``overwrite``
                is false.
        """
        path = os.fspath(path)
        check_output(path, "dataset", overwrite=overwrite)
        arrays = {k: getattr(self, k) for k in _ARRAYS if getattr(self, k) is not None}
        header = {
            "format": _FORMAT,
            "arrays": sorted(arrays),
            "targets": {str(k): None if v is None else list(v) for k, v in self.targets.items()},
            "graph": None
            if self.graph is None
            else {"nodes": sorted(self.graph.nodes), "edges": sorted(self.graph.edges)},
            "meta": self.meta,
        }
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        atomic_write(path, lambda handle: np.savez(handle, **arrays), suffix=".npz")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "InterventionalData":
        """Read a file written by ``save``; never unpickles anything.

        Raises:
            FileNotFoundError: if ``path`` does not exist.
            causalrep.exceptions.CheckpointError: if the file is not a valid
                InterventionalData file (truncated, corrupt, other format,
                unexpected or missing members, object arrays, or contents
                that break the container's own checks).
        """
        from .exceptions import CheckpointError

        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such data file: {path}")
        try:
            members = _read_npz(path)
            header = json.loads(members.pop("header").tobytes().decode())
        except CheckpointError:
            raise
        except KeyError:
            raise CheckpointError(f"{path} is not an InterventionalData file (no header)") from None
        except (
            OSError,
            ValueError,
            TypeError,
            EOFError,
            zipfile.BadZipFile,
            RuntimeError,
            MemoryError,
            OverflowError,
            SyntaxError,
            tokenize.TokenError,
        ) as err:
            # RecursionError is a RuntimeError; a mangled .npy header string
            # reaches numpy's header parser as a SyntaxError or TokenError.
            raise CheckpointError(
                f"cannot read data file {path}: {str(err).splitlines()[0] if str(err) else type(err).__name__}"
            ) from None
        if not isinstance(header, dict) or header.get("format") != _FORMAT or "X" not in members:
            raise CheckpointError(f"{path} is not an InterventionalData file")
        listed = header.get("arrays")
        if listed is not None and (
            not isinstance(listed, list) or sorted(members) != sorted(str(name) for name in listed)
        ):
            raise CheckpointError(
                f"corrupt header in data file {path}: it lists arrays {listed!r} but it holds {sorted(members)}"
            )
        try:
            targets = {int(k): v for k, v in header["targets"].items()}
            graph = None
            if header.get("graph") is not None:
                graph = nx.DiGraph()
                graph.add_nodes_from(_strict_int(j) for j in header["graph"]["nodes"])
                graph.add_edges_from((_strict_int(a), _strict_int(b)) for a, b in header["graph"]["edges"])
            meta = header.get("meta") or {}
            if not isinstance(meta, dict):
                raise TypeError(f"meta must be a dict, got {type(meta).__name__}")
        except (KeyError, TypeError, AttributeError, ValueError, OverflowError) as err:
            raise CheckpointError(f"corrupt header in data file {path}: {type(err).__name__}: {err}") from None
        try:
            return cls(**members, targets=targets, graph=graph, meta=meta)
        except (ValueError, TypeError, OverflowError) as err:
            raise CheckpointError(f"invalid contents in data file {path}: {err}") from None

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self  # immutable: arrays are read-only and targets a read-only mapping

    def __repr__(self):
        extra = [name for name in ("Z", "A", "Y", "graph") if getattr(self, name) is not None]
        return f"InterventionalData(n={self.n}, dim_x={self.dim_x}, regimes={self.counts()}, with={extra})"


#: Kinds of file the library writes and recognises, as the messages name them.
FILE_KINDS = {"dataset": "a dataset", "checkpoint": "an estimator checkpoint"}


def file_kind(path: str | os.PathLike) -> str | None:
    """What the file at ``path`` holds, read from its zip directory alone (cheap).

    Returns:
        ``"dataset"`` (an :class:`InterventionalData` file), ``"checkpoint"``
        (a torch file, as ``estimator.save`` writes), ``"other"`` for any
        other file, None when there is no file or it is empty.
    """
    try:
        if not os.path.isfile(path) or os.path.getsize(path) == 0:
            return None
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile, ValueError, EOFError, RuntimeError):
        return "other"
    if "header.npy" in names and "X.npy" in names:
        return "dataset"
    if any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
        return "checkpoint"
    return "other"


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file: the same path after links are resolved, or hard links."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # either does not exist
        return False


def check_output(
    path: str | os.PathLike,
    kind: str,
    overwrite: bool = False,
    inputs: Mapping[str, str | os.PathLike | None] | None = None,
    name: str = "path",
) -> None:
    """Refuse, before anything is written, an output that would destroy something.

    The one rule every save and every command follows: an output that is
    one of the same call's inputs (through any symbolic or hard link) is
    refused; an output that holds a file of another known kind (a
    checkpoint where a dataset is written, or the reverse) is refused
    unless ``overwrite``. A file of the same kind, or of no known kind, is
    replaced.

    Arguments:
        path: Where the call will write.
        kind: What it writes: ``"dataset"``, ``"checkpoint"``, or another
            word (``"plot"``, ``"records"``).
        overwrite: Replace a file of another kind (``--force`` on the
            command line).
        inputs: ``{name: path}`` of the files the same call reads (None
            values are skipped).
        name: How messages name the output (``"path"``, ``"--out"``).

    Raises:
        ValueError: if ``path`` is one of ``inputs``.
        FileExistsError: if ``path`` holds a file of another kind and
            ``overwrite`` is false.
    """
    check_param(overwrite, "overwrite", bool)
    for source_name, source in (inputs or {}).items():
        if source is not None and same_file(path, source):
            how = "" if os.fspath(path) == os.fspath(source) else f" ({os.path.realpath(path)})"
            raise ValueError(
                f"{name} {os.fspath(path)} is the same file as {source_name} {os.fspath(source)}{how}: "
                f"writing it would destroy the input before it is read; choose another {name}"
            )
    existing = file_kind(path)
    if not overwrite and existing in FILE_KINDS and existing != kind:
        flag = "--force" if name.startswith("--") else "overwrite=True"
        writes = FILE_KINDS.get(kind, f"a {kind}")
        raise FileExistsError(
            f"{name} {os.fspath(path)} holds {FILE_KINDS[existing]}; writing {writes} there would "
            f"replace it: pass {flag} to replace it, or choose another {name}"
        )


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], object], suffix: str = "") -> None:
    """Write a file through ``write(handle)`` so that ``path`` is never half-written.

    ``write`` fills a temporary file in the folder of ``path``; the file is
    flushed and fsync-ed, then renamed over ``path`` (atomic on POSIX and
    Windows). On any exception, KeyboardInterrupt included, the temporary
    file is removed (if the rename has not already moved it) and ``path`` is
    untouched. Only a hard kill (SIGKILL, power loss) can leave a ``.tmp-*``
    file behind, never a broken ``path``.

    An exception that a signal handler raises during the write (Ctrl-C's
    KeyboardInterrupt, a SystemExit from a handler that exits) surfaces as
    itself, even where the code it interrupted turned it into another error
    (torch's C++ writer raises its own RuntimeError) or swallowed it.

    The new file keeps the permissions of the file it replaces (a new file
    gets the usual ones, 0666 less the umask), and a symbolic link at
    ``path`` stays a link: its target is the file replaced.
    """
    target = os.path.realpath(path)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save to {path}: folder {folder} does not exist")
    if os.path.isdir(target):
        raise IsADirectoryError(f"cannot save to {path}: it is a folder")
    try:
        mode = os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    with _signals_noted() as raised:
        # Named before it exists, so that an interrupt at any point leaves a name to clean up.
        tmp, moved = os.path.join(folder, f".tmp-{secrets.token_hex(8)}{suffix}"), False
        try:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
            except OSError as err:
                raise type(err)(
                    err.errno, f"cannot save to {path}: cannot create a file in {folder}: {err.strerror}"
                ) from None
            with os.fdopen(fd, "wb") as handle:
                os.chmod(tmp, mode)
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
            moved = True
        except BaseException as err:
            if not moved:
                with contextlib.suppress(FileNotFoundError):  # the rename may have moved it already
                    os.unlink(tmp)
            if raised and err is not raised[0]:
                raise raised[0] from None
            raise
        if raised:  # swallowed by the code it interrupted: the file is saved, the interrupt still surfaces
            raise raised[0]


@contextlib.contextmanager
def _signals_noted():
    """Within: every Python signal handler also notes the exception it raises, in the list yielded.

    Only the main thread runs signal handlers, so elsewhere the list stays
    empty and nothing changes.
    """
    raised: list[BaseException] = []
    if threading.current_thread() is not threading.main_thread():
        yield raised
        return
    previous = {}
    for signum in signal.valid_signals():
        handler = signal.getsignal(signum)
        if callable(handler):
            previous[signum] = handler
            signal.signal(signum, functools.partial(_noting, handler, raised))
    try:
        yield raised
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _noting(handler, raised, signum, frame):
    try:
        handler(signum, frame)
    except BaseException as err:
        raised.append(err)
        raise


def _umask():
    """The process's umask (read by setting it and restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Largest ratio of uncompressed to compressed size that deflate can reach.
_MAX_DEFLATE_RATIO = 1100


def _read_npz(path):
    """The arrays of an .npz written by ``save``, read member by member.

    Refuses, with CheckpointError, members other than the known arrays and
    the header, object (pickled) arrays, and members whose declared shape
    does not match the bytes they hold, before allocating anything for them;
    zipfile checks each member's CRC-32 as it is read.
    """
    from .exceptions import CheckpointError

    allowed = {f"{name}.npy" for name in (*_ARRAYS, "header")}
    size = os.path.getsize(path)
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.filename not in allowed or info.filename[:-4] in arrays:
                raise CheckpointError(
                    f"{path} is not an InterventionalData file: unexpected "
                    f"member {info.filename!r} (expected {sorted(allowed)})"
                )
            limit = size if info.compress_type == zipfile.ZIP_STORED else _MAX_DEFLATE_RATIO * size
            if info.compress_size > size or info.file_size > limit:
                raise CheckpointError(
                    f"cannot read data file {path}: member {info.filename!r} "
                    f"claims {info.file_size} bytes in a file of {size}"
                )
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
                else:
                    raise ValueError(f"unsupported .npy version {version}")
                if dtype.hasobject:
                    raise CheckpointError(
                        f"cannot read data file {path}: member "
                        f"{info.filename!r} holds Python objects (a pickle); "
                        "refused, data files hold numbers only"
                    )
                declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if declared != info.file_size - member.tell():
                    raise CheckpointError(
                        f"cannot read data file {path}: member {info.filename!r} declares shape "
                        f"{shape} ({declared} bytes) but holds {info.file_size - member.tell()}"
                    )
            with archive.open(info) as member:
                arrays[info.filename[:-4]] = np.lib.format.read_array(member, allow_pickle=False)
    return arrays


def _as_regime(regime, n):
    try:
        raw = np.asarray(regime.detach().cpu() if hasattr(regime, "detach") else regime)
    except ValueError:  # ragged nested sequences
        raise ValueError("regime must be a 1-d array of ints, got a ragged sequence") from None
    if raw.ndim != 1 or raw.shape[0] != n:
        raise ValueError(f"regime must have shape ({n},) to match X, got {raw.shape}")
    if raw.dtype.kind == "f":
        if not np.all(np.isfinite(raw)) or np.any(raw != np.round(raw)):
            raise TypeError("regime must hold integers")
    elif raw.dtype.kind not in "iu":
        raise TypeError(f"regime must hold integers, got dtype {raw.dtype}")
    if raw.size and raw.max() > np.iinfo(np.int64).max:  # unsigned or float values int64 cannot hold
        raise ValueError(f"regime values must lie in [0, 2**63 - 1], got {int(raw.max())}")
    raw = raw.astype(np.int64)
    if raw.size and raw.min() < 0:
        raise ValueError(f"regime must be >= 0, got {int(raw.min())}")
    return raw


def _as_targets(targets, regime):
    present = set(np.unique(regime).tolist())
    if targets is None:
        if present - {0}:
            raise ValueError("targets is required when regime has interventional regimes")
        return {0: ()} if 0 in present else {}
    if not hasattr(targets, "items"):
        raise TypeError("targets must be a dict regime -> tuple of latent indices")
    clean = {}
    for k, nodes in targets.items():
        if not _is_index(k):
            raise TypeError(f"targets keys must be regime ints, got {k!r}")
        if nodes is None and k != 0:
            clean[int(k)] = None
            continue
        nodes = _as_latent_indices(k, nodes)
        if any(j < 0 for j in nodes):
            raise ValueError(f"targets[{k}] has a negative latent index: {nodes}")
        if len(set(nodes)) != len(nodes):
            raise ValueError(f"targets[{k}] names a latent twice: {nodes}")
        clean[int(k)] = tuple(sorted(nodes))
    if clean.get(0, ()) != ():
        raise ValueError(f"targets[0] must be () (observational), got {clean[0]}")
    missing = sorted(present - set(clean))
    if missing:
        raise ValueError(f"regime(s) {missing} appear in regime but not in targets")
    return clean


def _as_index(index, n):
    """Rows to take: ints in [-n, n) or a boolean mask of shape (n,) -> int64 array."""
    raw = np.asarray(index.detach().cpu() if hasattr(index, "detach") else index)
    if raw.dtype == bool:
        if raw.shape != (n,):
            raise ValueError(f"a boolean mask must have shape ({n},), got {raw.shape}")
        raw = np.flatnonzero(raw)
    elif raw.size == 0:
        raw = raw.astype(np.int64)
    elif raw.dtype.kind not in "iu":
        raise TypeError(f"index must hold ints or be a boolean mask, got dtype {raw.dtype}")
    raw = raw.reshape(1) if raw.ndim == 0 else raw
    if raw.ndim != 1:
        raise ValueError(f"index must be 1-dimensional, got shape {raw.shape}")
    if raw.size == 0:
        raise ValueError("index selects no samples: a container needs at least one")
    if raw.min() < -n or raw.max() >= n:
        bad = raw[(raw < -n) | (raw >= n)][0]
        raise ValueError(f"index {int(bad)} is out of range for {n} samples")
    return raw.astype(np.int64)


def _as_meta(meta):
    """``meta`` as it will read back from a file: string keys, JSON values, lists for tuples."""
    meta = {} if meta is None else meta
    if not isinstance(meta, dict):
        raise TypeError(f"meta must be a dict, got {type(meta).__name__}")

    def check_keys(value, where):
        if isinstance(value, dict):
            for key, inner in value.items():
                if not isinstance(key, str):
                    raise TypeError(
                        f"meta{where} has key {key!r} of type {type(key).__name__}; "
                        "keys must be strings (a file stores them as strings)"
                    )
                check_keys(inner, f"{where}[{key!r}]")
        elif isinstance(value, (list, tuple)):
            for i, inner in enumerate(value):
                check_keys(inner, f"{where}[{i}]")

    check_keys(meta, "")
    try:
        return json.loads(json.dumps(meta))
    except (TypeError, ValueError) as err:
        raise TypeError(f"meta must be JSON-serialisable: {err}") from None


def _is_index(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _strict_int(value):
    if not _is_index(value):
        raise TypeError(f"expected an int, got {value!r}")
    return int(value)


def _as_latent_indices(k, nodes):
    """targets[k] -> tuple of Python ints, refusing floats, strings and huge values."""
    raw = nodes
    if _is_index(nodes):
        nodes = (nodes,)
    elif isinstance(nodes, np.ndarray):
        nodes = nodes.ravel().tolist()
    try:
        nodes = tuple(nodes)
    except TypeError:
        nodes = None
    if isinstance(raw, (str, bytes)) or nodes is None or not all(_is_index(j) and -(2**62) < j < 2**62 for j in nodes):
        raise TypeError(f"targets[{k}] must be a tuple of latent indices (ints >= 0), got {raw!r}")
    return tuple(int(j) for j in nodes)


def _optional(value, name, n, ndims):
    if value is None:
        return None
    arr = as_float_array(value, name)
    if arr.ndim not in ndims:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndims))} dimensions, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows but X has {n}")
    return arr


def _as_graph(graph, d):
    if not isinstance(graph, nx.DiGraph):
        raise TypeError(f"graph must be a networkx.DiGraph, got {type(graph).__name__}")
    graph = as_dag(graph)
    if d is not None and graph.number_of_nodes() != d:
        raise ValueError(f"graph has {graph.number_of_nodes()} nodes but Z has {d} columns")
    return graph
