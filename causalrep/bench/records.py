"""Records of a sweep: one flat dict per task, appended to a JSONL file under a lock."""

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .._version import __version__

__all__ = ["TIMING_FIELDS", "RESULT_FIELDS", "read_records", "key", "same_params", "blank", "Appender", "exclusive"]

#: Fields that differ between runs of the same sweep (everything else is reproducible).
TIMING_FIELDS = ("fit_seconds",)
RESULT_FIELDS = ("mcc", "affine_r2", "permutation_passed", "affine_passed", "fit_seconds")
_KEY = ("setting", "method", "seed")


def read_records(path: str | os.PathLike) -> list[dict]:
    """Records of a JSONL file (``[]`` when it does not exist); unreadable lines,
    such as a line cut short by an interruption, are skipped."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and all(k in record for k in _KEY):
            records.append(record)
    return records


def key(item: Mapping[str, Any]) -> tuple:
    """(setting name, method name, seed) of a task or a record."""
    if isinstance(item["setting"], dict):
        return (item["setting"]["name"], item["method"]["name"], item["seed"])
    return tuple(item[k] for k in _KEY)


def same_params(record: Mapping[str, Any], task: Mapping[str, Any]) -> bool:
    """Whether ``record`` was made with the parameters of ``task``."""
    return (
        record.get("setting_params") == task["setting"]["params"]
        and record.get("method_params") == task["method"]["params"]
    )


def blank(task: Mapping[str, Any]) -> dict:
    """The record of a task before it ran: names, parameters, empty results."""
    setting, method = task["setting"], task["method"]
    return {
        "setting": setting["name"],
        "method": method["name"],
        "seed": task["seed"],
        "status": "ok",
        "error": None,
        **dict.fromkeys(RESULT_FIELDS),
        "device": None,
        "version": __version__,
        "n_train": None,
        "n_test": None,
        "warnings": [],
        "simulator": setting["simulator"],
        "estimator": method["estimator"],
        "setting_params": setting["params"],
        "method_params": method["params"],
    }


@contextlib.contextmanager
def exclusive(out: str | os.PathLike | None) -> Iterator[None]:
    """Hold an exclusive lock on the records file ``out`` (POSIX ``flock``) for the sweep.

    Two sweeps into one file would both run every task and double the
    records; the second one is refused instead. The kernel drops the lock
    when the process ends, a kill included, so a stale lock never blocks.
    """
    if out is None:
        yield
        return
    from ..exceptions import SweepLockedError

    try:
        import fcntl
    except ImportError:  # no flock (Windows): sweeps are not protected
        yield
        return
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepLockedError(
                f"another sweep is writing to {out}; wait for it to finish or use another output"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class Appender:
    """Appends records to a JSONL file, one flushed line each."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = None if path is None else Path(path)
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and self.path.stat().st_size:
            with open(self.path, "rb") as handle:
                handle.seek(-1, os.SEEK_END)
                cut_short = handle.read(1) != b"\n"
            if cut_short:  # end the partial line so the next record starts clean
                with open(self.path, "a") as handle:
                    handle.write("\n")

    def append(self, record: Mapping[str, Any]) -> None:
        if self.path is None:
            return
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
