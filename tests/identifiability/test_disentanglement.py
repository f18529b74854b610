import doctest
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import mutual_info_score

from causalrep.identifiability import (
    check,
    disentanglement,
    infomec,
    mig,
    modularity_explicitness,
    mutual_information,
    sap,
)
from causalrep.identifiability._core import split_parts
from causalrep.testing.maps import latent_samples, permutation_scalings

PROPERTY = settings(max_examples=8, deadline=None)
N = 800


def _scores(z, z_hat):
    """Every score of the module, as a flat dict."""
    me = modularity_explicitness(z, z_hat)
    info = infomec(z, z_hat)
    return {
        "mig": mig(z, z_hat).score,
        "sap": sap(z, z_hat).score,
        "modularity": me.modularity,
        "explicitness": me.explicitness,
        "infom": info.infom,
        "infoe": info.infoe,
        "infoc": info.infoc,
    }


LATENTS_AND_MAP = st.integers(2, 4).flatmap(lambda d: st.tuples(latent_samples(d, N), permutation_scalings(d)))


@PROPERTY
@given(LATENTS_AND_MAP)
def test_a_permuted_rescaled_copy_scores_high(drawn):
    z, perm_scale = drawn
    scores = _scores(z, perm_scale(z))
    assert scores["explicitness"] > 0.9, scores
    assert scores["infoe"] > 0.6, scores
    for name in ("mig", "sap", "modularity", "infom", "infoc"):
        assert scores[name] > 0.95, (name, scores)


@PROPERTY
@given(LATENTS_AND_MAP, st.integers(0, 2**31))
def test_an_independent_code_scores_low(drawn, seed):
    z, _ = drawn
    z_hat = np.random.default_rng(seed).normal(size=z.shape)
    scores = _scores(z, z_hat)
    assert abs(scores["explicitness"] - 0.5) < 0.1, scores
    assert abs(scores["infoe"]) < 0.1, scores
    for name in ("mig", "sap", "modularity", "infom", "infoc"):
        assert scores[name] < 0.1, (name, scores)


@PROPERTY
@given(LATENTS_AND_MAP)
def test_information_scores_do_not_change_when_codes_are_permuted_and_rescaled(drawn):
    z, perm_scale = drawn
    z_hat = z @ np.random.default_rng(0).normal(size=(z.shape[1], z.shape[1]))
    base, moved = mutual_information(z, z_hat), mutual_information(z, perm_scale(z_hat))
    order = list(perm_scale.permutation)
    np.testing.assert_allclose(moved.mi[order], base.mi, atol=1e-6)
    assert mig(z, perm_scale(z_hat)).score == pytest.approx(mig(z, z_hat).score, abs=1e-6)
    assert sap(z, perm_scale(z_hat)).score == pytest.approx(sap(z, z_hat).score, abs=1e-9)


def test_mutual_information_estimates_a_gaussian_pair_and_bins_agree_with_sklearn():
    rng = np.random.default_rng(0)
    rho = 0.8
    z = rng.normal(size=(4000, 1))
    code = rho * z + np.sqrt(1 - rho**2) * rng.normal(size=(4000, 1))
    assert mutual_information(z, code).mi[0, 0] == pytest.approx(-0.5 * np.log(1 - rho**2), abs=0.03)
    binned = mutual_information(z, code, bins=8)
    labels = [disentanglement._equal_frequency(a, 8)[:, 0] for a in (z, code)]
    assert binned.mi[0, 0] == pytest.approx(mutual_info_score(*labels))
    assert binned.normaliser[0] == pytest.approx(np.log(8), abs=1e-3)


