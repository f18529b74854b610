import functools
import json
import time
import warnings

import numpy as np
import pytest
import sklearn.base
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import causalrep
import simulators
from causalrep import InterventionalData, Rep4Ex
from causalrep.estimators import ControlFunction, ExtrapolationWarning, IdentifiabilityWarning
from causalrep.estimators.rep4ex._estimator import (
    hsic_penalty,
    linearity_diagnostics,
    local_bandwidth,
    median_bandwidth,
    mmr_penalty,
)
from causalrep.exceptions import NotFittedError
from causalrep.identifiability import affine_r2
from simulators import rep4ex, rep4ex_truth

FAST = dict(hidden=(32, 32), max_steps=60, n_centers=50, device="cpu", verbose=0, n_bootstrap=0)
# Points outside the training support (-1, 1)^2 along both action axes.
T = np.r_[np.linspace(-2.5, -1.25, 6), np.linspace(1.25, 2.5, 6)]
FAR = np.r_[np.c_[T, 0 * T], np.c_[0 * T, T]]


def _quiet_fit(estimator, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifiabilityWarning)
        return estimator.fit(data)


@pytest.fixture(scope="module")
def data():
    return rep4ex(n=600, seed=0)


@pytest.fixture(scope="module")
def fitted(data):
    return _quiet_fit(Rep4Ex(latent_dim=2, seed=0, **FAST), data)


def test_fit_needs_actions_and_outcome(data):
    without_a = InterventionalData(X=data.X, Y=data.Y)
    without_y = InterventionalData(X=data.X, A=data.A)
    with pytest.raises(ValueError, match=r"data\.A"):
        Rep4Ex(latent_dim=2, **FAST).fit(without_a)
    with pytest.raises(ValueError, match=r"data\.Y"):
        Rep4Ex(latent_dim=2, **FAST).fit(without_y)
    with pytest.raises(ValueError, match=r"data\.A"):
        Rep4Ex(latent_dim=2, **FAST).fit(data.X)  # arrays alone: no actions


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"mmr_lambda": -1.0}, "mmr_lambda"),
        ({"mmr_lambda": float("inf")}, "mmr_lambda"),
        ({"hsic_lambda": -1.0}, "hsic_lambda"),
        ({"hsic_lambda": float("inf")}, "hsic_lambda"),
        ({"kernel_bandwidth": "silverman"}, "kernel_bandwidth"),
        ({"kernel_bandwidth": 0.0}, "kernel_bandwidth"),
        ({"latent_dim": 3}, "actions"),
        ({"restarts": 0}, "restarts"),
        ({"n_centers": 0}, "n_centers"),
        ({"max_steps": 0}, "max_steps"),
    ],
)
def test_bad_hyperparameters_raise_in_fit(data, params, match):
    estimator = Rep4Ex(**{"latent_dim": 2, **FAST, **params})
    assert estimator.get_params()[next(iter(params))] == params[next(iter(params))]
    with pytest.raises(ValueError, match=match):
        estimator.fit(data)


def test_multi_column_outcome_is_rejected(data):
    two = InterventionalData(X=data.X, A=data.A, Y=np.c_[data.Y, data.Y])
    with pytest.raises(ValueError, match="one outcome"):
        Rep4Ex(latent_dim=2, **FAST).fit(two)


@pytest.mark.filterwarnings("ignore::causalrep.exceptions.ExtrapolationWarning")  # FAR is off the data on purpose
def test_shapes_and_fitted_state(fitted, data):
    assert fitted.transform(data.X).shape == (600, 2)
    assert fitted.transform(torch.tensor(data.X)).shape == (600, 2)
    assert fitted.predict_interventional(FAR).shape == (24,)
    assert fitted.predict_interventional(np.zeros(2)).shape == (1,)
    assert fitted.predict(data.X[:7], data.A[:7]).shape == (7,)
    assert fitted.bandwidth_ > 0
    json.dumps(fitted.diagnostics_)
    assert set(fitted.diagnostics_) == {
        "r2_on_actions",
        "reset_pvalue",
        "reset_r2_gain",
        "spread_pvalue",
        "spread_r2_gain",
        "action_canonical_r2",
    }
    assert fitted.extrapolation_coverage(FAR).shape == (24,)
    with pytest.raises(ValueError, match="actions"):
        fitted.predict_interventional(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="rows"):
        fitted.predict(data.X[:3], data.A[:4])
    with pytest.raises(NotFittedError):
        Rep4Ex(latent_dim=2).predict_interventional(FAR)


