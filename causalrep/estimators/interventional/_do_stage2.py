r"""Stage 2 of Interventional CRL: undo an affine map with hard interventions.

Given :math:`\hat z = A z + c` (stage 1), write :math:`y = L^{-1}(\hat z - \bar z)`
for the whitened code (:math:`L L^\top` the covariance of :math:`\hat z` over
all samples). Each true latent is :math:`z_j = g_j^\top y` up to scale and
offset, and the task is to find the unit vectors :math:`g_j`.

- **do with a fixed value** on the targets T of a regime makes every
  :math:`g_t^\top y`, :math:`t \in T`, constant there: the span of
  :math:`\{g_t\}` is the eigenspace of the |T| smallest eigenvalues of the
  regime's covariance of y (the generalised eigenproblem of Ahuja et al.,
  2023). One target gives the direction itself; several give a block, and
  blocks that overlap are intersected (principal angles), so a latent shared
  by two regimes is singled out.
- **Unknown targets**: the number of near-zero eigenvalues (below
  ``threshold``, at the largest gap) says how many latents the regime fixed;
  their directions join the known ones, matched by angle, and the result is
  identified up to permutation and scaling.
- A **do with a random value** (drawn independently of everything) leaves
  the coordinate varying: its smallest eigenvalue stays above
  ``FIXED_SHARE``. Such regimes are compared with the observational one
  (:func:`peel_random_do`): the log-density ratio of regime k to regime 0
  depends only on :math:`z_j` and its parents, so its gradients span the
  functionals :math:`z_j` and :math:`z_{pa(j)}`. With the Gaussian plug-in
  ratio (first and second moments) this holds exactly for linear SCMs with
  any noise and any law of the random value, and approximately for
  nonlinear ones. Roots have rank one; a node whose parents are known has
  rank one once the known functionals are projected out, which gives an
  order (roots first) and the node's functional up to known ones; the hard
  intervention makes :math:`z_j` independent of its non-descendants, so
  decorrelating it from them in regime k leaves :math:`z_j` itself.
  When the random-valued regimes give every latent, the peeled functionals
  are then refined jointly (:func:`refine_random_do`) by the Gaussian
  quasi-likelihood of a linear SCM in the peeling order, whose second
  moments are exact for linear SCMs whatever the noise: it uses every
  regime's covariance at once instead of one ratio at a time. A fit its
  goodness-of-fit test rejects tries other causal orders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.stats
import torch

__all__ = [
    "Whitener",
    "smallest_directions",
    "count_fixed",
    "intersect",
    "peel_random_do",
    "RandomDoResult",
    "moment_change_pvalue",
    "refine_random_do",
    "fit_do",
    "DoFit",
    "RandomPlacement",
]

# A regime's coordinate "is fixed" when its variance there is below this share
# of its variance over all samples.
FIXED_SHARE = 0.05
# The joint refinement's linear SCM is rejected below this goodness-of-fit
# p-value (measured: 0.005-0.9 on linear SCMs with Laplace noise in the right
# order, 1e-276 in a wrong one, below 1e-4 with tanh mechanisms in any order).
LINEAR_FIT_PVALUE = 1e-3
# L-BFGS iterations that score one candidate order in the order search.
_SCORING_ITERATIONS = 25


@dataclass(frozen=True)
class Whitener:
    """Centre and Cholesky factor of the covariance of a code ``z`` (n, d)."""

    center: np.ndarray
    factor: np.ndarray

    @classmethod
    def fit(cls, z: np.ndarray) -> "Whitener":
        d = z.shape[1]
        center = z.mean(0)
        cov = np.atleast_2d(np.cov(z, rowvar=False))
        cov = cov + 1e-12 * np.trace(cov) / d * np.eye(d)
        return cls(center, np.linalg.cholesky(cov))

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """Whitened code y, (n, d)."""
        return scipy.linalg.solve_triangular(self.factor, (z - self.center).T, lower=True).T

    def rows(self, directions: np.ndarray) -> np.ndarray:
        """Rows of the map z -> g^T y for unit ``directions`` (k, d) in y."""
        return scipy.linalg.solve_triangular(self.factor.T, directions.T, lower=False).T


def smallest_directions(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending, (d,)) and unit eigenvectors (columns, (d, d)) of
    the covariance of the whitened samples ``y`` (m, d) of one regime."""
    cov = np.atleast_2d(np.cov(y, rowvar=False))
    return np.linalg.eigh(cov)


