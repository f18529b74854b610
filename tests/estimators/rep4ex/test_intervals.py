"""Rep4Ex's bootstrap refits: bands, their calibration, saving, and the warnings they give."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causalrep import Rep4Ex, load
from causalrep.estimators import ControlFunction, ExtrapolationWarning, IdentifiabilityWarning
from causalrep.estimators.rep4ex._replicates import (
    MARGIN,
    InterventionalPrediction,
    band,
    calibration_factor,
    probe_actions,
    simulate_world,
)
from simulators import rep4ex, rep4ex_truth

SMALL = dict(hidden=(32, 32), max_steps=150, n_centers=50, device="cpu", verbose=0)
OUTSIDE = np.array([[1.5, 0.0], [0.0, -1.5], [2.0, 2.0], [-2.5, 1.0]])


def _fit(data, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifiabilityWarning)
        warnings.simplefilter("ignore", ExtrapolationWarning)
        return Rep4Ex(latent_dim=2, **{**SMALL, **params}).fit(data)


@pytest.fixture(scope="module")
def data():
    return rep4ex(n=600, seed=0)


@pytest.fixture(scope="module")
def fitted(data):
    return _fit(data, n_bootstrap=3, n_jobs=1)


def test_band_has_the_shape_and_order_asked_for(fitted):
    result = fitted.predict_interventional(OUTSIDE, interval=0.9)
    assert isinstance(result, InterventionalPrediction)
    assert all(part.shape == (len(OUTSIDE),) for part in result)
    assert np.all(result.lower <= result.mean)
    assert np.all(result.mean <= result.upper)
    np.testing.assert_allclose(result.mean, fitted.predict_interventional(OUTSIDE))
    narrow = fitted.predict_interventional(OUTSIDE, interval=0.5)
    assert np.all(narrow.upper - narrow.lower <= result.upper - result.lower)
    single = fitted.predict_interventional(OUTSIDE[0], interval=0.9)
    assert single.mean.shape == (1,)


def test_refits_in_parallel_processes_give_the_same_fit(data, fitted):
    parallel = _fit(data, n_bootstrap=3, n_jobs=2)
    for key, value in fitted.arrays_.items():
        np.testing.assert_allclose(parallel.arrays_[key], value, err_msg=key)
    assert parallel.extrapolation_ == pytest.approx(fitted.extrapolation_)


def test_extrapolation_check_is_reported(fitted):
    check = fitted.extrapolation_
    assert set(check) == {"rms_outside", "rms_inside", "ratio", "invariance", "invariance_refits"}
    assert len(check["invariance_refits"]) == 3
    assert check["invariance"] > 0
    assert check["rms_outside"] > 0
    assert check["rms_inside"] > 0
    assert check["ratio"] == pytest.approx(check["rms_outside"] / check["rms_inside"])
    assert fitted.arrays_["probe_errors"].shape[0] == 3


def test_saved_refits_load_and_give_the_same_band(fitted, tmp_path):
    fitted.save(tmp_path / "r.pt")
    again = load(tmp_path / "r.pt")
    assert again.n_bootstrap == 3
    assert again.extrapolation_ == fitted.extrapolation_
    for a, b in zip(
        again.predict_interventional(OUTSIDE, interval=0.8), fitted.predict_interventional(OUTSIDE, 0.8), strict=True
    ):
        np.testing.assert_allclose(a, b)


def test_a_file_without_refits_loads_as_a_single_fit(data, tmp_path):
    single = _fit(data, n_bootstrap=0)
    assert single.extrapolation_ is None
    assert "probe_errors" not in single.arrays_
    single.save(tmp_path / "s.pt")
    again = load(tmp_path / "s.pt")
    np.testing.assert_allclose(again.predict_interventional(OUTSIDE), single.predict_interventional(OUTSIDE))
    with pytest.raises(ValueError, match=r"interval needs at least 3 bootstrap refits.*n_bootstrap=0"):
        again.predict_interventional(OUTSIDE, interval=0.9)


@pytest.mark.parametrize("interval", [0, 1, 1.5, -0.1, float("nan"), "0.9", True, [0.9]])
def test_bad_intervals_are_refused_by_name(fitted, interval):
    with pytest.raises(ValueError, match=r"interval must be a number in \(0, 1\)"):
        fitted.predict_interventional(OUTSIDE, interval=interval)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_bootstrap": 2}, r"n_bootstrap must be .*0 or an int >= 3"),
        ({"n_bootstrap": -1}, r"n_bootstrap must be .*0 or an int >= 3"),
        ({"n_bootstrap": 3.0}, r"n_bootstrap must be .*0 or an int >= 3"),
        ({"n_jobs": 0}, r"n_jobs must be an int >= 1 or None"),
        ({"n_jobs": "all"}, r"n_jobs must be an int >= 1 or None"),
    ],
)
def test_bad_replicate_settings_are_refused_by_name(data, params, match):
    with pytest.raises(ValueError, match=match):
        Rep4Ex(latent_dim=2, **{**SMALL, **params}).fit(data)


def test_a_simulated_world_follows_the_fitted_model(data):
    """Z* = M-hat A + c-hat + rows of V-hat, X* = g-hat(Z*), Y* = nu(Z*) + psi(V*) + a residual
    of the fitted outcome model: checked with a known linear decoder and the true latents."""
    control = ControlFunction(n_centers=50).fit(data.Z, data.A, data.Y)
    W = np.random.default_rng(0).normal(size=(2, 5))
    X, Y = simulate_world(lambda z: z @ W, control, data.A, data.Y, data.Z, np.zeros(5), np.random.default_rng(1))
    Z = X @ np.linalg.pinv(W)
    V = control.residuals(Z, data.A)
    distance = np.abs(V[:, None, :] - control.arrays_["V"][None, :, :]).max(2).min(1)
    assert distance.max() < 1e-8  # every unit's residual is a row of V-hat
    noise = Y - control.nu(Z) - control.psi(V)
    fitted_residuals = data.Y - control.predict(data.Z, data.A)
    assert np.abs(noise[:, None] - fitted_residuals[None, :]).min(1).max() < 1e-8


def test_probe_actions_lie_on_the_scaled_box():
    A = np.random.default_rng(0).uniform(-1, 3, (500, 3))
    probes = probe_actions(A, 40, 2.0, np.random.default_rng(1))
    low, high = A.min(0), A.max(0)
    scaled = (probes - (low + high) / 2) / ((high - low) / 2)
    np.testing.assert_allclose(np.abs(scaled).max(1), 2.0)


@settings(max_examples=30)
@given(
    scale=st.floats(1e-3, 1e3),
    bias=st.floats(-2.0, 2.0),
    seed=st.integers(0, 2**16),
)
def test_band_covers_errors_exchangeable_with_the_refits(scale, bias, seed):
    """When the real error is drawn like the refits' errors (a shared bias plus spread,
    any scale), the calibrated band covers it at least at the nominal rate."""
    rng = np.random.default_rng(seed)
    m, B, trials = 50, 4, 200
    shape = scale * np.exp(rng.normal(size=m))  # the error's size varies with the action
    hits = []
    for _ in range(trials):
        draws = shape * (bias + rng.standard_normal((B + 1, m)))
        truth = np.zeros(m)
        point = truth + draws[0]
        result = band(point, draws[1:], draws[1:], 0.9)
        hits.append(np.mean((truth >= result.lower) & (truth <= result.upper)))
    assert np.mean(hits) >= 0.85


@given(factor=st.floats(1e-100, 1e100), seed=st.integers(0, 2**16))
def test_calibration_factor_is_scale_free(factor, seed):
    errors = np.random.default_rng(seed).normal(size=(4, 30))
    assert calibration_factor(errors * factor, 0.9) == pytest.approx(calibration_factor(errors, 0.9), rel=1e-9)


@given(margin=st.floats(0.1, 10.0), seed=st.integers(0, 2**16))
def test_band_half_width_is_proportional_to_its_margin(margin, seed):
    rng = np.random.default_rng(seed)
    point, errors, probes = rng.normal(size=7), rng.normal(size=(4, 7)), rng.normal(size=(4, 30))
    default, scaled = band(point, errors, probes, 0.9), band(point, errors, probes, 0.9, margin)
    ratio = (scaled.upper - scaled.lower) / (default.upper - default.lower)
    np.testing.assert_allclose(ratio, margin / MARGIN, rtol=1e-12)
    np.testing.assert_allclose(scaled.upper + scaled.lower, 2 * point, rtol=1e-12, atol=1e-12)


def test_linear_toy_band_covers_the_closed_form_truth():
    """Linear mixing and a linear outcome: E[Y | do(A = a)] = beta^T M a in closed form."""
    data = rep4ex(n=1500, seed=2, mixing="linear", outcome="linear", obs_dim=4)
    est = _fit(data, n_bootstrap=3, n_jobs=1, max_steps=300)
    M, beta = np.asarray(data.meta["M"]), np.asarray(data.meta["outcome"]["beta"])
    truth = OUTSIDE @ M.T @ beta
    np.testing.assert_allclose(truth, rep4ex_truth(data.meta, OUTSIDE), atol=1e-9)
    result = est.predict_interventional(OUTSIDE, interval=0.9)
    assert np.mean((truth >= result.lower) & (truth <= result.upper)) >= 0.75


def test_actions_that_act_nonlinearly_warn():
    """Z = tanh(M A) + V, with actions on (-2.5, 2.5) where tanh bends: the representation's
    residual depends on the actions far more than in the worlds simulated from the fit, where
    Z = M A + V holds (5.3 times the largest refit's here; 1.9 times for Z = M A + V)."""
    data = rep4ex(n=1500, seed=0, action_effect="tanh", action_support=(-2.5, 2.5))
    est = Rep4Ex(latent_dim=2, seed=0, max_steps=300, n_bootstrap=3, n_jobs=1, verbose=0, device="cpu", n_threads=1)
    with pytest.warns(IdentifiabilityWarning, match=r"do not look like Z = M A \+ V"):
        est.fit(data)
    check = est.extrapolation_
    assert check["invariance"] > 3 * max(check["invariance_refits"])


def test_actions_beyond_float64_are_refused_by_name(fitted, data):
    with pytest.raises(ValueError, match=r"A: the prediction for 1 action\(s\) \(rows \[0\]\) overflows float64"):
        fitted.predict(data.X[:2], np.array([[1e308, 1e308], [0.0, 0.0]]))
    with pytest.raises(ValueError, match=r"a: the prediction for 1 action\(s\) \(rows \[1\]\) overflows"):
        fitted.predict_interventional(np.array([[0.0, 0.0], [-1e308, 1e308]]))


@pytest.mark.parametrize("factor", [1e-300, 1e300])
def test_outcomes_in_any_units_give_the_same_curve(data, factor):
    """The control function standardises the outcome: Y x 1e300 (or 1e-300) gives the curve x 1e300."""
    Z, A, Y = data.Z, data.A, data.Y
    base = ControlFunction(n_centers=50).fit(Z, A, Y).predict_interventional(OUTSIDE)
    scaled = ControlFunction(n_centers=50).fit(Z, A, Y * factor).predict_interventional(OUTSIDE)
    np.testing.assert_allclose(scaled / factor, base, rtol=1e-6, atol=1e-9 * np.abs(base).max())