@pytest.mark.filterwarnings("ignore::causalrep.exceptions.ExtrapolationWarning")  # FAR is off the data on purpose
def test_same_seed_is_bit_identical_and_another_seed_differs(data):
    small = data.take(np.arange(300))
    first = _quiet_fit(Rep4Ex(latent_dim=2, seed=3, **{**FAST, "max_steps": 20}), small)
    again = _quiet_fit(Rep4Ex(latent_dim=2, seed=3, **{**FAST, "max_steps": 20}), small)
    other = _quiet_fit(Rep4Ex(latent_dim=2, seed=4, **{**FAST, "max_steps": 20}), small)
    np.testing.assert_array_equal(first.transform(small.X), again.transform(small.X))
    np.testing.assert_array_equal(first.predict_interventional(FAR), again.predict_interventional(FAR))
    assert not np.allclose(first.transform(small.X), other.transform(small.X))


@pytest.mark.filterwarnings("ignore::causalrep.exceptions.ExtrapolationWarning")  # FAR is off the data on purpose
def test_save_load_round_trip(fitted, data, tmp_path):
    path = tmp_path / "rep4ex.pt"
    fitted.save(path)
    loaded = causalrep.load(path)
    assert isinstance(loaded, Rep4Ex)
    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.transform(data.X), fitted.transform(data.X))
    np.testing.assert_array_equal(loaded.predict_interventional(FAR), fitted.predict_interventional(FAR))
    np.testing.assert_array_equal(loaded.predict(data.X, data.A), fitted.predict(data.X, data.A))
    assert loaded.diagnostics_ == fitted.diagnostics_
    assert loaded.bandwidth_ == fitted.bandwidth_
    assert loaded.hsic_bandwidth_ == fitted.hsic_bandwidth_


def test_penalty_is_affine_invariant_and_sees_nonlinearity():
    rng = np.random.default_rng(0)
    a = torch.tensor(rng.uniform(-1, 1, (512, 2)))
    noise = torch.tensor(rng.normal(size=(512, 2)))
    linear = a @ torch.tensor([[1.0, 0.5], [-0.3, 1.0]], dtype=a.dtype) + 0.3 * noise
    mapped = linear @ torch.tensor([[2.0, 1.0], [0.0, -3.0]], dtype=a.dtype) + 5.0
    curved = linear + a**2
    bw = local_bandwidth(a.numpy())
    assert torch.allclose(mmr_penalty(linear, a, bw), mmr_penalty(mapped, a, bw), rtol=1e-6)
    assert mmr_penalty(curved, a, bw) > 3 * mmr_penalty(linear, a, bw)
    assert mmr_penalty(linear, a, bw) >= 0


def test_bandwidth_heuristics():
    a = np.random.default_rng(0).uniform(-1, 1, (5000, 2))
    assert 0.9 < median_bandwidth(a) < 1.2
    assert 0.05 < local_bandwidth(a) < 0.2
    assert local_bandwidth(a, batch_size=2048) < local_bandwidth(a, batch_size=256)


def test_linearity_diagnostics_flag_only_a_real_nonlinearity():
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (5000, 2))
    linear = a @ np.array([[1.0, 0.2], [0.4, -1.0]]) + 0.3 * rng.normal(size=(5000, 2))
    bent = np.c_[linear[:, 0], linear[:, 1] + np.sin(3 * a[:, 0])]
    ok, bad = linearity_diagnostics(linear, a), linearity_diagnostics(bent, a)
    assert min(ok["r2_on_actions"]) > 0.7
    assert max(ok["reset_r2_gain"]) < 0.01
    assert bad["reset_pvalue"][1] < 1e-6
    assert bad["reset_r2_gain"][1] > 0.05


