import random

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causalrep.testing.simulation import interventions, latent_scms
from simulators import LatentSCM, chain, do, erdos_renyi, fork, fully_connected, shift, soft

SMALL = settings(max_examples=25, deadline=None)
N = 64


def _unaffected(scm, targets):
    """Nodes that are neither a target nor a descendant of one."""
    touched = set(targets)
    for j in targets:
        touched |= nx.descendants(scm.graph, j)
    return sorted(set(range(scm.latent_dim)) - touched)


def _scm_and_intervention(kinds=("do", "shift", "soft")):
    return latent_scms().flatmap(lambda scm: st.tuples(st.just(scm), interventions(scm, kinds=kinds)))


@SMALL
@given(scm=latent_scms(), seed=st.integers(0, 2**32 - 1))
def test_sample_shape_and_seed_determinism(scm, seed):
    z = scm.sample(N, seed=seed)
    assert z.shape == (N, scm.latent_dim)
    assert z.dtype == np.float64
    assert np.all(np.isfinite(z))
    assert np.array_equal(z, scm.sample(N, seed=seed))
    assert np.array_equal(z, scm.sample(N, seed=np.random.default_rng(seed)))
    assert not np.array_equal(z, scm.sample(N, seed=seed + 1))


def test_construction_is_seeded():
    graph = erdos_renyi(6, 2, seed=0)
    for mechanism in ("linear", "mlp", "polynomial"):
        a = LatentSCM(graph, mechanism, seed=1).sample(N, seed=0)
        b = LatentSCM(graph, mechanism, seed=1).sample(N, seed=0)
        c = LatentSCM(graph, mechanism, seed=2).sample(N, seed=0)
        assert np.array_equal(a, b)
        assert not np.array_equal(a, c)


def test_global_random_state_is_left_alone():
    np.random.seed(0)
    random.seed(0)
    numpy_state, python_state = np.random.get_state()[1].copy(), random.getstate()
    scm = LatentSCM(erdos_renyi(5, 2, seed=0), "mlp", "gmm", seed=0)
    scm.sample(10, do({0: lambda rng, n: rng.normal(size=n)}), seed=1)
    assert np.array_equal(np.random.get_state()[1], numpy_state)
    assert random.getstate() == python_state


@SMALL
@given(pair=_scm_and_intervention(kinds=("do",)), seed=st.integers(0, 2**32 - 1))
def test_do_fixes_targets_and_spares_non_descendants(pair, seed):
    scm, intervention = pair
    observed = scm.sample(N, seed=seed)
    intervened = scm.sample(N, intervention, seed=seed)
    for j, value in intervention.changes:
        assert np.all(intervened[:, j] == value)
    keep = _unaffected(scm, intervention.targets)
    assert np.array_equal(intervened[:, keep], observed[:, keep])


@SMALL
@given(pair=_scm_and_intervention(kinds=("shift",)), seed=st.integers(0, 2**32 - 1))
def test_shift_moves_targets_by_exactly_delta(pair, seed):
    scm, intervention = pair
    observed = scm.sample(N, seed=seed)
    shifted = scm.sample(N, intervention, seed=seed)
    keep = _unaffected(scm, intervention.targets)
    assert np.array_equal(shifted[:, keep], observed[:, keep])
    for j, delta in intervention.changes:
        upstream = nx.ancestors(scm.graph, j) & set(intervention.targets)
        if not upstream:
            assert np.array_equal(shifted[:, j], observed[:, j] + delta)


def test_shift_below_another_shift_acts_through_the_mechanism():
    scm = LatentSCM(chain(2), "linear", seed=0)
    observed = scm.sample(N, seed=3)
    both = scm.sample(N, shift({0: 1.0, 1: 2.0}), seed=3)
    top = scm.sample(N, shift({0: 1.0}), seed=3)
    assert np.allclose(both[:, 1], top[:, 1] + 2.0)
    assert np.allclose(both[:, 0], observed[:, 0] + 1.0)


