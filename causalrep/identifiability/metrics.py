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

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import rankdata

from causalrep.identifiability._json import JSONFields
from causalrep.validation import as_float_array, as_generator, check_fraction

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

MIN_PART_SIZE = 3
CORRELATION_KINDS = ("pearson", "spearman")
_RCOND = 1e-12


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


class _Split:
    """Rows that fit and rows that score, kept as row indices into the inputs.

    No part is copied: every statistic is gathered over chunks of rows (see
    :meth:`chunks`), each standardised in float64 with its columns' centre and
    scale over all rows. So peak memory stays a small fraction of the inputs',
    and no score depends on the inputs' offset or scale (values near 1e-160
    or 1e160 give the scores of unit scale). ``fit_true``, ``fit_hat``,
    ``score_true`` and ``score_hat`` materialise a part for callers that need
    the rows themselves.
    """

    def __init__(self, z_true, z_hat, fit, score, test_fraction):
        self.z_true, self.z_hat = z_true, z_hat
        self.fit, self.score = fit, score  # sorted int64 row indices; None: every row
        self.test_fraction = float(test_fraction)
        self.d = z_true.shape[1]
        self.centre, self.scale = _column_scale(z_true, z_hat)
        self._stats = {}

    @property
    def in_sample(self):
        return self.test_fraction == 0

    @property
    def n_fit(self):
        return len(self.z_true) if self.fit is None else len(self.fit)

    @property
    def n_score(self):
        return len(self.z_true) if self.score is None else len(self.score)

    def rows(self, part, which, rows=None):
        """Rows ``rows`` (indices into the part) of ``which`` ("true" or "hat")."""
        index = getattr(self, part)
        if rows is not None:
            index = np.asarray(rows) if index is None else index[rows]
        source = self.z_true if which == "true" else self.z_hat
        return source if index is None else source[index]

    fit_true = property(lambda self: self.rows("fit", "true"))
    fit_hat = property(lambda self: self.rows("fit", "hat"))
    score_true = property(lambda self: self.rows("score", "true"))
    score_hat = property(lambda self: self.rows("score", "hat"))

    def chunks(self, part, ranks=False):
        """Yield the part's rows as float64 chunks ``[z_true | z_hat]``, (m, d + k).

        Values are standardised with the columns' centre and scale over all
        rows; with ``ranks``, they are instead the normalised ranks
        ``(rank - 1/2) / n_part`` of each column within the part.
        """
        index = getattr(self, part)
        n = len(self.z_true) if index is None else len(index)
        width = self.z_true.shape[1] + self.z_hat.shape[1]
        step = _chunk_rows(width)
        ranked = self._ranks(part) if ranks else None
        for start in range(0, n, step):
            stop = min(start + step, n)
            if ranked is not None:
                yield (ranked[start:stop].astype(np.float64) - 0.5) / n
                continue
            rows = slice(start, stop) if index is None else index[start:stop]
            chunk = np.concatenate([self.z_true[rows], self.z_hat[rows]], axis=1)
            chunk -= self.centre
            chunk /= self.scale
            yield chunk

    def stats(self, part, ranks=False):
        """Mean, covariance (ddof 0) and which columns vary, over a part; cached."""
        part = "fit" if self.in_sample else part
        key = (part, bool(ranks))
        if key not in self._stats:
            total, gram, low, high, n = None, None, None, None, 0
            for chunk in self.chunks(part, ranks):
                if total is None:
                    total, gram = chunk.sum(axis=0), chunk.T @ chunk
                    low, high = chunk.min(axis=0), chunk.max(axis=0)
                else:
                    total += chunk.sum(axis=0)
                    gram += chunk.T @ chunk
                    np.minimum(low, chunk.min(axis=0), out=low)
                    np.maximum(high, chunk.max(axis=0), out=high)
                n += len(chunk)
            mean = total / n
            cov = gram / n - np.outer(mean, mean)
            varying = (high > low) & (np.diag(cov) > 0)
            self._stats[key] = _Moments(n, mean, cov, varying)
        return self._stats[key]

    def sse(self, part, residual, ranks=False):
        """Sum over the part's rows of ``residual(chunk) ** 2``, per column."""
        part = "fit" if self.in_sample else part
        total = 0.0
        for chunk in self.chunks(part, ranks):
            r = residual(chunk)
            total = total + np.einsum("ij,ij->j", r, r)
        return total

    def _ranks(self, part):
        """Average ranks (1..m) of every column within a part, float32 (exact to 2**23 rows)."""
        index = getattr(self, part)
        n = len(self.z_true) if index is None else len(index)
        d, k = self.z_true.shape[1], self.z_hat.shape[1]
        ranks = np.empty((n, d + k), dtype=np.float32)
        block = max(1, _CHUNK_BYTES // (16 * n))
        for source, offset in ((self.z_true, 0), (self.z_hat, d)):
            for first in range(0, source.shape[1], block):
                columns = np.arange(first, min(first + block, source.shape[1]))
                values = source[:, columns] if index is None else source[index[:, None], columns]
                ranks[:, offset + columns] = _average_ranks(np.ascontiguousarray(values.T)).T
        return ranks


@dataclass(frozen=True)
class _Moments:
    n: int
    mean: np.ndarray
    cov: np.ndarray
    varying: np.ndarray


# Rows per chunk: about this many bytes of float64 per chunk of [z_true | z_hat].
_CHUNK_BYTES = 32 * 2**20


def _chunk_rows(width):
    return max(256, _CHUNK_BYTES // (8 * max(width, 1)))


def _column_scale(z_true, z_hat):
    """Centre and scale of every column of ``[z_true | z_hat]`` over all rows, in chunks.

    Each chunk is divided by its columns' largest magnitude before it is
    summed and squared, so neither overflows nor underflows at any scale.
    Constant columns get their magnitude as scale (1 when zero).
    """
    width = z_true.shape[1] + z_hat.shape[1]
    step = _chunk_rows(width)
    n = len(z_true)

    def chunks():
        for start in range(0, n, step):
            yield np.concatenate([z_true[start:start + step], z_hat[start:start + step]], axis=1)

    peak = np.zeros(width)
    for chunk in chunks():
        np.maximum(peak, np.abs(chunk).max(axis=0), out=peak)
    unit = np.where(peak > 0, peak, 1.0)
    count, mean, m2 = 0, np.zeros(width), np.zeros(width)
    for chunk in chunks():  # Chan et al.'s pairwise update of mean and squared deviations
        chunk /= unit
        m = len(chunk)
        chunk_mean = chunk.mean(axis=0)
        chunk -= chunk_mean
        delta = chunk_mean - mean
        mean += delta * m / (count + m)
        m2 += np.einsum("ij,ij->j", chunk, chunk) + delta**2 * count * m / (count + m)
        count += m
    std = np.sqrt(m2 / count)
    return mean * unit, np.where(std > 0, std, 1.0) * unit


def _average_ranks(rows):
    """Average ranks (1..m) along each row of ``rows`` (b, m)."""
    m = rows.shape[1]
    order = np.argsort(rows, axis=1)
    ranks = np.empty(rows.shape)
    np.put_along_axis(ranks, order, np.arange(1.0, m + 1)[None, :], axis=1)
    ordered = np.take_along_axis(rows, order, axis=1)
    tied = np.any(ordered[:, 1:] == ordered[:, :-1], axis=1)
    if tied.any():
        ranks[tied] = rankdata(rows[tied], axis=1)
    return ranks


def mcc(z_true, z_hat, kind="pearson", test_fraction=0.5, seed=0):
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
    kind = _check_kind(kind)
    z_true, z_hat = _check_pair(z_true, z_hat, need_k_ge_d=True)
    return _mcc(_split(z_true, z_hat, test_fraction, seed), kind)


def affine_r2(z_true, z_hat, test_fraction=0.5, seed=0):
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
    z_true, z_hat = _check_pair(z_true, z_hat, need_k_ge_d=False)
    return _affine_r2(_split(z_true, z_hat, test_fraction, seed, z_hat.shape[1] + 2))


def permutation_scaling_r2(
    z_true, z_hat, matching=None, monotone=False, test_fraction=0.5, seed=0
):
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
    z_true, z_hat = _check_pair(z_true, z_hat, need_k_ge_d=True)
    if matching is not None:
        matching = _check_matching(matching, z_true.shape[1], z_hat.shape[1])
    return _permutation_scaling_r2(
        _split(z_true, z_hat, test_fraction, seed), matching, bool(monotone)
    )


def block_r2(z_true, z_hat, blocks, assignment=None, test_fraction=0.5, seed=0):
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
    z_true, z_hat = _check_pair(z_true, z_hat, need_k_ge_d=False)
    blocks = _check_blocks(blocks, z_true.shape[1], z_hat.shape[1])
    if assignment is not None:
        assignment = _check_assignment(assignment, len(blocks), z_hat.shape[1])
        widest = max(len(a) for a in assignment)
    else:
        widest = max(len(b) for b in blocks)
    parts = _split(z_true, z_hat, test_fraction, seed, widest + 2)
    return _block_r2(parts, blocks, assignment)


def _mcc(parts, kind):
    ranks = kind == "spearman"
    corr_fit = _corr(parts.stats("fit", ranks), parts.d)
    matching = _hungarian(corr_fit)
    corr = corr_fit if parts.in_sample else _corr(parts.stats("score", ranks), parts.d)
    per_latent = corr[np.arange(len(matching)), list(matching)]
    return MCCResult(
        score=float(per_latent.mean()),
        matching=matching,
        correlations=_read_only(corr),
        per_latent=_read_only(per_latent),
        kind=kind,
        test_fraction=float(parts.test_fraction),
        n_fit=parts.n_fit,
        n_score=parts.n_score,
    )


def _affine_r2(parts):
    d = parts.d
    hat = np.arange(d, len(parts.centre))
    weights, intercept = _regression(parts.stats("fit"), hat, np.arange(d))
    sse = parts.sse("score", lambda c: c[:, :d] - c[:, d:] @ weights - intercept)
    per_latent = _r2_from(sse, parts.stats("score"), np.arange(d))
    weights, intercept = _original_units(parts, weights, intercept, hat, np.arange(d))
    return AffineR2Result(
        mean=float(per_latent.mean()),
        per_latent=_read_only(per_latent),
        weights=_read_only(weights),
        intercept=_read_only(intercept),
        test_fraction=float(parts.test_fraction),
        n_fit=parts.n_fit,
        n_score=parts.n_score,
    )


def _permutation_scaling_r2(parts, matching, monotone):
    d = parts.d
    fit = parts.stats("fit", monotone)
    if matching is None:
        matching = _hungarian(_corr(fit, d))
    columns = d + np.array(matching, dtype=int)
    variance = np.diag(fit.cov)[columns]
    covariance = fit.cov[np.arange(d), columns]
    scales = np.divide(covariance, variance, out=np.zeros(d), where=fit.varying[columns])
    offsets = fit.mean[:d] - scales * fit.mean[columns]
    sse = parts.sse("score", lambda c: c[:, :d] - (c[:, columns] * scales + offsets), monotone)
    per_latent = _r2_from(sse, parts.stats("score", monotone), np.arange(d))
    if not monotone:  # ranks have no units; standardised values do
        true_scale, hat_scale = parts.scale[:d], parts.scale[columns]
        scales = scales * true_scale / hat_scale
        offsets = parts.centre[:d] + true_scale * offsets - scales * parts.centre[columns]
    return PermutationScalingR2Result(
        mean=float(per_latent.mean()),
        per_latent=_read_only(per_latent),
        matching=matching,
        scales=_read_only(scales),
        offsets=_read_only(offsets),
        monotone=monotone,
        test_fraction=float(parts.test_fraction),
        n_fit=parts.n_fit,
        n_score=parts.n_score,
    )


def _block_r2(parts, blocks, assignment):
    d = parts.d
    fit = parts.stats("fit")
    if assignment is None:
        assignment = _assign_blocks(fit, d, blocks)
    per_block = np.empty(len(blocks))
    for b, (block, assigned) in enumerate(zip(blocks, assignment)):
        true_cols, hat_cols = np.array(block), d + np.array(assigned)
        weights, intercept = _regression(fit, hat_cols, true_cols)
        sse = parts.sse("score", lambda c, t=true_cols, h=hat_cols, w=weights, b0=intercept:
                        c[:, t] - c[:, h] @ w - b0)
        per_block[b] = _r2_from(sse, parts.stats("score"), true_cols).mean()
    return BlockR2Result(
        mean=float(per_block.mean()),
        per_block=_read_only(per_block),
        blocks=blocks,
        assignment=assignment,
        test_fraction=float(parts.test_fraction),
        n_fit=parts.n_fit,
        n_score=parts.n_score,
    )


def _assign_blocks(fit, d, blocks):
    """Give each block as many estimated coordinates as it has latents.

    The share of ``z_hat[:, j]``'s variance that an affine map of a block's
    latents explains is ``r_jB R_BB^+ r_Bj`` in correlations.
    """
    corr = _correlation_matrix(fit)
    hat = np.arange(d, len(fit.mean))
    explained = []
    for block in blocks:
        true_cols = np.array(block)
        inner = np.linalg.pinv(corr[np.ix_(true_cols, true_cols)], rcond=_RCOND,
                               hermitian=True)
        cross = corr[np.ix_(true_cols, hat)]
        share = np.einsum("bj,bc,cj->j", cross, inner, cross)
        explained.extend([share] * len(block))
    slots, columns = linear_sum_assignment(np.array(explained), maximize=True)
    owner = np.repeat(np.arange(len(blocks)), [len(b) for b in blocks])[slots]
    return tuple(
        tuple(sorted(int(c) for c in columns[owner == b])) for b in range(len(blocks))
    )


def _correlation_matrix(moments):
    """Correlations between all columns, zero for columns that do not vary."""
    sd = np.where(moments.varying, np.sqrt(np.maximum(np.diag(moments.cov), 0.0)), 0.0)
    safe = np.where(sd > 0, sd, 1.0)
    corr = moments.cov / np.outer(safe, safe)
    corr[~moments.varying, :] = 0.0
    corr[:, ~moments.varying] = 0.0
    return corr


def _corr(moments, d):
    """Absolute Pearson correlations between true (first d) and estimated columns, (d, k)."""
    return np.clip(np.abs(_correlation_matrix(moments)[:d, d:]), 0.0, 1.0)


def _regression(moments, x_cols, y_cols):
    """Least squares ``y ~ x @ weights + intercept`` from a part's moments.

    Solved on the correlation matrix of ``x`` (minimum norm when its columns
    are collinear), as :func:`_fit_affine` does on the rows themselves.
    """
    corr = _correlation_matrix(moments)
    sd = np.where(moments.varying, np.sqrt(np.maximum(np.diag(moments.cov), 0.0)), 0.0)
    x_sd = sd[x_cols]
    safe = np.where(x_sd > 0, x_sd, 1.0)
    rhs = np.where((x_sd > 0)[:, None], moments.cov[np.ix_(x_cols, y_cols)] / safe[:, None], 0.0)
    coef = np.linalg.lstsq(corr[np.ix_(x_cols, x_cols)], rhs, rcond=_RCOND)[0]
    weights = np.where((x_sd > 0)[:, None], coef / safe[:, None], 0.0)
    intercept = moments.mean[y_cols] - moments.mean[x_cols] @ weights
    return weights, intercept


def _original_units(parts, weights, intercept, x_cols, y_cols):
    """A map between standardised columns expressed between the inputs' columns."""
    x_scale, y_scale = parts.scale[x_cols], parts.scale[y_cols]
    weights = weights / x_scale[:, None] * y_scale[None, :]
    intercept = parts.centre[y_cols] + y_scale * intercept - parts.centre[x_cols] @ weights
    return weights, intercept


def _r2_from(sse, moments, y_cols):
    """1 - SSE / SST per target column; SST from the part's variance."""
    sst = np.diag(moments.cov)[y_cols] * moments.n
    return 1.0 - sse / sst


def _split(z_true, z_hat, test_fraction, seed, min_fit=MIN_PART_SIZE):
    """Split rows into a fitting and a scoring part (the same rows when in sample)."""
    check_fraction(test_fraction, "test_fraction")
    min_fit = max(min_fit, MIN_PART_SIZE)
    n = len(z_true)
    if test_fraction == 0:
        if n < min_fit:
            raise ValueError(
                f"too few samples: n={n}, at least {min_fit} are needed "
                f"(k + 2 for a regression on k estimated coordinates)"
            )
        parts = _Split(z_true, z_hat, None, None, 0.0)
    else:
        n_score = int(round(n * test_fraction))
        n_fit = n - n_score
        if n_fit < min_fit or n_score < MIN_PART_SIZE:
            raise ValueError(
                f"too few samples for the split: test_fraction={test_fraction} "
                f"leaves {n_fit} of n={n} rows for fitting (at least {min_fit} "
                f"needed) and {n_score} for scoring (at least {MIN_PART_SIZE}); "
                f"pass more samples or change test_fraction"
            )
        order = as_generator(seed).permutation(n)
        fit, score = np.sort(order[:n_fit]), np.sort(order[n_fit:])
        parts = _Split(z_true, z_hat, fit, score, float(test_fraction))
    where = "whole sample" if parts.in_sample else "fitting part"
    _check_varying(parts, "fit", where)
    if not parts.in_sample:
        _check_varying(parts, "score", "scoring part")
    return parts


def _standardise(x):
    """Centred unit-norm columns (zero when constant), column means, column norms."""
    mean = x.mean(axis=0)
    unit = x - mean
    norms = np.sqrt(np.einsum("ij,ij->j", unit, unit))
    varying = (np.ptp(x, axis=0) > 0) & (norms > 0)
    norms = np.where(varying, norms, 0.0)
    unit[:, ~varying] = 0.0
    unit /= np.where(varying, norms, 1.0)
    return unit, mean, norms


def _hungarian(corr):
    _, columns = linear_sum_assignment(corr, maximize=True)
    return tuple(int(c) for c in columns)


def _fit_affine(x, y):
    """Least squares ``y ~ x @ weights + intercept``; minimum norm if x is collinear."""
    unit, x_mean, norms = _standardise(x)
    coef = np.linalg.lstsq(unit.T @ unit, unit.T @ y, rcond=_RCOND)[0]
    scale = norms[:, None]
    weights = np.divide(coef, scale, out=np.zeros_like(coef), where=scale > 0)
    intercept = y.mean(axis=0) - x_mean @ weights
    return weights, intercept


def _r2(y, predicted):
    """Coefficient of determination per column; y columns vary (checked on split)."""
    residual = y - predicted
    centred = y - y.mean(axis=0)
    sse = np.einsum("ij,ij->j", residual, residual)
    sst = np.einsum("ij,ij->j", centred, centred)
    return 1.0 - sse / sst


def _check_pair(z_true, z_hat, need_k_ge_d):
    z_true = _as_2d(z_true, "z_true")
    z_hat = _as_2d(z_hat, "z_hat")
    if len(z_true) != len(z_hat):
        raise ValueError(
            f"z_true and z_hat must have the same number of samples, got "
            f"{len(z_true)} and {len(z_hat)}"
        )
    d, k = z_true.shape[1], z_hat.shape[1]
    if need_k_ge_d and k < d:
        raise ValueError(
            f"z_hat has fewer columns ({k}) than z_true ({d}): every true latent "
            f"needs its own estimated coordinate"
        )
    return z_true, z_hat


def _as_2d(x, name):
    arr = as_float_array(x, name)
    if arr.ndim == 1:
        return arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d), got {tuple(arr.shape)}")
    return arr


def _check_varying(parts, part, where):
    moments = parts.stats(part)
    constant = np.flatnonzero(~moments.varying[:parts.d])
    if constant.size:
        raise ValueError(
            f"z_true columns {constant.tolist()} are constant on the {where} "
            f"({moments.n} rows): a latent that does not vary cannot be scored; "
            f"drop it or pass more samples"
        )


def _check_kind(kind):
    if kind not in CORRELATION_KINDS:
        raise ValueError(f"kind must be one of {CORRELATION_KINDS}, got {kind!r}")
    return kind


def _check_matching(matching, d, k):
    arr = np.asarray(matching)
    if arr.shape != (d,) or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"matching must hold {d} integer indices, got {matching!r}")
    if arr.min() < 0 or arr.max() >= k or len(np.unique(arr)) != d:
        raise ValueError(
            f"matching must hold distinct indices in [0, {k}), got {arr.tolist()}"
        )
    return tuple(int(j) for j in arr)