@pytest.mark.parametrize("seed", [0, 2])
def test_spread_diagnostic_sees_tails_that_bend_where_reset_does_not(seed):
    # tanh flattens the tails of Z: nearly linear in the actions on average,
    # but the residual's spread shrinks where the actions push Z outwards.
    data = rep4ex(n=5000, seed=seed)
    affine = data.Z @ np.array([[2.0, 1.0], [0.5, -1.0]]) + 3.0
    bent = np.tanh((data.Z - data.Z.mean(0)) / (1.5 * data.Z.std(0)))
    ok, bad = linearity_diagnostics(affine, data.A), linearity_diagnostics(bent, data.A)
    assert max(ok["spread_r2_gain"]) < 0.005
    assert min(ok["spread_pvalue"]) > 0.01
    assert max(bad["reset_r2_gain"]) < 0.01  # the mean alone does not show it
    assert min(bad["spread_pvalue"]) < 1e-6
    assert max(bad["spread_r2_gain"]) > 0.015


@settings(max_examples=20)
@given(st.integers(0, 2**32 - 1))
def test_canonical_correlations_with_the_actions_ignore_affine_maps(seed):
    data = _coverage_data()
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(2, 2)) + 3 * np.eye(2) * rng.choice([-1, 1], 2)
    mapped = data.Z @ mixing + rng.normal(scale=100, size=2)
    np.testing.assert_allclose(
        linearity_diagnostics(mapped, data.A)["action_canonical_r2"],
        linearity_diagnostics(data.Z, data.A)["action_canonical_r2"],
        atol=1e-8,
    )


def test_actions_that_move_only_one_latent_direction_are_flagged():
    data = rep4ex(n=3000, seed=1)
    true = linearity_diagnostics(data.Z, data.A)["action_canonical_r2"]
    residual = (
        data.Z - np.c_[np.ones(data.n), data.A] @ np.linalg.lstsq(np.c_[np.ones(data.n), data.A], data.Z, rcond=None)[0]
    )
    escaped = linearity_diagnostics(np.c_[data.Z[:, 0], residual[:, 1]], data.A)
    assert true[1] > 0.2 * true[0]
    assert escaped["action_canonical_r2"][1] < 1e-3
    # A fit given an action column that moves nothing: one latent direction is
    # unexplained by the actions it is given, and the fit says so.
    fake = InterventionalData(
        X=data.X, A=np.c_[data.A[:, 0], np.random.default_rng(0).uniform(-1, 1, data.n)], Y=data.Y
    )
    with pytest.warns(IdentifiabilityWarning, match="least-moved direction"):
        Rep4Ex(latent_dim=2, seed=0, **FAST).fit(fake)


def test_a_fit_without_the_penalties_warns_naming_the_failing_check():
    data = rep4ex(n=2000, seed=0)
    with pytest.warns(IdentifiabilityWarning, match="Breusch-Pagan") as caught:
        Rep4Ex(latent_dim=2, mmr_lambda=0.0, hsic_lambda=0.0, seed=0, **{**FAST, "max_steps": 300}).fit(data)
    assert "extrapolation has no guarantee" in str(caught[0].message)
    assert caught[0].filename == __file__  # the user's line, not the library's


def test_coverage_is_high_inside_the_support_and_zero_far_outside():
    data = rep4ex(n=3000, seed=1)
    cf = ControlFunction(n_centers=100, seed=0).fit(data.Z, data.A, data.Y)
    inside, edge, far = cf.coverage(np.array([[0.0, 0.0], [0.9, -0.9], [30.0, 30.0]]))
    assert inside > 0.95
    assert 0.3 < edge < inside
    assert far == 0.0
    along = cf.coverage(np.c_[np.linspace(1, 4, 7), np.zeros(7)])
    assert along[0] > 0.8
    assert along[-1] < 0.1
    assert np.all(np.diff(along) <= 0.02)


