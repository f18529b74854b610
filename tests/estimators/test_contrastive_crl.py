"""ContrastiveCRL: the closed-form log-odds, recovery, targets, files, errors and warnings."""

import warnings

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import multivariate_normal

import causalrep
import simulators
from causalrep import ContrastiveCRL, InterventionalData
from causalrep.estimators import IdentifiabilityWarning
from causalrep.estimators._contrastive import ParametricLogOdds, _moment_gap, acyclicity
from causalrep.identifiability import mcc

SMALL = {"hidden": (64,), "max_steps": 1500, "batch_size": 256, "restarts": 1, "verbose": 0}


def _unknown_targets(data):
    return InterventionalData(
        X=data.X, regime=data.regime, targets={k: None if k else () for k in data.regimes}, Z=data.Z
    )


@pytest.fixture(scope="module")
def easy():
    """Two latents, a small leaky-ReLU MLP mixing into 10 dimensions, targets unknown."""
    data = simulators.contrastive_crl(latent_dim=2, obs_dim=10, hidden=(16,), n_per_regime=2000, seed=0)
    return _unknown_targets(data)


@pytest.fixture(scope="module")
def fitted(easy):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = ContrastiveCRL(latent_dim=2, **SMALL).fit(easy)
    return est, caught


# -- the closed form ------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(d=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_log_odds_are_the_density_ratio_of_the_linear_gaussian_scm(d, seed):
    """Column t is log N(z; mean_t, cov_t) - log N(z; 0, cov_0), the two joint Gaussians of the SCM."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(d)
    weight = np.triu(rng.normal(size=(d, d)) * (rng.random((d, d)) < 0.6), 1)[np.ix_(order, order)]
    sigma, eta, tau = rng.uniform(0.5, 2, d), rng.normal(0, 2, d), rng.uniform(0.5, 2, d)
    module = ParametricLogOdds(d).double()
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(weight + np.diag(rng.normal(size=d))))  # the diagonal is ignored
        module.loc.copy_(torch.from_numpy(eta))
        module.log_scale.copy_(torch.from_numpy(np.log(tau)))
        module.log_noise.copy_(torch.from_numpy(np.log(sigma)))
    z = rng.normal(0, 2, size=(50, d))
    got = module(torch.from_numpy(z)).detach().numpy()

    def law(weights, mean, var):
        # z = z W + e, e ~ N(mean, diag(var)): z = e (I - W)^-1
        inverse = np.linalg.inv(np.eye(d) - weights)
        return multivariate_normal(mean @ inverse, inverse.T @ np.diag(var) @ inverse)

    observational = law(weight, np.zeros(d), sigma**2).logpdf(z).reshape(-1)
    for t in range(d):
        cut = weight.copy()
        cut[:, t] = 0  # a perfect intervention cuts the parents of t
        mean, var = np.zeros(d), sigma**2
        mean[t], var[t] = eta[t], tau[t] ** 2
        expected = law(cut, mean, var).logpdf(z).reshape(-1) - observational
        np.testing.assert_allclose(got[:, t], expected, rtol=1e-8, atol=1e-8)


@settings(max_examples=40, deadline=None)
@given(d=st.integers(1, 4), n=st.integers(1, 40), seed=st.integers(0, 2**32 - 1))
def test_moment_gap_sums_each_regimes_untargeted_moments(d, n, seed):
    """Per regime with >= 2 rows: the squared distance of the untargeted noises' mean and second moment from N(0, I)."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.3, 1.4, (n, d))
    latent = rng.integers(-1, d, n)
    expected = 0.0
    for t in range(-1, d):
        rows = noise[latent == t]
        if len(rows) < 2:
            continue
        kept = rows if t < 0 else np.delete(rows, t, axis=1)
        expected += ((kept.T @ kept / len(kept) - np.eye(kept.shape[1])) ** 2).sum() + (kept.mean(0) ** 2).sum()
    got = _moment_gap(torch.tensor(noise), torch.tensor(latent), d)
    assert float(got) == pytest.approx(expected / (d + 1), rel=1e-9, abs=1e-12)


def test_acyclicity_penalty_is_zero_on_a_dag_only():
    dag = torch.tensor([[0.0, 0.5, -1.0], [0.0, 0.0, 2.0], [0.0, 0.0, 0.0]])
    assert abs(float(acyclicity(dag))) < 1e-6
    assert float(acyclicity(dag + dag.T)) > 0.1


# -- fitting ----------------------------------------------------------------------


