"""What the command line reads and prints: negative values after an option, CSV with a
header row, and ``--format json`` wherever a table is printed.

The model and the sweep are stand-ins, so these tests check the command line alone; the
chains with real estimators are in test_cli.py.
"""

import csv
import functools
import io
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from causalrep import InterventionalData, bench, estimators
from causalrep.cli import _parser, main


class _Curve:
    """Stands in for a fitted Rep4Ex without refits: E[Y | do(A=a)] = sum of a, coverage 1
    inside [-1, 1]^k, else 0."""

    def __init__(self, action_dim):
        self.dims_ = {"action_dim": action_dim}

    def predict_interventional(self, a, interval=None):
        assert interval is None  # no refits, no band
        return np.asarray(a).sum(axis=1)

    def extrapolation_coverage(self, a):
        return np.all(np.abs(a) <= 1, axis=1).astype(float)

    def transform(self, X):
        return np.asarray(X)


@pytest.fixture
def curve(monkeypatch):
    monkeypatch.setattr(estimators, "load", lambda path: _Curve(2))


def _csv(text):
    return list(csv.DictReader(io.StringIO(text)))


@functools.cache
def _the_parser():
    return _parser()


def test_a_negative_range_is_the_value_of_grid(curve, capsys):
    assert main(["extrapolate", "--model", "m.pt", "--grid", "-3:3:7"]) == 0
    spaced = capsys.readouterr().out
    assert main(["extrapolate", "--model", "m.pt", "--grid=-3:3:7"]) == 0
    assert capsys.readouterr().out == spaced
    rows = _csv(spaced)
    assert [float(r["a_0"]) for r in rows] == [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]
    assert [float(r["prediction"]) for r in rows] == [-6.0, -4.0, -2.0, 0.0, 2.0, 4.0, 6.0]
    assert main(["extrapolate", "--model", "m.pt", "--grid", "-.5:-.25:2"]) == 0
    assert [float(r["a_1"]) for r in _csv(capsys.readouterr().out)] == [-0.5, -0.25]


@given(
    low=st.floats(allow_nan=False, allow_infinity=False),
    high=st.floats(allow_nan=False, allow_infinity=False),
    count=st.integers(1, 10**6),
)
def test_any_range_is_read_as_a_value(low, high, count):
    spec = f"{low!r}:{high!r}:{count}"
    assert _the_parser().parse_args(["extrapolate", "--model", "m.pt", "--grid", spec]).grid == spec


def test_negative_numbers_are_values_of_any_option():
    args = _parser().parse_args(["bench", "smoke", "--seeds", "-1", "-2", "3"])
    assert args.seeds == [-1, -2, 3]
    args = _parser().parse_args(["simulate", "ahuja2023", "--out", "d.npz", "--test-fraction", "-0.5"])
    assert args.test_fraction == -0.5
    with pytest.raises(SystemExit):  # an option name after an option is still not its value
        _parser().parse_args(["extrapolate", "--model", "--grid", "0:1:2"])


def test_extrapolate_prints_csv_with_a_header_row(curve, capsys, tmp_path):
    actions = tmp_path / "a.csv"
    actions.write_text("0.5,0.25\n-2,1\n")
    assert main(["extrapolate", "--model", "m.pt", "--actions", str(actions)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "a_0,a_1,prediction,coverage"
    assert _csv(out) == [
        {"a_0": "0.5", "a_1": "0.25", "prediction": "0.75", "coverage": "1"},
        {"a_0": "-2", "a_1": "1", "prediction": "-1", "coverage": "0"},
    ]


def test_extrapolate_json_holds_the_csv_rows(curve, capsys):
    assert main(["extrapolate", "--model", "m.pt", "--grid", "-1.5:1.5:4"]) == 0
    rows = _csv(capsys.readouterr().out)
    assert main(["extrapolate", "--model", "m.pt", "--grid", "-1.5:1.5:4", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [list(r) for r in records] == [["a_0", "a_1", "prediction", "coverage"]] * 4
    for record, row in zip(records, rows, strict=True):
        assert {k: pytest.approx(float(v), rel=1e-5) for k, v in row.items()} == record


def test_check_format_json_is_the_json_flag(monkeypatch, capsys, tmp_path):
    z = np.random.default_rng(0).normal(size=(200, 2))
    InterventionalData(X=z, Z=z).save(tmp_path / "d.npz")
    monkeypatch.setattr(estimators, "load", lambda path: _Curve(2))
    command = ["check", "--data", str(tmp_path / "d.npz"), "--model", "m.pt"]
    assert main(command + ["--format", "json"]) == 0
    report = capsys.readouterr().out
    assert main(command + ["--json"]) == 0
    assert capsys.readouterr().out == report
    assert json.loads(report)["passed"] is True
    assert main(command) == 0
    assert "identifiability up to permutation: PASSED" in capsys.readouterr().out


RECORDS = [
    {"setting": "s", "method": "m", "status": "ok", "mcc": 0.9, "affine_r2": 0.8, "fit_seconds": 1.0}
    | {"permutation_passed": False, "affine_passed": True, "error": None},
    {"setting": "s", "method": "m", "status": "ok", "mcc": 0.7, "affine_r2": 1.0, "fit_seconds": 3.0}
    | {"permutation_passed": False, "affine_passed": True, "error": None},
    {"setting": "s", "method": "broken", "status": "error", "mcc": None, "affine_r2": None}
    | {"permutation_passed": None, "affine_passed": None, "error": "ValueError: bad, really"},
]


@pytest.fixture
def sweep(monkeypatch):
    def main_args(suite, engine, address, seeds, out):
        bench.write_json(RECORDS, f"{out}/results.json")
        return bench.markdown_table(RECORDS)

    monkeypatch.setattr(bench, "main_args", main_args)


def test_bench_prints_its_table_as_markdown_csv_or_json(sweep, capsys, tmp_path):
    command = ["bench", "smoke", "--out", str(tmp_path)]
    assert main(command) == 0
    assert capsys.readouterr().out == bench.markdown_table(RECORDS)
    assert main(command + ["--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == ",".join(bench.SUMMARY_FIELDS)
    good, broken = _csv(out)
    assert (good["runs"], good["mcc_mean"], good["affine_passed"], good["first_error"]) == ("2", "0.8", "2", "")
    assert (broken["mcc_mean"], broken["failed"], broken["first_error"]) == ("", "1", "ValueError: bad, really")
    assert main(command + ["--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == bench.summarize(RECORDS)
