"""Every score of causalrep.identifiability is free of the inputs' units and stays in its range.

Multiplying either argument by any positive number from 1e-150 to 1e150 (and 1e200
where the issue met it) leaves every score as it was at unit scale; every normalised
score lies in [0, 1] (R2 at most 1); no score is NaN and none warns of overflow. Each
score computes in float64 on columns standardised over all rows before anything else.
"""

import functools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causalrep.identifiability import (
    affine_r2,
    amari_distance,
    block_r2,
    check,
    dci,
    infomec,
    mcc,
    mig,
    modularity_explicitness,
    mutual_information,
    permutation_scaling_r2,
    sap,
)

PROPERTY = settings(max_examples=10, deadline=None, derandomize=True, database=None)
SLOW_PROPERTY = settings(max_examples=5, deadline=None, derandomize=True, database=None)
# Scales spread evenly over the exponents, the extremes and a few non-powers of ten included.
SCALES = st.one_of(
    st.integers(-150, 150).map(lambda e: 10.0**e),
    st.floats(1e-150, 1e150).filter(lambda c: c > 0),
    st.sampled_from([1e-150, 1e150, 1e-16, 1e200, 3.7]),
)


@functools.cache
def _pair(kind, d, n):
    """(z_true, z_hat) at unit scale: a scaled permutation, a noisy one, or independent."""
    rng = np.random.default_rng(d)
    z = rng.laplace(size=(n, d))
    if kind == "perfect":
        z_hat = 2.0 * z[:, ::-1] - 1.0
    elif kind == "noisy":
        z_hat = z[:, ::-1] + 0.5 * rng.normal(size=(n, d))
    else:
        z_hat = rng.normal(size=(n, d))
    return z, z_hat


# name -> (function of (z_true, z_hat) -> {score: value}, lower bound (one for all, or by score), least d)
MOMENT_SCORES = {
    "mcc": (lambda z, e: {"score": mcc(z, e).score}, 0.0, 1),
    "spearman": (lambda z, e: {"score": mcc(z, e, kind="spearman").score}, 0.0, 1),
    "affine_r2": (lambda z, e: {"mean": affine_r2(z, e).mean}, -np.inf, 1),
    "permutation_scaling_r2": (lambda z, e: {"mean": permutation_scaling_r2(z, e).mean}, -np.inf, 1),
    "block_r2": (lambda z, e: {"mean": block_r2(z, e, blocks=[(0, 1)]).mean}, -np.inf, 2),
    "dci": (
        lambda z, e: (lambda r: {"D": r.disentanglement, "C": r.completeness, "I": r.informativeness})(dci(z, e)),
        {"D": 0.0, "C": 0.0, "I": -np.inf},  # I is an R2
        1,
    ),
    "sap": (lambda z, e: {"score": sap(z, e).score}, 0.0, 2),
    "check": (
        lambda z, e: {"mcc": check(z, e).mcc.score, "affine": check(z, e, up_to="affine").affine.mean},
        {"mcc": 0.0, "affine": -np.inf},
        1,
    ),
}
INFORMATION_SCORES = {
    "mutual_information": (lambda z, e: {"nmi": mutual_information(z, e).nmi.max()}, 0.0, 1),
    "mig": (lambda z, e: {"score": mig(z, e).score}, 0.0, 1),
    "mig_binned": (lambda z, e: {"score": mig(z, e, bins=5).score}, 0.0, 1),
    "modularity_explicitness": (
        lambda z, e: (lambda r: {"modularity": r.modularity, "explicitness": r.explicitness})(
            modularity_explicitness(z, e)
        ),
        0.0,
        1,
    ),
    "infomec": (lambda z, e: (lambda r: {"infom": r.infom, "infoe": r.infoe, "infoc": r.infoc})(infomec(z, e)), 0.0, 2),
    "check_disentanglement": (
        lambda z, e: {
            k: v for k, v in check(z, e, disentanglement=True).disentanglement.to_dict().items() if v is not None
        },
        0.0,
        1,
    ),
}


