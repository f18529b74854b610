r"""Disentanglement, completeness and informativeness (Eastwood & Williams, 2018).

The framework regresses each true latent (factor) on all estimated coordinates
(codes) and reads an importance matrix ``R`` (codes x factors) off the
regressors. Two regressors are offered, both fitted on one part of the rows:

* ``regressor="linear"`` (default): ordinary least squares; the importance of
  code ``j`` for factor ``i`` is the absolute standardised coefficient
  ``|w_ji| * std(z_hat_j) / std(z_true_i)``. Fast, deterministic and invariant
  to rescaling either side, but it only sees the linear part of the relation:
  the right choice when codes relate to factors (close to) affinely, which is
  what identification up to permutation, scaling or affine maps asserts.
* ``regressor="forest"``: a random forest per factor (scikit-learn, the
  paper's nonlinear choice); the importances are the forest's impurity
  decreases, which sum to 1 per factor. It sees any relation, monotone or
  not, at the cost of seconds instead of milliseconds and an
  informativeness a little below 1 even for a perfect code (a forest is
  piecewise constant). Needs ``pip install scikit-learn``.

* Disentanglement: each code should matter for one factor only. For code ``j``,
  ``D_j = 1 - H_d(R_j / sum_i R_ji)`` (entropy with log base d); the total is the
  mean of ``D_j`` weighted by each code's share of all importance.
* Completeness: each factor should be captured by one code. For factor ``i``,
  ``C_i = 1 - H_k(R_i / sum_j R_ji)`` (log base k); the total is their mean.
* Informativeness: mean out-of-sample R2 of the regressors, higher is better
  (the paper reports a prediction error instead; R2 puts it on the same 0-1
  scale as the other scores).
"""

from dataclasses import dataclass

import numpy as np

from causalrep.identifiability._core import (
    SHARED_PARAMETERS,
    check_pair,
    r2_from,
    r2_per_column,
    read_only,
    regression,
    split_parts,
)
from causalrep.identifiability._json import JSONFields
from causalrep.validation import ArrayLike, Options, Seed, as_generator, validate_params

__all__ = ["DCIResult", "dci"]


@dataclass(frozen=True, eq=False)
class DCIResult(JSONFields):
    r"""Disentanglement, completeness and informativeness scores.

    Attributes:
        disentanglement: Importance-weighted mean of ``per_code_disentanglement``,
            in [0, 1].
        completeness: Mean of ``per_latent_completeness``, in [0, 1].
        informativeness: Mean of ``per_latent_r2``.
        importance: Absolute standardised coefficients, shape (k, d): row ``j``
            is code (estimated coordinate) ``j``, column ``i`` is true latent ``i``.
        per_code_disentanglement: Shape (k,); 0 for codes with no importance.
        per_latent_completeness: Shape (d,).
        per_latent_r2: Out-of-sample R2 of each true latent, shape (d,).
        test_fraction: Share of rows used for scoring (0: in sample).
        n_fit: Rows the regressors were fitted on.
        n_score: Rows that scored them.
    """

    disentanglement: float
    completeness: float
    informativeness: float
    importance: np.ndarray
    per_code_disentanglement: np.ndarray
    per_latent_completeness: np.ndarray
    per_latent_r2: np.ndarray
    test_fraction: float
    n_fit: int
    n_score: int


