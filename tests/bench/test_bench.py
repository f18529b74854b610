"""Benchmark sweeps: records, failures, resume, reports, and the Ray engine."""

import fcntl
import json
import os
import signal
import time

import pytest

from causalrep import bench
from causalrep.cli import main
from causalrep.exceptions import SweepLockedError

SMOKE = bench.SUITES["smoke"]
BROKEN = {"name": "broken", "estimator": "BetaVAE", "params": {"beta": -1.0, "verbose": 0}}
METHODS = SMOKE["methods"] + [BROKEN]


def untimed(records):
    return [{**r, **dict.fromkeys(bench.TIMING_FIELDS)} for r in records]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "records.jsonl"
    records = bench.run(SMOKE["settings"], METHODS, SMOKE["seeds"], out=out)
    return records, out


def test_smoke_suite_runs_locally_and_records_failures(sweep):
    records, out = sweep
    assert [r["method"] for r in records] == [m["name"] for m in METHODS]
    ok = [r for r in records if r["status"] == "ok"]
    assert len(ok) == len(SMOKE["methods"])
    for r in ok:
        assert 0 <= r["mcc"] <= 1
        assert r["fit_seconds"] > 0
        assert r["device"] == "cpu"
        assert isinstance(r["permutation_passed"], bool)
        assert r["version"]
    (failed,) = [r for r in records if r["status"] == "error"]
    assert failed["method"] == "broken"
    assert failed["mcc"] is None
    assert failed["error"] == "ParameterError: beta must be a number > 0, got -1.0"
    assert bench.read_records(out) != []
    assert len(bench.read_records(out)) == len(records)
    table = bench.markdown_table(records)
    assert "| uniform d=2 | iVAE |" in table
    assert "1: ParameterError: beta must be" in table


def test_summary_holds_the_numbers_of_the_table(sweep):
    records, _ = sweep
    summary = bench.summarize(records)
    assert [row["method"] for row in summary] == [m["name"] for m in METHODS]
    assert all(tuple(row) == bench.SUMMARY_FIELDS for row in summary)
    for row, record in zip(summary, records, strict=True):
        assert row["runs"] == 1
        assert row["mcc_std"] is None
        assert row["mcc_mean"] == record["mcc"]
        assert row["affine_r2_mean"] == record["affine_r2"]
        assert row["failed"] == (record["status"] != "ok")
        assert row["first_error"] == record["error"]
        mcc = "-" if row["mcc_mean"] is None else f"{row['mcc_mean']:.3f}"
        assert f"| {row['setting']} | {row['method']} | {mcc} |" in bench.markdown_table(records)


def test_resume_after_interruption_gives_the_same_table(sweep, tmp_path):
    records, out = sweep
    lines = out.read_text().splitlines()
    resumed = tmp_path / "records.jsonl"
    # Four finished records, then a line cut short by the interruption.
    resumed.write_text("\n".join(lines[:4]) + "\n" + lines[4][:25])
    again = bench.run(SMOKE["settings"], METHODS, SMOKE["seeds"], out=resumed)
    assert bench.markdown_table(untimed(again)) == bench.markdown_table(untimed(records))
    assert len(bench.read_records(resumed)) == len(records)
    assert bench.run(SMOKE["settings"], METHODS, SMOKE["seeds"], out=resumed) == again


def test_resume_refuses_records_of_other_parameters(sweep):
    _, out = sweep
    changed = [dict(SMOKE["settings"][0], params={**SMOKE["settings"][0]["params"], "n_obs": 300})]
    with pytest.raises(ValueError, match="made with other parameters"):
        bench.run(changed, METHODS, SMOKE["seeds"], out=out)


def test_malformed_sweeps_are_refused():
    with pytest.raises(ValueError, match="must be a dict with a 'estimator' name"):
        bench.run(SMOKE["settings"], [{"name": "x"}], [0])
    with pytest.raises(ValueError, match="engine must be 'local' or 'ray'"):
        bench.run(SMOKE["settings"], METHODS, [0], engine="dask")
    with pytest.raises(ValueError, match="method names must be unique"):
        bench.run(SMOKE["settings"], [BROKEN, BROKEN], [0])
    with pytest.raises(ValueError, match="unknown suite 'huge'"):
        bench.main_args("huge")


