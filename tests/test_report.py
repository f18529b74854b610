import json

import numpy as np
import pytest

from causalrep.identifiability import (
    DEFAULT_THRESHOLDS,
    UP_TO,
    Report,
    assert_identified,
    check,
)
from causalrep.testing.assertions import assert_not_identified


@pytest.fixture
def latents():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(1000, 3))
    return z, -2 * z[:, [2, 0, 1]] + 1, rng.normal(size=(1000, 3))


def test_report_holds_every_number(latents):
    z, z_hat, _ = latents
    report = check(z, z_hat, blocks=[(0, 1), (2,)])
    assert isinstance(report, Report) and report.passed
    assert report.matching == (1, 2, 0) == report.mcc.matching
    assert report.permutation.matching == report.matching
    assert report.affine.mean == pytest.approx(1.0)
    assert report.block.per_block.shape == (2,)
    assert [c.name for c in report.criteria] == ["mcc", "min_r2"]
    assert dict(report.thresholds) == dict(DEFAULT_THRESHOLDS["permutation"])
    assert check(z, z_hat).block is None


def test_defaults_are_documented_constants():
    assert UP_TO == ("permutation", "scaling", "affine", "block")
    assert dict(DEFAULT_THRESHOLDS["permutation"]) == {"mcc": 0.95, "min_r2": 0.9}
    assert dict(DEFAULT_THRESHOLDS["affine"]) == {"mean_r2": 0.95, "min_r2": 0.9}
    assert dict(DEFAULT_THRESHOLDS["block"]) == {"block_r2": 0.9}
    with pytest.raises(TypeError):
        DEFAULT_THRESHOLDS["affine"]["mean_r2"] = 0.0


def test_scaling_needs_the_identity_matching(latents):
    z, z_hat, _ = latents
    permuted = check(z, z_hat, up_to="scaling")
    assert not permuted.passed
    assert permuted.criteria[-1].name == "identity"
    assert check(z, 3 * z - 1, up_to="scaling").passed


def test_summary_and_to_dict(latents):
    z, z_hat, noise = latents
    passed = check(z, z_hat, up_to="affine", blocks=[(0, 1), (2,)])
    text = passed.summary()
    assert "PASSED" in text and "mean_r2" in text and "(0, 1)" in text
    failed = check(z, noise)
    assert "FAILED" in failed.summary() and "FAIL" in failed.summary().splitlines()[3]
    assert "in sample" in check(z, z_hat, test_fraction=0).summary()
    payload = json.loads(json.dumps(passed.to_dict()))
    assert payload["passed"] is True and payload["matching"] == [1, 2, 0]
    assert payload["block"]["assignment"] == [[1, 2], [0]]
    assert isinstance(payload["mcc"]["score"], float)


def test_threshold_overrides(latents):
    z, _, noise = latents
    weak = 0.5 * z + noise
    assert not check(z, weak).passed
    assert check(z, weak, threshold={"mcc": 0.3, "min_r2": 0.1}).passed
    assert check(z, weak, threshold=0.3).thresholds["mcc"] == 0.3
    with pytest.raises(ValueError, match="unknown thresholds.*choose from"):
        check(z, weak, threshold={"mean_r2": 0.5})
    with pytest.raises(ValueError, match="finite number"):
        check(z, weak, threshold={"mcc": float("nan")})
    with pytest.raises(ValueError, match="mapping"):
        check(z, weak, threshold="high")


def test_bad_up_to_and_missing_blocks(latents):
    z, z_hat, _ = latents
    with pytest.raises(ValueError, match="permutation.*scaling.*affine.*block"):
        check(z, z_hat, up_to="rotation")
    with pytest.raises(ValueError, match="needs blocks"):
        check(z, z_hat, up_to="block")


def test_assert_identified(latents):
    z, z_hat, noise = latents
    assert assert_identified(z, z_hat).passed
    with pytest.raises(AssertionError, match="up to permutation: FAILED"):
        assert_identified(z, noise)
    assert assert_identified(z, 0.5 * z + noise, mcc=0.3, min_r2=0.1).passed
    assert not assert_not_identified(z, noise, up_to="affine").passed
    with pytest.raises(AssertionError, match="expected identification to fail"):
        assert_not_identified(z, z_hat)


def test_generator_seed_gives_one_split(latents):
    z, z_hat, _ = latents
    report = check(z, z_hat, seed=np.random.default_rng(7))
    assert report.mcc.n_fit == report.affine.n_fit == report.permutation.n_fit == 500


def test_plot_saves_a_figure_without_display(latents, tmp_path):
    pytest.importorskip("matplotlib")
    z, z_hat, _ = latents
    report = check(np.c_[z, z[:, 0] ** 3], np.c_[z_hat, z[:, 0] ** 3])
    path = tmp_path / "report.png"
    fig = report.plot(path)
    assert path.stat().st_size > 0
    assert len([ax for ax in fig.axes if ax.axison]) == 4
    assert report.plot_true.shape == (500, 4) and report.plot_hat.shape == (500, 4)


def test_plot_keeps_at_most_plot_points():
    z = np.random.default_rng(0).normal(size=(6000, 2))
    report = check(z, z)
    assert report.plot_true.shape == (2000, 2)
    np.testing.assert_array_equal(report.plot_true, report.plot_hat)
