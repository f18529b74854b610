"""InterventionalCRL at the edges of its theory: every case that cannot be identified says so.

A latent without a regime, the exact stage 1 where too few components rise
above the noise, soft interventions declared as do's, a do after a stage 1
that is not affine, and a near-polynomial mixing the exact stage 1 keeps.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simulators
from causalrep import InterventionalCRL, InterventionalData
from causalrep.cli import main
from causalrep.estimators.interventional import _stage1
from causalrep.estimators.interventional import _varpro as varpro
from causalrep.exceptions import IdentifiabilityWarning
from causalrep.identifiability import mcc

MLP = dict(max_steps=300, hidden=(32,), restarts=1)


def scm_data(d=3, interventions=None, n=800, obs_dim=20, mechanism="linear", seed=0):
    scm = simulators.LatentSCM(simulators.chain(d), mechanism=mechanism, seed=seed)
    mixing = simulators.PolynomialMixing(d, obs_dim, 2, nonlinear_scale=1.0, seed=seed)
    if interventions is None:
        interventions = [simulators.do({j: 1.0}) for j in range(d)]
    return simulators.interventional(scm, mixing, n, interventions, seed=seed)


def fit_recording(data, **params):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IdentifiabilityWarning)
        est = InterventionalCRL(verbose=0, **params).fit(data)
    return est, [str(w.message) for w in caught if issubclass(w.category, IdentifiabilityWarning)]


# -- a latent without a regime ---------------------------------------------------


def test_a_latent_without_a_regime_is_named_and_recorded():
    data = scm_data(4, [simulators.do({j: 1.0}) for j in range(3)])
    with pytest.warns(IdentifiabilityWarning, match="no regime intervenes on latent 3: it is identified only up to"):
        est = InterventionalCRL(latent_dim=4, verbose=0).fit(data)
    record = est.diagnostics_[-1]
    assert (record.regime, record.target, record.variance_ratio) == (None, 3, None)
    assert record.found_by.startswith("no regime")
    assert "no regime" in est.diagnostics_table()
    z = est.transform(data.X)
    for j in range(3):  # the latents with a regime are identified regardless
        assert abs(np.corrcoef(z[:, j], data.Z[:, j])[0, 1]) > 0.9999


def test_causalrep_check_prints_what_the_model_cannot_identify(tmp_path, capsys):
    data = scm_data(4, [simulators.do({j: 1.0}) for j in range(3)])
    with pytest.warns(IdentifiabilityWarning, match="no regime intervenes on latent 3"):
        est = InterventionalCRL(latent_dim=4, verbose=0).fit(data)
    assert list(est.unidentified_latents_) == [3]
    est.save(tmp_path / "model.pt")
    data.save(tmp_path / "data.npz")
    main(["check", "--data", str(tmp_path / "data.npz"), "--model", str(tmp_path / "model.pt")])
    assert "model note: latent 3 has no regime: identified only up to scaling" in capsys.readouterr().out


def test_latents_unknown_targets_did_not_reach_are_named():
    data = scm_data(3, [simulators.do({j: 1.0}) for j in range(2)])
    hidden = InterventionalData(X=data.X, regime=data.regime, targets={0: (), 1: None, 2: None}, Z=data.Z)
    with pytest.warns(IdentifiabilityWarning, match="gave directions for 2 of 3 latents, not for latent 2"):
        est = InterventionalCRL(latent_dim=3, verbose=0).fit(hidden)
    assert [r.target for r in est.diagnostics_ if r.regime is None] == [2]


def test_a_fit_with_a_regime_per_latent_records_no_missing_latent():
    est, messages = fit_recording(scm_data(3), latent_dim=3)
    assert messages == []
    assert all(r.regime is not None for r in est.diagnostics_)


# -- encoder="auto" decides from the effective dimension ---------------------------


def colour_images(n=300, seed=0):
    """Images of one colour (a nonlinear 3-vector of 3 latents) on a fixed mask: 3
    principal components above the noise, where a degree-2 lift of 3 latents needs 9."""
    rng = np.random.default_rng(seed)
    Z = rng.uniform(0.2, 1.0, (4 * n, 3))
    regime = np.repeat(np.arange(4), n)
    for j in range(3):
        Z[regime == j + 1, j] = 0.6
    colour = np.column_stack([Z[:, 0] * (1 + Z[:, 1]), Z[:, 1] + Z[:, 2] ** 2, np.sqrt(Z[:, 2]) + 0.3 * Z[:, 0]])
    mask = (rng.random(40) < 0.5).astype(float)
    X = np.kron(colour, mask) + rng.normal(0.0, 1e-3, (4 * n, 120))
    return InterventionalData(X=X, regime=regime, targets={0: (), 1: (0,), 2: (1,), 3: (2,)}, Z=Z)


def test_auto_takes_the_mlp_route_when_too_few_components_rise_above_the_noise():
    est, messages = fit_recording(colour_images(), latent_dim=3, **MLP)
    report = est.stage1_
    assert report.encoder == "mlp"
    assert not report.fallback
    assert (report.signal_components, report.components_needed) == (3, 9)
    assert "encoder='auto' took the MLP route" in report.route_reason
    assert any("only 3 principal components" in m and "degree=1 would span exactly 3" in m for m in messages)
    assert any("therefore took the MLP route" in m for m in messages)


def test_an_explicit_linear_encoder_is_kept_and_warned():
    est, messages = fit_recording(colour_images(), latent_dim=3, encoder="linear")
    assert est.stage1_.encoder == "linear"
    assert est.stage1_.route_reason is None
    assert any("only 3 principal components" in m for m in messages)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 5), st.integers(1, 3), st.integers(1, 60), st.floats(1e-12, 1e-3))
def test_the_route_follows_the_count_of_components_above_the_noise(d, p, signal, noise):
    # ``signal`` components well above an isotropic noise of variance ``noise``.
    needed = varpro.n_monomials(d, p)
    size = max(signal, needed) + 10
    eigenvalues = np.r_[np.geomspace(1.0, 1e3 * noise, signal), np.full(size - signal, noise)]
    check = _stage1.spectrum_check(eigenvalues, needed, noise, d, p)
    assert check.signal_components == signal
    assert (_stage1.mlp_route_reason(check) is not None) == (signal < needed)
    if signal < needed and signal in [varpro.n_monomials(d, q) for q in range(1, p)]:
        assert "degree=" in check.dimension_warning


# -- soft interventions and a stage 1 that is not affine -----------------------------


def test_shifts_declared_as_do_ask_whether_the_intervention_was_soft():
    data = scm_data(3, [simulators.shift({j: 1.5}) for j in range(3)], n=1500)
    est, messages = fit_recording(data, latent_dim=3)
    soft = [m for m in messages if "a soft intervention?" in m]
    assert len(soft) == 1
    assert "regime 1 fixes latent 0 but its variance stayed at" in soft[0]
    assert "only the means of the regimes moved" in soft[0].lower()
    assert not any("random value" in m and "reject" in m for m in messages)


def test_a_soft_intervention_too_weak_to_see_is_named():
    weak = [simulators.soft({1: 0.97}), simulators.do({0: 1.0}), simulators.do({2: 1.0})]
    est, messages = fit_recording(scm_data(3, weak, n=600), latent_dim=3)
    assert any(
        m.startswith("regime 1 fixes latent 1 but its variance stayed at")
        and "Neither the mean nor the covariance of the regime differs" in m
        for m in messages
    )


def test_fixed_value_dos_after_a_stage1_that_is_not_affine_are_not_called_random_valued():
    est, messages = fit_recording(colour_images(), latent_dim=3, encoder="linear")
    assert any("stage 1 is not affine (see its warning), or a soft intervention?" in m for m in messages)
    assert not any("random" in m for m in messages)


# -- near-exact acceptance ---------------------------------------------------------


def rescaled_quadratic(rescale, d=3, n=800, seed=0):
    """Polynomial mixing whose quadratic part is rescaled by ``rescale`` in the
    interventional regimes (after a generator that rescales it per file)."""
    scm = simulators.LatentSCM(simulators.erdos_renyi(d, 2.0, seed=seed), mechanism="mlp", seed=seed)
    mixing = simulators.PolynomialMixing(d, 20, 2, nonlinear_scale=1.0, seed=seed)
    data = simulators.interventional(scm, mixing, n, [simulators.do({j: 1.0}) for j in range(d)], seed=seed)
    quadratic = mixing.exponents.sum(1) >= 2
    part = mixing.features(data.Z)[:, quadratic] @ mixing.weight[quadratic]
    X = data.X + (rescale - 1.0) * part * (data.regime > 0)[:, None]
    return InterventionalData(X=X, regime=data.regime, targets=data.targets, Z=data.Z)


def test_a_near_polynomial_mixing_keeps_the_exact_stage1_with_a_note():
    train, test = rescaled_quadratic(1.004).split(0.2, seed=0)
    est, messages = fit_recording(train, latent_dim=3)
    report = est.stage1_
    assert messages == []
    assert report.encoder == "linear"
    assert report.near_exact
    assert not report.fallback
    assert report.heldout_residual > 4 * report.noise_floor + 1e-6  # it did miss the floor
    assert report.near_exact_variance_ratio < 1e-4
    assert "near-exact" in est.diagnostics_table()
    assert mcc(test.Z, est.transform(test.X)).score > 0.9999


def test_a_mixing_rescaled_per_regime_keeps_the_closed_form_code_judged_on_the_observational_regime():
    train, test = rescaled_quadratic(1.3).split(0.2, seed=0)
    est, messages = fit_recording(train, latent_dim=3)
    report = est.stage1_
    assert messages == []
    assert report.encoder == "linear"
    assert report.near_exact
    assert report.heldout_residual > 1e-3  # beyond the small-margin rule
    assert report.observational_residual <= 4 * report.noise_floor + 1e-6
    assert report.iterations == 0  # the fixed-value regimes' closed form, no search
    assert "the regimes' mixings differ" in est.diagnostics_table()
    assert mcc(test.Z, est.transform(test.X)).score > 0.9999


def test_near_exact_needs_a_fixed_value_regime_with_known_targets_to_judge_by():
    data = rescaled_quadratic(1.004)
    hidden = InterventionalData(X=data.X, regime=data.regime, targets={k: None if k else () for k in data.targets})
    est, messages = fit_recording(hidden, latent_dim=3, **MLP)
    assert not est.stage1_.near_exact
    assert est.stage1_.fallback
    assert any("stage 1 leaves" in m or "the exact stage 1 left" in m for m in messages)
