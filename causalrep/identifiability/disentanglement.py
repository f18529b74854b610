r"""Disentanglement scores for continuous latents: MIG, SAP, modularity, explicitness, InfoMEC.

The literature defines these for discrete ground-truth factors; here the true
latents (factors, ``z_true``) and the estimated coordinates (codes,
``z_hat``) are continuous, and the adaptations are stated where they happen:

* Mutual information between continuous variables is *estimated* with the
  k-nearest-neighbour estimator of Kraskov, Stoegbauer and Grassberger
  (scikit-learn's ``mutual_info_regression``), never with discrete entropies
  of binned codes unless ``bins`` is given. A continuous factor has no finite
  entropy to normalise by, so a factor's information is normalised by what
  the same estimator, on the same rows, finds between the factor and itself:
  a perfect copy of the factor scores 1 whatever the sample size. (Binning
  continuous codes, as a well-known implementation did, made MIG ~1e-3 for
  good models: the entropy of a finely binned code dwarfs its information.)
* Explicitness and InfoE ask how well a *linear classifier* predicts a
  factor; each factor is cut into ``bins`` classes of equal frequency
  (quantiles of the fitting part) for them.
* What is fitted (regressions, classifiers) is fitted on one part of the rows
  and scored on the other (``test_fraction``), like every score of
  :mod:`causalrep.identifiability`. Mutual information fits nothing and uses
  all rows given.

Every function needs scikit-learn (``pip install scikit-learn``) except
:func:`sap`.
"""

import numbers
import warnings
from dataclasses import dataclass

import numpy as np

from causalrep.identifiability._core import SHARED_PARAMETERS, check_pair, read_only, split_parts, standardised
from causalrep.identifiability._json import JSONFields
from causalrep.validation import SEED, ArrayLike, Interval, Seed, as_generator, validate_params

__all__ = [
    "INFORMATION_FLOOR",
    "InfoMECResult",
    "MIGResult",
    "ModularityExplicitnessResult",
    "MutualInformation",
    "SAPResult",
    "infomec",
    "mig",
    "modularity_explicitness",
    "mutual_information",
    "sap",
]

DEFAULT_NEIGHBORS = 3
DEFAULT_BINS = 10
# Nearly unpenalised logistic regression (the references use none); a finite
# C keeps the fit bounded when a perfect code separates the classes. Solved by
# Newton-CG to a tight tolerance: lbfgs stopped at its iteration limit on such
# codes at a point that moved with the last bits of the input (InfoE changed by
# 3e-3 when z_hat was multiplied by 1e-16); Newton-CG reaches the optimum, so
# rescaled inputs give the same scores to 1e-8.
_LOGISTIC_C = 1e4
_LOGISTIC_TOL = 1e-10
#: A code whose largest normalised information is below this carries none for
#: modularity, InfoM and InfoC. Without a floor, the estimation noise of an
#: uninformative code (normalised information ~1e-3) decides these ratios.
INFORMATION_FLOOR = 0.05

_BINS = Interval(numbers.Integral, 2, None)
_NEIGHBORS = Interval(numbers.Integral, 1, None)


@dataclass(frozen=True, eq=False)
class MutualInformation(JSONFields):
    r"""Mutual information between every code and every factor.

    Attributes:
        mi: Estimated mutual information in nats, shape (k, d): row ``j`` is
            code ``j``, column ``i`` factor ``i``.
        normaliser: Information of each factor with itself under the same
            estimator (continuous), or its entropy (binned), shape (d,).
        nmi: ``mi / normaliser`` clipped to [0, 1], shape (k, d): the
            estimator's noise can put a code's information a little above
            the factor's own, which no code can exceed.
        bins: None for the nearest-neighbour estimator, else the number of
            equal-frequency bins of codes and factors.
        n_neighbors: Neighbours of the nearest-neighbour estimator.
    """

    mi: np.ndarray
    normaliser: np.ndarray
    nmi: np.ndarray
    bins: int | None
    n_neighbors: int


