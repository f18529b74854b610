"""Stage 1 of Interventional CRL: latents equal to the true ones up to an affine map.

For polynomial mixing with a full-rank lift the code is a linear function of
the observations and is solved exactly (:func:`fit_linear`, on
:mod:`causalrep.estimators.interventional._varpro`); otherwise an MLP
autoencoder is trained by SGD (:func:`fit_mlp`). Each returns a
:class:`Stage1Fit`, whose :class:`Stage1Report` says how well held-out samples
are reconstructed.
"""

from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from .._core.nets import PolynomialFeatures, reconstruction_loss
from .._core.progress import logger
from . import _do_stage2, _varpro

__all__ = [
    "Stage1Report",
    "SpectrumCheck",
    "Stage1Fit",
    "encoder_kind",
    "fit_linear",
    "fit_mlp",
    "with_fallback",
    "acceptable",
    "trusted",
    "spectrum",
    "mlp_route_reason",
    "near_exact",
    "near_exact_note",
    "problems",
    "spectrum_check",
    "rounded",
]

# Stage 1 is judged on held-out samples: a residual above this multiple of the
# noise floor (plus an absolute 1e-6 of the whitened variance) is a failure.
_FLOOR_FACTOR = 4.0
_RESIDUAL_ATOL = 1e-6
# An MLP stage 1 has no noise floor; a held-out relative error above this warns.
_MLP_ERROR_LIMIT = 1e-2
# A linear stage-1 search that lands in a wrong basin stops within tens of
# iterations, so it gets this many times ``restarts`` initialisations.
_LINEAR_RESTARTS = 4
# The directions a fixed-value do holds constant are told apart from the others
# when the regime's spectrum jumps by at least this factor after them.
_FIXED_GAP = 1e3
# A fixed-value regime's power test solved to this relative residual is exact
# (the default acceptance of _varpro.fixed_value_directions).
_EXACT_RESIDUAL = 1e-10
# Residuals below this (squared, whitened units: an RMS error of 1e-10) are
# float64 rounding, whose digits vary with memory alignment between runs.
_ROUNDING_ZERO = 1e-20
# Spectrum checks of the latent dimension: a kept principal component within
# this factor of the noise level is noise; a discarded one above it is signal.
_SIGNAL_FACTOR = 10.0
# Multiples of float64's eps (relative to the top eigenvalue) below which an
# eigenvalue of the observations' covariance is rounding, whatever the data.
_RESOLVED_EPS = 4.0
# Near-exact acceptance: an exact stage 1 above its noise floor but within this
# held-out residual (whitened units: 0.1% of the variance) is kept when every
# fixed-value do-regime's target keeps at most _NEAR_EXACT_RATIO of its
# observational variance. Measured: a 0.4% (10%) rescaling of the quadratic part
# between regimes leaves residuals of 2e-6 (1e-3) and ratios of 5e-8 (3e-5) at
# MCC 1.00000 (0.99997); a non-polynomial mixing leaves 0.33 and 1e-3 at MCC 0.87.
_NEAR_EXACT_RESIDUAL = 1e-3
_NEAR_EXACT_RATIO = 1e-4


@dataclass(frozen=True)
class SpectrumCheck:
    """What the spectrum of the observations says about the latent dimension.

    Attributes:
        signal_components: Principal components of the observations above the noise.
        components_needed: Components a degree-p polynomial of d latents spans,
            C(d + p, p) - 1.
        dimension_warning: Why ``latent_dim`` (or ``degree``) looks too large
            or too small; None when the spectrum agrees with them.
    """

    signal_components: int
    components_needed: int
    dimension_warning: str | None = None


