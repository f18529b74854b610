import doctest

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simulators
from causalrep import graphs
from causalrep.graphs import learn_latent_graph
from causalrep.identifiability import structural_hamming_distance

PROPERTY = settings(max_examples=10, deadline=None)


def _perfect_interventions(dag, n, seed, targets=None):
    """Linear SCM on ``dag`` with one hard do per target set, mixed linearly (unused here)."""
    d = dag.number_of_nodes()
    scm = simulators.LatentSCM(dag, mechanism="linear", seed=seed)
    targets = [(k,) for k in range(d)] if targets is None else targets
    interventions = [simulators.do({k: 2.0 for k in members}) for members in targets]
    return simulators.interventional(scm, simulators.LinearMixing(d, d), n, interventions, seed=seed)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("graph", ["chain", "erdos_renyi"])
def test_recovers_the_graph_from_true_latents_with_perfect_interventions(graph, seed):
    dag = simulators.chain(5) if graph == "chain" else simulators.erdos_renyi(6, 2.5, seed=seed)
    data = _perfect_interventions(dag, 800, seed)
    learned = learn_latent_graph(data.Z, data.regime, data.targets)
    assert structural_hamming_distance(dag, learned).shd == 0
    assert learned.graph["untested"] == ()
    assert all(0 <= attrs["p_ancestor"] <= 0.05 for *_, attrs in learned.edges(data=True))


@PROPERTY
@given(
    st.integers(0, 2**16),
    st.lists(st.floats(0.05, 20.0), min_size=4, max_size=4),
    st.lists(st.sampled_from([-1.0, 1.0]), min_size=4, max_size=4),
)
def test_the_graph_does_not_change_when_latents_are_rescaled(seed, scales, signs):
    data = _perfect_interventions(simulators.erdos_renyi(4, 2.0, seed=seed), 400, seed)
    base = learn_latent_graph(data.Z, data.regime, data.targets)
    moved = learn_latent_graph(data.Z * np.array(scales) * np.array(signs) + 3.0, data.regime, data.targets)
    assert sorted(moved.edges) == sorted(base.edges)


def test_independent_latents_give_the_empty_graph():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 4))
    regime = np.repeat([0, 1, 2, 3, 4], 400)
    for k in range(1, 5):
        z[regime == k, k - 1] = 2.0
    learned = learn_latent_graph(z, regime, {0: (), 1: (0,), 2: (1,), 3: (2,), 4: (3,)})
    assert learned.number_of_edges() == 0


def test_a_joint_regime_resolves_its_only_latent_without_a_regime_of_its_own():
    dag = simulators.chain(3)
    data = _perfect_interventions(dag, 800, 0, targets=[(1,), (2,), (0, 2)])
    learned = learn_latent_graph(data.Z, data.regime, data.targets)
    assert sorted(learned.edges) == [(0, 1), (1, 2)]
    assert learned.graph["untested"] == ()

    without = data.subset([0, 1, 2])
    learned = learn_latent_graph(without.Z, without.regime, without.targets)
    assert sorted(learned.edges) == [(1, 2)]
    assert learned.graph["untested"] == (0,)


def test_the_direct_edge_test_keeps_a_shortcut_and_drops_a_mediated_path():
    triangle = nx.DiGraph([(0, 1), (1, 2), (0, 2)])
    data = _perfect_interventions(triangle, 800, 3)
    learned = learn_latent_graph(data.Z, data.regime, data.targets)
    assert sorted(learned.edges) == [(0, 1), (0, 2), (1, 2)]
    assert learned.edges[0, 2]["p_direct"] <= 0.05
    chain = _perfect_interventions(simulators.chain(3), 800, 3)
    assert sorted(learn_latent_graph(chain.Z, chain.regime, chain.targets).edges) == [(0, 1), (1, 2)]


def test_bad_input_raises_clear_errors():
    z = np.random.default_rng(0).normal(size=(40, 2))
    regime = np.repeat([0, 1], 20)
    targets = {0: (), 1: (0,)}
    with pytest.raises(ValueError, match="shape"):
        learn_latent_graph(z, regime[:10], targets)
    with pytest.raises(ValueError, match=r"regimes \[1\] appear"):
        learn_latent_graph(z, regime, {0: ()})
    with pytest.raises(ValueError, match="outside the 2 latents"):
        learn_latent_graph(z, regime, {0: (), 1: (5,)})
    with pytest.raises(ValueError, match="targets are empty"):
        learn_latent_graph(z, regime, {0: (), 1: ()})
    with pytest.raises(ValueError, match="regime 0 must be present"):
        learn_latent_graph(z, regime + 1, {1: (0,), 2: (1,)})
    with pytest.raises(ValueError, match="correction"):
        learn_latent_graph(z, regime, targets, correction="none")
    with pytest.raises(ValueError, match="alpha"):
        learn_latent_graph(z, regime, targets, alpha=0)
    with pytest.raises(TypeError, match="ints"):
        learn_latent_graph(z, regime.astype(float), targets)


def test_docstring_examples():
    assert doctest.testmod(graphs).failed == 0
