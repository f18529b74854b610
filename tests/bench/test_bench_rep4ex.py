"""benchmarks/bench_rep4ex.py at a tiny size: every reference is fitted and reported."""

import functools
import importlib.util
import json
import statistics
from pathlib import Path

import pytest

from causalrep import Rep4Ex

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_rep4ex.py"


@pytest.mark.filterwarnings("ignore::causalrep.estimators.IdentifiabilityWarning")
def test_tiny_run_reports_every_reference(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_rep4ex", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, "N_SAMPLES", 400)
    monkeypatch.setattr(bench, "MLP_STEPS", 50)
    monkeypatch.setattr(bench, "Rep4Ex", functools.partial(Rep4Ex, max_steps=30, n_centers=40))
    for name, path in (
        ("PARTS", tmp_path / "parts"),
        ("RESULTS", tmp_path / "rep4ex.json"),
        ("TABLE", tmp_path / "table.md"),
        ("PLOT", tmp_path / "plot.png"),
    ):
        monkeypatch.setattr(bench, name, path)
    bench.run_settings(["benchmark"], seeds=2)
    bench.report()

    report = json.loads((tmp_path / "rep4ex.json").read_text())
    part = report["settings"]["benchmark"]
    assert report["seeds"] == 2
    assert set(report["settings"]) == {"benchmark"}
    rows = part["per_seed"]
    for method in (
        "rep4ex",
        "oracle",
        "matched",
        "supervised",
        "autoencoder",
        "mlp_y_on_a",
        "rep4ex_large",
        "supervised_large",
    ):
        assert all(r[f"{method}_mse_out"] > 0 for r in rows), method
    ratios = [r["rep4ex_mse_out"] / r["matched_mse_out"] for r in rows]
    assert part["summary"]["median_rep4ex_over_matched"] == pytest.approx(statistics.median(ratios))
    assert all(0 <= c <= 1 for r in rows for c in r["rep4ex_coverage"])
    assert rows[0]["n_actions"] == 13 * 13 - 5 * 5  # the grid without its central square
    table = (tmp_path / "table.md").read_text()
    assert "matched oracle" in table
    assert "supervised ceiling" in table
    assert "| 1 |" in table
    assert (tmp_path / "plot.png").stat().st_size > 10_000
