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
from ._stage1 import Stage1Report, rounded

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

    Attributes:
        regime: The regime's label.
        target: The recovered latent it intervenes on (a column of ``transform``).
        variance_ratio: Variance of that latent in the regime over its variance
            in regime 0 (all samples without one): near 0 under a fixed-value do.
        found_by: How the latent's direction was found: ``"do"``, ``"block"``,
            ``"random do"``, or with ``", targets unknown (regime k)"``.
        rank_one_ratio: Random-valued do only: second over first eigenvalue of
            the regime's ratio-gradient matrix (near 0: one latent's mechanism
            changed).
        change_pvalue: Random-valued do only: p-value that the regime's mean
            and covariance equal the observational ones (small: it changed).
        linear_fit_pvalue: Random-valued do, where the joint refinement ran:
            goodness-of-fit p-value of its linear latent SCM.
    """

    regime: int
    target: int
    variance_ratio: float
    found_by: str
    rank_one_ratio: float | None = None
    change_pvalue: float | None = None
    linear_fit_pvalue: float | None = None

    @classmethod
    def from_json(cls, records: list[dict[str, Any]]) -> list["RegimeDiagnostic"]:
        """The records saved in a checkpoint as a JSON list (older files omit the fields that were None)."""
        return [cls(**record) for record in records]


def do_diagnostics(z: np.ndarray, data, do_fit: _do_stage2.DoFit) -> list[RegimeDiagnostic]:
    """Variance of each intervened coordinate of the recovered latents ``z``
    (n, d) relative to regime 0; for random-valued regimes, how close their
    change is to one latent's. Warns about the regimes that fail."""
    reference = z[data.regime == 0] if 0 in data.regimes else z
    records = []
    for k in data.regimes:
        targets = data.targets[k]
        if k in do_fit.random:
            placed = do_fit.random[k]
            j = placed.latent
            records.append(
                RegimeDiagnostic(
                    regime=int(k),
                    target=int(j),
                    variance_ratio=float(z[data.regime == k, j].var() / reference[:, j].var()),
                    found_by=do_fit.found_by[j],
                    rank_one_ratio=rounded(placed.rank_one_ratio),
                    change_pvalue=rounded(placed.change_pvalue),
                    linear_fit_pvalue=None if placed.linear_fit_pvalue is None else rounded(placed.linear_fit_pvalue),
                )
            )
            continue
        if targets is None:
            spread = z[data.regime == k].var(0) / reference.var(0)
            targets = tuple(int(j) for j in np.flatnonzero(spread < _do_stage2.FIXED_SHARE))
        for j in targets:
            ratio = float(z[data.regime == k, j].var() / reference[:, j].var())
            records.append(RegimeDiagnostic(int(k), int(j), ratio, do_fit.found_by.get(j, "do")))
    _warn(records)
    return records


def _warn(records):
    """An IdentifiabilityWarning for each kind of failed check among ``records``."""
    same = [r for r in records if r.change_pvalue is not None and r.change_pvalue > _UNCHANGED_PVALUE]
    if same:
        warn(
            "some regimes declared interventional do not differ from the observational one "
            f"in mean or covariance ({', '.join(str(r.regime) for r in same)}: p > "
            f"{_UNCHANGED_PVALUE:g}): their targets are not identified",
            IdentifiabilityWarning,
        )
    rejected = [
        r for r in records if r.linear_fit_pvalue is not None and r.linear_fit_pvalue < _do_stage2.LINEAR_FIT_PVALUE
    ]
    if rejected:
        warn(
            "the random-valued do-regimes' means and covariances reject a linear latent SCM "
            f"(likelihood-ratio test, kurtosis-scaled: p = {rejected[0].linear_fit_pvalue:.2g}"
            f" < {_do_stage2.LINEAR_FIT_PVALUE:g}); their directions are approximate: the latent SCM "
            "may be nonlinear, or an intervention soft or on several latents",
            IdentifiabilityWarning,
        )
    # Where the joint refinement ran, its test supersedes the peeling's rank check.
    bent = [
        r
        for r in records
        if r.rank_one_ratio is not None and r.rank_one_ratio > _RANK_ONE_LIMIT and r.linear_fit_pvalue is None
    ]
    if bent:
        summary = ", ".join(f"regime {r.regime}: {r.rank_one_ratio:.2g}" for r in bent)
        warn(
            "some random-valued do-regimes change more than one latent's mechanism as far "
            f"as their first two moments tell (second/first eigenvalue > {_RANK_ONE_LIMIT:g}: "
            f"{summary}); their directions are approximate: the latent SCM may be "
            "nonlinear, or the intervention soft or on several latents",
            IdentifiabilityWarning,
        )
    worst = [r for r in records if r.rank_one_ratio is None and r.variance_ratio > _do_stage2.FIXED_SHARE]
    if worst:
        summary = ", ".join(f"regime {r.regime} latent {r.target}: {r.variance_ratio:.3g}" for r in worst)
        warn(
            "some intervened coordinates still vary under their do-intervention "
            f"(variance ratio > {_do_stage2.FIXED_SHARE:g}: {summary}); the intervention "
            "may be soft, or random-valued on several latents (not identified by this "
            "stage 2), or stage 1 is not affine",
            IdentifiabilityWarning,
        )


def table(stage1: Stage1Report, records: list[RegimeDiagnostic]) -> str:
    """Stage-1 fit and the do-regime diagnostics as a short text table."""
    lines = [f"stage 1: {stage1.encoder} encoder, held-out unexplained variance {stage1.heldout_error:.2e}"]
    if stage1.encoder == "linear":
        lines[0] += f" (whitened residual {stage1.heldout_residual:.2e}, noise floor {stage1.noise_floor:.2e})"
    lines.append("regime  target  residual variance ratio  found by")
    lines += [f"{r.regime:>6}  {r.target:>6}  {r.variance_ratio:>23.2e}  {r.found_by}" for r in records]
    return "\n".join(lines)
