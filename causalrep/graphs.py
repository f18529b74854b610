r"""Learn the causal graph among latents from interventional regimes.

Latents recovered up to permutation and element-wise scaling (in the order of
the intervention targets) carry their causal graph in how their distribution
moves across regimes. With a perfect intervention on latent :math:`i`,
latent :math:`j \ne i` changes its distribution if (and, under faithfulness,
only if) :math:`i` is an ancestor of :math:`j`. :func:`learn_latent_graph`
reads the graph off in three steps:

1. **Ancestors.** For every interventional regime and every latent it does
   not target, a two-sample Kolmogorov-Smirnov test
   (``scipy.stats.ks_2samp``) compares the latent under the regime with the
   observational regime 0. All these p-values form one family, controlled by
   ``statsmodels.stats.multitest.multipletests`` (Benjamini-Hochberg by
   default). A rejection whose KS distance (the largest gap between the two
   empirical CDFs) is at least ``min_effect``, under a regime with the single
   target :math:`i`, makes :math:`i` an ancestor of :math:`j`. The effect
   floor is for estimated latents: a small leak of another latent into a
   coordinate is significant with many samples but moves its CDF little.
2. **Order.** Conflicting evidence (a cycle among the ancestor relations,
   possible with finite samples) is resolved by dropping, one cycle at a
   time, the relation with the weakest evidence (largest p-value); the
   ancestor relation is then closed transitively.
3. **Direct edges.** Every edge of the transitive reduction of the ancestor
   relation is direct. An ancestor :math:`i` of :math:`j` that also reaches
   :math:`j` through other ancestors is kept as a parent only when
   :math:`z_i` and :math:`z_j` are dependent given the other ancestors of
   :math:`j` on the observational regime (Fisher-z test of the partial
   correlation, again with multiple-testing control). Given the ancestors
   of :math:`j` (all non-descendants), the local Markov property makes a
   non-parent independent of :math:`z_j`, and faithfulness makes a parent
   dependent.

Regimes with several targets and latents without a regime of their own:
a change of :math:`j` under a regime with targets :math:`T` shows that some
member of :math:`T` is an ancestor of :math:`j`. It is attributed to a member
:math:`u` only when that is the one explanation left: :math:`u` is the only
member of :math:`T` without a single-target regime and no other member was
found to be an ancestor of :math:`j` by its own regime. Otherwise the change
stays unattributed. A latent that no regime tells apart (neither targeted
alone nor the one such member of a joint regime) gets no outgoing edges
(they cannot be oriented from observational data alone); the learned graph
lists such latents in ``graph.graph["untested"]``. Effects among members of
one joint regime cannot be seen from it.

The partial correlation is a test of linear dependence: it suits linear
SCMs (and monotone relations roughly), and can miss a direct edge whose
effect is non-monotone, in which case the edge survives only when it is in
the transitive reduction.
"""

import itertools
from collections.abc import Mapping

import networkx as nx
import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

from causalrep.validation import ArrayLike, as_float_array, check_fraction

__all__ = ["CORRECTIONS", "learn_latent_graph"]

#: Multiple-testing corrections accepted (names of ``statsmodels``' ``multipletests``).
CORRECTIONS = ("fdr_bh", "holm", "bonferroni", "fdr_by")