@dataclass(frozen=True)
class Stage1Report:
    """How stage 1 was solved and how well (``InterventionalCRL.stage1_``).

    Errors are measured on the 10% of samples held out of stage 1.

    Attributes:
        encoder: ``"linear"`` (exact) or ``"mlp"``.
        heldout_error: Share of the observations' variance not reconstructed.
        heldout_residual: Linear encoder: mean squared residual, whitened units.
        noise_floor: Linear encoder: the residual that noise alone leaves.
        fit_residual: Linear encoder: the residual on the fitting samples.
        restarts: Linear encoder: searches run.
        iterations: Linear encoder: quasi-Newton iterations.
        directions_from_regimes: Linear encoder: code directions the
            fixed-value regimes gave in closed form (0 to d).
        lift_conditioning: Linear encoder: smallest over largest kept principal
            variance; near 1e-10 or below, some latents are nearly
            deterministic functions of others and the search is slow.
        signal_components: Linear encoder: see :class:`SpectrumCheck`.
        components_needed: Linear encoder: see :class:`SpectrumCheck`.
        dimension_warning: Linear encoder: see :class:`SpectrumCheck`.
        fallback: Whether the exact stage 1 missed its noise floor and the
            MLP was tried (``encoder`` names the one kept).
        linear_residual: After a fallback that kept the MLP: the exact stage
            1's ``heldout_residual``.
        linear_noise_floor: After a fallback that kept the MLP: the exact
            stage 1's ``noise_floor``.
        route_reason: Why ``encoder="auto"`` took the MLP route before trying
            the exact one (fewer principal components above the noise than
            the polynomial lift needs); None otherwise.
        observational_residual: Linear encoder: the held-out residual on the
            observational regime alone, its polynomial decoder fitted there
            (one mixing, even where a generator rescales its regimes
            differently); None when that regime is too small to judge.
        near_exact: Whether the exact stage 1 missed its noise floor on all
            regimes together but was kept: the fixed-value do-regimes still
            hold their targets, and it reaches the floor on the observational
            regime alone or misses it by a small margin (below 1e-3).
        near_exact_variance_ratio: Where ``near_exact``: the largest variance
            ratio of a fixed-value do-regime's target that justified it.
    """

    encoder: str
    heldout_error: float
    heldout_residual: float | None = None
    noise_floor: float | None = None
    fit_residual: float | None = None
    restarts: int | None = None
    iterations: int | None = None
    directions_from_regimes: int | None = None
    lift_conditioning: float | None = None
    signal_components: int | None = None
    components_needed: int | None = None
    dimension_warning: str | None = None
    fallback: bool = False
    linear_residual: float | None = None
    linear_noise_floor: float | None = None
    route_reason: str | None = None
    observational_residual: float | None = None
    near_exact: bool = False
    near_exact_variance_ratio: float | None = None

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> "Stage1Report":
        """The report saved in a checkpoint as a JSON object (older files omit
        the fields that were None or False)."""
        return cls(**record)


class Stage1Fit(NamedTuple):
    """A fitted stage 1: the networks, their sizes, the training history and the report."""

    modules: nn.ModuleDict
    dims: dict
    history: dict
    report: Stage1Report


def encoder_kind(estimator, data) -> str:
    """``"linear"`` or ``"mlp"``: the stage 1 ``estimator.encoder`` asks for on ``data``.

    Raises:
        ValueError: for ``encoder="linear"`` where the exact stage 1 does not apply.
    """
    needed = _varpro.n_monomials(estimator.latent_dim, estimator.degree)
    applies = estimator.decoder == "polynomial" and data.dim_x >= needed and data.n >= 2 * (needed + 1)
    if estimator.encoder == "linear" and not applies:
        raise ValueError(
            f"encoder='linear' needs decoder='polynomial', dim_x >= C(d + degree, "
            f"degree) - 1 = {needed} and at least {2 * (needed + 1)} samples; got "
            f"decoder={estimator.decoder!r}, dim_x={data.dim_x}, n={data.n} "
            "(use encoder='mlp' or 'auto')"
        )
    if estimator.encoder == "mlp" or not applies:
        return "mlp"
    return "linear"


def spectrum(estimator, X: np.ndarray) -> tuple[_varpro.PrincipalSubspace, SpectrumCheck]:
    """The principal subspace the exact stage 1 of ``estimator`` works in, from
    ``X`` (n, dim_x), and what its spectrum says about the latent dimension."""
    d, p = estimator.latent_dim, estimator.degree
    needed = _varpro.n_monomials(d, p)
    subspace = _varpro.principal_subspace(X, needed)
    return subspace, spectrum_check(subspace.eigenvalues, needed, subspace.noise_variance, d, p)