def count_fixed(eigenvalues: np.ndarray, threshold: float = FIXED_SHARE) -> int:
    """How many coordinates a regime with unknown targets fixed.

    The eigenvalues below ``threshold``, cut at the largest ratio gap
    between consecutive ones; 0 when none is below.
    """
    small = int(np.sum(eigenvalues < threshold))
    if small == 0:
        return 0
    values = np.maximum(eigenvalues, 1e-300)
    gaps = np.log(values[1 : small + 1]) - np.log(values[:small])
    return int(np.argmax(gaps)) + 1


def intersect(first: np.ndarray, second: np.ndarray, dim: int) -> np.ndarray:
    """The ``dim`` directions of span(first) closest to span(second).

    Arguments:
        first: Orthonormal columns, (d, a).
        second: Orthonormal columns, (d, b).
        dim: Dimension of the intersection, <= min(a, b).

    Returns:
        Orthonormal columns (d, dim) inside span(first).
    """
    u, _, _ = np.linalg.svd(first.T @ second)
    return first @ u[:, :dim]


@dataclass(frozen=True)
class RandomDoResult:
    """Functionals found from random-valued do-regimes.

    Attributes:
        directions: Regime -> unit row (d,) in whitened coordinates.
        order: Regimes in the order they were resolved (roots first).
        change_pvalue: Regime -> p-value of "its mean and covariance equal the
            observational regime's" (a regime that changed nothing identifies nothing).
        rank_one_ratio: Regime -> second over first eigenvalue of its
            ratio-gradient matrix with the known functionals projected out
            (0 in the population of a linear SCM; large when the regime's
            change is not one latent's mechanism).
        linear_fit_pvalue: p-value of the joint refinement's linear SCM
            (:func:`refine_random_do`); None when it did not run.
    """

    directions: dict
    order: list
    rank_one_ratio: dict
    change_pvalue: dict
    linear_fit_pvalue: float | None = None


def peel_random_do(
    y: np.ndarray, regime: np.ndarray, regimes: list, known: np.ndarray, invariant_known: bool = False
) -> RandomDoResult:
    """Functionals of the latents targeted by random-valued do-regimes.

    Arguments:
        y: Whitened codes of all samples, (n, d).
        regime: Regime of each sample, (n,); regime 0 is observational.
        regimes: The random-valued single-target regimes to resolve.
        known: Unit rows (m, d) of functionals already identified (e.g. by
            fixed-value regimes), possibly m = 0.
        invariant_known: Whether every known functional is a non-descendant of
            every target; otherwise a known one is decorrelated against only
            where its mean and variance are unchanged by the regime.

    Returns:
        RandomDoResult.
    """
    d = y.shape[1]
    y0 = y[regime == 0]
    m0, p0 = y0.mean(0), _precision(y0)
    gram = {}
    for k in regimes:
        yk = y[regime == k]
        mk, pk = yk.mean(0), _precision(yk)
        both = np.vstack([y0, yk])
        gradients = both @ (p0 - pk) + (pk @ mk - p0 @ m0)
        gram[k] = gradients.T @ gradients / both.shape[0]
    found = [np.asarray(row, dtype=np.float64) for row in known]
    peeled, directions, order, ratios = [], {}, [], {}
    todo = list(regimes)
    while todo:
        rest = scipy.linalg.null_space(np.array(found)) if found else np.eye(d)
        if rest.shape[1] == 0:
            break  # every direction is taken: the remaining regimes add nothing
        best = None
        for k in todo:
            values, vectors = np.linalg.eigh(rest.T @ gram[k] @ rest)
            ratio = float(values[-2] / max(values[-1], 1e-300)) if values.size > 1 else 0.0
            if best is None or ratio < best[0]:
                best = (ratio, k, rest @ vectors[:, -1])
        ratio, k, row = best
        yk = y[regime == k]
        ancestors = peeled + [f for f in found[: len(known)] if invariant_known or _unchanged(y0 @ f, yk @ f)]
        if ancestors:
            basis = np.array(ancestors)
            codes = yk @ basis.T
            coef = np.linalg.lstsq(codes - codes.mean(0), yk @ row - (yk @ row).mean(), rcond=None)[0]
            row = row - basis.T @ coef
        row = row / np.linalg.norm(row)
        found.append(row)
        peeled.append(row)
        directions[k], ratios[k] = row, ratio
        order.append(k)
        todo.remove(k)
    pvalues = {k: moment_change_pvalue(y0, y[regime == k]) for k in order}
    fit_pvalue = None
    if not known.shape[0] and len(order) == d:
        directions, fit_pvalue = refine_random_do(y, regime, order, directions)
    return RandomDoResult(directions, order, ratios, pvalues, fit_pvalue)


