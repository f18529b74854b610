r"""Distances between graphs over latents and between linear maps.

* :func:`structural_hamming_distance`: edges to add, remove or reverse to
  turn a learned DAG into the true one, after matching learned latents to
  true ones (the matching of :func:`~causalrep.identifiability.mcc`).
* :func:`amari_distance`: how far a square matrix is from a scaled
  permutation, the score of linear unmixing.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np

from causalrep.identifiability._json import JSONFields
from causalrep.validation import ArrayLike, as_float_array

__all__ = ["GraphDistance", "amari_distance", "structural_hamming_distance"]


@dataclass(frozen=True)
class GraphDistance(JSONFields):
    r"""Structural Hamming distance and its parts.

    Attributes:
        shd: ``missing + extra + reversed``.
        missing: True edges with no edge between the pair in the learned graph.
        extra: Learned edges between pairs that the true graph leaves unlinked.
        reversed: Pairs linked in both graphs, in opposite directions.
        matching: ``matching[i]`` is the learned node compared with true node ``i``.
    """

    shd: int
    missing: int
    extra: int
    reversed: int
    matching: tuple


def structural_hamming_distance(
    graph_true: nx.DiGraph, graph_hat: nx.DiGraph, matching: Sequence[int] | None = None
) -> GraphDistance:
    r"""Structural Hamming distance between a true and a learned DAG over latents.

    The number of unordered pairs of latents whose link differs: a missing
    edge, an extra edge or a reversed edge each count once (Tsamardinos,
    Brown and Aliferis, "The max-min hill-climbing Bayesian network structure
    learning algorithm", Machine Learning 2006, as used for latent graphs
    after permutation matching by the comparison code of contrastive CRL).
    Learned nodes are first renamed through ``matching``; a learned node no
    true node is matched to, and its edges, are left out.

    Arguments:
        graph_true: ``networkx.DiGraph`` over ``range(d)``.
        graph_hat: ``networkx.DiGraph`` over ``range(k)``, k >= d.
        matching: ``matching[i]`` is the learned node of true node ``i``
            (e.g. ``mcc(z_true, z_hat).matching``), d distinct indices; None
            for the identity (then k must equal d).

    Returns:
        GraphDistance with the SHD and its missing, extra and reversed parts.

    Example:
        >>> true = nx.DiGraph([(0, 1), (1, 2)])
        >>> structural_hamming_distance(true, nx.DiGraph([(1, 0), (0, 2)]),
        ...                             matching=(0, 1, 2)).shd
        3
        >>> structural_hamming_distance(true, nx.DiGraph([(2, 0), (0, 1)]),
        ...                             matching=(2, 0, 1)).shd
        0
    """
    a_true = _adjacency(graph_true, "graph_true")
    a_hat = _adjacency(graph_hat, "graph_hat")
    d, k = len(a_true), len(a_hat)
    if matching is None:
        if k != d:
            raise ValueError(f"graph_hat has {k} nodes and graph_true {d}: pass a matching")
        matching = tuple(range(d))
    arr = np.asarray(matching)
    if (
        arr.shape != (d,)
        or not np.issubdtype(arr.dtype, np.integer)
        or arr.min() < 0
        or arr.max() >= k
        or len(np.unique(arr)) != d
    ):
        raise ValueError(f"matching must hold {d} distinct indices in [0, {k}), got {list(matching)}")
    a_hat = a_hat[np.ix_(arr, arr)]
    upper = np.triu(np.ones((d, d), dtype=bool), 1)
    linked_true = (a_true | a_true.T) & upper
    linked_hat = (a_hat | a_hat.T) & upper
    both = linked_true & linked_hat
    reversed_ = int(np.sum(both & ((a_true != a_hat) | (a_true.T != a_hat.T))))
    missing = int(np.sum(linked_true & ~linked_hat))
    extra = int(np.sum(linked_hat & ~linked_true))
    return GraphDistance(
        shd=missing + extra + reversed_,
        missing=missing,
        extra=extra,
        reversed=reversed_,
        matching=tuple(int(j) for j in arr),
    )


def amari_distance(matrix: ArrayLike) -> float:
    r"""Amari distance of a square matrix from the scaled permutations.

    For :math:`P \in \mathbb{R}^{d \times d}` (the product of an estimated
    unmixing and the true mixing, or the linear map from true to estimated
    latents),

    .. math::
        \frac{1}{2d(d-1)} \Big[\sum_i \Big(\frac{\sum_j |p_{ij}|}{\max_j |p_{ij}|} - 1\Big)
        + \sum_j \Big(\frac{\sum_i |p_{ij}|}{\max_i |p_{ij}|} - 1\Big)\Big],

    the normalised performance index of Amari, Cichocki and Yang, "A new
    learning algorithm for blind signal separation" (NeurIPS 1995). It lies
    in [0, 1] and is 0 exactly when :math:`P` has one nonzero entry per row
    and column; it does not change when rows or columns are permuted or
    :math:`P` is multiplied by a number (rescaling single rows or columns
    of a matrix that is not a scaled permutation does change it).

    Arguments:
        matrix: Square array, shape (d, d), d >= 2, no zero row or column.

    Returns:
        The distance, a float in [0, 1].

    Example:
        >>> amari_distance(np.array([[0.0, 3.0], [-2.0, 0.0]]))
        0.0
        >>> amari_distance(np.ones((2, 2)))
        1.0
    """
    p = np.abs(as_float_array(matrix, "matrix", ndim=2))
    d = p.shape[0]
    if p.shape != (d, d) or d < 2:
        raise ValueError(f"matrix must be square with d >= 2, got shape {p.shape}")
    if np.any(p.max(axis=1) == 0) or np.any(p.max(axis=0) == 0):
        raise ValueError("matrix has a zero row or column: it is not invertible")
    # Each row (column) divided by its largest entry before it is summed: no overflow at any scale.
    rows = np.sum((p / p.max(axis=1, keepdims=True)).sum(axis=1) - 1)
    cols = np.sum((p / p.max(axis=0, keepdims=True)).sum(axis=0) - 1)
    return float((rows + cols) / (2 * d * (d - 1)))


def _adjacency(graph, name):
    if not isinstance(graph, nx.DiGraph):
        raise TypeError(f"{name} must be a networkx.DiGraph, got {type(graph).__name__}")
    d = graph.number_of_nodes()
    if set(graph.nodes) != set(range(d)):
        raise ValueError(f"{name} must have the nodes 0..{d - 1}, got {sorted(graph.nodes)}")
    if any(i == j for i, j in graph.edges):
        raise ValueError(f"{name} has a self-loop")
    return nx.to_numpy_array(graph, nodelist=range(d), weight=None, dtype=bool)
