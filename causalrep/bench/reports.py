"""Reports of a sweep's records: a markdown table, CSV, JSON and a plot of the MCC."""

import json
import os
import statistics
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["SUMMARY_FIELDS", "summarize", "markdown_table", "write_json", "write_csv", "plot"]

#: The keys of each row of :func:`summarize`, in order.
SUMMARY_FIELDS = (
    "setting",
    "method",
    "runs",
    "mcc_mean",
    "mcc_std",
    "affine_r2_mean",
    "affine_r2_std",
    "fit_seconds_mean",
    "fit_seconds_std",
    "permutation_passed",
    "affine_passed",
    "failed",
    "first_error",
)


def _groups(records):
    groups = {}
    for record in records:
        groups.setdefault((record["setting"], record["method"]), []).append(record)
    return groups


def _mean_std(values):
    """Mean and sample standard deviation of the values that are not None; None where undefined."""
    values = [v for v in values if v is not None]
    mean = statistics.fmean(values) if values else None
    return mean, statistics.stdev(values) if len(values) > 1 else None


def summarize(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per setting x method, in the order first seen: the numbers of :func:`markdown_table`.

    Returns:
        Dicts with the keys :data:`SUMMARY_FIELDS`: ``setting``, ``method``, ``runs``;
        ``mcc_mean``, ``mcc_std``, ``affine_r2_mean``, ``affine_r2_std``,
        ``fit_seconds_mean``, ``fit_seconds_std`` over the runs that finished (None where
        undefined: no run, or one for a standard deviation); ``permutation_passed`` and
        ``affine_passed``, counts of runs; ``failed``, the count of runs that raised, and
        ``first_error`` (None if none did).
    """
    rows = []
    for (setting, method), group in _groups(records).items():
        ok = [r for r in group if r["status"] == "ok"]
        failed = [r for r in group if r["status"] != "ok"]
        row = {"setting": setting, "method": method, "runs": len(group)}
        for field in ("mcc", "affine_r2", "fit_seconds"):
            row[f"{field}_mean"], row[f"{field}_std"] = _mean_std([r.get(field) for r in ok])
        row["permutation_passed"] = sum(r["permutation_passed"] for r in ok)
        row["affine_passed"] = sum(r["affine_passed"] for r in ok)
        row["failed"] = len(failed)
        row["first_error"] = failed[0]["error"] if failed else None
        rows.append(row)
    return rows


def _text(row, field, digits):
    mean, std = row[f"{field}_mean"], row[f"{field}_std"]
    if mean is None:
        return "-"
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown_table(records: Iterable[Mapping[str, Any]]) -> str:
    """Mean ± standard deviation over seeds for each setting x method, as markdown.

    Columns: MCC, affine R2, how many seeds passed the permutation and the
    affine checks, fit time, and failed runs (with the first error).
    """
    lines = [
        "| setting | method | MCC | affine R2 | passed (perm.) | passed (affine) | fit (s) | failed |",
        "|" + "---|" * 8,
    ]
    for row in summarize(records):
        note = f"{row['failed']}: {row['first_error']}" if row["failed"] else "0"
        lines.append(
            f"| {row['setting']} | {row['method']} | {_text(row, 'mcc', 3)} | {_text(row, 'affine_r2', 3)} "
            f"| {row['permutation_passed']}/{row['runs']} | {row['affine_passed']}/{row['runs']} "
            f"| {_text(row, 'fit_seconds', 1)} | {note.replace('|', '/')} |"
        )
    return "\n".join(lines) + "\n"


def write_json(records: Iterable[Mapping[str, Any]], path: str | os.PathLike) -> None:
    """Write the records as one JSON list."""
    Path(path).write_text(json.dumps(list(records), indent=1, sort_keys=True) + "\n")


def write_csv(records: Iterable[Mapping[str, Any]], path: str | os.PathLike) -> None:
    """Write the records as CSV, one row each; dict fields as JSON text."""
    import csv

    records = list(records)
    columns = []
    for record in records:
        columns += [k for k in record if k not in columns]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for record in records:
            writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in record.items()})


def plot(records: Iterable[Mapping[str, Any]], path: str | os.PathLike | None = None) -> "Figure":
    """MCC per method, grouped by setting: bars at the mean, dots per seed.

    Returns:
        The ``matplotlib.figure.Figure`` (saved to ``path`` when given).
    """
    from matplotlib.figure import Figure

    records = [r for r in records if r["status"] == "ok"]
    settings = list(dict.fromkeys(r["setting"] for r in records))
    methods = list(dict.fromkeys(r["method"] for r in records))
    groups = _groups(records)
    width = 0.8 / max(len(methods), 1)
    fig = Figure(figsize=(max(6.0, 0.9 * len(settings) + 2), 4.5), layout="constrained")
    ax = fig.subplots()
    for j, method in enumerate(methods):
        xs, means = [], []
        for i, setting in enumerate(settings):
            values = [r["mcc"] for r in groups.get((setting, method), [])]
            if not values:
                continue
            x = i + (j - (len(methods) - 1) / 2) * width
            xs.append(x)
            means.append(statistics.fmean(values))
            ax.scatter([x] * len(values), values, s=8, color="black", zorder=3)
        ax.bar(xs, means, width=width, label=method)
    ax.set_xticks(range(len(settings)), settings, rotation=30, ha="right")
    ax.set_ylabel("MCC (held out)")
    ax.set_ylim(0, 1.02)
    fig.legend(fontsize=8, ncols=min(len(methods), 5), loc="outside upper center")
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
