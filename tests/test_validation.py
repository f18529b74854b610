"""causalrep.validation: the shared readers of graphs and interventions, and declared parameter constraints."""

import numbers

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from causalrep.exceptions import ParameterError
from causalrep.testing.simulation import dags
from causalrep.validation import (
    SEED,
    Interval,
    Options,
    as_dag,
    as_do,
    check_param,
    check_standardisable,
    column_stats,
    validate_params,
)

SMALL = settings(max_examples=40, deadline=None)


def _same(a, b):
    return sorted(a.nodes) == sorted(b.nodes) and set(a.edges) == set(b.edges)


@SMALL
@given(graph=dags(min_nodes=1))
def test_every_form_of_a_dag_reads_as_the_same_graph(graph):
    d = graph.number_of_nodes()
    edges = list(graph.edges)
    forms = [
        graph,
        edges,
        {"nodes": list(graph.nodes), "edges": [list(e) for e in edges]},
        nx.relabel_nodes(graph, {j: np.int64(j) for j in graph.nodes}),
    ]
    for form in forms:
        read = as_dag(form, d)
        assert _same(read, graph)
        assert all(type(j) is int for j in read.nodes)
        assert list(read.nodes) == list(range(d))
    assert as_dag(graph) is not graph  # a fresh graph: the caller's stays theirs


@SMALL
@given(graph=dags(min_nodes=2), data=st.data())
def test_any_back_edge_is_refused_naming_a_cycle(graph, data):
    a, b = data.draw(st.lists(st.sampled_from(list(graph.nodes)), min_size=2, max_size=2, unique=True))
    cyclic = list(graph.edges) + [(a, b), (b, a)]
    with pytest.raises(ValueError, match=r"graph has a cycle: (\d+ -> )+\d+$"):
        as_dag(cyclic)


def test_edges_alone_take_their_nodes_from_n_nodes():
    assert list(as_dag([(0, 1)], 4).nodes) == [0, 1, 2, 3]
    assert list(as_dag([(0, 2)]).nodes) == [0, 1, 2]
    assert list(as_dag([], 2).nodes) == [0, 1]


@pytest.mark.parametrize(
    ("graph", "error", "message"),
    [
        (nx.Graph([(0, 1)]), TypeError, "undirected Graph"),
        (np.eye(2), TypeError, "got ndarray"),
        (3, TypeError, "got int"),
        ([(0, 1, 2)], TypeError, r"an edge must be a pair of ints, got \(0, 1, 2\)"),
        ([(0.0, 1)], TypeError, "an edge must be a pair of ints"),
        (nx.DiGraph([("a", "b")]), TypeError, "graph nodes must be the ints 0..d-1, got node 'a'"),
        ({"nodes": [1, 2], "edges": [[1, 2]]}, ValueError, r"^graph nodes must be 0..d-1, got \[1, 2\]$"),
        ({"edges": [], "weights": []}, ValueError, "graph dict takes 'nodes' and 'edges'"),
        (nx.MultiDiGraph([(0, 1), (0, 1)]), ValueError, "multigraph"),
        ([(0, 0)], ValueError, "^graph has a cycle: 0 -> 0$"),
    ],
)
def test_bad_graphs_are_refused_by_name(graph, error, message):
    with pytest.raises(error, match=message):
        as_dag(graph)


def test_the_number_of_nodes_is_checked():
    with pytest.raises(ValueError, match="graph has 3 nodes, expected 4"):
        as_dag(nx.DiGraph([(0, 1), (1, 2)]), 4)


@SMALL
@given(n=st.integers(1, 6), value=st.floats(-1e6, 1e6), data=st.data())
def test_do_values_become_one_array_per_node(n, value, data):
    names = ["a", "b", "c"]
    node = data.draw(st.sampled_from([0, 1, 2, "a", "b", "c"]))
    index = node if isinstance(node, int) else names.index(node)
    read = as_do({node: value}, names, n)
    assert list(read) == [index]
    assert read[index].shape == (n,)
    assert read[index].dtype == np.float64
    np.testing.assert_array_equal(read[index], np.full(n, value))
    array = np.arange(n, dtype=float)
    np.testing.assert_array_equal(as_do({index: array}, 3, n)[index], array)


def test_do_keeps_index_order_and_refuses_bad_requests():
    assert list(as_do({2: 1.0, "a": 0.0}, ["a", "b", "c"], 2)) == [0, 2]
    with pytest.raises(ValueError, match=r"unknown do node 'mass'; use indices 0..2 or names \['a'"):
        as_do({"mass": 1.0}, ["a", "b", "c"], 2)
    with pytest.raises(ValueError, match="^unknown do node 3; use indices 0..2$"):
        as_do({3: 1.0}, 3, 2)
    with pytest.raises(ValueError, match="unknown do node True"):
        as_do({True: 1.0}, 3, 2)
    with pytest.raises(ValueError, match="do names node 0 twice"):
        as_do({0: 1.0, "a": 2.0}, ["a", "b"], 2)
    with pytest.raises(ValueError, match=r"do\[1\] must be a number or have shape \(2,\)"):
        as_do({1: np.ones(3)}, 3, 2)
    with pytest.raises(ValueError, match=r"do\[1\] contains 1 non-finite"):
        as_do({1: np.nan}, 3, 2)
    with pytest.raises(TypeError, match="do must be a dict node -> value, got list"):
        as_do([1.0], 3, 2)


