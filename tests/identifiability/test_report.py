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
    assert isinstance(report, Report)
    assert report.passed
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
    assert "PASSED" in text
    assert "mean_r2" in text
    assert "(0, 1)" in text
    failed = check(z, noise)
    assert "FAILED" in failed.summary()
    assert "FAIL" in failed.summary().splitlines()[3]
    assert "in sample" in check(z, z_hat, test_fraction=0).summary()
    payload = json.loads(json.dumps(passed.to_dict()))
    assert payload["passed"] is True
    assert payload["matching"] == [1, 2, 0]
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
    for value in (float("nan"), 2, -0.1, "0.9", None):  # 2 used to be accepted, failing even a perfect estimate
        with pytest.raises(ValueError, match=r"^threshold mcc must be a number in \[0, 1\], got "):
            check(z, weak, threshold={"mcc": value})
    with pytest.raises(ValueError, match=r"^threshold min_r2 must be a number in \[0, 1\], got 1.5"):
        assert_identified(z, weak, min_r2=1.5)
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
    assert report.plot_true.shape == (500, 4)
    assert report.plot_hat.shape == (500, 4)


def test_plot_keeps_at_most_plot_points():
    z = np.random.default_rng(0).normal(size=(6000, 2))
    report = check(z, z)
    assert report.plot_true.shape == (2000, 2)
    np.testing.assert_array_equal(report.plot_true, report.plot_hat)


@pytest.mark.parametrize(
    ("up_to", "rule", "limit"), [("permutation", "R2", 0.9), ("affine", "affine R2", 0.9), ("block", "block R2", 0.9)]
)
def test_plot_names_criterion_threshold_samples_and_verdict_per_panel(latents, up_to, rule, limit):
    pytest.importorskip("matplotlib")
    z, z_hat, noise = latents
    z_hat = np.c_[z_hat[:, :2], noise[:, 0]]  # latent 1 (in coordinate 2) is lost
    report = check(z, z_hat, up_to=up_to, blocks=[(0,), (1,), (2,)])
    fig = report.plot()
    titles = [ax.get_title() for ax in fig.axes if ax.axison]
    header = fig._suptitle.get_text()
    assert header.startswith(f"identifiability up to {up_to}: failed\n")
    for criterion in report.criteria:
        assert f"{criterion.name} {criterion.value:.3f}, threshold {criterion.threshold:.3g}" in header.replace(
            "\n", " "
        )
    assert "scored on 500 held-out samples (map fit on 500)" in header.replace("\n", " ")
    assert len(titles) == 3
    assert all(f"{rule} = " in t and f"threshold {limit:.3g}: " in t for t in titles)
    assert [t.endswith(": ok") for t in titles] == [True, False, True]


def test_plot_says_in_sample():
    pytest.importorskip("matplotlib")
    z = np.random.default_rng(0).normal(size=(300, 2))
    header = check(z, z, test_fraction=0).plot()._suptitle.get_text()
    assert "in sample, 300 samples" in header
    assert "passed" in header
