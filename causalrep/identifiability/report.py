r"""One call that judges estimated latents: ``check`` returns a ``Report``.

``up_to`` names the class of maps the estimate is claimed to recover the true
latents up to, and decides which numbers must clear which thresholds:

* ``"permutation"``: up to permutation and element-wise affine scaling. Passes
  when the Pearson MCC >= ``mcc`` and every latent's R2 from its matched
  coordinate alone (``permutation_scaling_r2``) >= ``min_r2``.
* ``"scaling"``: up to element-wise affine scaling with a known order, i.e.
  latent ``i`` must be found in coordinate ``i``. The permutation criteria, and
  the Hungarian matching must be the identity.
* ``"affine"``: up to an invertible affine map. Passes when the mean affine R2
  >= ``mean_r2`` and every latent's affine R2 >= ``min_r2``.
* ``"block"``: up to invertible maps within blocks (``blocks`` required).
  Passes when every block's R2 (``block_r2``) >= ``block_r2``.

The defaults (``DEFAULT_THRESHOLDS``) leave room for the estimation error of a
good estimator and are far above what an estimate independent of the truth
reaches out of sample (correlations of order ``1 / sqrt(n_score)``).
"""

import math
import numbers
import os
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np

from causalrep.identifiability import disentanglement as scores
from causalrep.identifiability._core import SHARED_PARAMETERS, check_blocks, check_pair, read_only, split_parts
from causalrep.identifiability._json import JSONFields
from causalrep.identifiability.graph_metrics import (
    GraphDistance,
    amari_distance,
    structural_hamming_distance,
)
from causalrep.identifiability.metrics import (
    AffineR2Result,
    BlockR2Result,
    MCCResult,
    PermutationScalingR2Result,
    _affine_r2,
    _block_r2,
    _mcc,
    _permutation_scaling_r2,
)
from causalrep.validation import ArrayLike, Interval, Options, Seed, as_generator, check_param, validate_params

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "UP_TO",
    "DEFAULT_THRESHOLDS",
    "Criterion",
    "Report",
    "DisentanglementScores",
    "check",
    "assert_identified",
]

UP_TO = ("permutation", "scaling", "affine", "block")
DEFAULT_THRESHOLDS = MappingProxyType(
    {
        "permutation": MappingProxyType({"mcc": 0.95, "min_r2": 0.9}),
        "scaling": MappingProxyType({"mcc": 0.95, "min_r2": 0.9}),
        "affine": MappingProxyType({"mean_r2": 0.95, "min_r2": 0.9}),
        "block": MappingProxyType({"block_r2": 0.9}),
    }
)
PLOT_POINTS = 2000


@dataclass(frozen=True)
class Criterion(JSONFields):
    r"""One pass/fail rule of a report: ``value >= threshold``.

    Attributes:
        name: What is compared, e.g. ``"mcc"`` or ``"min_r2"``.
        value: The measured number.
        threshold: The smallest value that passes.
        passed: Whether ``value >= threshold``.
    """

    name: str
    value: float
    threshold: float
    passed: bool


