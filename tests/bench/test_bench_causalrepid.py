"""benchmarks/bench_causalrepid.py without the reference checkout, and its InterventionalCRL side on tiny arrays."""

import importlib.util
from pathlib import Path

import numpy as np

import simulators

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_causalrepid.py"


def _script():
    spec = importlib.util.spec_from_file_location("bench_causalrepid", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_a_checkout_it_skips_with_a_message(tmp_path, capsys):
    out = tmp_path / "causalrepid.json"
    _script().main(["--reference", str(tmp_path / "absent"), "--out", str(out)])
    assert "skipped: no CausalRepID checkout" in capsys.readouterr().out
    assert not out.exists()


def test_interventional_crl_reads_the_reference_layout_and_identifies(tmp_path):
    """Arrays laid out as the reference's generator writes them: a do at 2.0 on
    latent y of each interventional sample, the quadratic part rescaled by 10%
    in the interventional files (as its per-file rescaling does)."""
    bench = _script()
    d, rng = bench.LATENT_DIM, np.random.default_rng(0)
    mixing = simulators.PolynomialMixing(d, 40, 2, nonlinear_scale=1.0, seed=0)
    quadratic = mixing.exponents.sum(1) >= 2
    for kind, n, rescale in (("observation", 400, 1.0), ("intervention", 600, 1.1)):
        folder = tmp_path / "data" / "datasets" / "seed_0" / kind / bench._folder("uniform")
        folder.mkdir(parents=True)
        for split in ("train", "test"):
            z = rng.uniform(-5, 5, (n, d)) / 5
            y = -np.ones(n) if kind == "observation" else rng.integers(0, d, n).astype(float)
            if kind == "intervention":
                z[np.arange(n), y.astype(int)] = 2.0
            features = mixing.features(z)
            x = (
                features[:, ~quadratic] @ mixing.weight[~quadratic]
                + rescale * features[:, quadratic] @ mixing.weight[quadratic]
            )
            for key, value in zip("xzy", (x, z, y), strict=True):
                np.save(folder / f"{split}_{key}.npy", value)
    result = bench.ours_fit(tmp_path, "uniform", 0)
    assert result["stage1"] == "linear (near-exact)"
    assert result["warnings"] == []
    assert result["mcc"] > 0.9999