def mlp_route_reason(check: SpectrumCheck) -> str | None:
    """Why ``encoder="auto"`` takes the MLP route without trying the exact
    stage 1: fewer principal components rise above the noise than the
    polynomial lift spans (its lift cannot have full rank); None otherwise."""
    if check.signal_components >= check.components_needed:
        return None
    return (
        f"only {check.signal_components} principal components of the observations rise above the "
        f"noise but the polynomial lift needs {check.components_needed}, so the exact stage 1 cannot "
        "apply: encoder='auto' took the MLP route"
    )


def fit_linear(
    estimator,
    X: np.ndarray,
    fit_rows: np.ndarray,
    val_rows: np.ndarray,
    data,
    subspace: _varpro.PrincipalSubspace | None = None,
) -> Stage1Fit:
    """Exact stage 1 of ``estimator`` on ``X`` (n, dim_x), fitted on ``fit_rows``
    and judged on ``val_rows`` (see :mod:`causalrep.estimators.interventional._varpro`);
    ``subspace`` is :func:`spectrum`'s of ``X[fit_rows]`` when already computed."""
    d, p = estimator.latent_dim, estimator.degree
    needed = _varpro.n_monomials(d, p)
    if subspace is None:
        subspace = _varpro.principal_subspace(X[fit_rows], needed)
    floor = subspace.noise_floor()
    u = subspace.whiten(X[fit_rows])
    regime = data.regime[fit_rows]
    observational = np.flatnonzero(regime == 0)
    if estimator.verbose:
        logger.info(
            "InterventionalCRL: exact stage 1, a linear code of %d whitened principal "
            "components (degree %d decoder in closed form)",
            needed,
            p,
        )
    # The observational regime is one mixing even where a generator rescales
    # its regimes differently; it judges the closed-form start when large enough.
    reference = observational if observational.size >= 4 * (needed + 1) else None
    tolerance = _FLOOR_FACTOR * floor + 1e-9
    init, covered = _fixed_value_start(u, regime, data.targets, d, p, estimator._seed, reference)
    code = None
    if covered == d and reference is not None:
        code = _closed_form_code(u[reference], init, d, p, tolerance, estimator._seed)
    if code is None:
        code = _varpro.fit_linear_code(
            u,
            d,
            p,
            restarts=_LINEAR_RESTARTS * estimator.restarts,
            seed=estimator._seed,
            search_rows=reference,
            tolerance=tolerance,
            init=init,
        )
    features = PolynomialFeatures(d, p).double()
    z = torch.from_numpy(u @ code.basis)
    coef = torch.linalg.lstsq(features(z), torch.from_numpy(u)).solution  # (K, M)
    u_val = subspace.whiten(X[val_rows])
    with torch.no_grad():
        fitted = (features(torch.from_numpy(u_val @ code.basis)) @ coef).numpy()
    heldout_residual = float(np.mean((u_val - fitted) ** 2))
    observational_residual = None
    val_reference = data.regime[val_rows] == 0
    if reference is not None and val_reference.any():
        own = torch.linalg.lstsq(features(z[reference]), torch.from_numpy(u[reference])).solution
        with torch.no_grad():
            z_val = torch.from_numpy(u_val[val_reference] @ code.basis)
            observational_residual = float(np.mean((u_val[val_reference] - (features(z_val) @ own).numpy()) ** 2))
    x_val = X[val_rows] - subspace.mean
    x_fit = (fitted * subspace.scale) @ subspace.components.T
    heldout_error = float(np.sum((x_val - x_fit) ** 2) / max(np.sum(x_val**2), 1e-300))

    # Fold the whitening into the modules: encoder x -> z, decoder z -> x,
    # both on x standardised by the scaler (mean, one common scale).
    spread = float(np.sqrt(subspace.eigenvalues.mean()))
    encoder_map = subspace.components / subspace.scale @ code.basis  # (D, d)
    decoder_map = coef.numpy() * subspace.scale @ subspace.components.T  # (K, D)
    with torch.random.fork_rng(devices=[]):  # the layers' initial draws are overwritten
        modules = estimator._build({"dim_x": X.shape[1], "encoder": "linear"})
    with torch.no_grad():
        modules["scaler"].mean.copy_(torch.from_numpy(subspace.mean))
        modules["scaler"].scale.fill_(spread)
        modules["encoder"].weight.copy_(torch.from_numpy(encoder_map.T * spread))
        modules["encoder"].bias.zero_()
        modules["decoder"].linear.weight.copy_(torch.from_numpy(decoder_map.T / spread))
    if estimator.verbose:
        logger.info(
            "InterventionalCRL: stage 1 done: %d of %d code directions in closed form "
            "from the fixed-value regimes, then %d L-BFGS iterations over %d "
            "search(es); held-out residual %.3g, noise floor %.3g",
            covered,
            d,
            code.iterations,
            code.restarts,
            heldout_residual,
            floor,
        )
    # Rounded to 12 digits: BLAS's alignment-dependent rounding must not make
    # two fits with one seed report different last digits.
    history = {
        "terms": {"residual": [rounded(code.residual, _ROUNDING_ZERO)]},
        "val": [rounded(heldout_residual, _ROUNDING_ZERO)],
        "best_epoch": 0,
        "steps": code.iterations,
    }
    report = Stage1Report(
        encoder="linear",
        heldout_error=rounded(heldout_error, _ROUNDING_ZERO),
        heldout_residual=rounded(heldout_residual, _ROUNDING_ZERO),
        noise_floor=rounded(floor, _ROUNDING_ZERO),
        fit_residual=rounded(code.residual, _ROUNDING_ZERO),
        restarts=code.restarts,
        iterations=code.iterations,
        directions_from_regimes=covered,
        lift_conditioning=rounded(subspace.eigenvalues[needed - 1] / subspace.eigenvalues[0]),
        observational_residual=None
        if observational_residual is None
        else rounded(observational_residual, _ROUNDING_ZERO),
        **asdict(spectrum_check(subspace.eigenvalues, needed, subspace.noise_variance, d, p)),
    )
    dims = {"dim_x": int(X.shape[1]), "encoder": "linear"}
    return Stage1Fit(modules.to(estimator.device_).eval(), dims, history, report)


