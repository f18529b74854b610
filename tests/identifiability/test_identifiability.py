import doctest
import importlib
import itertools
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from causalrep.identifiability import _core, affine_r2, block_r2, check, dci, mcc, permutation_scaling_r2
from causalrep.testing.maps import (
    elementwise_monotone_maps,
    invertible_affine_maps,
    latent_samples,
    permutation_scalings,
)

PROPERTY = settings(max_examples=30, deadline=None)
SIZES = st.sampled_from([400, 1000, 2000])
UP_TO_ALL = ("permutation", "scaling", "affine", "block")


def _latents_and(map_strategy, d_min=1, d_max=5):
    """Draw d, then latents of width d and a map of dimension d."""
    return st.tuples(st.integers(d_min, d_max), SIZES).flatmap(
        lambda dn: st.tuples(latent_samples(dn[0], dn[1]), map_strategy(dn[0]))
    )


def _rotate_45(z):
    """Standardise, then rotate the plane of latents 0 and 1 by 45 degrees."""
    z = (z - z.mean(axis=0)) / z.std(axis=0)
    out = z.copy()
    out[:, 0] = (z[:, 0] + z[:, 1]) / np.sqrt(2)
    out[:, 1] = (z[:, 0] - z[:, 1]) / np.sqrt(2)
    return out


def _two_blocks(d):
    cut = max(d // 2, 1)
    blocks = [tuple(range(cut))]
    if cut < d:
        blocks.append(tuple(range(cut, d)))
    return blocks


# Invariances and recoveries (hypothesis)


@PROPERTY
@given(_latents_and(permutation_scalings))
def test_permutation_scaling_is_recovered(case):
    z, g = case
    result = mcc(z, g(z))
    assert result.score >= 0.999
    assert result.matching == g.permutation
    assert permutation_scaling_r2(z, g(z)).per_latent.min() >= 0.999
    report = check(z, g(z), up_to="permutation")
    assert report.passed, report.summary()
    assert report.matching == g.permutation


@PROPERTY
@given(_latents_and(invertible_affine_maps))
def test_invertible_affine_map_is_recovered(case):
    z, g = case
    result = affine_r2(z, g(z))
    assert result.mean >= 0.999
    assert result.per_latent.min() >= 0.999
    report = check(z, g(z), up_to="affine")
    assert report.passed, report.summary()


@PROPERTY
@given(_latents_and(permutation_scalings, d_min=2, d_max=6))
def test_strong_mixing_passes_affine_and_fails_permutation(case):
    z, g = case
    z_hat = g(_rotate_45(z))
    assert check(z, z_hat, up_to="affine").passed
    report = check(z, z_hat, up_to="permutation")
    assert not report.passed
    assert report.permutation.per_latent.min() < 0.7


@PROPERTY
@given(
    st.tuples(st.integers(1, 5), st.integers(0, 2)).flatmap(
        lambda dk: st.tuples(
            st.just(dk[0]),
            latent_samples(2 * dk[0] + dk[1], 400),
            st.integers(0, 2**16),
        )
    )
)
def test_independent_estimate_fails_every_check(case):
    d, samples, seed = case
    z, z_hat = samples[:, :d], samples[:, d:]
    blocks = _two_blocks(z.shape[1])
    for up_to in UP_TO_ALL:
        report = check(z, z_hat, up_to=up_to, blocks=blocks, seed=seed)
        assert not report.passed, report.summary()


@PROPERTY
@given(_latents_and(elementwise_monotone_maps))
def test_monotone_maps_give_rank_scores_one(case):
    z, g = case
    result = mcc(z, g(z), kind="spearman")
    assert result.score >= 0.999
    assert result.matching == g.permutation
    assert permutation_scaling_r2(z, g(z), monotone=True).per_latent.min() >= 0.999


@PROPERTY
@given(
    st.tuples(st.integers(1, 4), st.integers(0, 2**16)).flatmap(
        lambda ds: st.tuples(latent_samples(ds[0], 400), st.just(ds[1]), st.integers(0, ds[0]))
    )
)
def test_scores_ignore_sample_order_in_sample(case):
    z, seed, extra = case
    rng = np.random.default_rng(seed)
    mixed = z @ rng.normal(size=(z.shape[1],) * 2)
    z_hat = np.c_[mixed, rng.normal(size=(len(z), extra))]
    z_hat += 0.5 * rng.normal(size=z_hat.shape)
    order = rng.permutation(len(z))
    for score in _all_scores(z, z_hat, test_fraction=0):
        assert score(z, z_hat) == pytest.approx(score(z[order], z_hat[order]), abs=1e-9)


@PROPERTY
@given(
    st.tuples(st.integers(1, 4), st.integers(0, 2**16)).flatmap(
        lambda ds: st.tuples(latent_samples(ds[0], 600), st.just(ds[1]))
    )
)
def test_scores_ignore_scale_of_estimate(case):
    z, seed = case
    rng = np.random.default_rng(seed)
    z_hat = z @ rng.normal(size=(z.shape[1],) * 2) + 0.5 * rng.normal(size=z.shape)
    scale = rng.choice([-1.0, 1.0], z.shape[1]) * 10.0 ** rng.uniform(-3, 3, z.shape[1])
    for score in _all_scores(z, z_hat, test_fraction=0.5):
        assert score(z, z_hat) == pytest.approx(score(z, z_hat * scale), abs=1e-8)


def _all_scores(z, z_hat, test_fraction):
    blocks = _two_blocks(z.shape[1])
    kw = {"test_fraction": test_fraction, "seed": 3}
    return [
        lambda a, b: mcc(a, b, **kw).score,
        lambda a, b: mcc(a, b, kind="spearman", **kw).score,
        lambda a, b: affine_r2(a, b, **kw).mean,
        lambda a, b: permutation_scaling_r2(a, b, **kw).mean,
        lambda a, b: permutation_scaling_r2(a, b, monotone=True, **kw).mean,
        lambda a, b: block_r2(a, b, blocks, **kw).mean,
        lambda a, b: dci(a, b, **kw).disentanglement,
        lambda a, b: dci(a, b, **kw).completeness,
        lambda a, b: dci(a, b, **kw).informativeness,
    ]


@PROPERTY
@given(
    st.tuples(st.integers(1, 5), st.integers(0, 2), st.integers(0, 2**16)),
)
def test_mcc_matches_brute_force_over_permutations(case):
    d, extra, seed = case
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(300, d))
    k = d + extra
    z_hat = z @ rng.normal(size=(d, k)) + rng.normal(size=(300, k))
    result = mcc(z, z_hat, test_fraction=0)
    corr = np.abs(np.corrcoef(z, z_hat, rowvar=False)[:d, d:])
    np.testing.assert_allclose(result.correlations, corr, atol=1e-12)
    best = max(np.mean(corr[np.arange(d), list(cols)]) for cols in itertools.permutations(range(k), d))
    assert result.score == pytest.approx(best, abs=1e-12)


