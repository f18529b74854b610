"""The command line: commands chain through files, exit codes gate CI."""

import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import causalrep
import simulators
from causalrep import InterventionalData, LinearICA, Rep4Ex
from causalrep.cli import _finite_or_null, main

pytestmark = pytest.mark.filterwarnings("ignore::causalrep.estimators.IdentifiabilityWarning")


def test_help_lists_commands_with_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "simulate", "fit", "check", "examples:"):
        assert command in out


def test_module_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "causalrep", "check", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    assert "--up-to" in result.stdout


def test_simulate_fit_check_chain(tmp_path, capsys):
    data, model = tmp_path / "data.npz", tmp_path / "model.pt"
    assert (
        main(
            [
                "simulate",
                "ahuja2023",
                "--out",
                str(data),
                "--seed",
                "1",
                "--param",
                "latent_dim=2",
                "--param",
                "obs_dim=8",
                "--param",
                "n_obs=300",
                "--param",
                "n_int=300",
            ]
        )
        == 0
    )
    loaded = InterventionalData.load(data)
    assert loaded.Z.shape == (600, 2)
    assert loaded.meta["seed"] == 1
    assert (
        main(
            [
                "fit",
                "interventional",
                "--data",
                str(data),
                "--out",
                str(model),
                "--param",
                "max_steps=30",
                "--param",
                "hidden=[8]",
                "--param",
                "restarts=1",
                "--param",
                "verbose=0",
            ]
        )
        == 0
    )
    capsys.readouterr()
    code = main(
        [
            "check",
            "--data",
            str(data),
            "--model",
            str(model),
            "--up-to",
            "affine",
            "--json",
            "--plot",
            str(tmp_path / "fig.png"),
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == (0 if report["passed"] else 1)
    assert (tmp_path / "fig.png").stat().st_size > 0


def test_check_exit_code_1_when_not_identified(tmp_path, capsys):
    rng = np.random.default_rng(0)
    data = tmp_path / "data.npz"
    InterventionalData(X=rng.normal(size=(400, 6)), Z=rng.normal(size=(400, 2))).save(data)
    model = tmp_path / "model.pt"
    assert (
        main(
            [
                "fit",
                "interventional",
                "--data",
                str(data),
                "--out",
                str(model),
                "--param",
                "max_steps=10",
                "--param",
                "hidden=[4]",
                "--param",
                "restarts=1",
                "--param",
                "verbose=0",
                "--param",
                "stage2=none",
            ]
        )
        == 0
    )
    assert main(["check", "--data", str(data), "--model", str(model)]) == 1
    assert "FAILED" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "--data", "absent.npz", "--model", "m.pt"], "no such data file"),
        (["simulate", "ahuja2023", "--out", "{tmp}/d.npz", "--param", "nonsense"], "--param expects KEY=VALUE"),
        (["simulate", "ahuja2023", "--out", "{tmp}/d.npz", "--param", "colour=1"], "bad ahuja2023 parameter"),
        (["simulate", "ahuja2023", "--out", "{tmp}/d.npz", "--param", "latent_dim=-2"], "latent_dim"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_corrupt_model_file_exit_2(tmp_path, capsys):
    data, model = tmp_path / "data.npz", tmp_path / "model.pt"
    InterventionalData(X=np.ones((5, 2)), Z=np.ones((5, 1))).save(data)
    model.write_bytes(b"\x00garbage")
    assert main(["check", "--data", str(data), "--model", str(model)]) == 2
    assert "cannot read checkpoint" in capsys.readouterr().err


def test_debug_flag_shows_traceback(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["--debug", "check", "--data", str(tmp_path / "x.npz"), "--model", "m.pt"])


def test_rep4ex_fit_and_extrapolate(tmp_path, capsys):
    data, model = tmp_path / "data.npz", tmp_path / "model.pt"
    assert (
        main(
            [
                "simulate",
                "rep4ex",
                "--out",
                str(data),
                "--param",
                "n=400",
                "--param",
                "action_dim=1",
                "--param",
                "latent_dim=1",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "fit",
                "rep4ex",
                "--data",
                str(data),
                "--out",
                str(model),
                "--param",
                "max_steps=20",
                "--param",
                "verbose=0",
                "--param",
                "n_bootstrap=3",
                "--param",
                "n_jobs=1",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["extrapolate", "--model", str(model), "--grid", "-3:3:5", "--plot", str(tmp_path / "curve.png")]) == 0
    header, *rows = [line.split(",") for line in capsys.readouterr().out.strip().splitlines()]
    assert header == ["a_0", "prediction", "lower", "upper", "coverage"]
    assert [float(r[0]) for r in rows] == [-3.0, -1.5, 0.0, 1.5, 3.0]
    values = np.array([[float(v) for v in r[1:4]] for r in rows])
    assert np.all(np.isfinite(values))
    assert np.all(values[:, 1] <= values[:, 0])
    assert np.all(values[:, 0] <= values[:, 2])
    coverage = [float(r[4]) for r in rows]
    assert all(0 <= c <= 1 for c in coverage)
    assert coverage[2] > max(coverage[0], coverage[4])
    assert (tmp_path / "curve.png").stat().st_size > 5_000
    assert main(["extrapolate", "--model", str(model), "--grid", "-3:3:5", "--interval", "0"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "a_0,prediction,coverage"
    assert main(["extrapolate", "--model", str(model), "--grid", "-3:3:5", "--interval", "1.5"]) == 2
    assert "--interval must be in (0, 1)" in capsys.readouterr().err
    assert main(["extrapolate", "--model", str(model), "--grid", "nonsense"]) == 2


def test_image_scene_simulate_fit_check_chain(tmp_path, capsys):
    data, model = tmp_path / "pendulum.npz", tmp_path / "cdae.pt"
    assert main(["simulate", "pendulum", "--out", str(data), "--param", "n=120", "--param", "size=16"]) == 0
    assert (
        main(
            [
                "fit",
                "causaldiffae",
                "--data",
                str(data),
                "--out",
                str(model),
                "--param",
                "max_steps=5",
                "--param",
                "channels=8",
                "--param",
                "verbose=0",
                "--param",
                "diffusion_steps=20",
            ]
        )
        == 0
    )
    capsys.readouterr()
    code = main(["check", "--data", str(data), "--model", str(model), "--up-to", "affine", "--json"])
    assert code in (0, 1)
    report = json.loads(capsys.readouterr().out)
    assert report["up_to"] == "affine"
    assert len(report["matching"]) == 4
    assert main(["simulate", "pendulum", "--out", str(data)]) == 2
    assert "missing 1 required positional argument: 'n'" in capsys.readouterr().err


def test_check_json_never_writes_nan(tmp_path, capsys):
    assert _finite_or_null({"a": [1.0, math.nan, {"b": math.inf}], "c": "x"}) == {
        "a": [1.0, None, {"b": None}],
        "c": "x",
    }
    data = simulators.ahuja2023(latent_dim=2, obs_dim=6, degree=1, n_obs=100, n_int=100, seed=0)
    InterventionalData(X=data.X * 1e160, Z=data.Z * 1e160).save(tmp_path / "d.npz")
    LinearICA(2).fit(InterventionalData(X=data.X * 1e160)).save(tmp_path / "m.pt")
    main(["check", "--data", str(tmp_path / "d.npz"), "--model", str(tmp_path / "m.pt"), "--json"])

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    report = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert report["mcc"]["score"] > 0.99


@pytest.mark.parametrize(
    ("error", "code"),
    [(KeyboardInterrupt(), 130), (MemoryError(), 2), (RuntimeError("x\ny"), 2), (ZeroDivisionError(), 2)],
)
def test_every_cli_error_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path, error, code):
    """Errors exit 2; an interrupt exits 130 (128 + SIGINT), with one line each."""

    def fail(args):
        raise error

    monkeypatch.setattr("causalrep.cli._simulate", fail)  # the parser is built in main
    assert main(["simulate", "ahuja2023", "--out", str(tmp_path / "d.npz")]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("causalrep simulate: "), err


def test_an_interrupt_inside_a_cli_save_is_reported_as_an_interrupt(monkeypatch, capsys, tmp_path):
    """Ctrl-C while 'fit' writes its checkpoint: 'interrupted', exit 130, never torch's text."""
    data = tmp_path / "d.npz"
    InterventionalData(X=np.random.default_rng(0).normal(size=(40, 3))).save(data)
    real_fdopen = os.fdopen

    class Interrupting(io.BufferedWriter):
        def write(self, chunk):
            os.kill(os.getpid(), signal.SIGINT)  # Python's handler raises KeyboardInterrupt in torch's writer
            time.sleep(1)
            return super().write(chunk)

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: Interrupting(real_fdopen(fd, mode, buffering=0)))
    argv = ["fit", "linear_ica", "--data", str(data), "--out", str(tmp_path / "m.pt"), "--param", "latent_dim=2"]
    assert main(argv) == 130
    assert capsys.readouterr().err == "causalrep fit: interrupted\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["extrapolate", "--model", "{d}/r.pt", "--grid=0:1:10000000000"],
            r"--grid asks for 10000000000 points; at most 1000000",
        ),
        (
            [
                "simulate",
                "ahuja2023",
                "--out",
                "{d}",
                "--param",
                "latent_dim=2",
                "--param",
                "obs_dim=6",
                "--param",
                "n_obs=20",
                "--param",
                "n_int=20",
            ],
            r"cannot save to .*: it is a folder",
        ),
    ],
)
def test_cli_refuses_huge_grids_and_unwritable_outputs(tmp_path, capsys, argv, message):
    data = simulators.rep4ex(n=100, latent_dim=1, action_dim=1, obs_dim=4, seed=0)
    Rep4Ex(latent_dim=1, max_steps=5, hidden=(8,), n_centers=10, verbose=0, n_bootstrap=0).fit(data).save(
        tmp_path / "r.pt"
    )
    assert main([a.replace("{d}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert re.search(message, err), err


CLI_CASES = [
    (
        "non-finite",
        "nan-in-data-file",
        ["check", "--data", "{d}/nan.npz", "--model", "{d}/ica.pt"],
        r"--data: invalid contents in data file .*nan\.npz: X contains 1 non-finite",
    ),
    (
        "non-finite",
        "nan-in-actions-csv",
        ["extrapolate", "--model", "{d}/rep4ex.pt", "--actions", "{d}/nan.csv"],
        r"--actions .*nan\.csv must hold at least one row of finite numbers",
    ),
    (
        "non-finite",
        "nan-in-grid",
        ["extrapolate", "--model", "{d}/rep4ex.pt", "--grid=nan:1:3"],
        r"--grid expects LO:HI:N with finite LO, HI and an int N >= 1, got 'nan:1:3'",
    ),
    (
        "ndim",
        "X-1d-in-data-file",
        ["fit", "linear_ica", "--data", "{d}/flat.npz", "--out", "{d}/m.pt", "--param", "latent_dim=1"],
        r"--data: invalid contents .*flat\.npz: X must be 2-dimensional",
    ),
    (
        "ndim",
        "actions-csv-too-wide",
        ["extrapolate", "--model", "{d}/rep4ex.pt", "--actions", "{d}/wide.csv"],
        r"--actions .*wide\.csv has 3 column\(s\) but the model takes 1 action\(s\)",
    ),
    (
        "dtype",
        "complex-X-in-data-file",
        ["check", "--data", "{d}/complex.npz", "--model", "{d}/ica.pt"],
        r"--data: invalid contents .*: X must be real, got dtype complex128",
    ),
    (
        "dtype",
        "words-in-actions-csv",
        ["extrapolate", "--model", "{d}/rep4ex.pt", "--actions", "{d}/words.csv"],
        r"--actions expects a CSV file of numbers, .*words\.csv is not one",
    ),
    (
        "dtype",
        "latent_dim-not-a-number",
        ["fit", "autoencoder", "--data", "{d}/data.npz", "--out", "{d}/m.pt", "--param", "latent_dim=two"],
        r"latent_dim must be an int >= 1, got 'two' \(a str\)",
    ),
    (
        "empty",
        "empty-X-in-data-file",
        ["check", "--data", "{d}/empty.npz", "--model", "{d}/ica.pt"],
        r"--data: invalid contents .*empty\.npz: X is empty",
    ),
    (
        "empty",
        "empty-actions-csv",
        ["extrapolate", "--model", "{d}/rep4ex.pt", "--actions", "{d}/empty.csv"],
        r"--actions .*empty\.csv must hold at least one row of finite numbers",
    ),
    (
        "empty",
        "grid-of-zero-points",
        ["extrapolate", "--model", "{d}/rep4ex.pt", "--grid=0:1:0"],
        r"--grid expects LO:HI:N .*got '0:1:0'",
    ),
    (
        "single",
        "one-sample-data-file",
        ["fit", "linear_ica", "--data", "{d}/one.npz", "--out", "{d}/m.pt"],
        r"LinearICA\.fit needs at least 2 samples, data has 1",
    ),
    (
        "targets",
        "target-outside-latent_dim",
        ["fit", "interventional", "--data", "{d}/unknown_target.npz", "--out", "{d}/m.pt", "--param", "latent_dim=2"],
        r"regime 1 targets latent\(s\) \[5\], outside range\(latent_dim=2\)",
    ),
    (
        "latent_dim",
        "latent_dim-0",
        ["fit", "autoencoder", "--data", "{d}/data.npz", "--out", "{d}/m.pt", "--param", "latent_dim=0"],
        r"latent_dim must be an int >= 1, got 0",
    ),
    (
        "latent_dim",
        "latent_dim-above-dim_x",
        ["fit", "autoencoder", "--data", "{d}/data.npz", "--out", "{d}/m.pt", "--param", "latent_dim=99"],
        r"latent_dim=99 is larger than the observation dimension dim_x=6",
    ),
    *[
        (
            "hyperparameters",
            f"{param}",
            ["fit", "interventional", "--data", "{d}/data.npz", "--out", "{d}/m.pt", "--param", param],
            message,
        )
        for param, message in [
            ("lr=-1", r"lr must be a number > 0, got -1"),
            ("batch_size=0", r"batch_size must be an int >= 1, got 0"),
            ("decoder=spline", r"decoder must be one of 'polynomial', 'mlp', got 'spline'"),
            ("hidden=16", r"hidden must be a sequence of positive ints, got 16"),
            (
                "lr_rate=0.1",
                r"bad interventional parameter: .*unexpected keyword argument "
                r"'lr_rate'",
            ),
        ]
    ],
    (
        "hyperparameters",
        "device-for-a-cpu-method",
        ["fit", "linear_ica", "--data", "{d}/data.npz", "--out", "{d}/m.pt", "--device", "cuda"],
        r"--device: linear_ica runs on the CPU only, got 'cuda'",
    ),
    (
        "hyperparameters",
        "blocks-not-json",
        ["check", "--data", "{d}/data.npz", "--model", "{d}/ica.pt", "--up-to", "block", "--blocks", "[[0,"],
        r"--blocks expects a JSON list of blocks such as",
    ),
    (
        "dim_x",
        "data-of-another-width",
        ["check", "--data", "{d}/narrow.npz", "--model", "{d}/ica.pt"],
        r"--data .*narrow\.npz does not fit --model .*ica\.pt: X has 4 features, but LinearICA "
        r"is expecting 6 features as input",
    ),
    (
        "files",
        "data-is-a-folder",
        ["check", "--data", "{d}/folder", "--model", "{d}/ica.pt"],
        r"--data: cannot read data file .*folder",
    ),
    (
        "files",
        "checkpoint-as-data",
        ["check", "--data", "{d}/ica.pt", "--model", "{d}/ica.pt"],
        r"--data: .*ica\.pt is not an InterventionalData file: unexpected member",
    ),
    (
        "files",
        "data-as-checkpoint",
        ["check", "--data", "{d}/data.npz", "--model", "{d}/data.npz"],
        r"--model: cannot read checkpoint",
    ),
    (
        "files",
        "absent-model",
        ["extrapolate", "--model", "{d}/absent.pt", "--grid=0:1:2"],
        r"--model: no such checkpoint: .*absent\.pt",
    ),
    (
        "files",
        "model-that-cannot-extrapolate",
        ["extrapolate", "--model", "{d}/ica.pt", "--grid=0:1:2"],
        r"--model: .*ica\.pt holds a LinearICA, which cannot extrapolate",
    ),
    (
        "files",
        "data-without-Z-for-check",
        ["check", "--data", "{d}/unknown_target.npz", "--model", "{d}/ica.pt"],
        r"--data: .*unknown_target\.npz has no true latents Z to check against",
    ),
    (
        "files",
        "out-into-missing-folder",
        [
            "simulate",
            "ahuja2023",
            "--out",
            "{d}/absent/d.npz",
            "--param",
            "latent_dim=2",
            "--param",
            "obs_dim=6",
            "--param",
            "n_obs=20",
            "--param",
            "n_int=20",
        ],
        r"cannot save to .*d\.npz: folder .*absent does not exist",
    ),
    (
        "files",
        "model-out-into-missing-folder",
        ["fit", "linear_ica", "--data", "{d}/data.npz", "--out", "{d}/absent/m.pt"],
        r"cannot save to .*m\.pt: folder .*absent does not exist",
    ),
    (
        "scale",
        "data-beyond-float64",
        ["fit", "autoencoder", "--data", "{d}/huge.npz", "--out", "{d}/m.pt"],
        r"X column \d+ has values up to .* in magnitude; Autoencoder accepts magnitudes up to",
    ),
    (
        "divergence",
        "learning-rate-that-diverges",
        [
            "fit",
            "autoencoder",
            "--data",
            "{d}/data.npz",
            "--out",
            "{d}/m.pt",
            "--param",
            "lr=1e30",
            "--param",
            "hidden=[8]",
            "--param",
            "max_steps=20",
            "--param",
            "verbose=0",
        ],
        r"loss term 'reconstruction' became non-finite \(nan\) at epoch \d+",
    ),
]


@pytest.mark.parametrize(
    ("argv", "message"), [pytest.param(argv, message, id=f"{row}:{name}") for row, name, argv, message in CLI_CASES]
)
def test_cli_bad_input_is_one_line_and_exit_2(catalogue, capsys, argv, message):
    argv = [a.replace("{d}", str(catalogue.dir)) for a in argv]
    code = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 2, captured
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"causalrep {argv[0]}: error: "), lines
    assert re.search(message, lines[0]), lines[0]
    assert not (catalogue.dir / "m.pt").exists()


def test_cli_linear_ica_fits_without_a_device(catalogue, tmp_path):
    assert (
        main(
            [
                "fit",
                "linear_ica",
                "--data",
                str(catalogue.dir / "data.npz"),
                "--out",
                str(tmp_path / "ica.pt"),
                "--param",
                "latent_dim=2",
            ]
        )
        == 0
    )
    np.testing.assert_allclose(
        causalrep.load(tmp_path / "ica.pt").transform(catalogue.data.X), catalogue.ica.transform(catalogue.data.X)
    )
