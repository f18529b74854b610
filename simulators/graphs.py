"""Directed acyclic graphs over latent variables, as ``networkx.DiGraph``.

Every generator returns a DAG whose nodes are the ints ``0..d-1``. The random
generators draw a causal order as a random permutation, so node labels carry
no information about the order (a sampler that loops over ``range(d)`` instead
of a topological order fails on them). Randomness comes only from the ``seed``
argument, never from global state.
"""

import numbers

import networkx as nx
import numpy as np

from causalrep.validation import Seed, as_dag, as_generator, check_positive

__all__ = [
    "check_dag",
    "erdos_renyi",
    "scale_free",
    "chain",
    "fork",
    "collider",
    "fully_connected",
]


def check_dag(graph: nx.DiGraph, n_nodes: int | None = None) -> nx.DiGraph:
    r"""Raise unless ``graph`` is a DAG with nodes ``0..d-1``.

    Arguments:
        graph: A ``networkx.DiGraph``.
        n_nodes: Required number of nodes, or None to accept any.

    Returns:
        The graph, unchanged.

    Raises:
        TypeError: if ``graph`` is not a ``networkx.DiGraph``, or has a node
            that is not an int.
        ValueError: if the graph is a multigraph, has a cycle (self-loops
            included), has nodes other than ``0..d-1``, or has a number of
            nodes other than ``n_nodes`` (the checks of
            :func:`causalrep.validation.as_dag`).

    Example:
        >>> check_dag(nx.DiGraph([(0, 1), (1, 0)]))
        Traceback (most recent call last):
        ...
        ValueError: graph has a cycle: 0 -> 1 -> 0
    """
    if not isinstance(graph, nx.DiGraph):
        raise TypeError(f"graph must be a networkx.DiGraph, got {type(graph).__name__}")
    as_dag(graph, n_nodes)
    return graph


def erdos_renyi(n_nodes: int, expected_degree: float, seed: Seed = 0) -> nx.DiGraph:
    r"""Random DAG where each pair of nodes is linked with the same probability.

    A causal order is drawn uniformly at random and each of the
    :math:`d(d-1)/2` pairs gets an edge, from the earlier to the later node,
    with probability :math:`p = \text{expected\_degree} / (d - 1)`.

    Arguments:
        n_nodes: Number of nodes d >= 1.
        expected_degree: Expected number of neighbours (parents plus children)
            of a node, in [0, d - 1]; the expected number of edges is
            ``expected_degree * d / 2``.
        seed: int or numpy Generator.

    Returns:
        DiGraph with nodes 0..d-1.
    """
    check_positive(n_nodes, "n_nodes", integer=True)
    if not isinstance(expected_degree, numbers.Real) or not (0 <= expected_degree <= n_nodes - 1):
        raise ValueError(f"expected_degree must lie in [0, n_nodes - 1] = [0, {n_nodes - 1}], got {expected_degree!r}")
    rng = as_generator(seed)
    order = rng.permutation(n_nodes)
    p = expected_degree / (n_nodes - 1) if n_nodes > 1 else 0.0
    upper = np.triu(rng.random((n_nodes, n_nodes)) < p, k=1)
    rows, cols = np.nonzero(upper)
    return _dag(n_nodes, zip(order[rows].tolist(), order[cols].tolist(), strict=True))


def scale_free(n_nodes: int, edges_per_node: int = 1, seed: Seed = 0) -> nx.DiGraph:
    r"""Random DAG grown by preferential attachment (Barabasi-Albert).

    Nodes arrive one at a time in a random causal order; each new node takes
    ``edges_per_node`` parents among the nodes already present, chosen without
    replacement with probability proportional to their degree plus one. Early
    nodes become hubs with many children.

    Arguments:
        n_nodes: Number of nodes d >= 1.
        edges_per_node: Parents given to each arriving node (fewer for the
            first nodes, which have fewer candidates).
        seed: int or numpy Generator.

    Returns:
        DiGraph with nodes 0..d-1.
    """
    check_positive(n_nodes, "n_nodes", integer=True)
    check_positive(edges_per_node, "edges_per_node", integer=True)
    rng = as_generator(seed)
    order = rng.permutation(n_nodes)
    degree = np.zeros(n_nodes)
    edges = []
    for t in range(1, n_nodes):
        weight = degree[:t] + 1.0
        parents = rng.choice(t, size=min(edges_per_node, t), replace=False, p=weight / weight.sum())
        degree[parents] += 1
        degree[t] += parents.size
        edges.extend((int(order[s]), int(order[t])) for s in parents)
    return _dag(n_nodes, edges)


def chain(n_nodes: int) -> nx.DiGraph:
    """The chain ``0 -> 1 -> ... -> d-1``."""
    check_positive(n_nodes, "n_nodes", integer=True)
    return _dag(n_nodes, ((j, j + 1) for j in range(n_nodes - 1)))


def fork(n_nodes: int) -> nx.DiGraph:
    """Node 0 is the common cause of every other node."""
    check_positive(n_nodes, "n_nodes", integer=True)
    return _dag(n_nodes, ((0, j) for j in range(1, n_nodes)))


def collider(n_nodes: int) -> nx.DiGraph:
    """Node d-1 is the common effect of every other node."""
    check_positive(n_nodes, "n_nodes", integer=True)
    return _dag(n_nodes, ((j, n_nodes - 1) for j in range(n_nodes - 1)))


def fully_connected(n_nodes: int) -> nx.DiGraph:
    """Edges ``i -> j`` for every ``i < j``: the densest DAG."""
    check_positive(n_nodes, "n_nodes", integer=True)
    return _dag(n_nodes, ((i, j) for i in range(n_nodes) for j in range(i + 1, n_nodes)))


def _dag(n_nodes, edges):
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n_nodes))
    graph.add_edges_from(edges)
    return check_dag(graph, n_nodes)
