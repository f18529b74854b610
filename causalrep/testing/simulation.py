"""Hypothesis strategies for DAGs, latent SCMs, interventions and mixings.

Use them to property-test an estimator or a metric on many small simulated
problems; every drawn object is seeded, so a failing example replays exactly.

Example:
    >>> from hypothesis import given
    >>> @given(scm=latent_scms(max_nodes=4))
    ... def test_shape(scm):
    ...     assert scm.sample(10, seed=0).shape == (10, scm.latent_dim)
"""

import math
from collections.abc import Sequence

import networkx as nx
from hypothesis import strategies as st

from simulators import (
    Intervention,
    LatentSCM,
    LinearMixing,
    MLPMixing,
    PolynomialMixing,
    do,
    shift,
    soft,
)

__all__ = ["dags", "latent_scms", "interventions", "mixings"]

_SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
# Longest path on which "polynomial" SCMs stay well scaled (LatentSCM warns past it).
_POLYNOMIAL_DEPTH = 3


@st.composite
def dags(draw: st.DrawFn, min_nodes: int = 2, max_nodes: int = 6) -> nx.DiGraph:
    """DAGs with nodes 0..d-1, d in [min_nodes, max_nodes], in a random causal order.

    Shrinks towards few nodes, no edges and the identity order.
    """
    n = draw(st.integers(min_value=min_nodes, max_value=max_nodes))
    order = draw(st.permutations(range(n)))
    pairs = [(order[a], order[b]) for a in range(n) for b in range(a + 1, n)]
    present = draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs)))
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(pair for pair, keep in zip(pairs, present, strict=True) if keep)
    return graph


@st.composite
def latent_scms(draw: st.DrawFn, min_nodes: int = 2, max_nodes: int = 6) -> LatentSCM:
    """:class:`simulators.LatentSCM` over :func:`dags`, any mechanism and noise law.

    ``"polynomial"`` is only drawn on graphs whose longest path has at most
    3 edges, where its scale stays controlled.
    """
    graph = draw(dags(min_nodes, max_nodes))
    mechanisms = ["linear", "mlp"]
    if nx.dag_longest_path_length(graph) <= _POLYNOMIAL_DEPTH:
        mechanisms.append("polynomial")
    return LatentSCM(
        graph,
        mechanism=draw(st.sampled_from(mechanisms)),
        noise=draw(st.sampled_from(["gaussian", "uniform", "laplace", "gmm"])),
        noise_scale=draw(st.floats(min_value=0.1, max_value=2.0)),
        seed=draw(_SEEDS),
    )


@st.composite
def interventions(draw: st.DrawFn, scm: LatentSCM, kinds: Sequence[str] = ("do", "shift", "soft")) -> Intervention:
    """A valid intervention on one or more nodes of ``scm``.

    ``do`` and ``shift`` values are finite numbers in [-3, 3]. ``soft``
    rescales a target's parent effect by a factor in [-2, 2] at least 0.1
    away from 0 and 1, or, for a root, rescales its noise by such a factor.
    """
    d = scm.latent_dim
    kind = draw(st.sampled_from(kinds))
    targets = draw(st.lists(st.sampled_from(range(d)), min_size=1, unique=True))
    if kind != "soft":
        values = st.floats(min_value=-3.0, max_value=3.0)
        build = do if kind == "do" else shift
        return build({j: draw(values) for j in targets})
    factors = st.floats(min_value=-2.0, max_value=2.0).filter(lambda a: abs(a) > 0.1 and abs(a - 1.0) > 0.1)
    return soft({j: draw(factors) if scm.parents(j) else _NoiseScale(draw(factors)) for j in targets})


class _NoiseScale:
    """Soft mechanism for a root: its noise times a factor."""

    def __init__(self, factor):
        self.factor = factor

    def __call__(self, parents, noise):
        return self.factor * noise

    def __repr__(self):
        return f"noise * {self.factor!r}"


@st.composite
def mixings(draw: st.DrawFn, latent_dim: int, obs_dim: int) -> LinearMixing | MLPMixing | PolynomialMixing:
    """An injective mixing from ``latent_dim`` to ``obs_dim`` dimensions.

    Linear or leaky-ReLU MLP always; polynomial of degree 2 or 3 when
    ``obs_dim`` is at least its number of monomials.
    """
    seed = draw(_SEEDS)
    kinds = ["linear", "mlp"]
    degrees = [k for k in (2, 3) if obs_dim >= math.comb(latent_dim + k, k) - 1]
    if degrees:
        kinds.append("polynomial")
    kind = draw(st.sampled_from(kinds))
    if kind == "linear":
        return LinearMixing(latent_dim, obs_dim, seed=seed)
    if kind == "mlp":
        n_layers = draw(st.integers(min_value=1, max_value=3))
        return MLPMixing(latent_dim, obs_dim, n_layers=n_layers, seed=seed)
    return PolynomialMixing(latent_dim, obs_dim, degree=draw(st.sampled_from(degrees)), seed=seed)