def _fixed_value_start(u, regime, targets, latent_dim, degree, seed, test_rows=None):
    """A starting code (M, d) from the fixed-value do-regimes, and how many of
    its d directions they gave (:func:`_varpro.fixed_value_directions`); the
    rest is random. None when no regime fixes a latent.

    The power tests run on ``test_rows`` of ``u`` (all rows when None): on the
    observational regime alone they stay exact where a generator rescales the
    mixing's nonlinear part per regime (measured on CausalRepID's arrays, whose
    quadratic part differs by 30% between its observational and interventional
    files: the start alone gives MCC 0.994 after the do step from all rows,
    1.00000 from the observational ones).

    At degree >= 3 the first regime solved exactly (by Levenberg-Marquardt)
    gives the others their start in closed form; regimes tried before it are
    solved again with it."""
    d, p = latent_dim, degree
    needed = u.shape[1]
    tested = u if test_rows is None else u[test_rows]
    problems = []
    for k in np.unique(regime):
        rows = regime == k
        if k == 0 or rows.sum() < 2 * needed + 2:
            continue
        values, vectors = _varpro.regime_spectrum(u[rows])
        known = targets[int(k)]
        n_targets = (
            len(known) if known is not None else _varpro.count_fixed_targets(values, d, p, _do_stage2.FIXED_SHARE)
        )
        if n_targets == 0:
            continue
        count = _varpro.n_fixed_functionals(d, p, n_targets)
        if values[count - 1] >= _do_stage2.FIXED_SHARE:
            continue  # not held at one value: a random-valued or soft intervention
        if count < needed and values[count] < _FIXED_GAP * max(values[count - 1], 1e-300):
            # Nearly deterministic relations among the latents put other directions
            # at the regime's numerical zero too: the fixed ones are not told apart.
            continue
        problems.append((vectors[:, :count], n_targets, seed + int(k)))
    columns, multipliers, unsolved = [], None, []
    for i, (fixed, n_targets, regime_seed) in enumerate(problems):
        found, value = _varpro.fixed_value_directions(
            tested, fixed, p, n_targets, seed=regime_seed, multipliers=multipliers
        )
        if multipliers is None:
            if value > _EXACT_RESIDUAL:
                unsolved.append(i)
            elif p >= 3:
                multipliers = tested @ found
        columns.append(found)
    if multipliers is not None:
        for i in unsolved:
            fixed, n_targets, regime_seed = problems[i]
            columns[i] = _varpro.fixed_value_directions(
                tested, fixed, p, n_targets, seed=regime_seed, multipliers=multipliers
            )[0]
    if not columns:
        return None, 0
    stacked = np.hstack(columns)
    left, singular, _ = np.linalg.svd(stacked, full_matrices=False)
    covered = int(min(d, np.sum(singular > 1e-3 * singular[0])))
    start = left[:, :covered]
    if covered < d:
        rng = np.random.default_rng(seed)
        rest = rng.standard_normal((needed, d - covered))
        start = np.hstack([start, rest - start @ (start.T @ rest)])
    return start, covered