def test_scores_agree_with_straightforward_reference_computations():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(600, 3))
    z_hat = np.c_[z @ rng.normal(size=(3, 2)), rng.normal(size=600)]
    info = mutual_information(z, z_hat)
    nmi = info.nmi
    gaps = [np.subtract(*sorted(nmi[:, i])[:-3:-1]) for i in range(3)]
    assert mig(z, z_hat).score == pytest.approx(np.mean(gaps))

    parts = split_parts(z, z_hat, 0.5, 0)
    r2 = np.empty((3, 3))
    for j in range(3):
        for i in range(3):
            slope, offset = np.polyfit(parts.fit_hat[:, j], parts.fit_true[:, i], 1)
            residual = parts.score_true[:, i] - (slope * parts.score_hat[:, j] + offset)
            total = parts.score_true[:, i] - parts.score_true[:, i].mean()
            r2[j, i] = max(0.0, 1 - residual @ residual / (total @ total))
    result = sap(z, z_hat)
    np.testing.assert_allclose(result.r2, r2, atol=1e-9)
    assert result.score == pytest.approx(np.mean(np.sort(r2, axis=0)[-1] - np.sort(r2, axis=0)[-2]))

    me = modularity_explicitness(z, z_hat)
    mi = me.information.mi
    expected = []
    for j in range(3):
        if me.information.nmi[j].max() < disentanglement.INFORMATION_FLOOR:
            expected.append(0.0)
            continue
        top = mi[j].argmax()
        deviation = sum(mi[j, i] ** 2 for i in range(3) if i != top)
        expected.append(1 - deviation / (mi[j, top] ** 2 * 2))
    np.testing.assert_allclose(me.per_code_modularity, expected)

    result = infomec(z, z_hat)
    active = result.active
    pruned = result.information.nmi.T[:, active]
    k = pruned.shape[1]
    infom = (np.mean([pruned[:, j].max() / pruned[:, j].sum() for j in range(k)]) - 1 / 3) / (2 / 3)
    # A factor no active code informs counts as chance (1 / k), not NaN.
    ratios = [pruned[i].max() / pruned[i].sum() if pruned[i].sum() > 0 else 1 / k for i in range(3)]
    infoc = (np.mean(ratios) - 1 / k) / (1 - 1 / k)
    assert (result.infom, result.infoc) == pytest.approx((infom, infoc))


def test_check_reports_every_score_on_request():
    z = np.random.default_rng(0).normal(size=(1000, 3))
    report = check(z, 2 * z[:, [2, 0, 1]], disentanglement=True)
    scores = report.disentanglement
    assert scores.mig > 0.95
    assert scores.sap > 0.99
    assert scores.amari < 1e-6
    assert "infom" in report.summary()
    assert "mig" in report.summary()
    assert json.loads(json.dumps(report.to_dict()))["disentanglement"]["infoe"] > 0.6
    assert check(z, z).disentanglement is None


def test_bad_input_raises_clear_errors():
    z = np.random.default_rng(0).normal(size=(200, 2))
    with pytest.raises(ValueError, match=r"^bins must be an int >= 2 or None, got 1$"):
        mig(z, z, bins=1)
    with pytest.raises(ValueError, match="at least 2 codes"):
        sap(z, z[:, :1])
    with pytest.raises(ValueError, match="at least 2 true latents"):
        infomec(z[:, :1], z)
    with pytest.raises(ValueError, match="same number of samples"):
        mig(z, z[:100])


def test_docstring_examples():
    assert doctest.testmod(disentanglement, extraglobs={"np": np}).failed == 0


def test_cli_check_prints_the_scores_with_metrics(tmp_path, capsys):
    from causalrep import InterventionalData
    from causalrep.cli import main

    rng = np.random.default_rng(0)
    data, model = tmp_path / "data.npz", tmp_path / "model.pt"
    Z = rng.normal(size=(400, 2))
    InterventionalData(X=Z @ rng.normal(size=(2, 6)), Z=Z).save(data)
    assert main(
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
    ) in (0, 1)
    capsys.readouterr()
    main(["check", "--data", str(data), "--model", str(model), "--metrics"])
    out = capsys.readouterr().out
    assert "disentanglement: mig" in out
    assert "infoc" in out
    assert "latent graph" not in out