# mcc


def test_mcc_of_identical_latents_is_one_and_never_above():
    z = np.random.default_rng(0).normal(size=(500, 4)) * 1e6
    result = mcc(z, z, test_fraction=0)
    assert result.score == pytest.approx(1.0, abs=1e-12)
    assert result.correlations.max() <= 1.0
    assert result.score <= 1.0
    assert result.matching == (0, 1, 2, 3)


def test_mcc_with_more_estimated_columns_picks_the_right_ones():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(1000, 3))
    noise = rng.normal(size=(1000, 3))
    z_hat = np.c_[noise[:, :2], z[:, 2], noise[:, 2], -z[:, 0], z[:, 1]]
    result = mcc(z, z_hat)
    assert result.matching == (4, 5, 2)
    assert result.correlations.shape == (3, 6)
    assert result.per_latent.shape == (3,)
    assert result.score == pytest.approx(1.0)


def test_mcc_out_of_sample_is_below_in_sample_for_noise():
    rng = np.random.default_rng(2)
    z, z_hat = rng.normal(size=(100, 3)), rng.normal(size=(100, 20))
    assert mcc(z, z_hat).score < mcc(z, z_hat, test_fraction=0).score


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(400, 2))
    rounded = np.round(z[:, 1] + rng.normal(size=400), 1)
    z_hat = np.c_[rounded, z[:, 0] ** 3, np.ones(400)]
    result = mcc(z, z_hat, kind="spearman", test_fraction=0)
    expected = np.abs(spearmanr(z, z_hat[:, :2]).statistic[:2, 2:])
    np.testing.assert_allclose(result.correlations[:, :2], expected, atol=1e-12)
    assert result.correlations[:, 2].tolist() == [0.0, 0.0]
    assert result.matching == (1, 0)


def test_mcc_split_sizes_and_seed():
    z = np.random.default_rng(3).normal(size=(101, 2))
    z_hat = z + np.random.default_rng(4).normal(size=(101, 2))
    result = mcc(z, z_hat, test_fraction=0.3, seed=5)
    assert (result.n_fit, result.n_score) == (71, 30)
    assert result.score == mcc(z, z_hat, test_fraction=0.3, seed=5).score
    assert result.score != mcc(z, z_hat, test_fraction=0.3, seed=6).score
    assert mcc(z, z_hat, seed=np.random.default_rng(0)).n_score == 50


