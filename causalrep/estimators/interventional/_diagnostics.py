"""Diagnostics of Interventional CRL's do stage 2: one record per regime and target.

Each do-regime is checked on the latents it intervenes on: a fixed-value do
leaves (nearly) no variance on its target, a random-valued one changes one
latent's mechanism. What fails is warned about
(:class:`~causalrep.exceptions.IdentifiabilityWarning`).
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...exceptions import IdentifiabilityWarning, warn
from . import _do_stage2
from ._stage1 import Stage1Report, near_exact_note, rounded

__all__ = ["RegimeDiagnostic", "do_diagnostics", "table"]

# A random-valued do-regime whose ratio-gradient matrix, known functionals
# projected out, has a second eigenvalue above this share of the first is not
# the change of one latent's mechanism (measured: below 0.08 on linear SCMs
# with 2,000 samples per regime, 0.17 where a nonlinear SCM cost MCC 0.93).
_RANK_ONE_LIMIT = 0.15
# A random-valued regime whose first two moments equal the observational ones
# at this level changed nothing that stage 2 can see.
_UNCHANGED_PVALUE = 1e-3


@dataclass(frozen=True)
class RegimeDiagnostic:
    """One do-regime's check on one recovered latent (an entry of ``InterventionalCRL.diagnostics_``).

    A latent no regime intervenes on gets a record too, with ``regime`` and
    ``variance_ratio`` None and ``found_by`` saying what is identified of it.

    Attributes:
        regime: The regime's label; None for a latent without a regime.
        target: The recovered latent it intervenes on (a column of ``transform``).
        variance_ratio: Variance of that latent in the regime over its variance
            in regime 0 (all samples without one): near 0 under a fixed-value do.
        found_by: How the latent's direction was found: ``"do"``, ``"block"``,
            ``"random do"``, or with ``", targets unknown (regime k)"``; for a
            latent without a regime, ``"no regime: ..."``.
        rank_one_ratio: Random-valued do only: second over first eigenvalue of
            the regime's ratio-gradient matrix (near 0: one latent's mechanism
            changed).
        change_pvalue: Random-valued do only: p-value that the regime's mean
            and covariance equal the observational ones (small: it changed).
        linear_fit_pvalue: Random-valued do, where the joint refinement ran:
            goodness-of-fit p-value of its linear latent SCM.
        covariance_pvalue: Random-valued do only: p-value that the regime's
            covariance equals the observational one (large: only the mean
            moved, as under a shift, not a do).
    """

    regime: int | None
    target: int
    variance_ratio: float | None
    found_by: str
    rank_one_ratio: float | None = None
    change_pvalue: float | None = None
    linear_fit_pvalue: float | None = None
    covariance_pvalue: float | None = None

    @classmethod
    def from_json(cls, records: list[dict[str, Any]]) -> list["RegimeDiagnostic"]:
        """The records saved in a checkpoint as a JSON list (older files omit the fields that were None)."""
        return [cls(**record) for record in records]


def do_diagnostics(z: np.ndarray, data, do_fit: _do_stage2.DoFit, stage1_ok: bool = True) -> list[RegimeDiagnostic]:
    """Variance of each intervened coordinate of the recovered latents ``z``
    (n, d) relative to regime 0; for random-valued regimes, how close their
    change is to one latent's; a record per latent without a regime. Warns
    about the regimes that fail, naming stage 1 where it missed its check
    (``stage1_ok`` False)."""
    reference = z[data.regime == 0] if 0 in data.regimes else z
    records = []
    for k in data.regimes:
        targets = data.targets[k]
        if k in do_fit.random:
            placed = do_fit.random[k]
            j = placed.latent
            inside = z[data.regime == k]
            records.append(
                RegimeDiagnostic(
                    regime=int(k),
                    target=int(j),
                    variance_ratio=float(inside[:, j].var() / reference[:, j].var()),
                    found_by=do_fit.found_by[j],
                    rank_one_ratio=rounded(placed.rank_one_ratio),
                    change_pvalue=rounded(placed.change_pvalue),
                    linear_fit_pvalue=None if placed.linear_fit_pvalue is None else rounded(placed.linear_fit_pvalue),
                    covariance_pvalue=rounded(
                        _do_stage2.moment_change_pvalue(reference - reference.mean(0), inside - inside.mean(0))
                    ),
                )
            )
            continue
        if targets is None:
            spread = z[data.regime == k].var(0) / reference.var(0)
            targets = tuple(int(j) for j in np.flatnonzero(spread < _do_stage2.FIXED_SHARE))
        for j in targets:
            ratio = float(z[data.regime == k, j].var() / reference[:, j].var())
            records.append(RegimeDiagnostic(int(k), int(j), ratio, do_fit.found_by.get(j, "do")))
    if do_fit.uncovered:
        named = all(data.targets[k] is not None for k in data.regimes)
        records += [
            RegimeDiagnostic(None, int(j), None, _uncovered_note(j, do_fit.uncovered)) for j in do_fit.uncovered
        ]
        _warn_uncovered(do_fit.uncovered, d=z.shape[1], named=named)
    _warn(records, data, stage1_ok)
    return records


def _uncovered_note(j, uncovered):
    """What is identified of latent ``j``, which no regime intervenes on."""
    others = [i for i in uncovered if i != j]
    block = f" (jointly with latents {_names(others)}: their block up to an invertible linear map)" if others else ""
    return (
        "no regime: identified only up to scaling plus a combination of the other latents"
        f"{block}; its coordinate is the part of the code uncorrelated with the identified latents"
    )


def _warn_uncovered(uncovered, d, named):
    """The IdentifiabilityWarning for the latents no regime intervenes on."""
    one = len(uncovered) == 1
    which = f"latent {uncovered[0]}" if one else f"latents {_names(uncovered)}"
    cause = (
        f"no regime intervenes on {which}"
        if named
        else f"the regimes (targets unknown) gave directions for {d - len(uncovered)} of {d} latents, not for {which}"
    )
    block = "" if one else " (together: their block, up to an invertible linear map)"
    warn(
        f"{cause}: {'it is' if one else 'each is'} identified only up to scaling plus an unknown combination "
        f"of the other latents{block}; {'its coordinate is' if one else 'their coordinates are'} the part of the "
        "code uncorrelated with the identified latents, the true latent only if it is uncorrelated with them, "
        f"and {'its' if one else 'their'} edges in graph_ are not identified. Identified as usual: the latents "
        "the regimes intervene on, and all latents together up to an affine map (stage 1). A regime that "
        f"intervenes on {which} would identify {'it' if one else 'them'} up to scaling",
        IdentifiabilityWarning,
    )


def _names(latents):
    return ", ".join(str(int(j)) for j in latents)


def _fixes(record, data):
    """``regime k fixes latent j`` for a declared target, or how an unknown-target regime reads."""
    if data.targets[record.regime] is None:
        return f"regime {record.regime} (targets unknown) changes latent {record.target}"
    return f"regime {record.regime} fixes latent {record.target}"


def _warn(records, data, stage1_ok=True):
    """An IdentifiabilityWarning for each kind of failed check among ``records``.

    A regime whose target kept its variance is read as random-valued only when
    stage 1 passed its check and the regime changed the covariance; otherwise
    the message asks whether the intervention was soft."""
    random = [r for r in records if r.rank_one_ratio is not None]
    not_affine = "" if stage1_ok else "stage 1 is not affine (see its warning), or "
    # Regimes that read as soft rather than as do's with a random value, by reason.
    reasons = {
        "unchanged": "neither the mean nor the covariance of {these} differs from the observational one "
        "(p >= {p:.2g}), so {its} {targets} not identified (a do whose random value has the observational "
        "mean and variance is invisible to two moments too)",
        "stage 1": "{its} {directions} not identified",
        "shift": "only the means of the regimes moved (covariance unchanged, p >= {p:.2g}), as under shifts: "
        "read as do's with a random value they identify the latents, read as shifts only the latents' "
        "exogenous noises, and two moments cannot tell these apart",
    }
    # A do with a random value changes the covariance of every regime whose target has
    # parents; when no regime does, shifts (soft) explain the data as well.
    mean_only = all(r.covariance_pvalue is not None and r.covariance_pvalue > _UNCHANGED_PVALUE for r in random)
    soft = {}
    for r in random:
        if r.change_pvalue > _UNCHANGED_PVALUE:
            soft.setdefault("unchanged", []).append((r, r.change_pvalue))
        elif not stage1_ok:
            soft.setdefault("stage 1", []).append((r, 0.0))
        elif mean_only and len(random) > 1:
            soft.setdefault("shift", []).append((r, r.covariance_pvalue))
    for reason, group in soft.items():
        one = len(group) == 1
        clauses = "; ".join(
            f"{_fixes(r, data)} but its variance stayed at {r.variance_ratio:.3g} of the observational"
            for r, _ in group
        )
        why = reasons[reason].format(
            these="the regime" if one else "these regimes",
            its="its" if one else "their",
            targets="target is" if one else "targets are",
            directions="direction is" if one else "directions are",
            p=min(p for _, p in group),
        )
        warn(f"{clauses}: {not_affine}a soft intervention? {why[0].upper()}{why[1:]}", IdentifiabilityWarning)
    taken = {r.regime for group in soft.values() for r, _ in group}
    # The others read as do's with a random value: stage 1 passed and their covariance changed.
    random = [r for r in random if r.regime not in taken]
    rejected = [
        r for r in random if r.linear_fit_pvalue is not None and r.linear_fit_pvalue < _do_stage2.LINEAR_FIT_PVALUE
    ]
    if rejected:
        warn(
            f"the regimes read as do's with a random value ({_names(r.regime for r in rejected)}) reject a "
            "linear latent SCM in their means and covariances (likelihood-ratio test, kurtosis-scaled: "
            f"p = {rejected[0].linear_fit_pvalue:.2g} < {_do_stage2.LINEAR_FIT_PVALUE:g}); their directions are "
            "approximate: the latent SCM may be nonlinear, an intervention soft or on several latents, or "
            "stage 1 (an MLP one above all) not affine",
            IdentifiabilityWarning,
        )
    # Where the joint refinement ran, its test supersedes the peeling's rank check.
    bent = [r for r in random if r.rank_one_ratio > _RANK_ONE_LIMIT and r.linear_fit_pvalue is None]
    if bent:
        summary = ", ".join(f"regime {r.regime}: {r.rank_one_ratio:.2g}" for r in bent)
        warn(
            "some regimes read as do's with a random value change more than one latent's mechanism as far "
            f"as their first two moments tell (second/first eigenvalue > {_RANK_ONE_LIMIT:g}: "
            f"{summary}); their directions are approximate: the latent SCM may be "
            "nonlinear, the intervention soft or on several latents, or stage 1 not affine",
            IdentifiabilityWarning,
        )
    varying = {}
    for r in records:
        if r.rank_one_ratio is None and r.regime is not None and r.variance_ratio > _do_stage2.FIXED_SHARE:
            varying.setdefault(r.regime, []).append(r)
    for k, group in varying.items():
        latents = "latent" + ("s " if len(group) > 1 else " ") + _names(r.target for r in group)
        verb = "changes" if data.targets[k] is None else "fixes"
        ratios = ", ".join(f"{r.variance_ratio:.3g}" for r in group)
        warn(
            f"regime {k} {verb} {latents} but {'their variances' if len(group) > 1 else 'its variance'} "
            f"stayed at {ratios} of the observational (> {_do_stage2.FIXED_SHARE:g}): {not_affine}a soft "
            "intervention? (a do on several latents must fix all of their values)",
            IdentifiabilityWarning,
        )


def table(stage1: Stage1Report, records: list[RegimeDiagnostic]) -> str:
    """Stage-1 fit and the do-regime diagnostics as a short text table."""
    lines = [f"stage 1: {stage1.encoder} encoder, held-out unexplained variance {stage1.heldout_error:.2e}"]
    if stage1.encoder == "linear":
        lines[0] += f" (whitened residual {stage1.heldout_residual:.2e}, noise floor {stage1.noise_floor:.2e})"
    if stage1.near_exact:
        lines.append(near_exact_note(stage1))
    if stage1.route_reason:
        lines.append(stage1.route_reason)
    lines.append("regime  target  residual variance ratio  found by")
    lines += [
        f"{'-' if r.regime is None else r.regime:>6}  {r.target:>6}  "
        f"{'-' if r.variance_ratio is None else f'{r.variance_ratio:.2e}':>23}  {r.found_by}"
        for r in records
    ]
    return "\n".join(lines)