@settings(max_examples=25)
@given(st.lists(st.floats(-6, 6), min_size=2, max_size=2), st.floats(0.01, 100.0))
def test_coverage_is_a_share_that_ignores_the_latents_order_and_units(action, scale):
    data = _coverage_data()
    a = np.array([action])
    base = ControlFunction(n_centers=60, seed=0).fit(data.Z, data.A, data.Y).coverage(a)
    swapped = ControlFunction(n_centers=60, seed=0).fit(data.Z[:, ::-1] * scale, data.A, data.Y).coverage(a)
    assert base.shape == (1,)
    assert 0.0 <= base[0] <= 1.0
    np.testing.assert_allclose(swapped, base, atol=0.01)


@functools.cache
def _coverage_data():
    return rep4ex(n=800, seed=3)


def test_predictions_far_outside_warn_and_coverage_survives_a_round_trip(fitted, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExtrapolationWarning)
        fitted.predict_interventional(np.zeros((1, 2)))
    with pytest.warns(ExtrapolationWarning, match=r"1 of 2 action\(s\) \(rows 1\)") as caught:
        fitted.predict_interventional(np.array([[0.0, 0.0], [25.0, -25.0]]))
    assert caught[0].filename == __file__
    fitted.save(tmp_path / "m.pt")
    np.testing.assert_array_equal(
        causalrep.load(tmp_path / "m.pt").extrapolation_coverage(FAR), fitted.extrapolation_coverage(FAR)
    )


def test_hsic_sees_dependence_the_mean_constraint_misses():
    # The spread of the residual grows with |a|: its mean given a is still
    # zero, so the MMR cannot see it, but the residual is not independent of a.
    rng = np.random.default_rng(0)
    a = torch.tensor(rng.uniform(-1, 1, (512, 2)))
    noise = torch.tensor(rng.normal(size=(512, 2)))
    weights = torch.tensor([[1.0, 0.5], [-0.3, 1.0]], dtype=a.dtype)
    independent = a @ weights + 0.3 * noise
    spread = a @ weights + 0.3 * noise * (0.2 + 2 * a.abs())
    mapped = independent @ torch.tensor([[2.0, 1.0], [0.0, -3.0]], dtype=a.dtype) + 5.0
    bw = median_bandwidth(a.numpy())
    assert torch.allclose(hsic_penalty(independent, a, bw), hsic_penalty(mapped, a, bw), rtol=1e-5)
    assert hsic_penalty(spread, a, bw) > 5 * hsic_penalty(independent, a, bw)
    assert hsic_penalty(independent, a, bw) >= 0
    local = local_bandwidth(a.numpy())
    assert mmr_penalty(spread, a, local) < 2 * mmr_penalty(independent, a, local)


def test_penalty_weights_select_the_loss_terms(fitted, data):
    terms = {}
    for lam, hsic in ((0.0, 0.0), (30.0, 0.0), (0.0, 30.0)):
        est = _quiet_fit(Rep4Ex(latent_dim=2, mmr_lambda=lam, hsic_lambda=hsic, seed=0, **FAST), data)
        terms[lam, hsic] = set(est.history_["terms"])
    assert terms[0.0, 0.0] == {"reconstruction"}
    assert terms[30.0, 0.0] == {"reconstruction", "mmr"}
    assert terms[0.0, 30.0] == {"reconstruction", "hsic"}
    assert set(fitted.history_["terms"]) == {"reconstruction", "mmr", "hsic"}
    assert fitted.hsic_bandwidth_ > 0


def test_control_function_on_true_latents_extrapolates():
    data = rep4ex(n=3000, seed=1)
    cf = ControlFunction(n_centers=100, seed=0).fit(data.Z, data.A, data.Y)
    truth = rep4ex_truth(data.meta, FAR)
    assert np.mean((cf.predict_interventional(FAR) - truth) ** 2) < 0.05
    rebuilt = ControlFunction.from_arrays(cf.arrays_)
    np.testing.assert_array_equal(rebuilt.predict(data.Z, data.A), cf.predict(data.Z, data.A))
    with pytest.raises(NotFittedError):
        ControlFunction().predict_interventional(FAR)
    copy = sklearn.base.clone(cf)
    assert copy.get_params() == {"n_centers": 100, "folds": 5, "seed": 0}
    assert not hasattr(copy, "arrays_")
    assert repr(copy) == "ControlFunction(n_centers=100)"


