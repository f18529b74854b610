"""Reports of a sweep's records: a markdown table, CSV, JSON and a plot of the MCC."""

import json
import os
import statistics
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["markdown_table", "write_json", "write_csv", "plot"]


def _groups(records):
    groups = {}
    for record in records:
        groups.setdefault((record["setting"], record["method"]), []).append(record)
    return groups


def _mean_std(values, digits):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def markdown_table(records: Iterable[Mapping[str, Any]]) -> str:
    """Mean ± standard deviation over seeds for each setting x method, as markdown.

    Columns: MCC, affine R2, how many seeds passed the permutation and the
    affine checks, fit time, and failed runs (with the first error).
    """
    lines = [
        "| setting | method | MCC | affine R2 | passed (perm.) | passed (affine) | fit (s) | failed |",
        "|" + "---|" * 8,
    ]
    for (setting, method), group in _groups(records).items():
        ok = [r for r in group if r["status"] == "ok"]
        failed = [r for r in group if r["status"] != "ok"]
        note = f"{len(failed)}: {failed[0]['error']}" if failed else "0"
        lines.append(
            f"| {setting} | {method} | {_mean_std([r['mcc'] for r in ok], 3)} "
            f"| {_mean_std([r['affine_r2'] for r in ok], 3)} "
            f"| {sum(r['permutation_passed'] for r in ok)}/{len(group)} "
            f"| {sum(r['affine_passed'] for r in ok)}/{len(group)} "
            f"| {_mean_std([r.get('fit_seconds') for r in ok], 1)} | {note.replace('|', '/')} |"
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
