"""InterventionalCRL: identification from hard do-interventions, and its errors."""

import copy
import warnings

import numpy as np
import pytest

import simulators
from causalrep import InterventionalCRL, InterventionalData
from causalrep.estimators.interventional import IdentifiabilityWarning, ioss_penalty
from causalrep.identifiability import affine_r2, check, mcc

SMALL = dict(max_steps=3000, hidden=(64, 64), restarts=3, verbose=0)


def small_setting(seed, latents="uniform"):
    return simulators.ahuja2023(latent_dim=3, obs_dim=16, degree=2, latents=latents,
                                n_obs=1500, n_int=1500, seed=seed)


@pytest.fixture(scope="module")
def fitted():
    data = small_setting(seed=0)
    train, test = data.split(0.3, seed=0)
    return InterventionalCRL(latent_dim=3, seed=0, **SMALL).fit(train), train, test


def test_stage1_identifies_up_to_affine(fitted):
    est, _, test = fitted
    assert affine_r2(test.Z, est.stage1_transform(test.X)).mean > 0.98


def test_stage2_identifies_up_to_scaling_in_target_order(fitted):
    est, _, test = fitted
    report = check(test.Z, est.transform(test.X), up_to="scaling")
    assert report.passed, report.summary()


def test_diagnostics_show_perfect_interventions(fitted):
    est, train, _ = fitted
    assert [(r["regime"], r["target"]) for r in est.diagnostics_] == [(1, 0), (2, 1), (3, 2)]
    assert max(r["variance_ratio"] for r in est.diagnostics_) < 0.01
    assert "residual variance ratio" in est.diagnostics_table()


@pytest.mark.parametrize("latents,seed", [("uniform", 1), ("scm_dense", 1)])
def test_identification_holds_on_other_seeds_and_an_scm(latents, seed):
    data = small_setting(seed=seed, latents=latents)
    train, test = data.split(0.3, seed=seed)
    est = InterventionalCRL(latent_dim=3, seed=seed, **SMALL).fit(train)
    report = check(test.Z, est.transform(test.X), up_to="scaling")
    assert report.passed, report.summary()


def test_negative_control_wrong_targets_fail_scaling(fitted):
    _, train, test = fitted
    wrong = {0: (), 1: (1,), 2: (2,), 3: (0,)}
    data = InterventionalData(X=train.X, regime=train.regime, targets=wrong, Z=train.Z)
    est = InterventionalCRL(latent_dim=3, **SMALL).fit(data)
    assert not check(test.Z, est.transform(test.X), up_to="scaling").passed


def test_negative_control_shuffled_regimes_fail_and_warn(fitted):
    _, train, test = fitted
    shuffled = np.random.default_rng(0).permutation(train.regime)
    data = InterventionalData(X=train.X, regime=shuffled, targets=train.targets, Z=train.Z)
    with pytest.warns(IdentifiabilityWarning, match="still vary"):
        est = InterventionalCRL(latent_dim=3, **SMALL).fit(data)
    assert not check(test.Z, est.transform(test.X), up_to="permutation").passed


def test_uncovered_latents_are_completed_to_full_rank(fitted):
    est, train, test = copy.deepcopy(fitted)
    covered = train.subset([0, 1])
    est._fit_do(est.stage1_transform(covered.X), covered)
    z = est.transform(test.X)
    assert np.linalg.matrix_rank(np.cov(z, rowvar=False)) == 3
    assert abs(np.corrcoef(z[:, 0], test.Z[:, 0])[0, 1]) > 0.98
    assert affine_r2(test.Z, z).mean > 0.98


def test_observational_only_uses_ioss_to_improve_on_stage1():
    rng = np.random.default_rng(0)
    Z = rng.uniform(-1, 1, (3000, 3))
    data = InterventionalData(X=simulators.LinearMixing(3, 8, seed=0)(Z), Z=Z)
    train, test = data.split(0.3, seed=0)
    est = InterventionalCRL(latent_dim=3, degree=1, hidden=(32,), max_steps=1500,
                            restarts=1, verbose=0).fit(train)
    assert est.stage2_ == "ioss"
    stage1, stage2 = est.stage1_transform(test.X), est.transform(test.X)
    assert affine_r2(test.Z, stage2).mean > 0.99
    assert mcc(test.Z, stage2).score > mcc(test.Z, stage1).score + 0.02


