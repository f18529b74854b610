"""The engine under every identifiability score: splits, moments in chunks, regressions, checks.

Private: the public scores (:mod:`causalrep.identifiability.metrics`,
:mod:`~causalrep.identifiability.dci`,
:mod:`~causalrep.identifiability.disentanglement`, and
:func:`~causalrep.identifiability.check`) are thin wrappers that validate their
inputs here, split the rows with :func:`split_parts` and read the statistics
they need from the resulting :class:`Split`.
"""

import numbers
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import rankdata

from causalrep.validation import SEED, Interval, as_float_array, as_generator, check_fraction

#: Fewest rows in a fitting or a scoring part.
MIN_PART_SIZE = 3
CORRELATION_KINDS = ("pearson", "spearman")
RCOND = 1e-12

#: The parameters every score shares, declared once (``validation.validate_params``).
SHARED_PARAMETERS = {"test_fraction": Interval(numbers.Real, 0, 1, closed="left"), "seed": SEED}


class Split:
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
        self.centre, self.scale = column_scale(z_true, z_hat)
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

    def standardised(self, part, which):
        """The part's rows of ``which`` ("true" or "hat") in float64, centred and scaled with
        the columns' statistics over all rows: what estimators of any kind may safely take."""
        columns = slice(0, self.d) if which == "true" else slice(self.d, None)
        return (self.rows(part, which) - self.centre[columns]) / self.scale[columns]

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
        step = chunk_rows(width)
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
            self._stats[key] = Moments(n, mean, cov, varying)
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
        block = max(1, CHUNK_BYTES // (16 * n))
        for source, offset in ((self.z_true, 0), (self.z_hat, d)):
            for first in range(0, source.shape[1], block):
                columns = np.arange(first, min(first + block, source.shape[1]))
                values = source[:, columns] if index is None else source[index[:, None], columns]
                ranks[:, offset + columns] = average_ranks(np.ascontiguousarray(values.T)).T
        return ranks


@dataclass(frozen=True)
class Moments:
    n: int
    mean: np.ndarray
    cov: np.ndarray
    varying: np.ndarray


# Rows per chunk: about this many bytes of float64 per chunk of [z_true | z_hat].
CHUNK_BYTES = 32 * 2**20


def chunk_rows(width):
    return max(256, CHUNK_BYTES // (8 * max(width, 1)))


def column_scale(z_true, z_hat):
    """Centre and scale of every column of ``[z_true | z_hat]`` over all rows, in chunks.

    Each chunk is divided by its columns' largest magnitude before it is
    summed and squared, so neither overflows nor underflows at any scale.
    Constant columns get their magnitude as scale (1 when zero).
    """
    width = z_true.shape[1] + z_hat.shape[1]
    step = chunk_rows(width)
    n = len(z_true)

    def chunks():
        for start in range(0, n, step):
            yield np.concatenate([z_true[start : start + step], z_hat[start : start + step]], axis=1)

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


def standardised(x):
    """Columns of a float64 array centred and scaled by :func:`column_scale` (free of over-
    and underflow), so that a score computed from them does not depend on the inputs' units."""
    centre, scale = column_scale(x, x[:, :0])
    return (x - centre) / scale


def average_ranks(rows):
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


def assign_blocks(fit, d, blocks):
    """Give each block as many estimated coordinates as it has latents.

    The share of ``z_hat[:, j]``'s variance that an affine map of a block's
    latents explains is ``r_jB R_BB^+ r_Bj`` in correlations.
    """
    corr = correlation_matrix(fit)
    hat = np.arange(d, len(fit.mean))
    explained = []
    for block in blocks:
        true_cols = np.array(block)
        inner = np.linalg.pinv(corr[np.ix_(true_cols, true_cols)], rcond=RCOND, hermitian=True)
        cross = corr[np.ix_(true_cols, hat)]
        share = np.einsum("bj,bc,cj->j", cross, inner, cross)
        explained.extend([share] * len(block))
    slots, columns = linear_sum_assignment(np.array(explained), maximize=True)
    owner = np.repeat(np.arange(len(blocks)), [len(b) for b in blocks])[slots]
    return tuple(tuple(sorted(int(c) for c in columns[owner == b])) for b in range(len(blocks)))


def correlation_matrix(moments):
    """Correlations between all columns, zero for columns that do not vary."""
    sd = np.where(moments.varying, np.sqrt(np.maximum(np.diag(moments.cov), 0.0)), 0.0)
    safe = np.where(sd > 0, sd, 1.0)
    corr = moments.cov / np.outer(safe, safe)
    corr[~moments.varying, :] = 0.0
    corr[:, ~moments.varying] = 0.0
    return corr


def abs_correlations(moments, d):
    """Absolute Pearson correlations between true (first d) and estimated columns, (d, k)."""
    return np.clip(np.abs(correlation_matrix(moments)[:d, d:]), 0.0, 1.0)


def regression(moments, x_cols, y_cols):
    """Least squares ``y ~ x @ weights + intercept`` from a part's moments.

    Solved on the correlation matrix of ``x`` (minimum norm when its columns
    are collinear), as :func:`fit_affine` does on the rows themselves.
    """
    corr = correlation_matrix(moments)
    sd = np.where(moments.varying, np.sqrt(np.maximum(np.diag(moments.cov), 0.0)), 0.0)
    x_sd = sd[x_cols]
    safe = np.where(x_sd > 0, x_sd, 1.0)
    rhs = np.where((x_sd > 0)[:, None], moments.cov[np.ix_(x_cols, y_cols)] / safe[:, None], 0.0)
    coef = np.linalg.lstsq(corr[np.ix_(x_cols, x_cols)], rhs, rcond=RCOND)[0]
    weights = np.where((x_sd > 0)[:, None], coef / safe[:, None], 0.0)
    intercept = moments.mean[y_cols] - moments.mean[x_cols] @ weights
    return weights, intercept


def original_units(parts, weights, intercept, x_cols, y_cols):
    """A map between standardised columns expressed between the inputs' columns."""
    x_scale, y_scale = parts.scale[x_cols], parts.scale[y_cols]
    weights = weights / x_scale[:, None] * y_scale[None, :]
    intercept = parts.centre[y_cols] + y_scale * intercept - parts.centre[x_cols] @ weights
    return weights, intercept


def r2_from(sse, moments, y_cols):
    """1 - SSE / SST per target column; SST from the part's variance."""
    sst = np.diag(moments.cov)[y_cols] * moments.n
    return 1.0 - sse / sst


def split_parts(z_true, z_hat, test_fraction, seed, min_fit=MIN_PART_SIZE):
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
        parts = Split(z_true, z_hat, None, None, 0.0)
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
        parts = Split(z_true, z_hat, fit, score, float(test_fraction))
    where = "whole sample" if parts.in_sample else "fitting part"
    check_varying(parts, "fit", where)
    if not parts.in_sample:
        check_varying(parts, "score", "scoring part")
    return parts


def standardise(x):
    """Centred unit-norm columns (zero when constant), column means, column norms."""
    mean = x.mean(axis=0)
    unit = x - mean
    norms = np.sqrt(np.einsum("ij,ij->j", unit, unit))
    varying = (np.ptp(x, axis=0) > 0) & (norms > 0)
    norms = np.where(varying, norms, 0.0)
    unit[:, ~varying] = 0.0
    unit /= np.where(varying, norms, 1.0)
    return unit, mean, norms


def hungarian(corr):
    _, columns = linear_sum_assignment(corr, maximize=True)
    return tuple(int(c) for c in columns)


def fit_affine(x, y):
    """Least squares ``y ~ x @ weights + intercept``; minimum norm if x is collinear."""
    unit, x_mean, norms = standardise(x)
    coef = np.linalg.lstsq(unit.T @ unit, unit.T @ y, rcond=RCOND)[0]
    scale = norms[:, None]
    weights = np.divide(coef, scale, out=np.zeros_like(coef), where=scale > 0)
    intercept = y.mean(axis=0) - x_mean @ weights
    return weights, intercept


def r2_per_column(y, predicted):
    """Coefficient of determination per column; y columns vary (checked on split)."""
    residual = y - predicted
    centred = y - y.mean(axis=0)
    sse = np.einsum("ij,ij->j", residual, residual)
    sst = np.einsum("ij,ij->j", centred, centred)
    return 1.0 - sse / sst


def check_pair(z_true, z_hat, need_k_ge_d):
    z_true = as_2d(z_true, "z_true")
    z_hat = as_2d(z_hat, "z_hat")
    if len(z_true) != len(z_hat):
        raise ValueError(f"z_true and z_hat must have the same number of samples, got {len(z_true)} and {len(z_hat)}")
    d, k = z_true.shape[1], z_hat.shape[1]
    if need_k_ge_d and k < d:
        raise ValueError(
            f"z_hat has fewer columns ({k}) than z_true ({d}): every true latent needs its own estimated coordinate"
        )
    return z_true, z_hat


def as_2d(x, name):
    arr = as_float_array(x, name)
    if arr.ndim == 1:
        return arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d), got {tuple(arr.shape)}")
    return arr


def check_varying(parts, part, where):
    moments = parts.stats(part)
    constant = np.flatnonzero(~moments.varying[: parts.d])
    if constant.size:
        raise ValueError(
            f"z_true columns {constant.tolist()} are constant on the {where} "
            f"({moments.n} rows): a latent that does not vary cannot be scored; "
            f"drop it or pass more samples"
        )


def check_kind(kind):
    if kind not in CORRELATION_KINDS:
        raise ValueError(f"kind must be one of {CORRELATION_KINDS}, got {kind!r}")
    return kind


def check_matching(matching, d, k):
    arr = np.asarray(matching)
    if arr.shape != (d,) or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"matching must hold {d} integer indices, got {matching!r}")
    if arr.min() < 0 or arr.max() >= k or len(np.unique(arr)) != d:
        raise ValueError(f"matching must hold distinct indices in [0, {k}), got {arr.tolist()}")
    return tuple(int(j) for j in arr)