@SMALL
@given(pair=_scm_and_intervention(kinds=("soft",)), seed=st.integers(0, 2**32 - 1))
def test_soft_changes_targets_but_not_their_ancestors(pair, seed):
    scm, intervention = pair
    observed = scm.sample(N, seed=seed)
    softened = scm.sample(N, intervention, seed=seed)
    keep = _unaffected(scm, intervention.targets)
    assert np.array_equal(softened[:, keep], observed[:, keep])
    for j in intervention.targets:
        assert not np.allclose(softened[:, j], observed[:, j])


@pytest.mark.parametrize("factor", [-1.0, 0.5, 3.0])
def test_soft_target_still_depends_on_its_parent(factor):
    scm = LatentSCM(chain(2), "linear", seed=0)
    observed = scm.sample(200, seed=1)
    softened = scm.sample(200, soft({1: factor}), seed=1)
    # With the noise shared, the change is (factor - 1) times the parent effect,
    # an exact affine function of the parent with a non-zero slope.
    change = softened[:, 1] - observed[:, 1]
    slope, intercept = np.polyfit(observed[:, 0], change, 1)
    assert np.allclose(change, slope * observed[:, 0] + intercept)
    assert abs(slope) > 0.1
    assert abs(np.corrcoef(softened[:, 0], softened[:, 1])[0, 1]) > 0.2


def test_soft_mechanism_sees_parents_and_noise():
    scm = LatentSCM(fork(3), "mlp", seed=0)
    observed = scm.sample(N, seed=2)
    softened = scm.sample(N, soft({2: lambda u, e: 3.0 * u[:, 0] + 0.0 * e}), seed=2)
    assert np.array_equal(softened[:, 2], 3.0 * observed[:, 0])
    roots = scm.sample(N, soft({0: lambda u, e: 2.0 * e}), seed=2)
    assert np.array_equal(roots[:, 0], 2.0 * observed[:, 0])


def test_random_do_is_independent_of_parents():
    scm = LatentSCM(chain(3), "linear", seed=0)
    observed = scm.sample(2000, seed=4)
    intervened = scm.sample(2000, do({1: lambda rng, n: rng.uniform(-1, 1, n)}), seed=4)
    assert np.array_equal(intervened[:, 0], observed[:, 0])
    assert np.all(np.abs(intervened[:, 1]) <= 1)
    assert abs(np.corrcoef(intervened[:, 0], intervened[:, 1])[0, 1]) < 0.1
    assert abs(np.corrcoef(intervened[:, 1], intervened[:, 2])[0, 1]) > 0.3


