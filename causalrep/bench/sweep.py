"""Running a sweep: tasks in, records out, resumable from the records file."""

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..data import FILE_KINDS, file_kind
from .engines import run_local, run_ray
from .records import Appender, exclusive, key, read_records, same_params
from .reports import markdown_table, plot, write_csv, write_json
from .suites import SUITES
from .tasks import make_tasks

__all__ = ["run", "main_args"]


def run(
    settings: Sequence[Mapping[str, Any]],
    methods: Sequence[Mapping[str, Any]],
    seeds: Iterable[int],
    engine: str = "local",
    address: str | None = None,
    out: str | os.PathLike | None = None,
    workers: int | None = None,
) -> list[dict]:
    """Run every (setting, method, seed) and return one record per task.

    Arguments:
        settings: Sequence of setting dicts (see the module docstring).
        methods: Sequence of method dicts.
        seeds: Sequence of non-negative ints.
        engine: ``"local"`` (a process pool over this machine's cores) or
            ``"ray"`` (Ray tasks on the cluster at ``address``).
        address: Ray cluster address; None starts a local Ray instance.
        out: JSONL file the records are appended to as they finish; tasks
            already recorded there are not run again.
        workers: Processes of the local engine; None uses every core.
            They die with this process, however it ends.

    Returns:
        List of record dicts, in the order settings x methods x seeds, with
        ``setting``, ``method``, ``seed``, ``status`` (``"ok"`` or
        ``"error"``), ``error``, ``mcc``, ``affine_r2``,
        ``permutation_passed``, ``affine_passed``, ``fit_seconds``,
        ``device``, ``version``, ``n_train``, ``n_test``, ``warnings`` (those
        the fit raised) and the parameters.

    Raises:
        ValueError: for a malformed setting or method, an unknown engine, or an
            ``out`` file whose records were made with other parameters under
            the same names.
        FileExistsError: for an ``out`` that holds a dataset or a checkpoint.
        ImportError: for ``engine="ray"`` without Ray installed.
        causalrep.exceptions.SweepLockedError: while another sweep writes
            to ``out`` (it holds an exclusive lock on the file, which the
            system releases when that sweep ends or dies).
    """
    tasks = make_tasks(settings, methods, seeds)
    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be 'local' or 'ray', got {engine!r}")
    if out is not None and file_kind(out) in FILE_KINDS:  # lines appended to it would ruin it
        raise FileExistsError(
            f"out {out} holds {FILE_KINDS[file_kind(out)]}; records are appended to a JSON-lines file: "
            "choose another out"
        )
    with exclusive(out):
        return _run_unlocked(tasks, engine, address, out, workers)


def _run_unlocked(tasks, engine, address, out, workers):
    done = {}
    if out is not None:
        for record in read_records(out):
            done[key(record)] = record
        for task in tasks:
            previous = done.get(key(task))
            if previous is not None and not same_params(previous, task):
                raise ValueError(
                    f"{out} already holds a record of {key(task)} made with other parameters; use another out file"
                )
    todo = [task for task in tasks if key(task) not in done]
    if todo:
        sink = Appender(out)
        runner = run_local if engine == "local" else run_ray
        for record, persist in runner(todo, address=address, workers=workers):
            done[key(record)] = record
            if persist:
                sink.append(record)
    return [done[key(task)] for task in tasks]


def main_args(
    suite: str,
    engine: str = "local",
    address: str | None = None,
    seeds: int | Iterable[int] | None = None,
    out: str | os.PathLike | None = None,
) -> str:
    """Run a named suite and write its results folder; returns the markdown table.

    Arguments:
        suite: A key of :data:`SUITES`.
        engine: ``"local"`` or ``"ray"``.
        address: Ray cluster address (``engine="ray"`` only).
        seeds: None for the suite's seeds, an int n for ``range(n)``, or a
            sequence of ints.
        out: Results folder (default ``bench-<suite>``): ``records.jsonl``
            (resumable), ``results.csv``, ``results.json``, ``table.md`` and
            ``mcc.png``.

    Raises:
        ValueError: for an unknown suite or engine, or bad seeds.
        NotADirectoryError: for an ``out`` that is a file.
    """
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; choose from {sorted(SUITES)}")
    spec = SUITES[suite]
    if seeds is None:
        seeds = spec["seeds"]
    elif isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"seeds must be >= 1 when given as a count, got {seeds}")
        seeds = range(seeds)
    folder = Path(out if out is not None else f"bench-{suite}")
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(
            f"out {folder} is a file; the results of a suite go to a folder (records.jsonl, results.csv, "
            "results.json, table.md): name a folder, new or one a former run wrote"
        )
    folder.mkdir(parents=True, exist_ok=True)
    records = run(
        spec["settings"], spec["methods"], list(seeds), engine=engine, address=address, out=folder / "records.jsonl"
    )
    table = markdown_table(records)
    write_csv(records, folder / "results.csv")
    write_json(records, folder / "results.json")
    (folder / "table.md").write_text(table)
    if any(r["status"] == "ok" for r in records):
        plot(records, folder / "mcc.png")
    return table