def learn_latent_graph(
    z: ArrayLike,
    regime: ArrayLike,
    targets: Mapping[int, tuple[int, ...] | None],
    alpha: float = 0.05,
    correction: str = "fdr_bh",
    min_effect: float = 0.1,
) -> nx.DiGraph:
    r"""Learn the DAG over latents from their observational and interventional regimes.

    See the module documentation for the procedure and how regimes with
    several targets or latents without a regime are handled.

    Arguments:
        z: Latents, shape (n, d), in the order of the targets: column ``i`` is
            the latent that ``targets`` calls ``i``. Any element-wise strictly
            monotone rescaling of a column gives the same ancestors.
        regime: Regime of each row, shape (n,), ints; 0 is observational and
            needs at least d + 3 rows.
        targets: Mapping from every regime in ``regime`` to the tuple of latent
            indices it intervenes on (empty for regime 0). Regimes listed here
            but absent from ``regime`` are ignored.
        alpha: Level of both test families, in (0, 1).
        correction: Multiple-testing correction, one of ``CORRECTIONS``:
            ``"fdr_bh"`` (Benjamini-Hochberg, false discovery rate),
            ``"holm"`` or ``"bonferroni"`` (family-wise error), ``"fdr_by"``.
        min_effect: Smallest KS distance, in [0, 1), that counts as a change
            (0 keeps every significant one). With 1,000 samples per regime
            and d in {5, 8}, 0.1 left the mean SHD from true latents the same
            or lower in every benchmark setting, and cut it under a 3% linear
            leak between latents from 4.3 to 1.7 (dense ER, d = 8); see the
            latent-graph section of docs/benchmarks.md.

    Returns:
        ``networkx.DiGraph`` over ``range(d)``. Each edge carries
        ``p_ancestor`` (the corrected p-value of the intervention test behind
        it) and ``p_direct`` (the corrected p-value of its conditional
        independence test; 0 for edges of the transitive reduction, which
        need none). ``graph.graph`` holds ``untested`` (latents without
        a regime that tells their effects apart), ``alpha`` and ``correction``.

    Raises:
        ValueError: for mismatched shapes, a regime without targets, targets
            outside ``range(d)``, no or too small observational regime,
            ``alpha`` outside (0, 1) or an unknown ``correction``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> def sample(n, do=None):
        ...     z0 = np.full(n, 2.0) if do == 0 else rng.normal(size=n)
        ...     z1 = np.full(n, 2.0) if do == 1 else z0 + rng.normal(size=n)
        ...     z2 = np.full(n, 2.0) if do == 2 else z1 + rng.normal(size=n)
        ...     return np.c_[z0, z1, z2]
        >>> z = np.concatenate([sample(500), sample(500, 0), sample(500, 1), sample(500, 2)])
        >>> regime = np.repeat([0, 1, 2, 3], 500)
        >>> graph = learn_latent_graph(z, regime, {0: (), 1: (0,), 2: (1,), 3: (2,)})
        >>> sorted(graph.edges)
        [(0, 1), (1, 2)]
    """
    z, regime, targets = _check_inputs(z, regime, targets)
    check_fraction(alpha, "alpha", allow_zero=False)
    check_fraction(min_effect, "min_effect")
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {CORRECTIONS}, got {correction!r}")
    d = z.shape[1]
    ancestors, untested = _ancestor_evidence(z, regime, targets, alpha, correction, min_effect)
    order = _acyclic(ancestors, d)
    closure = nx.transitive_closure_dag(order)
    reduction = nx.transitive_reduction(closure)
    observational = z[regime == 0]

    graph = nx.DiGraph(untested=untested, alpha=float(alpha), correction=correction)
    graph.add_nodes_from(range(d))
    for i, j in reduction.edges:
        graph.add_edge(i, j, p_ancestor=_p_of(ancestors, order, i, j), p_direct=0.0)
    shortcuts = [(i, j) for i, j in closure.edges if not reduction.has_edge(i, j)]
    if shortcuts:
        p_values = np.array(
            [
                _partial_correlation_p(observational, i, j, sorted(set(closure.predecessors(j)) - {i}))
                for i, j in shortcuts
            ]
        )
        rejected, corrected, _, _ = multipletests(p_values, alpha=alpha, method=correction)
        for (i, j), keep, p in zip(shortcuts, rejected, corrected, strict=True):
            if keep:
                graph.add_edge(i, j, p_ancestor=_p_of(ancestors, order, i, j), p_direct=float(p))
    return graph


