import json

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators import contrastive_crl, setting

SMALL = settings(max_examples=15, deadline=None)
TINY = {"obs_dim": 8, "hidden": (8,)}


@SMALL
@given(d=st.integers(2, 5), n_targets=st.integers(1, 2), seed=st.integers(0, 2**32 - 1))
def test_shapes_regimes_targets_and_recorded_model(d, n_targets, seed):
    n_targets = min(n_targets, d)
    data = contrastive_crl(latent_dim=d, n_per_regime=7, n_targets=n_targets, seed=seed, **TINY)
    assert data.X.shape == (7 * (d + 1), 8)
    assert data.Z.shape == (7 * (d + 1), d)
    assert data.counts() == dict.fromkeys(range(d + 1), 7)
    expected = {0: ()} | {k: tuple(sorted({(k - 1 + i) % d for i in range(n_targets)})) for k in range(1, d + 1)}
    assert dict(data.targets) == expected
    json.dumps(data.meta)
    weights = np.asarray(data.meta["weights"])
    # the weights live on the edges of the DAG, with magnitudes in [0.25, 1]
    assert nx.is_directed_acyclic_graph(data.graph)
    assert {tuple(e) for e in np.argwhere(weights != 0).tolist()} == set(data.graph.edges)
    assert np.all((np.abs(weights[weights != 0]) >= 0.25) & (np.abs(weights[weights != 0]) <= 1))
    assert np.all((np.asarray(data.meta["noise_var"]) >= 1) & (np.asarray(data.meta["noise_var"]) <= 2))
    assert np.all((np.abs(data.meta["intervention_mean"]) >= 1) & (np.abs(data.meta["intervention_mean"]) <= 2))
    assert np.all((np.asarray(data.meta["intervention_var"]) >= 1) & (np.asarray(data.meta["intervention_var"]) <= 2))


@SMALL
@given(d=st.integers(2, 4), seed=st.integers(0, 2**32 - 1))
def test_a_perfect_intervention_cuts_the_parents_and_sets_the_new_law(d, seed):
    n = 4000
    data = contrastive_crl(latent_dim=d, n_per_regime=n, seed=seed, **TINY)
    weights = np.asarray(data.meta["weights"])
    for k in range(1, d + 1):
        t = k - 1
        z = data.Z[data.regime == k]
        # the target's value is a fresh draw: uncorrelated with every other latent
        # before it in the causal order (its parents among them)
        for parent in data.graph.predecessors(t):
            assert abs(np.corrcoef(z[:, t], z[:, parent])[0, 1]) < 6 / np.sqrt(n)
        mean, var = data.meta["intervention_mean"][t], data.meta["intervention_var"][t]
        assert abs(z[:, t].mean() - mean) < 6 * np.sqrt(var / n)
        assert abs(z[:, t].var() / var - 1) < 6 * np.sqrt(2 / n)
    # observationally, each latent is its parents' weighted sum plus noise of the recorded variance
    z = data.Z[data.regime == 0]
    residual = z - z @ weights
    np.testing.assert_allclose(residual.var(0) / data.meta["noise_var"], 1, atol=6 * np.sqrt(2 / n))


def test_same_seed_same_data_model_independent_of_sizes():
    first = contrastive_crl(latent_dim=3, n_per_regime=30, seed=3, **TINY)
    again = contrastive_crl(latent_dim=3, n_per_regime=30, seed=np.random.default_rng(3), **TINY)
    np.testing.assert_array_equal(first.X, again.X)
    other = contrastive_crl(latent_dim=3, n_per_regime=30, seed=4, **TINY)
    assert not np.array_equal(first.X, other.X)
    larger = contrastive_crl(latent_dim=3, n_per_regime=[50, 10, 10, 10], seed=3, **TINY)
    for key in ("weights", "noise_var", "intervention_mean", "intervention_var"):
        assert larger.meta[key] == first.meta[key]
    assert set(larger.graph.edges) == set(first.graph.edges)


def test_defaults_are_the_papers_sizes_and_the_setting_is_registered():
    assert setting("contrastive_crl") is contrastive_crl
    data = contrastive_crl(n_per_regime=2, seed=0)
    assert data.X.shape == (12, 100)
    assert data.Z.shape == (12, 5)
    assert data.meta["hidden"] == [512, 512, 512]
    # degree 4 capped at d - 1 = 4: every pair of the 5 latents is linked
    assert data.graph.number_of_edges() == 10


def test_non_gaussian_noise_has_heavy_tails():
    data = contrastive_crl(latent_dim=2, n_per_regime=20000, noise="student_t", expected_degree=0, seed=0, **TINY)
    z = data.Z[data.regime == 0]
    kurtosis = ((z - z.mean(0)) ** 4).mean(0) / z.var(0) ** 2 - 3
    assert np.all(kurtosis > 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"latent_dim": 1}, "latent_dim must be at least 2"),
        ({"obs_dim": 1}, "obs_dim=1 < latent_dim=5"),
        ({"expected_degree": -1}, "expected_degree must be a number >= 0"),
        ({"hidden": (3,)}, "hidden widths must be >= latent_dim=5"),
        ({"noise": "cauchy"}, "unknown noise 'cauchy'"),
        ({"n_targets": 0}, r"n_targets must be an int in \[1, latent_dim=5\]"),
        ({"n_per_regime": [5, 5]}, "n_per_regime has 2 entries but there are 6 regimes"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        contrastive_crl(**{"n_per_regime": 5, **kwargs})
