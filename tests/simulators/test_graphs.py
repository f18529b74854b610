import random

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causalrep.testing.simulation import dags
from simulators import (
    chain,
    check_dag,
    collider,
    erdos_renyi,
    fork,
    fully_connected,
    scale_free,
)

SMALL = settings(max_examples=25, deadline=None)


def _random_graph(kind, n_nodes, seed):
    if kind == "erdos_renyi":
        return erdos_renyi(n_nodes, min(2.0, n_nodes - 1), seed=seed)
    return scale_free(n_nodes, 2, seed=seed)


@SMALL
@given(
    kind=st.sampled_from(["erdos_renyi", "scale_free"]),
    n_nodes=st.integers(1, 30),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_generators_give_dags_with_the_requested_nodes(kind, n_nodes, seed):
    graph = _random_graph(kind, n_nodes, seed)
    assert sorted(graph.nodes) == list(range(n_nodes))
    assert nx.is_directed_acyclic_graph(graph)
    assert check_dag(graph, n_nodes) is graph


@pytest.mark.parametrize("kind", ["erdos_renyi", "scale_free"])
def test_random_generators_are_seeded(kind):
    same = [_random_graph(kind, 12, seed) for seed in (7, 7)]
    assert sorted(same[0].edges) == sorted(same[1].edges)
    other = _random_graph(kind, 12, 8)
    assert sorted(other.edges) != sorted(same[0].edges)
    generator = _random_graph(kind, 12, np.random.default_rng(7))
    assert sorted(generator.edges) == sorted(same[0].edges)


@pytest.mark.parametrize("kind", ["erdos_renyi", "scale_free"])
def test_random_generators_leave_global_state_alone(kind):
    np.random.seed(3)
    random.seed(3)
    numpy_state, python_state = np.random.get_state()[1].copy(), random.getstate()
    _random_graph(kind, 15, seed=0)
    assert np.array_equal(np.random.get_state()[1], numpy_state)
    assert random.getstate() == python_state


def test_random_labels_are_not_a_topological_order():
    backwards = [any(i > j for i, j in erdos_renyi(8, 3, seed=seed).edges) for seed in range(10)]
    assert any(backwards)


def test_erdos_renyi_expected_degree():
    n_nodes, degree = 20, 3.0
    edges = [erdos_renyi(n_nodes, degree, seed=s).number_of_edges() for s in range(200)]
    assert np.mean(edges) == pytest.approx(degree * n_nodes / 2, rel=0.05)
    assert erdos_renyi(n_nodes, 0, seed=0).number_of_edges() == 0
    assert erdos_renyi(n_nodes, n_nodes - 1, seed=0).number_of_edges() == 190


def test_scale_free_gives_each_new_node_its_parents():
    graph = scale_free(30, 2, seed=0)
    assert graph.number_of_edges() == 1 + 2 * 28
    in_degrees = sorted(d for _, d in graph.in_degree)
    assert in_degrees == [0, 1] + [2] * 28
    assert max(d for _, d in graph.out_degree) > 4


def test_deterministic_structures():
    assert sorted(chain(4).edges) == [(0, 1), (1, 2), (2, 3)]
    assert sorted(fork(4).edges) == [(0, 1), (0, 2), (0, 3)]
    assert sorted(collider(4).edges) == [(0, 3), (1, 3), (2, 3)]
    assert fully_connected(5).number_of_edges() == 10
    for make in (chain, fork, collider, fully_connected):
        assert sorted(make(1).nodes) == [0]
        assert list(make(6).nodes) == list(range(6))


@SMALL
@given(graph=dags())
def test_check_dag_accepts_drawn_dags(graph):
    assert check_dag(graph) is graph


@SMALL
@given(graph=dags(min_nodes=2), data=st.data())
def test_check_dag_rejects_any_two_cycle(graph, data):
    a, b = data.draw(st.lists(st.sampled_from(list(graph.nodes)), min_size=2, max_size=2, unique=True))
    cyclic = graph.copy()
    cyclic.add_edges_from([(a, b), (b, a)])
    with pytest.raises(ValueError, match="graph has a cycle"):
        check_dag(cyclic)


def test_check_dag_names_the_cycle():
    with pytest.raises(ValueError, match=r"graph has a cycle: 0 -> 1 -> 2 -> 0"):
        check_dag(nx.DiGraph([(0, 1), (1, 2), (2, 0)]))
    with pytest.raises(ValueError, match=r"graph has a cycle: 1 -> 1"):
        check_dag(nx.DiGraph([(0, 1), (1, 1)]))


@pytest.mark.parametrize("graph", [nx.DiGraph([(1, 2)]), nx.DiGraph([(0, 2)])])
def test_check_dag_rejects_labels_other_than_0_to_d(graph):
    with pytest.raises(ValueError, match=r"graph nodes must be 0..d-1, got \["):
        check_dag(graph)


@pytest.mark.parametrize("graph", [nx.DiGraph([("a", "b")]), nx.DiGraph([(0.0, 1.0)]), nx.DiGraph([(False, True)])])
def test_check_dag_rejects_labels_that_are_not_ints(graph):
    with pytest.raises(TypeError, match="nodes must be the ints 0..d-1, got node"):
        check_dag(graph)


def test_check_dag_other_errors():
    with pytest.raises(ValueError, match="graph has 3 nodes, expected 4"):
        check_dag(chain(3), n_nodes=4)
    with pytest.raises(TypeError, match="networkx.DiGraph"):
        check_dag(nx.Graph([(0, 1)]))
    with pytest.raises(TypeError, match="networkx.DiGraph"):
        check_dag(np.eye(2))
    with pytest.raises(ValueError, match="multigraph"):
        check_dag(nx.MultiDiGraph([(0, 1), (0, 1)]))


@pytest.mark.parametrize("n_nodes", [0, -1, 2.5, "3", True])
def test_generators_reject_bad_sizes(n_nodes):
    for make in (chain, fork, collider, fully_connected):
        with pytest.raises(ValueError, match="n_nodes must be a positive int"):
            make(n_nodes)
    with pytest.raises(ValueError, match="n_nodes"):
        erdos_renyi(n_nodes, 1, seed=0)
    with pytest.raises(ValueError, match="n_nodes"):
        scale_free(n_nodes, seed=0)


@pytest.mark.parametrize("degree", [-0.5, 5, float("nan"), "2"])
def test_erdos_renyi_rejects_impossible_degrees(degree):
    with pytest.raises(ValueError, match=r"expected_degree must lie in \[0, n_nodes - 1\]"):
        erdos_renyi(5, degree, seed=0)


def test_scale_free_rejects_bad_edges_per_node():
    with pytest.raises(ValueError, match="edges_per_node"):
        scale_free(5, 0, seed=0)