def _check_inputs(z, regime, targets):
    z = as_float_array(z, "z", ndim=2)
    regime = np.asarray(regime)
    if regime.ndim != 1 or len(regime) != len(z):
        raise ValueError(f"regime must have shape ({len(z)},) like the rows of z, got {tuple(regime.shape)}")
    if not np.issubdtype(regime.dtype, np.integer):
        raise TypeError(f"regime must hold ints, got dtype {regime.dtype}")
    if not isinstance(targets, Mapping):
        raise TypeError(f"targets must be a mapping from regime to latent indices, got {type(targets).__name__}")
    d = z.shape[1]
    present = [int(k) for k in np.unique(regime)]
    missing = [k for k in present if k not in targets]
    if missing:
        raise ValueError(f"regimes {missing} appear in regime but not in targets")
    checked = {}
    for k in present:
        members = tuple(int(i) for i in targets[k])
        if any(not 0 <= i < d for i in members):
            raise ValueError(f"regime {k} targets {list(members)}, outside the {d} latents")
        if k != 0 and not members:
            raise ValueError(f"regime {k} is interventional but its targets are empty; name them in targets")
        checked[k] = members
    n_obs = int(np.sum(regime == 0))
    if 0 not in checked or checked[0]:
        raise ValueError("regime 0 must be present and observational (targets[0] == ())")
    if n_obs < d + 3:
        raise ValueError(
            f"the observational regime has {n_obs} rows; the conditional "
            f"independence tests over {d} latents need at least {d + 3}"
        )
    return z, regime, checked


def _ancestor_evidence(z, regime, targets, alpha, correction, min_effect):
    """Corrected p-values of 'i is an ancestor of j' and the latents never resolved."""
    d = z.shape[1]
    observational = z[regime == 0]
    tests = []
    for k, members in targets.items():
        if k == 0:
            continue
        rows = z[regime == k]
        for j in range(d):
            if j not in members:
                result = stats.ks_2samp(rows[:, j], observational[:, j])
                tests.append((members, j, result.pvalue, result.statistic))
    if not tests:
        return {}, tuple(range(d))
    rejected, corrected, _, _ = multipletests([t[2] for t in tests], alpha=alpha, method=correction)
    rejected &= np.array([t[3] for t in tests]) >= min_effect
    tests = [t[:3] for t in tests]
    alone = {members[0] for members in targets.values() if len(members) == 1}
    ancestors = {}
    for (members, j, _), changed, p in zip(tests, rejected, corrected, strict=True):
        if changed and len(members) == 1:
            _keep_smallest(ancestors, (members[0], j), p)
    for (members, j, _), changed, p in zip(tests, rejected, corrected, strict=True):
        if not changed or len(members) == 1:
            continue
        unexplained = [u for u in members if u not in alone]
        explained = any((t, j) in ancestors for t in members if t in alone)
        if len(unexplained) == 1 and not explained:
            _keep_smallest(ancestors, (unexplained[0], j), p)
    resolved = set(alone)
    for members in targets.values():
        unexplained = [u for u in members if u not in alone]
        if len(members) > 1 and len(unexplained) == 1:
            resolved.add(unexplained[0])
    return ancestors, tuple(i for i in range(d) if i not in resolved)


def _keep_smallest(ancestors, pair, p):
    ancestors[pair] = min(float(p), ancestors.get(pair, 1.0))


def _acyclic(ancestors, d):
    """The ancestor relations as a DAG, dropping the weakest relation of each cycle."""
    order = nx.DiGraph()
    order.add_nodes_from(range(d))
    order.add_weighted_edges_from((i, j, p) for (i, j), p in ancestors.items())
    while True:
        try:
            cycle = nx.find_cycle(order)
        except nx.NetworkXNoCycle:
            return order
        order.remove_edge(*max(cycle, key=lambda e: order.edges[e]["weight"])[:2])


def _p_of(ancestors, order, i, j):
    """p-value behind ``i`` ancestor of ``j``; an implied relation gets the worst on a path."""
    if (i, j) in ancestors:
        return ancestors[(i, j)]
    path = nx.shortest_path(order, i, j)
    return max(ancestors[edge] for edge in itertools.pairwise(path))


def _partial_correlation_p(z, i, j, given):
    """Fisher-z p-value of the partial correlation of z_i and z_j given z[:, given]."""
    design = np.c_[np.ones(len(z)), z[:, given]]
    pair = z[:, [i, j]]
    residual = pair - design @ np.linalg.lstsq(design, pair, rcond=None)[0]
    norms = np.linalg.norm(residual, axis=0)
    if np.any(norms == 0):
        return 1.0
    r = float(np.clip(residual[:, 0] @ residual[:, 1] / (norms[0] * norms[1]), -1 + 1e-12, 1 - 1e-12))
    dof = len(z) - len(given) - 3
    return float(2 * stats.norm.sf(abs(np.arctanh(r)) * np.sqrt(max(dof, 1))))