def _closed_form_code(u, start, latent_dim, degree, tolerance, seed, max_rows=20000):
    """The fixed-value regimes' code ``start`` (M, d) as it is, when it spans
    every latent and its monomials reconstruct ``u`` (n, M), the observational
    regime, to ``tolerance``: no search is needed. None otherwise.

    Where a generator rescales the mixing's nonlinear part per regime, the
    latents are still the same linear function of the observations, but no one
    decoder fits every regime: a search over all rows would trade the exact
    code for a smaller residual (measured on CausalRepID's d = 6 arrays: 89
    CPU-s of search to a residual of 0.0039 and MCC 0.9991 after the do step,
    against 1.00000 from the closed form in 0.03 CPU-s)."""
    if u.shape[0] > max_rows:
        u = u[np.sort(np.random.default_rng(seed).choice(u.shape[0], max_rows, replace=False))]
    basis = np.linalg.qr(start)[0]
    with torch.no_grad():
        value = float(
            _varpro.residual(
                torch.from_numpy(u), torch.from_numpy(basis), PolynomialFeatures(latent_dim, degree).double()
            )
        )
    if value > tolerance:
        return None
    return _varpro.LinearCode(basis=basis, residual=value, restarts=0, iterations=0)


def fit_mlp(estimator, X: np.ndarray, val_rows: np.ndarray) -> Stage1Fit:
    """Stage 1 of ``estimator`` by an MLP autoencoder trained with the shared
    loop on ``X`` (n, dim_x), judged on ``val_rows``.

    The observations are centred and divided by one common scale (the root
    mean variance), not standardised per feature: per-feature scaling lifts
    features that hold only noise (an image's background) to unit variance,
    and the network spends itself on them (measured on 16x16 pendulum and
    digit images with 1% pixel noise: 62% of the held-out variance left
    unreconstructed, against 1.4-2.6% with one scale)."""
    x = torch.tensor(X)  # float64: the scaler centres and scales, then casts
    dims = {"dim_x": int(X.shape[1])}
    spread = float(np.sqrt(np.mean(np.var(X, axis=0))))

    def build():
        modules = estimator._build(dims).to(estimator.device_)
        modules["scaler"].fit(x.to(estimator.device_))
        modules["scaler"].scale.fill_(spread if spread > 0 else 1.0)
        return modules

    modules, history = estimator._train(build, lambda m, xb: {"reconstruction": reconstruction_loss(m, xb)}, (x,))
    x_val = x[val_rows].to(estimator.device_)
    with torch.no_grad():
        scaled = modules["scaler"](x_val)
        error = ((modules["decoder"](modules["encoder"](scaled)) - scaled) ** 2).sum()
        heldout_error = float(error / (scaled - scaled.mean(0)).pow(2).sum().clamp_min(1e-30))
    return Stage1Fit(modules, dims, history.to_dict(), Stage1Report(encoder="mlp", heldout_error=heldout_error))