def _quietly(score, z, z_hat):
    """The scores, asserting that no overflow or invalid-value warning was raised on the way."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = score(z, z_hat)
    numeric = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert not numeric, numeric
    return values


def _assert_invariant_and_bounded(table, name, kind, d, scale, side, n, tolerance):
    score, low, least_d = table[name]
    d = max(d, least_d)
    z, z_hat = _pair(kind, d, n)
    unit = _quietly(score, z, z_hat)
    scaled = _quietly(score, z * scale if side != "hat" else z, z_hat * scale if side != "true" else z_hat)
    for key, value in scaled.items():
        assert np.isfinite(value), (name, key, value)
        assert value == pytest.approx(unit[key], abs=tolerance), (name, key, scale, side)
        floor = low[key] if isinstance(low, dict) else low
        assert floor - 1e-12 <= value <= 1 + 1e-12, (name, key, value)


@pytest.mark.parametrize("name", sorted(MOMENT_SCORES))
@PROPERTY
@given(
    kind=st.sampled_from(["perfect", "noisy", "independent"]),
    d=st.integers(1, 3),
    scale=SCALES,
    side=st.sampled_from(["true", "hat", "both"]),
)
def test_moment_scores_are_free_of_scale_and_bounded(name, kind, d, scale, side):
    _assert_invariant_and_bounded(MOMENT_SCORES, name, kind, d, scale, side, n=300, tolerance=1e-9)


@pytest.mark.parametrize("name", sorted(INFORMATION_SCORES))
@SLOW_PROPERTY
@given(
    kind=st.sampled_from(["perfect", "noisy", "independent"]),
    d=st.integers(1, 2),
    scale=SCALES,
    side=st.sampled_from(["true", "hat", "both"]),
)
def test_information_scores_are_free_of_scale_and_bounded(name, kind, d, scale, side):
    """Nearest-neighbour information and linear probes run on standardised columns, and
    the probes' logistic fits are solved to their optimum (to 1e-10), so the scores agree
    to 1e-6 at every scale."""
    _assert_invariant_and_bounded(INFORMATION_SCORES, name, kind, d, scale, side, n=200, tolerance=1e-6)


@pytest.mark.parametrize("name", sorted({**MOMENT_SCORES, **INFORMATION_SCORES}))
@pytest.mark.parametrize(("scale", "side"), [(1e-16, "true"), (1e200, "hat")])
def test_every_score_at_the_scales_that_broke_it(name, scale, side):
    """The catalogue's cases: z_true x 1e-16 gave MIG 1.4e16; z_hat x 1e200 gave MIG,
    SAP, InfoM/E/C and modularity 0, explicitness 0.5 and DCI NaN."""
    table = MOMENT_SCORES if name in MOMENT_SCORES else INFORMATION_SCORES
    _assert_invariant_and_bounded(table, name, "noisy", 2, scale, side, n=200, tolerance=1e-6)


def test_dci_of_a_copy_at_1e200_is_one():
    """dci(z, z * 1e200) gave D = C = 0 (the standard deviations overflowed)."""
    z = np.random.default_rng(0).normal(size=(500, 3))
    for z_true, z_hat in ((z, z * 1e200), (z * 1e200, z), (z * 1e-200, z[:, ::-1])):
        result = dci(z_true, z_hat)
        assert result.disentanglement > 1 - 1e-9
        assert result.completeness > 1 - 1e-9
        assert result.informativeness > 1 - 1e-9


@pytest.mark.parametrize("noise", [0.0, 0.05, 0.3])
def test_one_latent_scores_stay_at_most_one(noise):
    """With one latent, MIG is the normalised information of its single code, which the
    estimator's noise put at 1.07 in `check --metrics`: it is clipped to [0, 1]."""
    rng = np.random.default_rng(3)
    z = rng.normal(size=(400, 1))
    scores = check(z, z + noise * rng.normal(size=z.shape), disentanglement=True).disentanglement
    assert all(0.0 <= v <= 1.0 for v in scores.to_dict().values() if v is not None), scores
    assert 0.0 <= mig(z, z * 1e-300 + 0.0).score <= 1.0


@settings(PROPERTY, max_examples=30)
@given(scale=SCALES, seed=st.integers(0, 5))
def test_amari_distance_is_free_of_scale(scale, seed):
    matrix = np.random.default_rng(seed).normal(size=(3, 3))
    assert amari_distance(matrix * scale) == pytest.approx(amari_distance(matrix), abs=1e-12)
    assert 0.0 <= amari_distance(matrix * scale) <= 1.0


def test_undefined_probes_say_why():
    """A factor whose values are mostly equal falls into one class: explicitness and InfoE
    are undefined for it, said in one ValueError instead of scikit-learn's."""
    rng = np.random.default_rng(0)
    z = np.c_[rng.normal(size=400), (rng.uniform(size=400) < 0.03).astype(float)]
    with pytest.raises(ValueError, match=r"^z_true column 1 falls into a single one of its 10 equal-frequency classes"):
        modularity_explicitness(z, z)