def test_result_arrays_are_read_only():
    z = np.random.default_rng(0).normal(size=(200, 2))
    with pytest.raises(ValueError, match="read-only"):
        mcc(z, z).correlations[0, 0] = 0.0


# affine, permutation/scaling, block


def test_affine_r2_returns_the_fitted_map():
    rng = np.random.default_rng(0)
    z_hat = rng.normal(size=(800, 3))
    weights = rng.normal(size=(3, 2))
    result = affine_r2(z_hat @ weights + 2.0, z_hat)
    np.testing.assert_allclose(result.weights, weights, atol=1e-10)
    np.testing.assert_allclose(result.intercept, [2.0, 2.0], atol=1e-10)
    assert result.per_latent.shape == (2,)


def test_affine_r2_handles_collinear_and_constant_estimates():
    z = np.random.default_rng(0).normal(size=(500, 2))
    z_hat = np.c_[z, z[:, 0], np.full(500, 3.0)]
    result = affine_r2(z, z_hat)
    assert result.mean == pytest.approx(1.0)
    assert np.all(np.isfinite(result.weights))
    assert np.all(result.weights[3] == 0.0)


def test_permutation_scaling_r2_with_given_matching():
    z = np.random.default_rng(0).normal(size=(500, 2))
    z_hat = np.c_[3 * z[:, 1], z[:, 0] - 1]
    good = permutation_scaling_r2(z, z_hat, matching=(1, 0))
    assert good.mean == pytest.approx(1.0)
    np.testing.assert_allclose(good.scales, [1.0, 1 / 3])
    assert permutation_scaling_r2(z, z_hat, matching=[0, 1]).mean < 0.1


def test_block_r2_recovers_mixed_blocks():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 5))
    z[:, 1] += z[:, 3]
    mix = np.array([[1.0, 1.0], [1.0, -1.0]])
    first = z[:, [0, 1, 2]] @ rng.normal(size=(3, 3))
    z_hat = np.c_[z[:, [3, 4]] @ mix, rng.normal(size=2000), first]
    blocks = [(0, 1, 2), (3, 4)]
    result = block_r2(z, z_hat, blocks=blocks)
    assert result.assignment == ((3, 4, 5), (0, 1))
    assert result.per_block.min() == pytest.approx(1.0)
    assert check(z, z_hat, up_to="block", blocks=blocks).passed
    assert not check(z, z_hat, up_to="permutation").passed
    wrong = block_r2(z, z_hat, blocks=blocks, assignment=[(0, 1, 2), (3, 4)])
    assert wrong.per_block.max() < 0.9


# dci


def test_dci_perfect_rotated_and_independent():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4000, 4))
    perfect = dci(z, 2 * z[:, [1, 3, 0, 2]] + 1)
    scores = (perfect.disentanglement, perfect.completeness, perfect.informativeness)
    assert min(scores) > 0.999
    np.testing.assert_allclose(perfect.importance.sum(axis=0), 1.0, atol=1e-9)
    rotated = dci(z, _rotate_45(z))
    assert rotated.informativeness > 0.999
    assert rotated.disentanglement < 0.9
    assert rotated.completeness < 0.9
    noise = dci(z, rng.normal(size=(4000, 6)))
    assert noise.informativeness < 0.05
    assert noise.importance.shape == (6, 4)
    assert noise.per_code_disentanglement.shape == (6,)


def test_dci_forest_sees_monotone_nonlinear_codes_that_linear_misses():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 4))
    codes = np.c_[np.tanh(z[:, 1]), z[:, 3] ** 3, np.exp(z[:, 0]), np.sinh(z[:, 2])]
    forest = dci(z, codes, regressor="forest")
    linear = dci(z, codes)
    assert min(forest.disentanglement, forest.completeness) > 0.99
    assert forest.informativeness > 0.99 > 0.8 > linear.informativeness
    np.testing.assert_allclose(forest.importance.sum(axis=0), 1.0, atol=1e-9)
    assert forest.importance.argmax(axis=0).tolist() == [2, 0, 3, 1]
    entangled = dci(z, np.tanh(_rotate_45(z)), regressor="forest")
    assert entangled.informativeness > 0.9
    assert entangled.disentanglement < 0.8
    assert entangled.completeness < 0.8
    noise = dci(z, rng.normal(size=(2000, 6)), regressor="forest")
    assert noise.informativeness < 0.05