def with_fallback(linear: Stage1Fit, mlp: Stage1Fit) -> Stage1Fit:
    """Of an exact stage 1 that missed its noise floor and the MLP tried after
    it, the one that reconstructs held-out samples better, marked as a fallback."""
    if mlp.report.heldout_error >= linear.report.heldout_error:
        return linear._replace(report=replace(linear.report, fallback=True))
    report = replace(
        mlp.report,
        fallback=True,
        linear_residual=linear.report.heldout_residual,
        linear_noise_floor=linear.report.noise_floor,
        dimension_warning=linear.report.dimension_warning,
    )
    return mlp._replace(report=report)


def acceptable(report: Stage1Report) -> bool:
    """Whether stage 1 reaches its noise floor (linear) or the MLP's error limit,
    or was accepted as near-exact."""
    if report.encoder == "mlp":
        return report.heldout_error <= _MLP_ERROR_LIMIT
    return report.near_exact or report.heldout_residual <= _FLOOR_FACTOR * report.noise_floor + _RESIDUAL_ATOL


def trusted(report: Stage1Report) -> bool:
    """Whether stage 1 can be taken as affine: :func:`acceptable`, and for the
    exact stage 1 also a spectrum with every component its lift needs."""
    short = report.encoder == "linear" and report.signal_components < report.components_needed
    return acceptable(report) and not short


def near_exact(linear: Stage1Fit, X: np.ndarray, data, latent_dim: int) -> Stage1Fit | None:
    """An exact stage 1 that missed its noise floor on all regimes together,
    kept as near-exact when it still identifies: it reaches the floor on the
    observational regime alone (one mixing) or misses it on all by less than
    1e-3, and the do stage 2 on its code holds the target of every fixed-value
    do-regime at most 1e-4 of its observational variance. None when it does
    not qualify (no observational regime, no fixed-value do-regime, or a check
    fails)."""
    report = linear.report
    floor = _FLOOR_FACTOR * report.noise_floor + _RESIDUAL_ATOL
    observational = report.observational_residual is not None and report.observational_residual <= floor
    if not (observational or report.heldout_residual <= _NEAR_EXACT_RESIDUAL) or 0 not in data.regimes:
        return None
    scaler, encoder = linear.modules["scaler"], linear.modules["encoder"]
    weight = encoder.weight.detach().cpu().numpy()
    z_hat = (X - scaler.mean.cpu().numpy()) / scaler.scale.cpu().numpy() @ weight.T
    fitted = _do_stage2.fit_do(z_hat, data, latent_dim)
    z = (z_hat - fitted.center) @ fitted.gamma.T
    reference = z[data.regime == 0].var(0)
    ratios = [
        float(z[data.regime == k, j].var() / reference[j])
        for k in data.regimes
        if k and k not in fitted.random and data.targets[k] and len(data.targets[k]) == 1
        for j in data.targets[k]
    ]
    if not ratios or max(ratios) > _NEAR_EXACT_RATIO:
        return None
    ratio = rounded(max(ratios))
    return linear._replace(report=replace(report, near_exact=True, near_exact_variance_ratio=ratio))


def near_exact_note(report: Stage1Report) -> str:
    """Why a near-exact stage 1 was kept, one line (``report.near_exact``)."""
    note = (
        f"stage 1 kept as near-exact: held-out residual {report.heldout_residual:.3g} above its noise floor "
        f"{report.noise_floor:.3g}, but the fixed-value do-regimes hold their targets (largest variance ratio "
        f"{report.near_exact_variance_ratio:.2e})"
    )
    floor = _FLOOR_FACTOR * report.noise_floor + _RESIDUAL_ATOL
    if report.observational_residual is not None and report.observational_residual <= floor:
        note += (
            f" and the observational regime alone is reconstructed to {report.observational_residual:.2e}: "
            "the regimes' mixings differ, not the latents' code"
        )
    return note


