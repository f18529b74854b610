import doctest
import itertools
import json

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causalrep.identifiability import (
    GraphDistance,
    amari_distance,
    graph_metrics,
    structural_hamming_distance,
)
from causalrep.testing.simulation import dags

PROPERTY = settings(max_examples=40, deadline=None)


def _relabel(graph, mapping):
    """Node ``i`` becomes ``mapping[i]``."""
    return nx.relabel_nodes(graph, dict(enumerate(mapping)))


def _reference_shd(a, b):
    """Pair by pair: count the unordered pairs whose link (none, i->j, j->i) differs."""
    count = 0
    for i, j in itertools.combinations(sorted(a.nodes), 2):
        link_a = (a.has_edge(i, j), a.has_edge(j, i))
        link_b = (b.has_edge(i, j), b.has_edge(j, i))
        count += link_a != link_b
    return count


@PROPERTY
@given(st.integers(2, 7).flatmap(lambda d: st.tuples(dags(d, d), dags(d, d))))
def test_shd_agrees_with_a_pairwise_count_and_is_symmetric(pair):
    a, b = pair
    result = structural_hamming_distance(a, b)
    assert result.shd == _reference_shd(a, b) == structural_hamming_distance(b, a).shd
    assert result.shd == result.missing + result.extra + result.reversed
    assert result.missing == structural_hamming_distance(b, a).extra


@PROPERTY
@given(dags(2, 7).flatmap(lambda g: st.tuples(st.just(g), st.permutations(range(len(g))))))
def test_shd_is_zero_after_the_matching_that_relabelled_the_graph(drawn):
    graph, permutation = drawn
    learned = _relabel(graph, permutation)
    assert structural_hamming_distance(graph, learned, matching=permutation).shd == 0
    reversed_graph = learned.reverse()
    result = structural_hamming_distance(graph, reversed_graph, matching=permutation)
    assert (result.shd, result.reversed) == (graph.number_of_edges(),) * 2


def test_shd_counts_a_reversed_edge_once_and_ignores_unmatched_nodes():
    true = nx.DiGraph([(0, 1)])
    assert structural_hamming_distance(true, nx.DiGraph([(1, 0)])).to_dict() == {
        "shd": 1,
        "missing": 0,
        "extra": 0,
        "reversed": 1,
        "matching": [0, 1],
    }
    learned = nx.DiGraph([(2, 0), (1, 2)])
    learned.add_node(3)
    assert structural_hamming_distance(true, learned, matching=(2, 0)).shd == 0


def test_shd_rejects_bad_input():
    g = nx.DiGraph([(0, 1)])
    with pytest.raises(TypeError, match="networkx.DiGraph"):
        structural_hamming_distance(nx.to_numpy_array(g), g)
    with pytest.raises(ValueError, match="pass a matching"):
        structural_hamming_distance(g, nx.DiGraph([(0, 1), (1, 2)]))
    with pytest.raises(ValueError, match="distinct indices"):
        structural_hamming_distance(g, g, matching=(0, 0))
    with pytest.raises(ValueError, match="nodes 0..1"):
        structural_hamming_distance(g, nx.DiGraph([(0, 5)]))


def _reference_amari(p):
    p = np.abs(p)
    d = len(p)
    total = 0.0
    for i in range(d):
        total += sum(p[i]) / max(p[i]) - 1
        total += sum(p[:, i]) / max(p[:, i]) - 1
    return total / (2 * d * (d - 1))


SCALES = st.floats(0.1, 10.0).flatmap(lambda m: st.sampled_from([m, -m]))


@PROPERTY
@given(
    st.integers(2, 6).flatmap(
        lambda d: st.tuples(
            st.permutations(range(d)),
            st.permutations(range(d)),
            st.lists(SCALES, min_size=d, max_size=d),
            st.lists(SCALES, min_size=d, max_size=d),
            st.integers(0, 2**31),
        )
    )
)
def test_amari_is_invariant_to_permutations_and_zero_on_scaled_permutations(drawn):
    rows, cols, row_scales, col_scales, seed = drawn
    d = len(rows)
    matrix = np.random.default_rng(seed).normal(size=(d, d))
    moved = row_scales[0] * matrix[np.ix_(rows, cols)]
    assert amari_distance(moved) == pytest.approx(amari_distance(matrix), abs=1e-12)
    assert amari_distance(matrix) == pytest.approx(_reference_amari(matrix), abs=1e-12)
    assert 0 <= amari_distance(matrix) <= 1
    scaled_permutation = (np.diag(row_scales) @ np.eye(d)[list(cols)]) * np.array(col_scales)
    assert amari_distance(scaled_permutation) == 0.0


def test_amari_extremes_and_errors():
    assert amari_distance(np.ones((4, 4))) == 1.0
    assert amari_distance(np.eye(3) + 1e-3) < 0.01
    with pytest.raises(ValueError, match="square"):
        amari_distance(np.ones((2, 3)))
    with pytest.raises(ValueError, match="zero row or column"):
        amari_distance(np.array([[1.0, 0.0], [0.0, 0.0]]))


def test_docstring_examples_and_json():
    assert doctest.testmod(graph_metrics, extraglobs={"np": np}).failed == 0
    result = structural_hamming_distance(nx.DiGraph([(0, 1)]), nx.DiGraph([(1, 0)]))
    assert isinstance(result, GraphDistance)
    assert json.loads(json.dumps(result.to_dict()))["reversed"] == 1


def test_check_scores_the_learned_graph_after_its_matching():
    from causalrep.identifiability import check

    z = np.random.default_rng(0).normal(size=(500, 3))
    z_hat = -z[:, [1, 2, 0]]  # coordinate 0 holds latent 1, 1 holds 2, 2 holds 0
    true = nx.DiGraph([(0, 1), (1, 2)])
    report = check(z, z_hat, graph_true=true, graph_hat=nx.DiGraph([(2, 0), (1, 0)]))
    assert (report.graph.shd, report.graph.reversed) == (1, 1)
    assert "latent graph: SHD 1" in report.summary()
    assert json.loads(json.dumps(report.to_dict()))["graph"]["shd"] == 1
    with pytest.raises(ValueError, match="pass both"):
        check(z, z_hat, graph_true=true)
