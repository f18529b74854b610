"""Every script in examples/ runs end to end, at reduced size, as a user would start it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"


def run_example(name, *args, cwd):
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_every_example_is_exercised_here():
    tested = {
        "interventional_crl.py",
        "rep4ex_extrapolation.py",
        "causaldiffae_pendulum.py",
        "property_test_your_encoder.py",
        "ray_sweep.py",
    }
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


@pytest.mark.slow
def test_interventional_example_identifies_and_plots(tmp_path):
    out = run_example(
        "interventional_crl.py",
        "--latent-dim",
        3,
        "--obs-dim",
        16,
        "--n",
        1500,
        "--max-steps",
        2000,
        "--out",
        tmp_path / "report.png",
        cwd=tmp_path,
    )
    assert "stage 1 alone: affine R2" in out
    assert "residual variance ratio" in out
    assert "identifiability up to permutation: PASSED" in out
    assert (tmp_path / "report.png").stat().st_size > 10_000


@pytest.mark.slow
def test_rep4ex_example_compares_with_truth_and_plots(tmp_path):
    out = run_example(
        "rep4ex_extrapolation.py",
        "--n",
        2000,
        "--max-steps",
        150,
        "--n-bootstrap",
        3,
        "--out",
        tmp_path / "rep4ex.png",
        cwd=tmp_path,
    )
    assert "Rep4Ex: MSE outside the support" in out
    assert "truth inside the 90% band at" in out
    assert "regression of Y on A: MSE outside the support" in out
    assert (tmp_path / "rep4ex.png").stat().st_size > 10_000


@pytest.mark.slow
def test_causaldiffae_example_draws_counterfactuals(tmp_path):
    out = run_example(
        "causaldiffae_pendulum.py",
        "--n",
        200,
        "--size",
        16,
        "--max-steps",
        30,
        "--ddim-steps",
        3,
        "--out",
        tmp_path / "cf.png",
        cwd=tmp_path,
    )
    assert "pixel MSE against the true counterfactual" in out
    assert (tmp_path / "cf.png").stat().st_size > 5_000


def test_property_example_passes_for_a_correct_encoder(tmp_path):
    out = run_example("property_test_your_encoder.py", "--examples", 3, cwd=tmp_path)
    assert "recovered the sources on all 3 drawn mixings" in out


def test_property_example_catches_a_wrong_encoder(tmp_path):
    """The property must be able to fail: an encoder that mixes the sources is caught."""
    script = (
        "import sys, numpy as np\n"
        f"sys.path.insert(0, {str(EXAMPLES)!r})\n"
        "import property_test_your_encoder as ex\n"
        "ex.fit_encoder = lambda X, d, seed: (lambda X: X @ np.ones((d, d)) + X)\n"
        "ex.recovers_sources(3)()\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    assert "identifiability up to permutation: FAILED" in result.stderr


@pytest.mark.slow
def test_ray_sweep_example_writes_records_and_resumes(tmp_path):
    pytest.importorskip("ray")
    args = ("--seeds", 0, "--n", 150, "--max-steps", 30, "--out", tmp_path / "sweep")
    out = run_example("ray_sweep.py", *args, cwd=tmp_path)
    records = (tmp_path / "sweep" / "records.jsonl").read_text().splitlines()
    assert len(records) == 6
    assert "| uniform d=3 | InterventionalCRL |" in out
    assert (tmp_path / "sweep" / "sweep.png").exists()
    run_example("ray_sweep.py", *args, "--engine", "local", cwd=tmp_path)
    assert (tmp_path / "sweep" / "records.jsonl").read_text().splitlines() == records