def problems(report: Stage1Report, latent_dim: int, degree: int) -> list[str]:
    """What is wrong with a stage 1 of ``latent_dim`` latents and ``degree``, as warning messages."""
    found = []
    if not acceptable(report):
        if report.encoder == "linear":
            found.append(
                f"stage 1 leaves {report.heldout_residual:.3g} of the whitened variance "
                f"unexplained on held-out samples, above {_FLOOR_FACTOR:g} x the noise "
                f"floor {report.noise_floor:.3g}: the mixing may not be a degree-"
                f"{degree} polynomial of {latent_dim} latents"
            )
        else:
            found.append(
                f"the MLP stage 1 leaves {report.heldout_error:.3g} of the held-out "
                f"variance unreconstructed (> {_MLP_ERROR_LIMIT:g}); raise max_steps"
            )
    if report.fallback and report.encoder == "mlp":
        found.append(
            f"the exact stage 1 left {report.linear_residual:.3g} of the whitened variance "
            f"unexplained on held-out samples (noise floor {report.linear_noise_floor:.3g}), "
            "so the MLP stage 1 was used: its latents are affine in the true ones only "
            f"approximately (held-out reconstruction error {report.heldout_error:.3g})"
        )
    if report.dimension_warning:
        route = "; encoder='auto' therefore took the MLP route" if report.route_reason else ""
        found.append(report.dimension_warning + route)
    return found


def spectrum_check(eigenvalues: np.ndarray, needed: int, noise: float, latent_dim: int, degree: int) -> SpectrumCheck:
    """What the spectrum of the observations says about the latent dimension.

    With a degree-p polynomial of d latents the observations have exactly
    ``needed`` = C(d + p, p) - 1 components above the noise. A kept component
    at the noise level says d (or p) is too large; a discarded one well above
    it says too small.

    Arguments:
        eigenvalues: Principal variances of the observations, descending.
        needed: Components the model spans.
        noise: Variance of the noise per component.
        latent_dim: d.
        degree: p.
    """
    top = eigenvalues[0]
    # Eigenvalues of a float64 covariance are resolved to a few eps of the largest.
    level = max(noise, _RESOLVED_EPS * np.finfo(np.float64).eps * top)
    last_kept = eigenvalues[needed - 1]
    first_dropped = eigenvalues[needed] if needed < eigenvalues.size else None
    signal = int(np.sum(eigenvalues > _SIGNAL_FACTOR * level))
    implied = [f"latent_dim={k}" for k in range(1, latent_dim + 3) if _varpro.n_monomials(k, degree) == signal]
    implied += [
        f"degree={q}" for q in range(1, degree + 2) if q != degree and _varpro.n_monomials(latent_dim, q) == signal
    ]
    hint = f" ({' or '.join(implied)} would span exactly {signal})" if implied else ""
    warning = None
    seen = "components of the observations rise" if signal != 1 else "component of the observations rises"
    if last_kept <= _SIGNAL_FACTOR * level:
        warning = (
            f"only {signal} principal {seen} above the noise "
            f"but latent_dim={latent_dim} and degree={degree} need {needed}: latent_dim "
            f"(or degree) may be too large{hint}"
        )
    elif first_dropped is not None and first_dropped > _SIGNAL_FACTOR * level and eigenvalues.size - needed >= 4:
        warning = (
            f"{signal} principal components of the observations rise above the noise but "
            f"latent_dim={latent_dim} and degree={degree} span only {needed}: latent_dim "
            f"(or degree) may be too small, or the mixing is not polynomial{hint}"
        )
    return SpectrumCheck(signal_components=signal, components_needed=int(needed), dimension_warning=warning)


def rounded(value: float, zero: float = 0.0) -> float:
    """``value`` to 12 significant digits (diagnostics, not results); values
    below ``zero`` (float64 rounding, not information) are reported as 0."""
    return 0.0 if abs(value) < zero else float(f"{value:.12g}")