def test_dci_forest_reproduces_with_a_seed():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(600, 3))
    codes = z @ rng.normal(size=(3, 3))
    first, again = (dci(z, codes, seed=5, regressor="forest") for _ in range(2))
    np.testing.assert_array_equal(first.importance, again.importance)
    assert first.informativeness == again.informativeness


def test_dci_rejects_an_unknown_regressor():
    z = np.random.default_rng(0).normal(size=(200, 2))
    with pytest.raises(ValueError, match="regressor must be one of"):
        dci(z, z, regressor="lasso")


def test_dci_with_constant_code_and_single_latent():
    z = np.random.default_rng(0).normal(size=(500, 1))
    result = dci(z, np.c_[z, np.ones(500)])
    assert result.per_code_disentanglement.tolist() == [1.0, 0.0]
    assert result.disentanglement == pytest.approx(1.0)
    assert result.completeness == pytest.approx(1.0)


def test_dci_is_fast_at_ten_thousand_by_ten():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(10_000, 10))
    result = dci(z, z @ rng.normal(size=(10, 10)))
    assert result.informativeness > 0.999


# bad input


@pytest.mark.parametrize(
    "function",
    [
        mcc,
        affine_r2,
        permutation_scaling_r2,
        lambda a, b, **kw: block_r2(a, b, [(0,)], **kw),
        dci,
        check,
    ],
)
class TestBadInput:
    def test_non_finite(self, function):
        z = np.random.default_rng(0).normal(size=(100, 2))
        for bad in (np.nan, np.inf):
            broken = z.copy()
            broken[3, 1] = bad
            with pytest.raises(ValueError, match="z_true.*non-finite"):
                function(broken, z)
            with pytest.raises(ValueError, match="z_hat.*non-finite"):
                function(z, broken)

    def test_sample_count_mismatch(self, function):
        rng = np.random.default_rng(0)
        with pytest.raises(ValueError, match="same number of samples"):
            function(rng.normal(size=(100, 2)), rng.normal(size=(99, 2)))

    def test_too_few_samples_for_split(self, function):
        z = np.random.default_rng(0).normal(size=(5, 2))
        with pytest.raises(ValueError, match="too few samples"):
            function(z, z)
        with pytest.raises(ValueError, match="too few samples"):
            function(z[:2], z[:2], test_fraction=0)

    def test_bad_test_fraction(self, function):
        z = np.random.default_rng(0).normal(size=(100, 2))
        for bad in (1.0, -0.1, 1.5):
            with pytest.raises(ValueError, match="test_fraction"):
                function(z, z, test_fraction=bad)

    def test_constant_true_latent(self, function):
        z = np.random.default_rng(0).normal(size=(100, 2))
        z[:, 1] = 4.0
        with pytest.raises(ValueError, match=r"z_true columns \[1\] are constant"):
            function(z, np.random.default_rng(1).normal(size=(100, 2)))

    def test_wrong_dimensions_and_dtype(self, function):
        z = np.random.default_rng(0).normal(size=(100, 2))
        with pytest.raises(ValueError, match="shape"):
            function(z[:, :, None], z)
        with pytest.raises(TypeError, match="numbers"):
            function(z.astype(object), z)


def test_fewer_estimated_than_true_columns_raises():
    z = np.random.default_rng(0).normal(size=(100, 3))
    for function in (mcc, permutation_scaling_r2, check):
        with pytest.raises(ValueError, match="fewer columns"):
            function(z, z[:, :2])


def test_constant_estimated_column_scores_zero_not_nan():
    z = np.random.default_rng(0).normal(size=(200, 2))
    z_hat = np.c_[z[:, 0], np.full(200, 7.0)]
    result = mcc(z, z_hat)
    assert np.all(np.isfinite(result.correlations))
    assert result.correlations[1, 1] == 0.0
    for monotone in (False, True):
        assert permutation_scaling_r2(z, z_hat, monotone=monotone).per_latent[1] < 0.05
    assert np.isfinite(dci(z, z_hat).disentanglement)


def test_one_dimensional_input_is_one_column():
    z = np.random.default_rng(0).normal(size=300)
    assert mcc(z, 2 * z).correlations.shape == (1, 1)
    assert affine_r2(z, -z).mean == pytest.approx(1.0)


def test_torch_input_is_accepted():
    torch = pytest.importorskip("torch")
    z = np.random.default_rng(0).normal(size=(300, 2))
    swapped = torch.from_numpy(z[:, ::-1].copy())
    assert mcc(torch.from_numpy(z), swapped).matching == (1, 0)


