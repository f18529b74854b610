"""benchmarks/bench_gpu.py in its tiny mode, on the CPU."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_gpu.py"


def _script():
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Five steps identify nothing: the estimators say so, which is not the point here.
@pytest.mark.filterwarnings("ignore::causalrep.estimators.IdentifiabilityWarning")
def test_tiny_run_measures_every_estimator(tmp_path, capsys):
    bench = _script()
    threads = torch.get_num_threads()
    try:
        bench.main(["--tiny", "--device", "cpu", "--out", str(tmp_path / "gpu.json")])
    finally:
        torch.set_num_threads(threads)
    results = json.loads((tmp_path / "gpu.json").read_text())
    records = {r["estimator"]: r for r in results["records"]}
    assert set(records) == set(bench.CASES)
    assert results["tiny"]
    for record in records.values():
        assert record["device"] == "cpu"
        assert record["peak_memory_kind"] == "peak RSS"
        assert record["peak_memory_bytes"] > 2**20
        assert record["fit_cpu_seconds"] > 0
        assert record["fit_seconds"] > 0
        # Synchronisations are counted on CUDA only.
        assert record["host_syncs"] is None
        assert record["host_syncs_per_step"] is None
    assert records["CausalDiffAE"]["steps"] >= bench.TINY_STEPS
    assert records["CausalDiffAE"]["steps_per_second"] > 0
    assert "| CausalDiffAE | 100 | 256 | cpu |" in capsys.readouterr().out