def check_blocks(blocks, d, k):
    blocks = index_groups(blocks, "blocks", d)
    flat = [i for b in blocks for i in b]
    if len(set(flat)) != len(flat):
        raise ValueError(f"blocks must be disjoint, got {[list(b) for b in blocks]}")
    if len(flat) > k:
        raise ValueError(f"blocks cover {len(flat)} latents but z_hat has only {k} columns")
    return blocks


def check_assignment(assignment, n_blocks, k):
    assignment = index_groups(assignment, "assignment", k)
    if len(assignment) != n_blocks:
        raise ValueError(f"assignment needs one group per block ({n_blocks}), got {len(assignment)}")
    return assignment


def index_groups(groups, name, size):
    try:
        arrays = [np.asarray(g) for g in groups]
    except TypeError as error:
        raise ValueError(f"{name} must be a sequence of index tuples") from error
    if not arrays or any(a.ndim != 1 or a.size == 0 for a in arrays):
        raise ValueError(f"{name} must be a non-empty sequence of non-empty index tuples, got {groups!r}")
    groups = tuple(tuple(a.tolist()) for a in arrays)
    for g in groups:
        if not all(type(i) is int and 0 <= i < size for i in g):
            raise ValueError(f"{name} must hold integer indices in [0, {size}), got {list(g)}")
    return groups


def read_only(arr):
    arr.setflags(write=False)
    return arr