@dataclass(frozen=True, eq=False)
class MIGResult(JSONFields):
    r"""Mutual information gap.

    Attributes:
        score: Mean of ``per_latent``.
        per_latent: For each factor, the gap between its two largest
            normalised informations with single codes, shape (d,).
        information: The information matrix behind it.
    """

    score: float
    per_latent: np.ndarray
    information: MutualInformation


@dataclass(frozen=True, eq=False)
class SAPResult(JSONFields):
    r"""Separated attribute predictability.

    Attributes:
        score: Mean of ``per_latent``.
        per_latent: For each factor, the gap between the two largest
            out-of-sample R2 of single-code affine predictions, shape (d,).
        r2: Out-of-sample R2 (clipped below at 0) of factor ``i`` from code
            ``j`` alone, shape (k, d).
        test_fraction: Share of rows used for scoring (0: in sample).
        n_fit: Rows the regressions were fitted on.
        n_score: Rows that scored them.
    """

    score: float
    per_latent: np.ndarray
    r2: np.ndarray
    test_fraction: float
    n_fit: int
    n_score: int


@dataclass(frozen=True, eq=False)
class ModularityExplicitnessResult(JSONFields):
    r"""Modularity and explicitness (Ridgeway and Zemel, 2018).

    Attributes:
        modularity: Mean of ``per_code_modularity``, in [0, 1].
        explicitness: Mean of ``per_latent_explicitness``.
        per_code_modularity: Shape (k,); 0 for a code whose largest normalised
            information is below ``INFORMATION_FLOOR``.
        per_latent_explicitness: Macro one-vs-rest ROC AUC of a linear
            classifier of each binned factor from all codes, on the scoring
            part, shape (d,); 0.5 is chance.
        information: The information matrix behind modularity.
        bins: Classes each factor was cut into.
        test_fraction: Share of rows used for scoring (0: in sample).
        n_fit: Rows the classifiers were fitted on.
        n_score: Rows that scored them.
    """

    modularity: float
    explicitness: float
    per_code_modularity: np.ndarray
    per_latent_explicitness: np.ndarray
    information: MutualInformation
    bins: int
    test_fraction: float
    n_fit: int
    n_score: int


@dataclass(frozen=True, eq=False)
class InfoMECResult(JSONFields):
    r"""InfoM, InfoE and InfoC (Hsu, Dorrell, Whittington, Wu and Finn, 2023).

    Attributes:
        infom: Modularity: how much each active code concentrates on one
            factor, rescaled so that chance is 0 and perfect is 1.
        infoe: Explicitness: mean share of each binned factor's entropy that a
            linear classifier of all codes removes, out of sample.
        infoc: Compactness: how much each factor concentrates on one active
            code, rescaled likewise (1 when a single code is active).
        per_latent_infoe: Shape (d,), in [0, 1]; a classifier that does worse
            than the class frequencies out of sample counts as 0.
        active: Which codes count as active, shape (k,).
        information: The normalised information matrix behind InfoM and InfoC.
        bins: Classes each factor was cut into for InfoE.
        test_fraction: Share of rows used for scoring (0: in sample).
        n_fit: Rows the classifiers were fitted on.
        n_score: Rows that scored them.
    """

    infom: float
    infoe: float
    infoc: float
    per_latent_infoe: np.ndarray
    active: np.ndarray
    information: MutualInformation
    bins: int
    test_fraction: float
    n_fit: int
    n_score: int