def test_bad_kind_matching_and_blocks():
    z = np.random.default_rng(0).normal(size=(100, 3))
    with pytest.raises(ValueError, match="pearson"):
        mcc(z, z, kind="kendall")
    for matching in ([0, 1], [0, 0, 1], [0, 1, 3], [0.0, 1.0, 2.0]):
        with pytest.raises(ValueError, match="matching"):
            permutation_scaling_r2(z, z, matching=matching)
    for blocks in ([], [()], [(0, 1), (1, 2)], [(0, 3)], [0, 1], [(0.5,)]):
        with pytest.raises(ValueError, match="blocks"):
            block_r2(z, z, blocks)
    with pytest.raises(ValueError, match="assignment"):
        block_r2(z, z, [(0,), (1,)], assignment=[(0,)])


# strategies and docstrings


@settings(max_examples=10, deadline=None)
@given(invertible_affine_maps(3), permutation_scalings(3), elementwise_monotone_maps(3))
def test_strategies_are_well_formed(affine, perm, monotone):
    singular = np.linalg.svd(affine.matrix, compute_uv=False)
    assert singular.min() >= 0.5 - 1e-9
    assert singular.max() <= 2 + 1e-9
    assert np.all((np.abs(perm.scales) >= 0.2) & (np.abs(perm.scales) <= 5))
    assert sorted(perm.permutation) == [0, 1, 2]
    for g in (affine, perm, monotone):
        assert set(g.to_dict())
        assert g(np.ones((4, 3))).shape == (4, 3)


@pytest.mark.parametrize(
    "module",
    [
        "causalrep.identifiability.metrics",
        "causalrep.identifiability.dci",
        "causalrep.identifiability.report",
        "causalrep.testing.maps",
        "causalrep.testing.assertions",
    ],
)
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module), extraglobs={"np": np})
    assert result.failed == 0


def test_every_result_round_trips_through_json():
    import json

    from causalrep.identifiability import dci

    rng = np.random.default_rng(0)
    z = rng.normal(size=(400, 3))
    z_hat = z[:, [2, 0, 1]] * [2.0, -1.0, 0.5]
    results = [
        mcc(z, z_hat),
        affine_r2(z, z_hat),
        permutation_scaling_r2(z, z_hat),
        block_r2(z, z_hat, [(0, 1), (2,)]),
        dci(z, z_hat),
    ]
    for result in results:
        payload = json.loads(json.dumps(result.to_dict()))
        assert set(payload) == set(result.__dataclass_fields__)
    assert payload["importance"] == results[-1].importance.tolist()
    assert json.loads(json.dumps(results[0].to_dict()))["matching"] == [1, 2, 0]


FAST = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _z(n=400, d=3, seed=0):
    return np.random.default_rng(seed).laplace(size=(n, d))


@FAST
@given(exponent=st.integers(-160, 160), d=st.integers(1, 4), data=st.data())
def test_metrics_are_scale_invariant(exponent, d, data):
    z = _z(300, d, seed=d)
    z_hat = data.draw(permutation_scalings(d))(z)
    noise = np.random.default_rng(1).normal(size=z.shape)
    scale = 10.0**exponent
    for estimate in (z_hat, z_hat + noise):
        for kind in ("pearson", "spearman"):
            assert mcc(z * scale, estimate * scale, kind=kind).score == pytest.approx(
                mcc(z, estimate, kind=kind).score, abs=1e-9
            )
        assert affine_r2(z * scale, estimate).mean == pytest.approx(affine_r2(z, estimate).mean, abs=1e-9)
        assert permutation_scaling_r2(estimate * scale, z).mean == pytest.approx(
            permutation_scaling_r2(estimate, z).mean, abs=1e-9
        )
    report = check(z * scale, z_hat * scale)
    assert report.passed
    assert report.mcc.score == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["mcc", "affine_r2", "check", "spearman"])
def test_metrics_need_a_fraction_of_their_inputs(monkeypatch, name):
    """With chunks far smaller than the inputs, extra memory stays under half of them
    (benchmarks/bench_memory.py measures 2M x 200)."""
    monkeypatch.setattr(_core, "CHUNK_BYTES", 2**20)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(40_000, 20))
    z_hat = z + 0.1 * rng.normal(size=z.shape)
    run = {
        "mcc": lambda: mcc(z, z_hat),
        "affine_r2": lambda: affine_r2(z, z_hat),
        "check": lambda: check(z, z_hat),
        "spearman": lambda: mcc(z, z_hat, kind="spearman"),
    }
    tracemalloc.start()
    run[name]()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.5 * (z.nbytes + z_hat.nbytes), peak / (z.nbytes + z_hat.nbytes)
