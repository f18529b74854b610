r"""Scores of how well estimated latents recover true ones, up to a class of maps.

Every score here is out-of-sample by default: a random part of the rows
(``1 - test_fraction``) chooses whatever is fitted (the matching, a regression)
and the other part (``test_fraction``) scores it. With ``test_fraction=0`` the
same rows do both, which gives the in-sample numbers most papers report; these
are optimistic, markedly so for small ``n`` or many estimated coordinates.

Conventions shared by all functions:

* ``z_true`` has shape ``(n, d)`` and ``z_hat`` shape ``(n, k)``; a 1-d input is
  read as a single column ``(n, 1)``. numpy arrays and torch tensors are accepted;
  NaN or inf raise ``ValueError``.
* A ``z_true`` column that is constant on the fitting or the scoring part raises
  ``ValueError`` (a latent that does not vary cannot be scored). A constant
  ``z_hat`` column is allowed and carries no information: its correlation with
  every latent is 0 and regressions give it a zero coefficient.
* The same ``seed`` gives the same split, so results of different functions
  called with the same ``seed`` and ``test_fraction`` refer to the same rows.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from causalrep.identifiability._core import (
    SHARED_PARAMETERS,
    abs_correlations,
    assign_blocks,
    check_assignment,
    check_blocks,
    check_kind,
    check_matching,
    check_pair,
    hungarian,
    original_units,
    r2_from,
    read_only,
    regression,
    split_parts,
)
from causalrep.identifiability._json import JSONFields
from causalrep.validation import ArrayLike, Options, Seed, validate_params

__all__ = [
    "MCCResult",
    "AffineR2Result",
    "PermutationScalingR2Result",
    "BlockR2Result",
    "mcc",
    "affine_r2",
    "permutation_scaling_r2",
    "block_r2",
]


@dataclass(frozen=True, eq=False)
class MCCResult(JSONFields):
    r"""Mean correlation coefficient after Hungarian matching.

    Attributes:
        score: Mean over true latents of the absolute correlation with the
            matched estimated coordinate, on the scoring part, in [0, 1].
        matching: ``matching[i]`` is the estimated coordinate matched to true
            latent ``i``, length d.
        correlations: Absolute correlations between every true latent and every
            estimated coordinate on the scoring part, shape (d, k).
        per_latent: ``correlations[i, matching[i]]``, shape (d,).
        kind: ``"pearson"`` or ``"spearman"``.
        test_fraction: Share of rows used for scoring (0: in sample).
        n_fit: Rows that chose the matching.
        n_score: Rows that scored it.
    """

    score: float
    matching: tuple
    correlations: np.ndarray
    per_latent: np.ndarray
    kind: str
    test_fraction: float
    n_fit: int
    n_score: int


@dataclass(frozen=True, eq=False)
class AffineR2Result(JSONFields):
    r"""Out-of-sample R2 of the best affine map from estimated to true latents.

    Attributes:
        mean: Mean of ``per_latent``.
        per_latent: R2 of each true latent on the scoring part, shape (d,); can
            be negative out of sample when the fit does not transfer.
        weights: Fitted map, shape (k, d): ``z_true ~ z_hat @ weights + intercept``.
        intercept: Fitted offset, shape (d,).
        test_fraction: Share of rows used for scoring (0: in sample).
        n_fit: Rows the map was fitted on.
        n_score: Rows that scored it.
    """

    mean: float
    per_latent: np.ndarray
    weights: np.ndarray
    intercept: np.ndarray
    test_fraction: float
    n_fit: int
    n_score: int


@dataclass(frozen=True, eq=False)
class PermutationScalingR2Result(JSONFields):
    r"""R2 of each true latent explained by its matched estimated coordinate alone.

    Attributes:
        mean: Mean of ``per_latent``.
        per_latent: R2 on the scoring part, shape (d,).
        matching: ``matching[i]`` is the estimated coordinate used for latent ``i``.
        scales: Fitted slopes, shape (d,); in normalised-rank units when monotone.
        offsets: Fitted intercepts, shape (d,); likewise.
        monotone: Whether both sides were rank-transformed first.
        test_fraction: Share of rows used for scoring (0: in sample).
        n_fit: Rows the matching and the slopes were fitted on.
        n_score: Rows that scored them.
    """

    mean: float
    per_latent: np.ndarray
    matching: tuple
    scales: np.ndarray
    offsets: np.ndarray
    monotone: bool
    test_fraction: float
    n_fit: int
    n_score: int


@dataclass(frozen=True, eq=False)
class BlockR2Result(JSONFields):
    r"""R2 of each block of true latents from the estimated coordinates assigned to it.

    Attributes:
        mean: Mean of ``per_block``.
        per_block: Mean R2 over the latents of each block, on the scoring part,
            shape (len(blocks),).
        blocks: The blocks of true-latent indices, as given.
        assignment: ``assignment[b]`` holds the estimated coordinates used for
            block ``b``.
        test_fraction: Share of rows used for scoring (0: in sample).
        n_fit: Rows the assignment and the maps were fitted on.
        n_score: Rows that scored them.
    """

    mean: float
    per_block: np.ndarray
    blocks: tuple
    assignment: tuple
    test_fraction: float
    n_fit: int
    n_score: int


@validate_params(**SHARED_PARAMETERS, kind=Options("pearson", "spearman"))
def mcc(
    z_true: ArrayLike, z_hat: ArrayLike, kind: str = "pearson", test_fraction: float = 0.5, seed: Seed = 0
) -> MCCResult:
    r"""Mean correlation coefficient between true and estimated latents.

    Each true latent is matched to a distinct estimated coordinate by the
    Hungarian algorithm on absolute correlations of the fitting part; the score
    is the mean absolute correlation of the matched pairs on the scoring part.
    Both parts are standardised the same way (no ddof mismatch), so every
    correlation lies in [0, 1].

    With ``test_fraction=0`` the matching is chosen and scored on the same rows:
    the usual in-sample MCC, biased upwards because the matching picks the
    largest of many noisy correlations. Out of sample, that selection bias is gone.

    Arguments:
        z_true: True latents, shape (n, d).
        z_hat: Estimated latents, shape (n, k), k >= d.
        kind: ``"pearson"`` (identification up to permutation and affine
            scaling) or ``"spearman"`` (rank correlation, computed within each
            part: up to permutation and element-wise monotone maps).
        test_fraction: Share of rows held out for scoring; 0 scores in sample.
        seed: int or ``numpy.random.Generator`` for the split.

    Returns:
        MCCResult with the score, the matching (true index -> estimated index),
        the (d, k) correlation matrix and the matched correlations.

    Example:
        >>> z = np.random.default_rng(0).normal(size=(1000, 3))
        >>> result = mcc(z, 2 * z[:, [2, 0, 1]] + 1)
        >>> result.matching
        (1, 2, 0)
        >>> round(result.score, 6)
        1.0
    """
    kind = check_kind(kind)
    z_true, z_hat = check_pair(z_true, z_hat, need_k_ge_d=True)
    return _mcc(split_parts(z_true, z_hat, test_fraction, seed), kind)


@validate_params(**SHARED_PARAMETERS)
def affine_r2(z_true: ArrayLike, z_hat: ArrayLike, test_fraction: float = 0.5, seed: Seed = 0) -> AffineR2Result:
    r"""Out-of-sample R2 of the best affine map from estimated to true latents.

    Fits ``z_true ~ z_hat @ W + b`` by least squares on the fitting part (the
    minimum-norm solution when columns of ``z_hat`` are collinear) and scores
    each true latent on the scoring part. High scores mean identification up to
    an invertible affine map.

    Arguments:
        z_true: True latents, shape (n, d).
        z_hat: Estimated latents, shape (n, k); the fitting part needs at least
            k + 2 rows.
        test_fraction: Share of rows held out for scoring; 0 scores in sample.
        seed: int or ``numpy.random.Generator`` for the split.

    Returns:
        AffineR2Result with per-latent and mean R2 and the fitted map.

    Example:
        >>> z = np.random.default_rng(0).normal(size=(1000, 2))
        >>> round(affine_r2(z, z @ np.array([[1.0, 1.0], [1.0, -1.0]]) + 3).mean, 6)
        1.0
    """
    z_true, z_hat = check_pair(z_true, z_hat, need_k_ge_d=False)
    return _affine_r2(split_parts(z_true, z_hat, test_fraction, seed, z_hat.shape[1] + 2))


@validate_params(**SHARED_PARAMETERS, monotone=bool)
def permutation_scaling_r2(
    z_true: ArrayLike,
    z_hat: ArrayLike,
    matching: Sequence[int] | None = None,
    monotone: bool = False,
    test_fraction: float = 0.5,
    seed: Seed = 0,
) -> PermutationScalingR2Result:
    r"""R2 of each true latent from its matched estimated coordinate alone.

    For each true latent ``i``, fits ``z_true[:, i] ~ a * z_hat[:, matching[i]] + c``
    on the fitting part and scores it on the scoring part: high scores mean
    identification up to permutation and element-wise affine scaling.

    With ``monotone=True`` both arrays are first replaced, within each part, by
    their normalised ranks ``(rank - 1/2) / m``; the linear R2 between ranks then
    measures how well a monotone function of the matched coordinate explains the
    latent (a rank-based stand-in for isotonic regression, which scipy lacks). It
    is 1 for any strictly monotone element-wise map.

    Arguments:
        z_true: True latents, shape (n, d).
        z_hat: Estimated latents, shape (n, k), k >= d.
        matching: Estimated coordinate of each true latent, length d, distinct
            indices; None chooses it by Hungarian matching of absolute (rank, when
            monotone) correlations on the fitting part, as :func:`mcc` does.
        monotone: Whether to score monotone rather than affine element-wise maps.
        test_fraction: Share of rows held out for scoring; 0 scores in sample.
        seed: int or ``numpy.random.Generator`` for the split.

    Returns:
        PermutationScalingR2Result with per-latent and mean R2, the matching and
        the fitted slopes and intercepts.

    Example:
        >>> z = np.random.default_rng(0).normal(size=(1000, 2))
        >>> result = permutation_scaling_r2(z, np.exp(z[:, ::-1]), monotone=True)
        >>> result.matching, round(result.mean, 6)
        ((1, 0), 1.0)
    """
    z_true, z_hat = check_pair(z_true, z_hat, need_k_ge_d=True)
    if matching is not None:
        matching = check_matching(matching, z_true.shape[1], z_hat.shape[1])
    return _permutation_scaling_r2(split_parts(z_true, z_hat, test_fraction, seed), matching, bool(monotone))


@validate_params(**SHARED_PARAMETERS)
def block_r2(
    z_true: ArrayLike,
    z_hat: ArrayLike,
    blocks: Sequence[Sequence[int]],
    assignment: Sequence[Sequence[int]] | None = None,
    test_fraction: float = 0.5,
    seed: Seed = 0,
) -> BlockR2Result:
    r"""R2 of each block of true latents from the estimated coordinates assigned to it.

    For block identifiability (e.g. under imperfect interventions), each block of
    true latents should be an invertible function of its own group of estimated
    coordinates. By default, every block ``B`` gets ``len(B)`` estimated
    coordinates: a Hungarian matching gives each estimated coordinate ``j`` to at
    most one slot of a block, maximising the share of the variance of
    ``z_hat[:, j]`` that an affine map of ``z_true[:, B]`` explains (linear R2 on
    the fitting part). Then ``z_true[:, B]`` is regressed, affinely, on its
    assigned coordinates on the fitting part and scored on the scoring part.

    Arguments:
        z_true: True latents, shape (n, d).
        z_hat: Estimated latents, shape (n, k), k >= total block size.
        blocks: Sequence of disjoint, non-empty tuples of true-latent indices;
            latents in no block are not scored.
        assignment: Optional sequence, one tuple of estimated-coordinate indices
            per block, to use instead of the matching (e.g. the same indices
            when the order is known).
        test_fraction: Share of rows held out for scoring; 0 scores in sample.
        seed: int or ``numpy.random.Generator`` for the split.

    Returns:
        BlockR2Result with the R2 of each block (mean over its latents), their
        mean, and the assignment.

    Example:
        >>> z = np.random.default_rng(0).normal(size=(1000, 3))
        >>> z_hat = np.c_[z[:, 2], z[:, 0] + z[:, 1], z[:, 0] - z[:, 1]]
        >>> result = block_r2(z, z_hat, blocks=[(0, 1), (2,)])
        >>> result.assignment, np.round(result.per_block, 6).tolist()
        (((1, 2), (0,)), [1.0, 1.0])
    """
    z_true, z_hat = check_pair(z_true, z_hat, need_k_ge_d=False)
    blocks = check_blocks(blocks, z_true.shape[1], z_hat.shape[1])
    if assignment is not None:
        assignment = check_assignment(assignment, len(blocks), z_hat.shape[1])
        widest = max(len(a) for a in assignment)
    else:
        widest = max(len(b) for b in blocks)
    parts = split_parts(z_true, z_hat, test_fraction, seed, widest + 2)
    return _block_r2(parts, blocks, assignment)


def _mcc(parts, kind):
    ranks = kind == "spearman"
    corr_fit = abs_correlations(parts.stats("fit", ranks), parts.d)
    matching = hungarian(corr_fit)
    corr = corr_fit if parts.in_sample else abs_correlations(parts.stats("score", ranks), parts.d)
    per_latent = corr[np.arange(len(matching)), list(matching)]
    return MCCResult(
        score=float(per_latent.mean()),
        matching=matching,
        correlations=read_only(corr),
        per_latent=read_only(per_latent),
        kind=kind,
        test_fraction=float(parts.test_fraction),
        n_fit=parts.n_fit,
        n_score=parts.n_score,
    )


def _affine_r2(parts):
    d = parts.d
    hat = np.arange(d, len(parts.centre))
    weights, intercept = regression(parts.stats("fit"), hat, np.arange(d))
    sse = parts.sse("score", lambda c: c[:, :d] - c[:, d:] @ weights - intercept)
    per_latent = r2_from(sse, parts.stats("score"), np.arange(d))
    weights, intercept = original_units(parts, weights, intercept, hat, np.arange(d))
    return AffineR2Result(
        mean=float(per_latent.mean()),
        per_latent=read_only(per_latent),
        weights=read_only(weights),
        intercept=read_only(intercept),
        test_fraction=float(parts.test_fraction),
        n_fit=parts.n_fit,
        n_score=parts.n_score,
    )


def _permutation_scaling_r2(parts, matching, monotone):
    d = parts.d
    fit = parts.stats("fit", monotone)
    if matching is None:
        matching = hungarian(abs_correlations(fit, d))
    columns = d + np.array(matching, dtype=int)
    variance = np.diag(fit.cov)[columns]
    covariance = fit.cov[np.arange(d), columns]
    scales = np.divide(covariance, variance, out=np.zeros(d), where=fit.varying[columns])
    offsets = fit.mean[:d] - scales * fit.mean[columns]
    sse = parts.sse("score", lambda c: c[:, :d] - (c[:, columns] * scales + offsets), monotone)
    per_latent = r2_from(sse, parts.stats("score", monotone), np.arange(d))
    if not monotone:  # ranks have no units; standardised values do
        true_scale, hat_scale = parts.scale[:d], parts.scale[columns]
        scales = scales * true_scale / hat_scale
        offsets = parts.centre[:d] + true_scale * offsets - scales * parts.centre[columns]
    return PermutationScalingR2Result(
        mean=float(per_latent.mean()),
        per_latent=read_only(per_latent),
        matching=matching,
        scales=read_only(scales),
        offsets=read_only(offsets),
        monotone=monotone,
        test_fraction=float(parts.test_fraction),
        n_fit=parts.n_fit,
        n_score=parts.n_score,
    )


def _block_r2(parts, blocks, assignment):
    d = parts.d
    fit = parts.stats("fit")
    if assignment is None:
        assignment = assign_blocks(fit, d, blocks)
    per_block = np.empty(len(blocks))
    for b, (block, assigned) in enumerate(zip(blocks, assignment, strict=True)):
        true_cols, hat_cols = np.array(block), d + np.array(assigned)
        weights, intercept = regression(fit, hat_cols, true_cols)
        sse = parts.sse("score", lambda c, t=true_cols, h=hat_cols, w=weights, b0=intercept: c[:, t] - c[:, h] @ w - b0)
        per_block[b] = r2_from(sse, parts.stats("score"), true_cols).mean()
    return BlockR2Result(
        mean=float(per_block.mean()),
        per_block=read_only(per_block),
        blocks=blocks,
        assignment=assignment,
        test_fraction=float(parts.test_fraction),
        n_fit=parts.n_fit,
        n_score=parts.n_score,
    )