@validate_params(bins=[_BINS, None], n_neighbors=_NEIGHBORS, seed=SEED)
def mutual_information(
    z_true: ArrayLike, z_hat: ArrayLike, bins: int | None = None, n_neighbors: int = DEFAULT_NEIGHBORS, seed: Seed = 0
) -> MutualInformation:
    r"""Mutual information between every estimated coordinate and every true latent.

    Continuous (default): the Kraskov-Stoegbauer-Grassberger estimator
    (Physical Review E 69, 2004) through scikit-learn's
    ``mutual_info_regression``, on columns first standardised in float64
    over- and underflow free, so the estimate does not change when either
    argument is rescaled, from 1e-150 to 1e150 and beyond. Each factor's
    normaliser is the same estimator applied to the factor and itself.
    Binned (``bins`` given): codes and factors are cut into ``bins``
    equal-frequency bins and the plug-in discrete information and entropy
    are used, as in disentanglement_lib.

    Arguments:
        z_true: True latents (factors), shape (n, d).
        z_hat: Estimated latents (codes), shape (n, k).
        bins: None for the continuous estimator, or an int >= 2.
        n_neighbors: Neighbours of the continuous estimator.
        seed: int or ``numpy.random.Generator`` (the estimator adds a tiny
            jitter to break ties).

    Returns:
        MutualInformation with the (k, d) information, normalisers and their ratio.

    Example:
        >>> z = np.random.default_rng(0).normal(size=(1000, 2))
        >>> np.round(mutual_information(z, 2 * z[:, ::-1]).nmi, 2).tolist()
        [[0.0, 1.0], [1.0, 0.0]]
    """
    z_true, z_hat = check_pair(z_true, z_hat, need_k_ge_d=False)
    if len(z_true) <= n_neighbors + 1:
        raise ValueError(f"too few samples: n={len(z_true)} for n_neighbors={n_neighbors}")
    return _mutual_information(z_true, z_hat, None if bins is None else int(bins), n_neighbors, as_generator(seed))


@validate_params(bins=[_BINS, None], n_neighbors=_NEIGHBORS, seed=SEED)
def mig(
    z_true: ArrayLike, z_hat: ArrayLike, bins: int | None = None, n_neighbors: int = DEFAULT_NEIGHBORS, seed: Seed = 0
) -> MIGResult:
    r"""Mutual information gap of estimated latents.

    For each factor, the difference between the largest and the second
    largest normalised mutual information with a single code, averaged over
    factors (Chen, Li, Grosse and Duvenaud, "Isolating sources of
    disentanglement in variational autoencoders", NeurIPS 2018). With one
    code, the gap is its normalised information. Information is estimated as
    :func:`mutual_information` does.

    Arguments:
        z_true: True latents (factors), shape (n, d).
        z_hat: Estimated latents (codes), shape (n, k).
        bins: None (continuous estimator, default) or an int >= 2 to bin.
        n_neighbors: Neighbours of the continuous estimator.
        seed: int or ``numpy.random.Generator``.

    Returns:
        MIGResult with the score and the gap of each factor.

    Example:
        >>> z = np.random.default_rng(0).normal(size=(1000, 3))
        >>> round(mig(z, 3 * z[:, [2, 0, 1]] - 1).score, 2)
        1.0
    """
    information = mutual_information(z_true, z_hat, bins, n_neighbors, seed)
    return _mig(information)


@validate_params(**SHARED_PARAMETERS)
def sap(z_true: ArrayLike, z_hat: ArrayLike, test_fraction: float = 0.5, seed: Seed = 0) -> SAPResult:
    r"""Separated attribute predictability of estimated latents.

    For each factor and each code, an affine regression of the factor on
    the code alone is fitted on the fitting part and its R2 taken on the
    scoring part (clipped below at 0); the score of a factor is the gap
    between its two best codes, and SAP their mean (Kumar, Sattigeri and
    Balakrishnan, "Variational inference of disentangled latent concepts
    from unlabeled observations", ICLR 2018, whose continuous-factor score
    is this R2 in sample).

    Arguments:
        z_true: True latents (factors), shape (n, d).
        z_hat: Estimated latents (codes), shape (n, k), k >= 2.
        test_fraction: Share of rows held out for scoring; 0 scores in sample.
        seed: int or ``numpy.random.Generator`` for the split.

    Returns:
        SAPResult with the score, the gap of each factor and the (k, d) R2.

    Example:
        >>> z = np.random.default_rng(0).normal(size=(1000, 3))
        >>> round(sap(z, 5 * z[:, [1, 2, 0]]).score, 6)
        1.0
    """
    z_true, z_hat = check_pair(z_true, z_hat, need_k_ge_d=False)
    if z_hat.shape[1] < 2:
        raise ValueError("sap needs at least 2 codes (z_hat columns) to take a gap")
    return _sap(split_parts(z_true, z_hat, test_fraction, seed))


