"""The command line as a user meets it: version, generated help, warnings,
progress lines, one-line errors, checks on a held-out split."""

import inspect
import json
import warnings

import numpy as np
import pytest

import causalrep
from causalrep import InterventionalData
from causalrep.cli import _console, _methods, _settings, main


def _help(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def test_version(capsys):
    assert _help(capsys, ["--version"]).strip() == f"causalrep {causalrep.__version__}"


@pytest.mark.parametrize(
    ("command", "factories", "skip"), [("fit", _methods(), {"device"}), ("simulate", _settings(), {"seed"})]
)
def test_help_lists_every_parameter_with_its_default(capsys, command, factories, skip):
    out = _help(capsys, [command, "--help"])
    for name, factory in factories.items():
        assert f"\n  {name}: {inspect.getdoc(factory).splitlines()[0]}" in out
        for param in inspect.signature(factory).parameters.values():
            if param.name in skip:
                continue
            if param.default == "deprecated":  # a former name
                assert f"\n    {param.name}=" not in out
                continue
            shown = " (required)" if param.default is param.empty else "=" + json.dumps(param.default)
            assert f"\n    {param.name}{shown}" in out, (name, param.name)


def test_help_describes_parameters_from_docstrings(capsys):
    out = _help(capsys, ["fit", "--help"])
    assert 'decoder="polynomial"      "polynomial" (affine identification' in out
    assert 'n_threads="auto"' in out
    assert "leave torch's setting" in out
    assert "latent_dim=6              d." in _help(capsys, ["simulate", "--help"])


def test_warnings_are_one_short_line(capsys):
    with _console():
        warnings.warn("variance ratio 0.12345678901234567 is\n  large", UserWarning, stacklevel=1)
    err = capsys.readouterr().err
    assert err == "causalrep: warning: variance ratio 0.123 is large (UserWarning)\n"


def test_usage_errors_are_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "no_such_method", "--data", "d.npz", "--out", "m.pt"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.count("\n") == 1
    assert err.startswith(
        "causalrep fit: error: argument method: unknown estimator 'no_such_method'; choose from ['autoencoder', "
    )


def test_up_to_block_without_blocks_suggests_the_flag(capsys):
    assert main(["check", "--data", "d.npz", "--model", "m.pt", "--up-to", "block"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--up-to block needs --blocks" in err


def test_held_out_chain_says_which_split_was_scored(tmp_path, capsys):
    train, test, model = (tmp_path / name for name in ("train.npz", "test.npz", "model.pt"))
    assert (
        main(
            [
                "simulate",
                "ahuja2023",
                "--out",
                str(train),
                "--test-out",
                str(test),
                "--param",
                "latent_dim=2",
                "--param",
                "obs_dim=8",
                "--param",
                "n_obs=200",
                "--param",
                "n_int=200",
            ]
        )
        == 0
    )
    parts = InterventionalData.load(train), InterventionalData.load(test)
    assert [p.n for p in parts] == [300, 100]
    assert [p.meta["split"] for p in parts] == ["train", "test"]
    assert not set(map(bytes, parts[0].X)) & set(map(bytes, parts[1].X))
    capsys.readouterr()
    assert (
        main(
            [
                "fit",
                "interventional",
                "--data",
                str(train),
                "--out",
                str(model),
                "--param",
                "max_steps=20",
                "--param",
                "hidden=[8]",
                "--param",
                "restarts=1",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "InterventionalCRL: exact stage 1" in err
    assert "stage 1 done" in err
    main(["check", "--data", str(test), "--model", str(model)])
    assert "scored on the held-out test split in" in capsys.readouterr().out
    main(["check", "--data", str(train), "--model", str(model), "--json"])
    scored = json.loads(capsys.readouterr().out)["scored_on"]
    assert scored["split"] == "train"
    assert scored["n"] == 300
    assert "in sample" in scored["text"]


def test_check_on_unsplit_file_says_so(tmp_path, capsys):
    rng = np.random.default_rng(0)
    data, model = tmp_path / "data.npz", tmp_path / "model.pt"
    InterventionalData(X=rng.normal(size=(100, 3)), Z=rng.normal(size=(100, 1))).save(data)
    assert main(["fit", "linear_ica", "--data", str(data), "--out", str(model)]) == 0
    main(["check", "--data", str(data), "--model", str(model)])
    assert "scored on all 100 samples of" in capsys.readouterr().out