def test_recovers_the_latents_and_the_targets_on_an_easy_setting(easy, fitted):
    est, _ = fitted
    result = mcc(easy.Z, est.transform(easy.X))
    assert result.score >= 0.9
    # regime k intervenes on true latent k - 1: its learned latent is the one matched to it
    assert est.targets_ == {0: (), 1: (result.matching[0],), 2: (result.matching[1],)}
    assert est.adjacency_.shape == (2, 2)
    assert np.all(np.diag(est.adjacency_) == 0)
    assert set(est.graph_.nodes) == {0, 1}
    assert nx.is_directed_acyclic_graph(est.graph_)


def test_no_warning_when_the_assumptions_hold(fitted):
    _, caught = fitted
    assert [str(w.message) for w in caught if issubclass(w.category, IdentifiabilityWarning)] == []


@pytest.mark.filterwarnings("ignore::causalrep.estimators.IdentifiabilityWarning")  # a 5-step fit
def test_known_targets_order_the_latents_like_the_truth():
    data = simulators.contrastive_crl(latent_dim=2, obs_dim=6, hidden=(8,), n_per_regime=50, seed=1)
    swapped = InterventionalData(X=data.X, regime=data.regime, targets={0: (), 1: (1,), 2: (0,)})
    est = ContrastiveCRL(latent_dim=2, hidden=(8,), max_steps=5, restarts=1, verbose=0).fit(swapped)
    assert est.targets_ == {0: (), 1: (1,), 2: (0,)}


def test_save_load_round_trip_gives_the_same_model(easy, fitted, tmp_path):
    est, _ = fitted
    est.save(tmp_path / "model.pt")
    loaded = causalrep.load(tmp_path / "model.pt")
    assert type(loaded) is ContrastiveCRL
    np.testing.assert_array_equal(loaded.transform(easy.X), est.transform(easy.X))
    assert loaded.targets_ == est.targets_
    np.testing.assert_array_equal(loaded.adjacency_, est.adjacency_)
    assert set(loaded.graph_.edges) == set(est.graph_.edges)
    assert loaded.diagnostics_ == est.diagnostics_


# -- errors -----------------------------------------------------------------------


def _data(regimes, targets, n=10):
    rng = np.random.default_rng(0)
    regime = np.repeat(regimes, n)
    return InterventionalData(X=rng.normal(size=(regime.size, 4)), regime=regime, targets=targets)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (_data([1, 2], {1: (0,), 2: (1,)}), r"observational one, regime 0, which the data lack \(regimes \[1, 2\]\)"),
        (_data([0, 1], {0: (), 1: (0,)}), r"one interventional regime per latent: latent_dim=2 but the data have 1"),
        (_data([0, 1, 2, 3], {0: (), 1: None, 2: None, 3: None}), r"latent_dim=2 but the data have 3"),
        (_data([0], {0: ()}), r"latent_dim=2 but the data have 0"),
        (_data([0, 1, 2], {0: (), 1: None, 2: None}, n=1), r"at least 2 samples per regime"),
    ],
)
def test_data_it_cannot_use_are_refused_by_name(data, match):
    with pytest.raises(ValueError, match=match):
        ContrastiveCRL(latent_dim=2, **SMALL).fit(data)


@pytest.mark.filterwarnings("ignore:ContrastiveCRL. :causalrep.estimators.IdentifiabilityWarning")  # a 5-step fit
def test_a_known_multi_node_regime_is_warned_about():
    data = _data([0, 1, 2], {0: (), 1: (0, 1), 2: (1,)})
    with pytest.warns(IdentifiabilityWarning, match=r"regime 1 has targets \(0, 1\): ContrastiveCRL assumes one"):
        ContrastiveCRL(latent_dim=2, hidden=(8,), max_steps=5, restarts=1, verbose=0).fit(data)


# -- negative controls --------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "match"),
    [
        ({"latent_dim": 3, "noise": "student_t"}, r"latent \d is not Gaussian"),
        ({"latent_dim": 3, "n_targets": 2}, r"regime \d changes latent \d besides its target"),
    ],
)
def test_negative_controls_warn(setting, match):
    data = simulators.contrastive_crl(obs_dim=10, hidden=(16,), n_per_regime=2000, seed=0, **setting)
    with pytest.warns(IdentifiabilityWarning, match=match):
        ContrastiveCRL(latent_dim=setting["latent_dim"], **SMALL).fit(_unknown_targets(data))