def test_reports_are_written(sweep, tmp_path):
    records, _ = sweep
    bench.write_csv(records, tmp_path / "r.csv")
    bench.write_json(records, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == records
    header = (tmp_path / "r.csv").read_text().splitlines()[0].split(",")
    assert {"setting", "method", "seed", "mcc", "error"} <= set(header)
    fig = bench.plot(records, tmp_path / "mcc.png")
    assert (tmp_path / "mcc.png").stat().st_size > 0
    assert fig.axes


def test_main_args_writes_the_results_folder(sweep, tmp_path):
    records, out = sweep
    folder = tmp_path / "results"
    folder.mkdir()
    # The sweep already holds every smoke record: main_args resumes, fits nothing.
    (folder / "records.jsonl").write_text(out.read_text())
    table = bench.main_args("smoke", seeds=1, out=folder)
    names = {p.name for p in folder.iterdir()}
    assert names == {"records.jsonl", "results.csv", "results.json", "table.md", "mcc.png"}
    assert (folder / "table.md").read_text() == table
    assert table == bench.markdown_table(records[:-1])
    assert json.loads((folder / "results.json").read_text()) == records[:-1]


def test_ray_engine_gives_the_same_numbers_as_local(sweep):
    pytest.importorskip("ray")
    records, _ = sweep
    remote = bench.run(SMOKE["settings"], METHODS, SMOKE["seeds"], engine="ray")
    assert untimed(remote) == untimed(records)


SHRINK = {  # per suite: setting params, and params for every method with training steps
    "rep4ex": ({"n": 400}, {"max_steps": 20, "hidden": (16,), "batch_size": 128}),
    "pendulum": ({"n": 60, "size": 16}, {"max_steps": 3, "hidden": (16,), "batch_size": 16}),
}


@pytest.mark.parametrize("suite", sorted(SHRINK))
def test_named_suites_run_end_to_end_at_tiny_size(suite):
    spec = bench.SUITES[suite]
    setting_params, method_params = SHRINK[suite]
    settings = [{**spec["settings"][0], "params": {**spec["settings"][0]["params"], **setting_params}}]
    methods = [
        {**m, "params": {**m["params"], **method_params}} if m["estimator"] != "linear_ica" else m
        for m in spec["methods"]
    ]
    if suite == "pendulum":
        for m in methods:
            if m["estimator"] == "causaldiffae":
                m["params"].update(channels=8, diffusion_steps=20)
    records = bench.run(settings, methods, [0], workers=1)
    assert [r["status"] for r in records] == ["ok"] * len(methods), [r["error"] for r in records]
    assert all(0 <= r["mcc"] <= 1 for r in records)


def test_every_named_suite_is_well_formed():
    assert {"smoke", "ahuja2023", "rep4ex", "pendulum"} <= set(bench.SUITES)
    for spec in bench.SUITES.values():
        tasks = bench.tasks.make_tasks(spec["settings"], spec["methods"], spec["seeds"])
        assert len(tasks) == len(spec["settings"]) * len(spec["methods"]) * len(spec["seeds"])


SWEEP = {
    "settings": [
        {
            "name": "tiny",
            "simulator": "ahuja2023",
            "params": {"latent_dim": 2, "obs_dim": 6, "degree": 1, "n_obs": 40, "n_int": 40},
        }
    ],
    "methods": [{"name": "ica", "estimator": "LinearICA", "params": {"verbose": 0}}],
}


def test_a_second_sweep_into_the_same_file_is_refused(tmp_path, capsys):
    out = tmp_path / "records.jsonl"
    with open(out, "a") as handle:  # as a running sweep holds it
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        with pytest.raises(SweepLockedError, match=r"another sweep is writing to .*records"):
            bench.run(SWEEP["settings"], SWEEP["methods"], [0], workers=1, out=out)
        assert main(["bench", "smoke", "--out", str(tmp_path)]) == 2
        assert capsys.readouterr().err.count("\n") == 1
    assert out.read_text() == ""


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] not in "ZX"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads /proc")
def test_workers_die_with_their_parent():
    """A worker watches its parent (bench.engines.worker_init starts the watch) and ends with it."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # stands for the sweep's process: starts a worker, then dies at once
        worker = os.fork()
        if worker == 0:
            bench.engines.watch_parent(os.getppid(), period=0.05)
            time.sleep(60)  # reached only if the watch returned instead of ending the worker
            os._exit(0)
        os.write(write, str(worker).encode())
        os._exit(0)
    os.close(write)
    worker = int(os.read(read, 32))
    os.close(read)
    os.waitpid(child, 0)
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(worker):
        os.kill(worker, signal.SIGKILL)
        raise AssertionError("the worker outlived its parent by 10 s")