def test_ioss_penalty_prefers_product_supports():
    rng = np.random.default_rng(0)
    torch = pytest.importorskip("torch")
    square = torch.tensor(rng.uniform(-1, 1, (2000, 2)), dtype=torch.float32)
    angle = np.pi / 4
    rotation = torch.tensor([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]],
                            dtype=torch.float32)
    torch.manual_seed(0)
    assert ioss_penalty(square) * 3 < ioss_penalty(square @ rotation)


def test_stage2_none_returns_stage1(fitted):
    _, train, test = fitted
    est = InterventionalCRL(latent_dim=3, stage2="none", max_steps=300, restarts=1,
                            hidden=(32,), verbose=0).fit(train)
    z1 = est.stage1_transform(test.X)
    np.testing.assert_allclose(est.transform(test.X), z1 - z1.mean(0) + (z1.mean(0) - est.arrays_["center"]))


@pytest.mark.parametrize("params,message", [
    (dict(latent_dim=0), "latent_dim must be a positive int"),
    (dict(latent_dim=40), "latent_dim=40 is larger than the observation dimension"),
    (dict(latent_dim=3, decoder="spline"), "decoder must be 'polynomial' or 'mlp'"),
    (dict(latent_dim=3, degree=0), "degree must be an int >= 1"),
    (dict(latent_dim=3, lr=-1.0), "lr must be a positive number"),
    (dict(latent_dim=3, batch_size=0), "batch_size must be a positive int"),
    (dict(latent_dim=3, stage2="magic"), "stage2 must be"),
    (dict(latent_dim=3, restarts=0), "restarts must be an int >= 1"),
    (dict(latent_dim=3, seed=-1), "seed must be a non-negative int"),
    (dict(latent_dim=3, device="tpu"), "device must be"),
])
def test_bad_hyperparameters_are_named(fitted, params, message):
    _, train, _ = fitted
    with pytest.raises(ValueError, match=message):
        InterventionalCRL(**{"max_steps": 10, "verbose": 0, **params}).fit(train)


def test_bad_targets_and_small_regimes(fitted):
    _, train, _ = fitted
    unknown = InterventionalData(X=train.X, regime=train.regime,
                                 targets={0: (), 1: (0,), 2: (), 3: (2,)})
    with pytest.raises(ValueError, match="regime 2 is interventional but its targets are unknown"):
        InterventionalCRL(latent_dim=3, verbose=0).fit(unknown)
    outside = InterventionalData(X=train.X, regime=train.regime,
                                 targets={0: (), 1: (0,), 2: (1,), 3: (5,)})
    with pytest.raises(ValueError, match=r"regime 3 targets latent\(s\) \[5\], outside range"):
        InterventionalCRL(latent_dim=3, verbose=0).fit(outside)
    tiny = train.take(np.r_[np.flatnonzero(train.regime != 3), np.flatnonzero(train.regime == 3)[:5]])
    with pytest.raises(ValueError, match="regime 3 has 5 samples; InterventionalCRL needs at least"):
        InterventionalCRL(latent_dim=3, verbose=0).fit(tiny)


def test_stage2_do_without_interventions_is_an_error(fitted):
    _, train, _ = fitted
    with pytest.raises(ValueError, match="stage2='do' needs interventional regimes"):
        InterventionalCRL(latent_dim=3, stage2="do", verbose=0).fit(train.subset([0]))


def test_no_warning_on_a_good_fit(fitted):
    est, train, _ = fitted
    with warnings.catch_warnings():
        warnings.simplefilter("error", IdentifiabilityWarning)
        est._do_diagnostics(est.stage1_transform(train.X), train)