@validate_params(**SHARED_PARAMETERS, bins=_BINS, n_neighbors=_NEIGHBORS)
def modularity_explicitness(
    z_true: ArrayLike,
    z_hat: ArrayLike,
    bins: int = DEFAULT_BINS,
    n_neighbors: int = DEFAULT_NEIGHBORS,
    test_fraction: float = 0.5,
    seed: Seed = 0,
) -> ModularityExplicitnessResult:
    r"""Modularity and explicitness of estimated latents (Ridgeway and Zemel, 2018).

    Ridgeway and Zemel, "Learning deep disentangled embeddings with the
    F-statistic loss" (NeurIPS 2018):

    * Modularity: for code ``j`` with informations :math:`m_{ji}` about the
      factors and largest :math:`\theta_j`, the deviation from the ideal
      template (all information in one factor) is
      :math:`\delta_j = \sum_{i \ne i^*} m_{ji}^2 / (\theta_j^2 (d - 1))`
      and the code's modularity is :math:`1 - \delta_j`; the score is their
      mean (1 when d = 1). Information is estimated on all rows as
      :func:`mutual_information` does (continuous). Departure: a code whose
      largest normalised information is below ``INFORMATION_FLOOR`` (5% of
      a perfect copy) scores 0, as the reference scores a code with none;
      otherwise the estimation noise of an uninformative code decides it.
    * Explicitness: each factor is cut into ``bins`` equal-frequency classes,
      a multinomial logistic regression from all standardised codes is fitted
      on the fitting part, and its macro one-vs-rest ROC AUC is taken on the
      scoring part; the score is the mean over factors.

    Arguments:
        z_true: True latents (factors), shape (n, d).
        z_hat: Estimated latents (codes), shape (n, k).
        bins: Classes per factor for explicitness, >= 2.
        n_neighbors: Neighbours of the information estimator.
        test_fraction: Share of rows held out for scoring; 0 scores in sample.
        seed: int or ``numpy.random.Generator``.

    Returns:
        ModularityExplicitnessResult with both scores and their per-code and
        per-factor terms.

    Example:
        >>> z = np.random.default_rng(0).normal(size=(2000, 2))
        >>> result = modularity_explicitness(z, z[:, ::-1])
        >>> round(result.modularity, 2), result.explicitness > 0.9
        (1.0, True)
    """
    z_true, z_hat = check_pair(z_true, z_hat, need_k_ge_d=False)
    rng = as_generator(seed)
    information = mutual_information(z_true, z_hat, None, n_neighbors, rng)
    parts = split_parts(z_true, z_hat, test_fraction, rng)
    auc, _ = _linear_probes(parts, int(bins), rng)
    return _modularity_explicitness(information, auc, int(bins), parts)