def _check_blocks(blocks, d, k):
    blocks = _index_groups(blocks, "blocks", d)
    flat = [i for b in blocks for i in b]
    if len(set(flat)) != len(flat):
        raise ValueError(f"blocks must be disjoint, got {[list(b) for b in blocks]}")
    if len(flat) > k:
        raise ValueError(
            f"blocks cover {len(flat)} latents but z_hat has only {k} columns"
        )
    return blocks


def _check_assignment(assignment, n_blocks, k):
    assignment = _index_groups(assignment, "assignment", k)
    if len(assignment) != n_blocks:
        raise ValueError(
            f"assignment needs one group per block ({n_blocks}), got {len(assignment)}"
        )
    return assignment


def _index_groups(groups, name, size):
    try:
        arrays = [np.asarray(g) for g in groups]
    except TypeError as error:
        raise ValueError(f"{name} must be a sequence of index tuples") from error
    if not arrays or any(a.ndim != 1 or a.size == 0 for a in arrays):
        raise ValueError(
            f"{name} must be a non-empty sequence of non-empty index tuples, "
            f"got {groups!r}"
        )
    groups = tuple(tuple(a.tolist()) for a in arrays)
    for g in groups:
        if not all(type(i) is int and 0 <= i < size for i in g):
            raise ValueError(
                f"{name} must hold integer indices in [0, {size}), got {list(g)}"
            )
    return groups


def _read_only(arr):
    arr.setflags(write=False)
    return arr