@validate_params(**SHARED_PARAMETERS, regressor=Options("linear", "forest"))
def dci(
    z_true: ArrayLike, z_hat: ArrayLike, test_fraction: float = 0.5, seed: Seed = 0, regressor: str = "linear"
) -> DCIResult:
    r"""Disentanglement, completeness and informativeness.

    Arguments:
        z_true: True latents (factors), shape (n, d).
        z_hat: Estimated latents (codes), shape (n, k); the fitting part needs at
            least k + 2 rows.
        test_fraction: Share of rows held out to score informativeness; 0
            scores in sample. The importance matrix always comes from the
            fitting part.
        seed: int or ``numpy.random.Generator`` for the split (and the forests).
        regressor: ``"linear"`` (least squares, standardised coefficients) or
            ``"forest"`` (scikit-learn's random forests, impurity
            importances). See the module docstring.

    Returns:
        DCIResult with the three scores, the (k, d) importance matrix and the
        per-code and per-latent terms.

    Every number is computed in float64 on columns standardised over all rows,
    so none changes when either argument is multiplied by a positive number
    (1e-150 or 1e150 included); D and C lie in [0, 1], I at most 1.

    Raises:
        ValueError: for an unknown ``regressor`` (and the checks of ``mcc``).

    Example:
        >>> z = np.random.default_rng(0).normal(size=(2000, 3))
        >>> result = dci(z, 3 * z[:, [1, 2, 0]])
        >>> [round(s, 6) for s in (result.disentanglement, result.completeness,
        ...                        result.informativeness)]
        [1.0, 1.0, 1.0]
    """
    z_true, z_hat = check_pair(z_true, z_hat, need_k_ge_d=False)
    rng = as_generator(seed)
    parts = split_parts(z_true, z_hat, test_fraction, rng, z_hat.shape[1] + 2)
    importance, per_latent_r2 = _REGRESSORS[regressor](parts, rng)
    k, d = importance.shape
    code_totals = importance.sum(axis=1)
    per_code = _one_minus_entropy(importance, code_totals, base=d)
    per_latent = _one_minus_entropy(importance.T, importance.sum(axis=0), base=k)
    total = code_totals.sum()
    disentanglement = float(per_code @ code_totals / total) if total > 0 else 0.0
    return DCIResult(
        disentanglement=disentanglement,
        completeness=float(per_latent.mean()),
        informativeness=float(per_latent_r2.mean()),
        importance=read_only(importance),
        per_code_disentanglement=read_only(per_code),
        per_latent_completeness=read_only(per_latent),
        per_latent_r2=read_only(per_latent_r2),
        test_fraction=float(parts.test_fraction),
        n_fit=parts.n_fit,
        n_score=parts.n_score,
    )


def _linear_importance(parts, rng):
    """Absolute standardised least-squares coefficients (k, d) and the out-of-sample R2 (d,).

    Solved on the split's moments in standardised units (float64, chunked), so
    neither changes when either argument is rescaled, at any scale.
    """
    d = parts.d
    hat, true = np.arange(d, len(parts.centre)), np.arange(d)
    fit = parts.stats("fit")
    weights, intercept = regression(fit, hat, true)
    sd = np.sqrt(np.maximum(np.diag(fit.cov), 0.0))
    importance = np.abs(weights) * sd[hat][:, None] / sd[true][None, :]
    sse = parts.sse("score", lambda c: c[:, :d] - c[:, d:] @ weights - intercept)
    return importance, r2_from(sse, parts.stats("score"), true)


def _forest_importance(parts, rng):
    """Impurity importances (k, d) of one random forest per factor, and the out-of-sample R2 (d,)."""
    from sklearn.ensemble import RandomForestRegressor  # imported here: it takes seconds

    fit_hat, fit_true = parts.standardised("fit", "hat"), parts.standardised("fit", "true")
    score_hat, score_true = parts.standardised("score", "hat"), parts.standardised("score", "true")
    d = fit_true.shape[1]
    importance = np.empty((fit_hat.shape[1], d))
    prediction = np.empty((score_hat.shape[0], d))
    for i in range(d):
        forest = RandomForestRegressor(
            n_estimators=_FOREST_TREES, min_samples_leaf=_FOREST_LEAF, random_state=int(rng.integers(2**31))
        )
        forest.fit(fit_hat, fit_true[:, i])
        importance[:, i] = forest.feature_importances_
        prediction[:, i] = forest.predict(score_hat)
    return importance, r2_per_column(score_true, prediction)


# 50 trees with leaves of at least 5 rows: 8 s on one core for n = 10,000
# rows and 10 codes and factors (5,000 fitting rows), 0.4 s for 2,000 x 4.
_FOREST_TREES = 50
_FOREST_LEAF = 5
_REGRESSORS = {"linear": _linear_importance, "forest": _forest_importance}


def _one_minus_entropy(weights, totals, base):
    """``1 - H_base`` of each row of ``weights`` over ``totals``; 0 for empty rows."""
    if base == 1:
        return np.where(totals > 0, 1.0, 0.0)
    safe = np.where(totals > 0, totals, 1.0)[:, None]
    p = weights / safe
    p_log_p = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    entropy = -p_log_p.sum(axis=1) / np.log(base)
    return np.where(totals > 0, np.clip(1.0 - entropy, 0.0, 1.0), 0.0)