@validate_params(**SHARED_PARAMETERS, bins=_BINS, n_neighbors=_NEIGHBORS)
def infomec(
    z_true: ArrayLike,
    z_hat: ArrayLike,
    bins: int = DEFAULT_BINS,
    n_neighbors: int = DEFAULT_NEIGHBORS,
    test_fraction: float = 0.5,
    seed: Seed = 0,
) -> InfoMECResult:
    r"""InfoM, InfoE and InfoC of estimated latents.

    Hsu, Dorrell, Whittington, Wu and Finn, "Disentanglement via latent
    quantization" (NeurIPS 2023). With :math:`N_{ij}` the normalised
    information between factor ``i`` and code ``j`` (:func:`mutual_information`,
    continuous), over the active codes:

    .. math::
        \mathrm{InfoM} = \frac{\frac{1}{k_a}\sum_j \max_i N_{ij} / \sum_i N_{ij}
        - 1/d}{1 - 1/d}, \qquad
        \mathrm{InfoC} = \frac{\frac{1}{d}\sum_i \max_j N_{ij} / \sum_j N_{ij}
        - 1/k_a}{1 - 1/k_a}.

    InfoE is the mean over factors of :math:`(H - \mathrm{CE}) / H`, the share
    of the entropy of the factor's class (``bins`` equal-frequency classes)
    that a multinomial logistic regression from all codes removes: fitted on
    the fitting part, its cross-entropy CE and the entropy H of the class
    frequencies of the fitting part are taken on the scoring part; a
    classifier worse than those frequencies (an uninformative code, out of
    sample) scores 0.

    Departure from the reference code: it prunes codes whose range is below a
    twentieth of the largest range, which depends on each code's scale; here
    a code is active when its largest normalised information is at least
    ``INFORMATION_FLOOR`` (5% of a perfect copy). With no active code, InfoM
    and InfoC are 0; a factor that no active code informs counts as chance
    (:math:`1/k_a`) in InfoC, where the reference divides by zero.

    Arguments:
        z_true: True latents (factors), shape (n, d), d >= 2.
        z_hat: Estimated latents (codes), shape (n, k).
        bins: Classes per factor for InfoE, >= 2.
        n_neighbors: Neighbours of the information estimator.
        test_fraction: Share of rows held out for scoring; 0 scores in sample.
        seed: int or ``numpy.random.Generator``.

    Returns:
        InfoMECResult with the three scores and what they were computed from.

    Example:
        >>> z = np.random.default_rng(0).normal(size=(2000, 2))
        >>> result = infomec(z, z[:, ::-1])
        >>> round(result.infom, 2), round(result.infoc, 2), result.infoe > 0.7
        (1.0, 1.0, True)
    """
    z_true, z_hat = check_pair(z_true, z_hat, need_k_ge_d=False)
    if z_true.shape[1] < 2:
        raise ValueError("infomec needs at least 2 true latents (InfoM is rescaled by 1 - 1/d)")
    rng = as_generator(seed)
    information = mutual_information(z_true, z_hat, None, n_neighbors, rng)
    parts = split_parts(z_true, z_hat, test_fraction, rng)
    _, infoe = _linear_probes(parts, int(bins), rng)
    return _infomec(information, infoe, int(bins), parts)


def _mutual_information(z_true, z_hat, bins, n_neighbors, rng):
    z_true, z_hat = standardised(z_true), standardised(z_hat)
    if bins is not None:
        codes, factors = _equal_frequency(z_hat, bins), _equal_frequency(z_true, bins)
        mi = np.array([[_discrete_mi(c, f) for f in factors.T] for c in codes.T])
        normaliser = np.array([_discrete_mi(f, f) for f in factors.T])
    else:
        from_codes = _sklearn().feature_selection.mutual_info_regression
        d = z_true.shape[1]
        mi = np.empty((z_hat.shape[1], d))
        normaliser = np.empty(d)
        for i in range(d):
            state = int(rng.integers(2**31))
            mi[:, i] = from_codes(z_hat, z_true[:, i], n_neighbors=n_neighbors, random_state=state)
            normaliser[i] = from_codes(z_true[:, [i]], z_true[:, i], n_neighbors=n_neighbors, random_state=state)[0]
    nmi = np.clip(mi / np.where(normaliser > 0, normaliser, 1.0), 0.0, 1.0)
    return MutualInformation(
        mi=read_only(mi), normaliser=read_only(normaliser), nmi=read_only(nmi), bins=bins, n_neighbors=int(n_neighbors)
    )