@SMALL
@given(scm=latent_scms(), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_children_follow_their_parents(scm, data, seed):
    j = data.draw(st.sampled_from(range(scm.latent_dim)))
    low = scm.sample(N, do({j: -1.0}), seed=seed)
    high = scm.sample(N, do({j: 1.5}), seed=seed)
    for child in scm.graph.successors(j):
        assert np.all(low[:, child] != high[:, child])
    keep = _unaffected(scm, [j])
    assert np.array_equal(low[:, keep], high[:, keep])


def test_sampling_follows_the_topological_order_not_the_labels():
    graph = nx.DiGraph([(2, 1), (1, 0)])
    scm = LatentSCM(graph, "linear", noise_scale=0.1, seed=0)
    z = scm.sample(500, seed=0)
    assert abs(np.corrcoef(z[:, 2], z[:, 0])[0, 1]) > 0.9
    assert scm.parents(0) == (1,)
    assert scm.parents(2) == ()


@pytest.mark.parametrize("mechanism", ["linear", "mlp"])
@pytest.mark.parametrize("noise", ["gaussian", "uniform", "laplace", "gmm", "student_t"])
def test_variances_stay_bounded_along_a_long_chain(mechanism, noise):
    for seed in range(3):
        z = LatentSCM(chain(20), mechanism, noise, seed=seed).sample(5000, seed=seed)
        assert np.all((z.std(axis=0) > 0.1) & (z.std(axis=0) < 10))


@pytest.mark.parametrize("mechanism", ["linear", "mlp", "polynomial"])
def test_variances_stay_bounded_in_a_dense_graph(mechanism):
    graph = fully_connected(4) if mechanism == "polynomial" else fully_connected(12)
    for seed in range(3):
        z = LatentSCM(graph, mechanism, "gaussian", seed=seed).sample(5000, seed=seed)
        assert np.all((z.std(axis=0) > 0.1) & (z.std(axis=0) < 10))


def test_noise_laws_are_standardised():
    graph = nx.empty_graph(1, create_using=nx.DiGraph)
    for noise in ("gaussian", "uniform", "laplace", "gmm"):
        z = LatentSCM(graph, noise=noise, noise_scale=2.0).sample(50000, seed=0)[:, 0]
        assert abs(z.mean()) < 0.05
        assert z.std() == pytest.approx(2.0, rel=0.03)


def test_student_t_noise_has_three_degrees_of_freedom_at_unit_variance():
    from scipy import stats

    graph = nx.empty_graph(1, create_using=nx.DiGraph)
    z = LatentSCM(graph, noise="student_t", noise_scale=2.0).sample(50000, seed=0)[:, 0]
    quartiles = np.percentile(z, [25, 75])
    expected = 2.0 * stats.t.ppf([0.25, 0.75], 3) / np.sqrt(3.0)
    np.testing.assert_allclose(quartiles, expected, rtol=0.03)


def test_polynomial_on_a_deep_graph_warns():
    with pytest.warns(UserWarning, match="path of 5 edges"):
        LatentSCM(chain(6), "polynomial")


def test_graph_is_a_frozen_copy():
    graph = chain(3)
    scm = LatentSCM(graph)
    graph.add_edge(0, 2)
    assert not scm.graph.has_edge(0, 2)
    with pytest.raises(nx.NetworkXError):
        scm.graph.add_edge(0, 2)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="graph has a cycle"):
        LatentSCM(nx.DiGraph([(0, 1), (1, 0)]))
    with pytest.raises(ValueError, match=r"graph nodes must be 0..d-1, got \[1, 2\]"):
        LatentSCM(nx.DiGraph([(1, 2)]))
    with pytest.raises(ValueError, match="unknown mechanism 'gp'"):
        LatentSCM(chain(2), mechanism="gp")
    with pytest.raises(ValueError, match="unknown noise 'cauchy'"):
        LatentSCM(chain(2), noise="cauchy")
    with pytest.raises(ValueError, match="noise_scale must be a positive number"):
        LatentSCM(chain(2), noise_scale=0)
    scm = LatentSCM(chain(3))
    for n in (-5, 0, 2.5):
        with pytest.raises(ValueError, match="n must be a positive int"):
            scm.sample(n)
    with pytest.raises(ValueError, match=r"node 3, but the model has d=3"):
        scm.sample(5, do({3: 1.0}))
    with pytest.raises(ValueError, match="node 0, which has none"):
        scm.sample(5, soft({0: 2.0}))
    with pytest.raises(TypeError, match="built with do, shift or soft"):
        scm.sample(5, {0: 1.0})
    with pytest.raises(ValueError, match=r"node 7 is not in the graph \(nodes 0..2\)"):
        scm.parents(7)


def test_to_dict_and_repr():
    scm = LatentSCM(chain(3), "mlp", "laplace", 0.5, seed=np.int64(4))
    assert scm.to_dict() == {
        "class": "LatentSCM",
        "mechanism": "mlp",
        "noise": "laplace",
        "noise_scale": 0.5,
        "seed": 4,
    }
    assert LatentSCM(chain(2), seed=np.random.default_rng(0)).to_dict()["seed"] is None
    assert "d=3" in repr(scm)
    assert "edges=2" in repr(scm)