@validate_params(
    fraction=Interval(numbers.Real, 0, 1, closed="left"),
    count=Interval(numbers.Integral, 1, None),
    kind=Options("a", "b"),
    flag=bool,
    seed=SEED,
)
def _declared(fraction, count=1, kind="a", flag=False, seed=0):
    return fraction, count, kind, flag, seed


@SMALL
@given(
    name=st.sampled_from(["fraction", "count", "kind", "flag", "seed"]),
    value=st.one_of(
        st.text(max_size=3),
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.lists(st.integers(), max_size=2),
        st.sampled_from([np.uint64(2**64 - 1), np.int8(-1), np.float32(0.5), np.random.default_rng(0)]),
    ),
)
def test_declared_parameters_accept_exactly_their_values(name, value):
    """Every value is either accepted as declared or refused naming the parameter,
    the accepted values and the value given (never Python's comparison errors)."""
    args = {"fraction": 0.5, name: value}
    allowed = _declared._parameter_constraints[name]
    expected = any(
        (c is None and value is None)
        or (c is bool and isinstance(value, (bool, np.bool_)))
        or (isinstance(c, type) and c is not bool and isinstance(value, c))
        or (isinstance(c, (Interval, Options)) and value in c)
        for c in allowed
    )
    if expected:
        assert _declared(**args)[list(_declared._parameter_constraints).index(name)] is value
        return
    with pytest.raises(ParameterError) as caught:
        _declared(**args)
    message = str(caught.value)
    assert message.startswith(f"{name} must be "), message
    assert ", got " in message, message
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, TypeError)


def test_constraints_read_as_words():
    assert str(Interval(numbers.Real, 0, 1, closed="neither")) == "a number in (0, 1)"
    assert str(Interval(numbers.Integral, 2, None)) == "an int >= 2"
    assert 2**64 - 1 in Interval(numbers.Integral, 0, None)
    assert np.uint64(2**64 - 1) in Interval(numbers.Integral, 0, None)
    assert True not in Interval(numbers.Integral, 0, None)
    assert np.inf not in Interval(numbers.Real, 0, None)
    with pytest.raises(ParameterError, match=r"^count must be an int >= 1, got '3' \(a str\)$"):
        _declared(0.5, count="3")
    with pytest.raises(ParameterError, match=r"^kind must be one of 'a', 'b', got 'c' \(a str\)$"):
        _declared(0.5, kind="c")
    with pytest.raises(ParameterError, match=r"^seed must be an int >= 0, a numpy.random.Generator or None"):
        check_param(1.5, "seed", *SEED)
    with pytest.raises(TypeError, match="has no parameter"):
        validate_params(missing=bool)(_declared.__wrapped__)


@SMALL
@given(offset=st.sampled_from([0.0, 1e9, 1e15, -1e15]), spread=st.floats(1.0, 12.0), seed=st.integers(0, 9))
def test_constancy_is_judged_on_the_values_not_their_magnitude(offset, spread, seed):
    """1e15 + noise of standard deviation 3 varies (its values are distinct float64
    numbers); it used to be refused as 'all rows are identical'. Only equal values are constant."""
    x = offset + spread * np.random.default_rng(seed).normal(size=(30, 3))
    mean, std = check_standardisable(x, "X", "Autoencoder")
    np.testing.assert_allclose(std, (x - offset).std(axis=0), rtol=1e-6)
    constant = np.full((30, 3), offset + 1e-7)
    assert not np.any(column_stats(constant)[1])


def test_docstring_examples():
    import doctest

    from causalrep import validation

    assert doctest.testmod(validation).failed == 0


FAST = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _z(n=400, d=3, seed=0):
    return np.random.default_rng(seed).laplace(size=(n, d))


@FAST
@given(exponent=st.integers(-318, -301), column=st.integers(0, 2))
def test_spread_float64_cannot_hold_is_refused_naming_the_column(exponent, column):
    X = np.ones((50, 3)) + _z(50)
    X[:, column] = _z(50)[:, column] * 10.0**exponent
    assume(column_stats(X)[1][column] > 0)
    with pytest.raises(
        ValueError,
        match=rf"^X column {column} has standard deviation .* "
        r"below 1e-300",
    ):
        check_standardisable(X, "X", "Autoencoder")