def _mig(information):
    nmi = np.sort(information.nmi, axis=0)[::-1]
    per_latent = nmi[0] - nmi[1] if len(nmi) > 1 else nmi[0].copy()
    return MIGResult(score=float(per_latent.mean()), per_latent=read_only(per_latent), information=information)


def _sap(parts):
    """Single-code affine regressions from the split's standardised moments (float64,
    chunked): the slope and offset from the fitting part, the R2 from the scoring part's
    means and covariances, clipped to [0, 1]."""
    d = parts.d
    true, hat = np.arange(d), np.arange(d, len(parts.centre))
    fit, score = parts.stats("fit"), parts.stats("score")
    variance = np.diag(fit.cov)[hat][:, None]
    slopes = np.divide(fit.cov[np.ix_(hat, true)], variance, out=np.zeros((len(hat), d)), where=variance > 0)
    offsets = fit.mean[true] - slopes * fit.mean[hat][:, None]
    # Mean squared residual of y - (a x + b) on the scoring part, from its moments.
    var_x, var_y = np.diag(score.cov)[hat][:, None], np.diag(score.cov)[true][None, :]
    bias = score.mean[true] - slopes * score.mean[hat][:, None] - offsets
    mse = var_y - 2 * slopes * score.cov[np.ix_(hat, true)] + slopes**2 * var_x + bias**2
    r2 = np.clip(1 - mse / var_y, 0.0, 1.0)
    best = np.sort(r2, axis=0)[::-1]
    per_latent = best[0] - best[1]
    return SAPResult(
        score=float(per_latent.mean()),
        per_latent=read_only(per_latent),
        r2=read_only(r2),
        test_fraction=float(parts.test_fraction),
        n_fit=parts.n_fit,
        n_score=parts.n_score,
    )


def _modularity_explicitness(information, auc, bins, parts):
    mi = np.clip(information.mi, 0.0, None)
    d = mi.shape[1]
    theta = np.where(information.nmi.max(axis=1) >= INFORMATION_FLOOR, mi.max(axis=1), 0.0)
    if d == 1:
        per_code = np.where(theta > 0, 1.0, 0.0)
    else:
        off_peak = np.sum(mi**2, axis=1) - theta**2
        safe = np.where(theta > 0, theta, 1.0)
        per_code = np.where(theta > 0, 1.0 - off_peak / (safe**2 * (d - 1)), 0.0)
    return ModularityExplicitnessResult(
        modularity=float(per_code.mean()),
        explicitness=float(auc.mean()),
        per_code_modularity=read_only(per_code),
        per_latent_explicitness=read_only(auc),
        information=information,
        bins=bins,
        test_fraction=float(parts.test_fraction),
        n_fit=parts.n_fit,
        n_score=parts.n_score,
    )


def _infomec(information, infoe, bins, parts):
    nmi = np.clip(information.nmi, 0.0, None).T
    d = nmi.shape[0]
    active = nmi.max(axis=0) >= INFORMATION_FLOOR
    pruned = nmi[:, active]
    k_active = pruned.shape[1]
    if k_active == 0:
        return _infomec_result(0.0, infoe, 0.0, active, information, bins, parts)
    infom = (np.mean(pruned.max(axis=0) / pruned.sum(axis=0)) - 1 / d) / (1 - 1 / d)
    infoc = 1.0
    if k_active > 1:
        rows = pruned.sum(axis=1)
        ratio = np.divide(pruned.max(axis=1), rows, out=np.full(d, 1 / k_active), where=rows > 0)
        infoc = (np.mean(ratio) - 1 / k_active) / (1 - 1 / k_active)
    return _infomec_result(infom, infoe, infoc, active, information, bins, parts)