@dataclass(frozen=True, eq=False)
class Report:
    r"""Verdict of an identifiability check with every number behind it.

    Attributes:
        up_to: The class of maps checked, one of ``UP_TO``.
        passed: Whether every criterion passed.
        criteria: The rules applied, as ``Criterion`` values.
        thresholds: Threshold of each rule, by name (read-only mapping).
        mcc: Pearson MCC and the Hungarian matching.
        affine: Affine R2 per latent and the fitted map.
        permutation: R2 of each latent from its matched coordinate alone.
        block: Block R2, or None when no ``blocks`` were given.
        plot_true: Rows of the scoring part kept for ``plot`` (at most
            ``PLOT_POINTS``), shape (m, d).
        plot_hat: The matched estimated coordinates of the same rows, shape (m, d).
        graph: Structural Hamming distance between the true and the learned
            latent graph after the MCC matching, or None when no graphs were given.
        disentanglement: The scores of ``check(..., disentanglement=True)``,
            or None.
    """

    up_to: str
    passed: bool
    criteria: tuple
    thresholds: dict
    mcc: MCCResult
    affine: AffineR2Result
    permutation: PermutationScalingR2Result
    block: BlockR2Result | None
    plot_true: np.ndarray = field(repr=False)
    plot_hat: np.ndarray = field(repr=False)
    graph: GraphDistance | None = None
    disentanglement: "DisentanglementScores | None" = None

    @property
    def matching(self) -> tuple[int, ...]:
        """Estimated coordinate matched to each true latent, length d."""
        return self.mcc.matching

    def summary(self) -> str:
        """Return a short plain-text table of the verdict and the numbers."""
        mcc = self.mcc
        where = "in sample" if mcc.test_fraction == 0 else "out of sample"
        lines = [
            f"identifiability up to {self.up_to}: {'PASSED' if self.passed else 'FAILED'}",
            f"{where}: fit on {mcc.n_fit} rows, scored on {mcc.n_score}",
            f"{'criterion':<12} {'value':>8}    {'threshold'}",
        ]
        for c in self.criteria:
            mark = "ok" if c.passed else "FAIL"
            lines.append(f"{c.name:<12} {c.value:>8.4f} >= {c.threshold:<9.4g} {mark}")
        lines.append(f"{'latent':>6} {'matched':>7} {'|corr|':>7} {'perm_r2':>8} {'affine_r2':>9}")
        columns = zip(
            mcc.matching,
            mcc.per_latent,
            self.permutation.per_latent,
            self.affine.per_latent,
            strict=True,
        )
        for i, (j, corr, perm_r2, affine_r2) in enumerate(columns):
            lines.append(f"{i:>6} {j:>7} {corr:>7.4f} {perm_r2:>8.4f} {affine_r2:>9.4f}")
        if self.block is not None:
            lines.append(f"{'block':<16} {'assigned':<16} {'r2':>7}")
            for block, assigned, r2 in zip(self.block.blocks, self.block.assignment, self.block.per_block, strict=True):
                lines.append(f"{str(block):<16} {str(assigned):<16} {r2:>7.4f}")
        lines.extend(self._extra_lines())
        return "\n".join(lines)

    def _extra_lines(self):
        lines = []
        if self.graph is not None:
            g = self.graph
            lines.append(
                f"latent graph: SHD {g.shd} after matching (missing {g.missing}, "
                f"extra {g.extra}, reversed {g.reversed})"
            )
        if self.disentanglement is not None:
            lines.append(
                "disentanglement: "
                + "  ".join(
                    f"{name} {value:.4f}"
                    for name, value in self.disentanglement.to_dict().items()
                    if isinstance(value, float)
                )
            )
        return lines

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-safe plain types (without the plot rows)."""
        return {
            "up_to": self.up_to,
            "passed": self.passed,
            "criteria": [c.to_dict() for c in self.criteria],
            "thresholds": dict(self.thresholds),
            "matching": list(self.matching),
            "mcc": self.mcc.to_dict(),
            "affine": self.affine.to_dict(),
            "permutation": self.permutation.to_dict(),
            "block": None if self.block is None else self.block.to_dict(),
            "graph": None if self.graph is None else self.graph.to_dict(),
            "disentanglement": (None if self.disentanglement is None else self.disentanglement.to_dict()),
        }

    def plot(self, path: str | os.PathLike | None = None) -> "Figure":
        r"""Scatter each true latent against its matched estimate, one panel each.

        The figure is built without pyplot (no global figure registry, no
        display needed; saving uses the Agg renderer): return it in a notebook
        to show it, or pass ``path`` to save it.

        Arguments:
            path: File to save the figure to (format from the suffix), or None.

        Returns:
            The ``matplotlib.figure.Figure``.
        """
        from matplotlib.figure import Figure

        d = self.plot_true.shape[1]
        cols = math.ceil(math.sqrt(d))
        rows = math.ceil(d / cols)
        fig = Figure(figsize=(2.8 * cols, 2.6 * rows + 0.4), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for i, ax in enumerate(axes):
            if i >= d:
                ax.set_axis_off()
                continue
            ax.scatter(self.plot_true[:, i], self.plot_hat[:, i], s=3, alpha=0.4)
            ax.set_xlabel(f"z_true[{i}]")
            ax.set_ylabel(f"z_hat[{self.matching[i]}]")
            rule = self._panel_rule(i)
            title = f"|corr| = {self.mcc.per_latent[i]:.3f}"
            if rule is not None:
                name, value, limit = rule
                verdict = "ok" if value >= limit else "FAIL"
                title += f"\n{name} = {value:.3f}, threshold {limit:.3g}: {verdict}"
            ax.set_title(title, fontsize=9, color="black" if rule is None or rule[1] >= rule[2] else "tab:red")
        verdict = "passed" if self.passed else "failed"
        caption = "\n".join(textwrap.fill(part, int(13 * 2.8 * cols)) for part in self._plot_caption())
        fig.suptitle(f"identifiability up to {self.up_to}: {verdict}\n{caption}", fontsize=9)
        if path is not None:
            fig.savefig(path)
        return fig

    def _panel_rule(self, i):
        """(name, value, threshold) of the per-latent rule for true latent ``i``, or None."""
        if self.up_to in ("permutation", "scaling"):
            return "R2", float(self.permutation.per_latent[i]), self.thresholds["min_r2"]
        if self.up_to == "affine":
            return "affine R2", float(self.affine.per_latent[i]), self.thresholds["min_r2"]
        for b, block in enumerate(self.block.blocks):
            if i in block:
                return "block R2", float(self.block.per_block[b]), self.thresholds["block_r2"]
        return None

    def _plot_caption(self):
        """Two lines: the criteria with their thresholds, and which samples were scored."""
        rules = "; ".join(
            f"{c.name} {c.value:.3f}, threshold {c.threshold:.3g}: {'ok' if c.passed else 'FAIL'}"
            for c in self.criteria
        )
        mcc = self.mcc
        where = (
            f"in sample, {mcc.n_score} samples"
            if mcc.test_fraction == 0
            else f"scored on {mcc.n_score} held-out samples (map fit on {mcc.n_fit})"
        )
        shown = self.plot_true.shape[0]
        if shown < mcc.n_score:
            where += f", {shown} plotted"
        return rules, where


@validate_params(**SHARED_PARAMETERS, up_to=Options(*UP_TO), disentanglement=bool)
def check(
    z_true: ArrayLike,
    z_hat: ArrayLike,
    up_to: str = "permutation",
    blocks: Sequence[Sequence[int]] | None = None,
    threshold: float | Mapping[str, float] | None = None,
    test_fraction: float = 0.5,
    seed: Seed = 0,
    graph_true: nx.DiGraph | None = None,
    graph_hat: nx.DiGraph | None = None,
    disentanglement: bool = False,
) -> "Report":
    r"""Check that estimated latents identify the true ones up to a class of maps.

    Computes, on one shared split, the Pearson MCC with its matching, the affine
    R2, the permutation/scaling R2 of the matched coordinates and, when
    ``blocks`` are given, the block R2; then applies the rules of ``up_to``
    (see the module documentation).

    Arguments:
        z_true: True latents, shape (n, d).
        z_hat: Estimated latents, shape (n, k), k >= d.
        up_to: ``"permutation"``, ``"scaling"``, ``"affine"`` or ``"block"``.
        blocks: Sequence of disjoint tuples of true-latent indices; required for
            ``"block"``, optional otherwise.
        threshold: None for ``DEFAULT_THRESHOLDS[up_to]``; a number to replace
            the first rule's threshold (``mcc``, ``mean_r2`` or ``block_r2``);
            or a mapping from rule names to thresholds, e.g. ``{"min_r2": 0.8}``.
            Each threshold lies in [0, 1].
        test_fraction: Share of rows held out for scoring; 0 scores in sample.
        seed: int or ``numpy.random.Generator`` for the split.
        graph_true: Optional true DAG over the latents (``networkx.DiGraph``
            over ``range(d)``), e.g. ``data.graph``.
        graph_hat: Optional learned DAG over the estimated coordinates (e.g. an
            estimator's ``graph_``); with ``graph_true``, the report holds
            their structural Hamming distance after the MCC matching. Neither
            changes the verdict.
        disentanglement: Whether to add MIG, SAP, modularity, explicitness,
            InfoM, InfoE, InfoC (on the same split; information on the scoring
            part) and, when k == d, the Amari distance of the fitted affine
            map (:mod:`~causalrep.identifiability.disentanglement`; needs
            scikit-learn, a few seconds). They do not change the verdict.

    Returns:
        Report with the verdict ``passed``, the criteria and every score.

    Example:
        >>> z = np.random.default_rng(0).normal(size=(1000, 3))
        >>> check(z, -z[:, [1, 2, 0]] + 4).passed
        True
        >>> check(z, -z[:, [1, 2, 0]] + 4, up_to="scaling").passed
        False
    """
    if up_to == "block" and blocks is None:
        raise ValueError('up_to="block" needs blocks, e.g. blocks=[(0, 1), (2,)]')
    thresholds = _resolve_thresholds(up_to, threshold)
    z_true, z_hat = check_pair(z_true, z_hat, need_k_ge_d=True)
    if blocks is not None:
        blocks = check_blocks(blocks, z_true.shape[1], z_hat.shape[1])
    if not isinstance(seed, numbers.Integral):
        seed = int(as_generator(seed).integers(2**63))
    parts = split_parts(z_true, z_hat, test_fraction, seed, z_hat.shape[1] + 2)

    mcc = _mcc(parts, "pearson")
    affine = _affine_r2(parts)
    permutation = _permutation_scaling_r2(parts, mcc.matching, monotone=False)
    block = None if blocks is None else _block_r2(parts, blocks, None)
    values = {
        "mcc": mcc.score,
        "min_r2": (affine if up_to == "affine" else permutation).per_latent.min(),
        "mean_r2": affine.mean,
        "block_r2": None if block is None else block.per_block.min(),
    }
    criteria = [_criterion(name, values[name], limit) for name, limit in thresholds.items()]
    if up_to == "scaling":
        in_place = np.mean(np.array(mcc.matching) == np.arange(len(mcc.matching)))
        criteria.append(_criterion("identity", in_place, 1.0))

    rows = np.arange(parts.n_score)
    if parts.n_score > PLOT_POINTS:
        rng = as_generator(seed)
        rows = np.sort(rng.choice(parts.n_score, PLOT_POINTS, replace=False))
    return Report(
        up_to=up_to,
        passed=all(c.passed for c in criteria),
        criteria=tuple(criteria),
        thresholds=MappingProxyType(thresholds),
        mcc=mcc,
        affine=affine,
        permutation=permutation,
        block=block,
        plot_true=read_only(parts.rows("score", "true", rows)),
        plot_hat=read_only(parts.rows("score", "hat", rows)[:, list(mcc.matching)]),
        graph=_graph_distance(graph_true, graph_hat, mcc.matching),
        disentanglement=(_disentanglement(parts, affine, seed) if disentanglement else None),
    )


@dataclass(frozen=True)
class DisentanglementScores(JSONFields):
    r"""The disentanglement scores of a report, on its split.

    Attributes:
        mig: Mutual information gap (:func:`~causalrep.identifiability.mig`).
        sap: Separated attribute predictability; None with one code.
        modularity: Modularity (Ridgeway and Zemel, 2018).
        explicitness: Explicitness (Ridgeway and Zemel, 2018).
        infom: InfoM (Hsu et al., 2023); None with one true latent.
        infoe: InfoE.
        infoc: InfoC; None with one true latent.
        amari: Amari distance of the fitted affine map from estimated to true
            latents, both standardised (so that no coordinate's units weigh
            in); None unless k == d >= 2.
    """

    mig: float
    sap: float | None
    modularity: float
    explicitness: float
    infom: float | None
    infoe: float
    infoc: float | None
    amari: float | None


def _graph_distance(graph_true, graph_hat, matching):
    if graph_true is None and graph_hat is None:
        return None
    if graph_true is None or graph_hat is None:
        raise ValueError("pass both graph_true and graph_hat to score the latent graph")
    return structural_hamming_distance(graph_true, graph_hat, matching=matching)


def _disentanglement(parts, affine, seed):
    rng = as_generator(seed)
    d, k = parts.score_true.shape[1], parts.score_hat.shape[1]
    information = scores._mutual_information(parts.score_true, parts.score_hat, None, scores.DEFAULT_NEIGHBORS, rng)
    auc, infoe = scores._linear_probes(parts, scores.DEFAULT_BINS, rng)
    me = scores._modularity_explicitness(information, auc, scores.DEFAULT_BINS, parts)
    info = scores._infomec(information, infoe, scores.DEFAULT_BINS, parts) if d >= 2 else None
    # The map between standardised latents: free of each coordinate's units, as every score here.
    weights = np.abs(affine.weights) * parts.scale[d:][:, None] / parts.scale[:d][None, :]
    invertible = k == d >= 2 and weights.max(axis=0).all() and weights.max(axis=1).all()
    return DisentanglementScores(
        mig=scores._mig(information).score,
        sap=scores._sap(parts).score if k >= 2 else None,
        modularity=me.modularity,
        explicitness=me.explicitness,
        infom=info.infom if info else None,
        infoe=float(infoe.mean()),
        infoc=info.infoc if info else None,
        amari=amari_distance(weights) if invertible else None,
    )


@validate_params(**SHARED_PARAMETERS, up_to=Options(*UP_TO))
def assert_identified(
    z_true: ArrayLike,
    z_hat: ArrayLike,
    up_to: str = "permutation",
    blocks: Sequence[Sequence[int]] | None = None,
    test_fraction: float = 0.5,
    seed: Seed = 0,
    **thresholds: float,
) -> "Report":
    r"""Assert that estimated latents identify the true ones; one line for a test suite.

    Arguments:
        z_true: True latents, shape (n, d).
        z_hat: Estimated latents, shape (n, k), k >= d.
        up_to: ``"permutation"``, ``"scaling"``, ``"affine"`` or ``"block"``.
        blocks: Blocks of true-latent indices, for ``"block"``.
        test_fraction: Share of rows held out for scoring; 0 scores in sample.
        seed: int or ``numpy.random.Generator`` for the split.
        thresholds: Overrides of ``DEFAULT_THRESHOLDS[up_to]`` by rule name,
            e.g. ``mcc=0.9``.

    Returns:
        The passing Report.

    Raises:
        AssertionError: With the report summary as message, when a rule fails.

    Example:
        >>> z = np.random.default_rng(0).normal(size=(1000, 2))
        >>> mixing = np.array([[2.0, 1.0], [0.0, 1.0]])
        >>> assert_identified(z, z @ mixing, up_to="affine").passed
        True
    """
    report = check(
        z_true,
        z_hat,
        up_to=up_to,
        blocks=blocks,
        threshold=thresholds or None,
        test_fraction=test_fraction,
        seed=seed,
    )
    if not report.passed:
        raise AssertionError("\n" + report.summary())
    return report


def _resolve_thresholds(up_to, threshold):
    defaults = DEFAULT_THRESHOLDS[up_to]
    if threshold is None:
        return dict(defaults)
    if isinstance(threshold, numbers.Real):
        first = next(iter(defaults))
        return {**defaults, first: _check_threshold(first, threshold)}
    if not isinstance(threshold, Mapping):
        raise ValueError(f"threshold must be None, a number or a mapping of rule names to numbers, got {threshold!r}")
    unknown = set(threshold) - set(defaults)
    if unknown:
        raise ValueError(f"unknown thresholds {sorted(unknown)} for up_to={up_to!r}; choose from {tuple(defaults)}")
    return {name: _check_threshold(name, threshold.get(name, default)) for name, default in defaults.items()}


def _check_threshold(name, value):
    """A threshold of a score in [0, 1] (an R2 or a correlation): one above 1 fails even a
    perfect estimate, one below 0 passes anything."""
    return float(check_param(value, f"threshold {name}", Interval(numbers.Real, 0, 1)))


def _criterion(name, value, threshold):
    value = float(value)
    return Criterion(name, value, threshold, bool(value >= threshold))