@pytest.mark.slow
def test_invariance_penalty_beats_the_plain_autoencoder():
    # Checked on seeds 0-3: R2 0.92-0.99 with the penalties, 0.70-0.76 without.
    train, test = rep4ex(n=2500, seed=0).split(0.2, seed=0)
    params = dict(max_steps=500, device="cpu", verbose=0, seed=0)
    est = _quiet_fit(Rep4Ex(latent_dim=2, **params), train)
    control = _quiet_fit(Rep4Ex(latent_dim=2, mmr_lambda=0.0, hsic_lambda=0.0, **params), train)
    r2 = affine_r2(test.Z, est.transform(test.X)).mean
    r2_control = affine_r2(test.Z, control.transform(test.X)).mean
    assert r2 > 0.8
    assert r2 > r2_control + 0.1


@pytest.mark.slow
def test_extrapolation_beats_regressing_the_outcome_on_the_actions():
    # Linear mixing keeps this small fit fast; the error is then that of
    # stage 2 on a good representation. Checked on seeds 0-3: 6-115x lower.
    data = rep4ex(n=2000, mixing="linear", seed=0)
    est = _quiet_fit(Rep4Ex(latent_dim=2, max_steps=300, device="cpu", verbose=0, n_bootstrap=0), data)
    truth = rep4ex_truth(data.meta, FAR)
    design = np.c_[np.ones(data.n), data.A]
    coef = np.linalg.lstsq(design, data.Y, rcond=None)[0]
    baseline = np.mean((np.c_[np.ones(len(FAR)), FAR] @ coef - truth) ** 2)
    error = np.mean((est.predict_interventional(FAR) - truth) ** 2)
    assert error < 0.5 * baseline


def test_former_penalty_names_still_work_for_one_release(data):
    old = Rep4Ex(latent_dim=2, lam=5.0, hsic=0.0, seed=0, **FAST)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FutureWarning)
        _quiet_fit(old, data)
    assert sorted(str(w.message).split(";")[0] for w in caught if w.category is FutureWarning) == [
        "Rep4Ex: hsic is renamed hsic_lambda",
        "Rep4Ex: lam is renamed mmr_lambda",
    ]
    new = _quiet_fit(Rep4Ex(latent_dim=2, mmr_lambda=5.0, hsic_lambda=0.0, seed=0, **FAST), data)
    np.testing.assert_array_equal(old.transform(data.X), new.transform(data.X))
    assert old._json_params() == new._json_params()  # checkpoints store the new names
    assert "lam" not in new._json_params()
    assert set(old.history_["terms"]) == {"reconstruction", "mmr"}
    with pytest.raises(ValueError, match="got both mmr_lambda and its former name lam"):
        Rep4Ex(latent_dim=2, lam=5.0, mmr_lambda=1.0, **FAST).fit(data)


def test_a_checkpoint_with_the_former_names_loads(fitted, data, tmp_path):
    from causalrep.estimators._core.checkpoint import _digest

    path = tmp_path / "old.pt"
    fitted.save(path)
    payload = torch.load(path, weights_only=True)
    params = json.loads(payload["params"])
    params["lam"], params["hsic"] = params.pop("mmr_lambda"), params.pop("hsic_lambda")
    payload["params"] = json.dumps(params)
    payload["sha256"] = _digest(payload)
    torch.save(payload, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        back = causalrep.load(path)
    assert back.mmr_lambda == fitted.mmr_lambda
    assert back.lam == "deprecated"
    np.testing.assert_array_equal(back.transform(data.X), fitted.transform(data.X))


def test_constant_actions_are_refused_before_training():
    data = simulators.rep4ex(n=100, latent_dim=2, action_dim=2, obs_dim=10, seed=0)
    A = data.A.copy()
    A[:, 1] = 0.25
    start = time.process_time()
    with pytest.raises(ValueError, match=r"^A column 1 is constant .* Rep4Ex needs A to vary"):
        Rep4Ex(latent_dim=2).fit(InterventionalData(X=data.X, A=A, Y=data.Y))
    assert time.process_time() - start < 1.0