def _infomec_result(infom, infoe, infoc, active, information, bins, parts):
    return InfoMECResult(
        infom=float(infom),
        infoe=float(infoe.mean()),
        infoc=float(infoc),
        per_latent_infoe=read_only(infoe),
        active=read_only(active),
        information=information,
        bins=bins,
        test_fraction=float(parts.test_fraction),
        n_fit=parts.n_fit,
        n_score=parts.n_score,
    )


def _linear_probes(parts, bins, rng):
    """Per factor: macro one-vs-rest AUC and normalised predictive information, out of sample."""
    sklearn = _sklearn()
    fit_x, score_x = parts.standardised("fit", "hat"), parts.standardised("score", "hat")
    fit_true, score_true = parts.standardised("fit", "true"), parts.standardised("score", "true")
    d = fit_true.shape[1]
    auc, information = np.empty(d), np.empty(d)
    for i in range(d):
        edges = np.quantile(fit_true[:, i], np.linspace(0, 1, bins + 1)[1:-1])
        fit_y = np.searchsorted(edges, fit_true[:, i], side="right")
        score_y = np.searchsorted(edges, score_true[:, i], side="right")
        classes = np.unique(fit_y)
        if len(classes) < 2 or len(np.unique(score_y)) < 2:
            raise ValueError(
                f"z_true column {i} falls into a single one of its {bins} equal-frequency classes on the "
                f"{'fitting' if len(classes) < 2 else 'scoring'} part (most of its values are equal): "
                "explicitness and InfoE are undefined for it; drop it or pass more varied samples"
            )
        model = sklearn.linear_model.LogisticRegression(
            C=_LOGISTIC_C, solver="newton-cg", tol=_LOGISTIC_TOL, max_iter=1000, random_state=int(rng.integers(2**31))
        )
        with warnings.catch_warnings():
            # Should a perfect code's fit stop at max_iter, its probabilities are
            # already saturated, which is the answer wanted.
            warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
            model.fit(fit_x, fit_y)
        proba = np.clip(model.predict_proba(score_x), 1e-12, 1.0)
        seen = np.isin(score_y, classes)
        column = np.searchsorted(classes, score_y[seen])
        cross_entropy = -np.mean(np.log(proba[seen, column]))
        prior = np.bincount(np.searchsorted(classes, fit_y), minlength=len(classes))
        prior = prior / prior.sum()
        entropy = -np.mean(np.log(prior[column]))
        information[i] = max(0.0, (entropy - cross_entropy) / entropy)
        onehot = column[:, None] == np.arange(len(classes))[None, :]
        present = onehot.any(axis=0) & ~onehot.all(axis=0)
        auc[i] = sklearn.metrics.roc_auc_score(onehot[:, present], proba[seen][:, present], average="macro")
    return auc, information


def _equal_frequency(x, bins):
    """Equal-frequency bin index of each entry, column by column, shape like x."""
    out = np.empty(x.shape, dtype=np.int64)
    for j, column in enumerate(x.T):
        edges = np.quantile(column, np.linspace(0, 1, bins + 1)[1:-1])
        out[:, j] = np.searchsorted(edges, column, side="right")
    return out


def _discrete_mi(a, b):
    """Plug-in mutual information (nats) of two int label arrays."""
    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    joint = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(joint, (a, b), 1.0)
    joint /= joint.sum()
    outer = joint.sum(axis=1, keepdims=True) @ joint.sum(axis=0, keepdims=True)
    nonzero = joint > 0
    return float(np.sum(joint[nonzero] * np.log(joint[nonzero] / outer[nonzero])))


def _sklearn():
    try:
        import sklearn.exceptions
        import sklearn.feature_selection
        import sklearn.linear_model
        import sklearn.metrics
    except ImportError as error:
        raise ImportError("this score needs scikit-learn: pip install scikit-learn") from error
    return sklearn