def refine_random_do(
    y: np.ndarray,
    regime: np.ndarray,
    order: list,
    directions: dict,
    max_iter: int = 500,
    search_below: float = LINEAR_FIT_PVALUE,
) -> tuple[dict, float | None]:
    """Refine the functionals of d random-valued do-regimes jointly.

    The model: the latents :math:`z_j = w_j^\top y` follow a linear SCM in
    ``order`` (each one regressed on all before it) on the observational
    regime, and on every regime but its own, where it is an independent
    draw. Its Gaussian quasi-likelihood, with the regressions and variances
    profiled out, depends on the samples only through each regime's mean and
    covariance, and is maximised over W by L-BFGS from the peeled rows.

    Arguments:
        y: Whitened codes of all samples, (n, d).
        regime: Regime of each sample, (n,); regime 0 is observational.
        order: The d random-valued single-target regimes, roots first.
        directions: Regime -> unit row (d,) from :func:`peel_random_do`.
        max_iter: Most L-BFGS iterations.
        search_below: Fit p-value below which other causal orders are tried
            (one latent moved at a time, while the likelihood improves).

    Returns:
        Regime -> unit row (d,), the refined functionals (the peeled ones when
        the search does not improve the quasi-likelihood), and the p-value of
        the model against free means and covariances per regime: the
        likelihood-ratio statistic divided by the mean relative multivariate
        kurtosis (Mardia's, Browne's elliptical correction, so heavy-tailed
        noise is not mistaken for misfit), against a chi-square law; None for
        one latent, where the model has as many parameters as the moments.
    """
    d = y.shape[1]
    moments, counts, saturated, kurtosis = [], [], 0.0, 0.0
    for k in [0, *order]:
        samples = y[regime == k]
        rows = np.column_stack([np.ones(samples.shape[0]), samples])
        moments.append(rows.T @ rows / rows.shape[0])
        counts.append(rows.shape[0])
        centred = samples - samples.mean(0)
        cov = centred.T @ centred / rows.shape[0]
        distances = np.einsum("ni,ni->n", centred, np.linalg.solve(cov, centred.T).T)
        saturated += rows.shape[0] * 0.5 * np.linalg.slogdet(cov)[1]
        kurtosis += rows.shape[0] * np.mean(distances**2) / (d * (d + 2))
    total_count = sum(counts)
    moments = torch.from_numpy(np.array(moments))  # (d + 1, d + 1, d + 1): [1, y] per regime
    share = torch.tensor(counts, dtype=torch.float64) / total_count

    def negative_log_likelihood(flat, sequence):
        W = flat.reshape(d, d)  # row r: the latent of order[r]
        lift = torch.block_diag(torch.ones(1, 1, dtype=W.dtype), W[sequence])  # [1, y] -> [1, z]
        z_moments = lift @ moments @ lift.T  # z in the causal sequence
        total = -torch.linalg.slogdet(W)[1]
        for i, row in enumerate(sequence):
            own = row + 1  # regime of the i-th latent
            others = [r for r in range(d + 1) if r != own]
            pooled = (share[others, None, None] * z_moments[others]).sum(0) / share[others].sum()
            block = pooled[: i + 2, : i + 2]  # [1, z_earlier, z_i]
            residual = block[-1, -1] - block[-1, :-1] @ torch.linalg.solve(block[:-1, :-1], block[:-1, -1])
            mean = z_moments[own, 0, i + 1]
            spread = z_moments[own, i + 1, i + 1] - mean**2
            total = total + 0.5 * share[others].sum() * torch.log(residual) + 0.5 * share[own] * torch.log(spread)
        return total

    def fit(sequence, start, iterations=max_iter):
        def objective(flat):
            flat = torch.from_numpy(flat).requires_grad_(True)
            value = negative_log_likelihood(flat, sequence)
            (grad,) = torch.autograd.grad(value, flat)
            return float(value.detach()), grad.numpy()

        before = objective(start.ravel())[0]
        result = scipy.optimize.minimize(
            objective,
            start.ravel(),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": iterations, "ftol": 1e-15, "gtol": 1e-10},
        )
        if np.isfinite(result.fun) and result.fun < before:
            return result.x.reshape(d, d), float(result.fun)
        return start, before

    # Free: a mean and covariance per regime. Fitted: W up to row scales, each
    # latent's regression (intercept, earlier latents, residual variance) and
    # its own regime's mean and variance.
    df = (d + 1) * (d + d * (d + 1) // 2) - (d * (d - 1) + (d * (d + 1) // 2 + d) + 2 * d)

    def pvalue(value):
        if df <= 0:  # one latent: the model is saturated, nothing to test
            return None
        statistic = 2.0 * max(total_count * value - saturated, 0.0) / (kurtosis / total_count)
        return float(scipy.stats.chi2.sf(statistic, df))

    sequence = list(range(d))
    rows, value = fit(sequence, np.array([directions[k] for k in order]))
    # A rejected fit may only have the peeling's order wrong (a root peeled after
    # its children): move one latent elsewhere in the sequence, scoring every
    # move by a short fit, while the best move improves the fit.
    while df > 0 and pvalue(value) < search_below:
        moves = [_moved(sequence, j, i) for j in range(d) for i in range(d) if i != j]
        _, move = min((fit(move, rows, _SCORING_ITERATIONS)[1], move) for move in moves)
        moved_rows, moved_value = fit(move, rows)
        if moved_value >= value - 1e-9 * max(abs(value), 1.0):
            break
        sequence, rows, value = move, moved_rows, moved_value
    return {k: row / np.linalg.norm(row) for k, row in zip(order, rows, strict=True)}, pvalue(value)


def _moved(sequence, j, i):
    """``sequence`` with its j-th entry moved to position i."""
    rest = sequence[:j] + sequence[j + 1 :]
    return rest[:i] + [sequence[j]] + rest[i:]


def moment_change_pvalue(before: np.ndarray, after: np.ndarray) -> float:
    """p-value of equal means and covariances of two samples (n0, d) and (n1, d).

    The Gaussian likelihood-ratio statistic, twice the effective sample size
    times the Kullback-Leibler divergence between the fitted Gaussians, against
    a chi-square law with d + d (d + 1) / 2 degrees of freedom.
    """
    d = before.shape[1]
    n = before.shape[0] * after.shape[0] / (before.shape[0] + after.shape[0])
    c0, c1 = (np.atleast_2d(np.cov(x, rowvar=False)) for x in (before, after))
    shift = after.mean(0) - before.mean(0)
    solved = np.linalg.solve(c0, np.column_stack([c1, shift]))
    kl = 0.5 * (
        np.trace(solved[:, :d]) - d + shift @ solved[:, d] - np.linalg.slogdet(c1)[1] + np.linalg.slogdet(c0)[1]
    )
    return float(scipy.stats.chi2.sf(2.0 * n * max(kl, 0.0), d + d * (d + 1) // 2))


def _precision(y):
    return np.linalg.inv(np.atleast_2d(np.cov(y, rowvar=False)))


def _unchanged(before, after, z=4.0):
    """Mean and variance of a code equal in two samples, within ``z`` standard errors."""
    n0, n1 = before.size, after.size
    v0, v1 = before.var(), after.var()
    mean_z = abs(before.mean() - after.mean()) / np.sqrt(v0 / n0 + v1 / n1 + 1e-300)
    log_ratio_z = abs(np.log(max(v1, 1e-300) / max(v0, 1e-300))) / np.sqrt(2 / n0 + 2 / n1)
    return bool(mean_z < z and log_ratio_z < z)


# -- the estimator's do stage 2: the regimes sorted by kind, directions placed --


@dataclass(frozen=True)
class RandomPlacement:
    """Where a random-valued do-regime's functional was placed, and its checks
    (:class:`RandomDoResult`)."""

    latent: int
    rank_one_ratio: float
    change_pvalue: float
    linear_fit_pvalue: float | None


@dataclass(frozen=True)
class DoFit:
    """The do stage 2 fitted on stage-1 codes.

    Attributes:
        center: (d,), the centre of the stage-1 codes.
        gamma: (d, d), the stage-2 map: z = (z_hat - center) gamma^T.
        blocks: Latents identified only jointly, as blocks.
        found_by: Latent -> how its direction was found.
        random: Random-valued do-regime -> its :class:`RandomPlacement`.
        uncovered: Latents no regime gave a direction (completed with
            directions uncorrelated with the others), ascending.
    """

    center: np.ndarray
    gamma: np.ndarray
    blocks: list
    found_by: dict
    random: dict
    uncovered: tuple = ()


def fit_do(z_hat: np.ndarray, data, latent_dim: int) -> DoFit:
    """Stage 2 from the hard interventions of ``data`` (an InterventionalData)
    on the stage-1 codes ``z_hat`` (n, latent_dim)."""
    d = latent_dim
    whiten = Whitener.fit(z_hat)
    y = whiten(z_hat)
    known, unknown, random_valued = {}, [], []
    for k in data.regimes:
        targets = data.targets[k]
        if not targets and targets is not None:
            continue
        values, _ = smallest_directions(y[data.regime == k])
        if targets is None:
            (unknown if count_fixed(values) else random_valued).append(k)
        elif values[len(targets) - 1] >= FIXED_SHARE and len(targets) == 1:
            random_valued.append(k)  # not held at one value: a do with a random value
        else:
            known.setdefault(targets, []).append(k)
    directions = np.zeros((d, d))
    found, how, block_list = [], {}, []
    # Subspace (whitened, orthonormal columns) fixed by each known target set.
    spans = {}
    for targets, regimes in known.items():
        rows = np.isin(data.regime, regimes)
        _, vectors = smallest_directions(y[rows])
        spans[targets] = vectors[:, : len(targets)]
    # Intersect the spans of the target sets holding each latent: a latent
    # whose intersection is one-dimensional is identified up to scale.
    blocks = {}
    for j in sorted({j for targets in known for j in targets}):
        label, span = None, None
        for targets in sorted((t for t in known if j in t), key=len):
            if span is None:
                label, span = set(targets), spans[targets]
            else:
                shared = label & set(targets)
                span, label = intersect(span, spans[targets], len(shared)), shared
        if len(label) == 1:
            directions[j] = span[:, 0]
            found.append(j)
            how.setdefault(j, "do")
        else:
            blocks.setdefault(tuple(sorted(label)), span)
    # A block gives its members not identified alone directions in its span,
    # orthogonal to those that are: identified jointly, as a block.
    for members, span in blocks.items():
        alone = [m for m in members if m in found]
        free = [m for m in members if m not in found]
        if alone:
            span = scipy.linalg.orth(span - directions[alone].T @ (directions[alone] @ span))
        directions[free] = span[:, : len(free)].T
        found.extend(free)
        how.update({m: "block" for m in free})
        block_list.append(list(members))
    for k in unknown:
        values, vectors = smallest_directions(y[data.regime == k])
        for g in vectors[:, : count_fixed(values)].T:
            if found and np.max(np.abs(directions[found] @ g)) > 0.9:
                continue
            free = [j for j in range(d) if j not in found]
            if not free:
                break
            directions[free[0]] = g
            found.append(free[0])
            how[free[0]] = f"do, targets unknown (regime {k})"
    random_found = _place_random_do(y, data, random_valued, directions, found, how)
    uncovered = tuple(j for j in range(d) if j not in found)
    directions = _complete(directions, sorted(found))
    return DoFit(whiten.center, whiten.rows(directions), block_list, how, random_found, uncovered)


def _place_random_do(y, data, regimes, directions, found, how):
    """Directions from random-valued do-regimes (:func:`peel_random_do`),
    written into ``directions``/``found``/``how``; returns regime ->
    :class:`RandomPlacement`."""
    d = directions.shape[0]
    if not regimes or np.sum(data.regime == 0) < 2 * d + 2:
        return {}
    result = peel_random_do(y, data.regime, regimes, directions[sorted(found)])
    placed = {}
    for k in result.order:
        row, targets = result.directions[k], data.targets[k]
        if targets is not None:
            j = targets[0]
            if j in found:
                continue
        else:
            if found and np.max(np.abs(directions[found] @ row)) > 0.9:
                continue
            free = [j for j in range(d) if j not in found]
            if not free:
                break
            j = free[0]
        directions[j] = row
        found.append(j)
        how[j] = "random do" + ("" if targets is not None else f", targets unknown (regime {k})")
        placed[k] = RandomPlacement(j, result.rank_one_ratio[k], result.change_pvalue[k], result.linear_fit_pvalue)
    return placed


def _complete(directions, found):
    """Fill the rows of ``directions`` (d, d; unit rows in whitened
    coordinates) not set by an intervention with orthonormal directions
    orthogonal to the found ones."""
    d = directions.shape[0]
    missing = [j for j in range(d) if j not in found]
    if missing:
        rest = scipy.linalg.null_space(directions[found]) if found else np.eye(d)
        directions[missing] = rest.T[: len(missing)]
    return directions
