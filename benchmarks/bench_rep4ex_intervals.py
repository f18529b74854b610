"""How sure Rep4Ex is of its extrapolations: bands, warnings and their cost, on ``simulators.rep4ex``.

For each setting and seed (the data, split and evaluation actions of
``benchmarks.bench_rep4ex``, plus a setting with 50,000 training samples): fit
``Rep4Ex`` at its defaults (its parametric-bootstrap refits included, one
process, one thread), and keep the raw material every figure is computed from:
the truth, the fit's prediction and each refit's prediction at the evaluation
actions, the refits' errors at the probe actions, the fit's warnings and
``extrapolation_``. References on the same data: the true latents (oracle), the
best affine image of Z in Rep4Ex's coordinates (matched oracle) and an MLP of Y
on A.

``--report`` computes, from those files alone: the coverage of the nominal 90%
band over the covered out-of-support actions (pooled over seeds) with 3 and 4
refits, its median width, the error of the point estimate against the matched
oracle and the naive MLP, and the quality of the warning (which fits it flags,
against their error). It writes benchmarks/results/rep4ex_intervals.json, the
section "How sure is an extrapolation" of docs/benchmarks_rep4ex.md and
docs/img/rep4ex_band.png. ``--time`` measures a default fit with its refits on
2 cores against a single fit (``n_bootstrap=0``), wall and CPU seconds.

Usage, from the repository root (two processes share the settings on 2 cores):
    python -m benchmarks.bench_rep4ex_intervals --settings benchmark,linear_outcome &
    python -m benchmarks.bench_rep4ex_intervals --settings three_latents,large; wait
    python -m benchmarks.bench_rep4ex_intervals --time
    python -m benchmarks.bench_rep4ex_intervals --report
"""

import argparse
import json
import os
import resource
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import simulators
from benchmarks.bench_rep4ex import BASE, N_SAMPLES, SETTINGS, SLICE, TEST_FRACTION, actions_outside, fit_mlp
from causalrep import Rep4Ex
from causalrep.estimators import ControlFunction
from causalrep.estimators.rep4ex._estimator import _UNCERTAIN_RATIO
from causalrep.estimators.rep4ex._replicates import MARGIN, band
from causalrep.identifiability import affine_r2

ROOT = Path(__file__).resolve().parent.parent
PARTS = ROOT / "benchmarks" / "results" / "rep4ex_intervals"
RESULTS = ROOT / "benchmarks" / "results" / "rep4ex_intervals.json"
TABLE = ROOT / "docs" / "benchmarks_rep4ex.md"
PLOT = ROOT / "docs" / "img" / "rep4ex_band.png"
SECTION = "## How sure is an extrapolation"

RUNS = {name: (params, N_SAMPLES) for name, params in SETTINGS.items()}
RUNS["large"] = (BASE, 62_500)  # 50,000 to fit
SEEDS = range(5)
LEVEL = 0.9
REPLICATES = (3, 4)
MARGINS = (1.0, 1.25, MARGIN, 1.75, 2.0)  # the band's margin over its bootstrap calibration: how much rides on it


def run_seed(setting, seed):
    """One fit with its refits and the references, on one seed of one setting."""
    params, n = RUNS[setting]
    d, k = params["latent_dim"], params["action_dim"]
    data = simulators.rep4ex(n=n, seed=seed, **params)
    train, test = data.split(TEST_FRACTION, seed=seed)
    actions = actions_outside(k, seed)
    slices = {"axis": np.c_[SLICE, np.zeros_like(SLICE)], "diagonal": np.c_[SLICE, SLICE]} if k == 2 else {}
    est = Rep4Ex(latent_dim=d, seed=seed, verbose=0, device="cpu", n_threads=1, n_jobs=1)
    start, cpu = time.perf_counter(), _cpu()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(train)
    row = {
        "setting": setting,
        "seed": seed,
        "n_train": train.n,
        "fit_s": time.perf_counter() - start,
        "fit_cpu_s": _cpu() - cpu,
        "affine_r2": affine_r2(test.Z, est.transform(test.X)).mean,
        "warnings": [f"{w.category.__name__}: {w.message}" for w in caught if issubclass(w.category, UserWarning)],
        "extrapolation": est.extrapolation_,
        "probe_errors": est.arrays_["probe_errors"].tolist(),
        "truth": simulators.rep4ex_truth(data.meta, actions).tolist(),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        row["point"], row["refits"] = _predictions(est, actions)
        row["slices"] = {key: _predictions(est, a) for key, a in slices.items()}
    row["truth_slices"] = {key: simulators.rep4ex_truth(data.meta, a).tolist() for key, a in slices.items()}
    z_hat = est.transform(train.X)
    design = np.c_[np.ones(train.n), train.Z]
    references = {"oracle": train.Z, "matched": design @ np.linalg.lstsq(design, z_hat, rcond=None)[0]}
    for name, rep in references.items():
        control = ControlFunction(seed=seed).fit(rep, train.A, train.Y)
        row[name] = control.predict_interventional(actions).tolist()
        if name == "oracle":
            row["covered"] = (control.coverage(actions) >= 0.5).tolist()
    mlp = fit_mlp(train.A, train.Y, (64, 64), 3000, 256, 3e-3, seed)
    row["mlp_y_on_a"] = mlp(actions)[:, 0].tolist()
    return row


def _predictions(est, actions):
    """The fit's prediction (m,) and each refit's (B, m), as lists."""
    point = est.predict_interventional(actions)
    refits = [refit.predict_interventional(actions) for refit in est.refits()]
    return point.tolist(), np.asarray(refits).tolist()


def _cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime


def evaluate(row, replicates, level=LEVEL, margin=MARGIN):
    """Coverage, width, errors and bias-corrected error of one fit's band from its first refits."""
    truth, point = np.asarray(row["truth"]), np.asarray(row["point"])
    refits = np.asarray(row["refits"])[:replicates]
    errors = refits - point
    result = band(point, errors, np.asarray(row["probe_errors"])[:replicates], level, margin)
    covered = np.asarray(row["covered"])
    inside = (truth >= result.lower) & (truth <= result.upper)
    corrected = point - errors.mean(0)
    mse = lambda values: float(((np.asarray(values) - truth) ** 2).mean())  # noqa: E731
    return {
        "hits": int(inside[covered].sum()),
        "n_covered": int(covered.sum()),
        "width": float(np.median((result.upper - result.lower)[covered])) if covered.any() else None,
        "mse_point": mse(point),
        "mse_corrected": mse(corrected),
        "mse_median_refits": mse(np.median(np.vstack([point, refits]), 0)),
        "mse_matched": mse(row["matched"]),
        "mse_oracle": mse(row["oracle"]),
        "mse_mlp": mse(row["mlp_y_on_a"]),
        # the rule of the current estimator, from the recorded ratio
        "warned": row["extrapolation"]["ratio"] > _UNCERTAIN_RATIO,
        "warned_any": bool(row["warnings"]),
        "ratio": row["extrapolation"]["ratio"],
    }


def summarise(rows):
    med = statistics.median
    out = {}
    for setting in RUNS:
        part = [r for r in rows if r["setting"] == setting]
        if not part:
            continue
        entry = {"seeds": [r["seed"] for r in part]}
        for b in REPLICATES:
            scores = [evaluate(r, b) for r in part]
            hits, n = sum(s["hits"] for s in scores), sum(s["n_covered"] for s in scores)
            entry[f"coverage_{b}"] = hits / n if n else None
            entry[f"width_{b}"] = med([s["width"] for s in scores if s["width"] is not None])
            if b == max(REPLICATES):
                entry["per_seed"] = [
                    {"seed": r["seed"], **s, "fit_s": r["fit_s"], "fit_cpu_s": r["fit_cpu_s"], "r2": r["affine_r2"]}
                    for r, s in zip(part, scores, strict=True)
                ]
        per = entry["per_seed"]
        for margin in MARGINS:
            scores = [evaluate(r, max(REPLICATES), margin=margin) for r in part]
            hits, n = sum(s["hits"] for s in scores), sum(s["n_covered"] for s in scores)
            entry.setdefault("coverage_by_margin", {})[str(margin)] = hits / n if n else None
        for key in ("point", "corrected", "median_refits"):
            entry[f"{key}_over_matched"] = med([s[f"mse_{key}"] / s["mse_matched"] for s in per])
        entry["mse_point"] = med([s["mse_point"] for s in per])
        entry["mse_mlp"] = med([s["mse_mlp"] for s in per])
        entry["fit_s"] = med([r["fit_s"] for r in part])
        entry["fit_cpu_s"] = med([r["fit_cpu_s"] for r in part])
        out[setting] = entry
    fits = [s for entry in out.values() for s in entry["per_seed"]]
    bad = [s for s in fits if s["mse_point"] >= 10 * s["mse_matched"]]
    good = [s for s in fits if s["mse_point"] <= 3 * s["mse_matched"]]
    worse = [s for s in fits if s["mse_point"] > s["mse_mlp"]]
    thresholds = {}
    for t in (2, 3, 4, 6, 8, 10):
        thresholds[t] = {
            "bad_warned": sum(s["ratio"] > t for s in bad),
            "good_warned": sum(s["ratio"] > t for s in good),
            "worse_than_mlp_warned": sum(s["ratio"] > t for s in worse),
        }
    out["warning"] = {
        "threshold": _UNCERTAIN_RATIO,
        "by_threshold": thresholds,
        "bad_fits": len(bad),
        "bad_warned": sum(s["warned"] for s in bad),
        "good_fits": len(good),
        "good_warned": sum(s["warned"] for s in good),
        "worse_than_mlp": len(worse),
        "worse_than_mlp_warned": sum(s["warned"] for s in worse),
    }
    return out


def markdown(summary, timing):
    lines = [
        SECTION,
        "",
        "`Rep4Ex` at its defaults refits the whole pipeline on 4 worlds simulated from its own fit "
        "(parametric bootstrap, docs: Rep4Ex) and gives `predict_interventional(a, interval=0.9)` a "
        "band. Coverage: the share of covered out-of-support actions whose true E[Y | do(A = a)] lies "
        "in the band, pooled over seeds; width: the median width of the band there. Errors: MSE over "
        "all out-of-support actions, medians of the per-seed ratios. Produced by "
        "`python -m benchmarks.bench_rep4ex_intervals` (see its docstring).",
        "",
        "| setting | seeds | coverage, 4 refits | coverage, 3 refits | median width | MSE point / matched "
        "| bias-corrected / matched | MLP Y~A MSE | Rep4Ex MSE | fit s (1 thread, with refits) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for setting, entry in summary.items():
        if setting == "warning":
            continue
        lines.append(
            f"| {setting} | {len(entry['seeds'])} | {_f(entry['coverage_4'], 2)} | {_f(entry['coverage_3'], 2)} | "
            f"{_f(entry['width_4'], 3)} | {_f(entry['point_over_matched'], 2)} | "
            f"{_f(entry['corrected_over_matched'], 2)} | {_f(entry['mse_mlp'], 4)} | {_f(entry['mse_point'], 4)} | "
            f"{_f(entry['fit_s'], 0)} |"
        )
    settings = {k: v for k, v in summary.items() if k != "warning"}
    low = [k for k, v in settings.items() if v["coverage_4"] is not None and v["coverage_4"] < 0.8]
    w = summary["warning"]
    main = settings.get("benchmark")
    lines += [
        "",
        "Targets:",
        "",
        f"- coverage >= 0.8 with 4 refits on every setting: {'met' if not low else 'not met on ' + ', '.join(low)};",
        f"- point estimate <= 5x the matched oracle on the benchmark setting: "
        f"{_f(main and main['point_over_matched'], 2)}, "
        f"{'met' if main and main['point_over_matched'] <= 5 else 'not met'} "
        "(the point estimate is the fit's own prediction; the bootstrap's bias correction was worse on every "
        "setting, see the table);",
        f"- the warning fires on >= 80% of the fits >= 10x the matched oracle ({w['bad_warned']}/{w['bad_fits']}), "
        f"on <= 20% of those within 3x ({w['good_warned']}/{w['good_fits']}), and on every fit worse than the "
        f"MLP of Y on A ({w['worse_than_mlp_warned']}/{w['worse_than_mlp']});",
        f"- seeds per setting: {', '.join(k + ' ' + str(len(v['seeds'])) for k, v in settings.items())} (5 asked for).",
    ]
    lines += [
        "",
        f"How much rides on the band's margin (the factor over its bootstrap calibration, {MARGIN:g} in the "
        "estimator, set before these fits): coverage with 4 refits at other margins, on the same fits.",
        "",
        "| setting | " + " | ".join(f"margin {m:g}" for m in MARGINS) + " |",
        "| --- |" + " ---: |" * len(MARGINS),
    ]
    for setting, entry in settings.items():
        cells = " | ".join(_f(entry["coverage_by_margin"][str(m)], 2) for m in MARGINS)
        lines.append(f"| {setting} | {cells} |")
    lines += ["", "Per fit (4 refits):", ""]
    lines += [
        "| setting | seed | in band | width | MSE / matched | MSE / MLP | refit error ratio | warned |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for setting, entry in summary.items():
        if setting == "warning":
            continue
        for s in entry["per_seed"]:
            lines.append(
                f"| {setting} | {s['seed']} | {s['hits']}/{s['n_covered']} | {_f(s['width'], 3)} | "
                f"{s['mse_point'] / s['mse_matched']:.2f} | {s['mse_point'] / s['mse_mlp']:.2f} | "
                f"{s['ratio']:.1f} | {'yes' if s['warned'] else 'no'} |"
            )
    w = summary["warning"]
    lines += [
        "",
        f"Warning: fired on {w['bad_warned']} of the {w['bad_fits']} fits whose error is >= 10x the matched "
        f"oracle, on {w['good_warned']} of the {w['good_fits']} within 3x, and on {w['worse_than_mlp_warned']} "
        f"of the {w['worse_than_mlp']} worse than the MLP of Y on A (the estimator's rule: the refits' "
        f"error one range beyond the data more than {w['threshold']:g} times their error at the training "
        "actions). Other thresholds on the same fits:",
        "",
        "| threshold | warned, >= 10x matched | warned, within 3x | warned, worse than the MLP |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for t, counts in w["by_threshold"].items():
        lines.append(
            f"| {t} | {counts['bad_warned']}/{w['bad_fits']} | {counts['good_warned']}/{w['good_fits']} | "
            f"{counts['worse_than_mlp_warned']}/{w['worse_than_mlp']} |"
        )
    lines.append("")
    if timing:
        lines += [
            f"Cost on {timing['cores']} cores (median of {timing['repeats']}): a default fit with its "
            f"refits {timing['with_refits_wall_s']:.0f} s wall (its refits run in worker processes whose "
            "CPU time this process cannot count), "
            f"a single fit (`n_bootstrap=0`) {timing['single_wall_s']:.0f} s wall "
            f"({timing['single_cpu_s']:.0f} CPU-s): {timing['ratio']:.1f}x.",
            "",
        ]
    lines += ["![Rep4Ex band](img/rep4ex_band.png)", ""]
    return "\n".join(lines)


def _f(x, digits):
    return "-" if x is None else f"{x:.{digits}f}"


def plot(row, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, key, label in zip(axes, ("axis", "diagonal"), ("a = (t, 0)", "a = (t, t)"), strict=True):
        point, refits = (np.asarray(v) for v in row["slices"][key])
        result = band(point, refits - point, np.asarray(row["probe_errors"]), LEVEL)
        ax.axvspan(-1, 1, color="0.92", label="training support")
        ax.fill_between(SLICE, result.lower, result.upper, color="C0", alpha=0.25, label="90% band")
        ax.plot(SLICE, row["truth_slices"][key], color="k", lw=2.2, label="truth")
        ax.plot(SLICE, point, color="C0", lw=1.8, label="Rep4Ex")
        ax.set_xlabel(f"t, {label}")
        ax.set_title(f"E[Y | do(A = a)], {row['setting']} setting, seed {row['seed']}")
    truth = np.concatenate([row["truth_slices"][key] for key in ("axis", "diagonal")])
    span = truth.max() - truth.min()
    axes[0].set_ylim(truth.min() - 1.5 * span, truth.max() + 1.5 * span)
    axes[0].legend(fontsize=8, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def time_fits(repeats=2):
    """A default fit with its refits on every core against a single fit, both on the benchmark setting."""
    data = simulators.rep4ex(n=N_SAMPLES, seed=0, **BASE).split(TEST_FRACTION, seed=0)[0]
    out = {}
    for name, extra in (("single", {"n_bootstrap": 0}), ("with_refits", {})):
        walls, cpus = [], []
        for _ in range(repeats):
            start, cpu = time.perf_counter(), _cpu()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                Rep4Ex(latent_dim=2, verbose=0, device="cpu", **extra).fit(data)
            walls.append(time.perf_counter() - start)
            cpus.append(_cpu() - cpu)
        out[f"{name}_wall_s"], out[f"{name}_cpu_s"] = statistics.median(walls), statistics.median(cpus)
    out.update(cores=os.cpu_count(), repeats=repeats, ratio=out["with_refits_wall_s"] / out["single_wall_s"])
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default=",".join(RUNS))
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--time", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    PARTS.mkdir(parents=True, exist_ok=True)
    if args.time:
        (PARTS / "timing.json").write_text(json.dumps(time_fits(), indent=1))
        return
    if args.report:
        rows = [json.loads(p.read_text()) for p in sorted(PARTS.glob("*_seed*.json"))]
        timing_file = PARTS / "timing.json"
        timing = json.loads(timing_file.read_text()) if timing_file.exists() else None
        summary = summarise(rows)
        RESULTS.write_text(json.dumps({"summary": summary, "timing": timing}, indent=1))
        text = TABLE.read_text()
        text = text.split(SECTION)[0].rstrip("\n") + "\n\n" + markdown(summary, timing)
        TABLE.write_text(text)
        shown = [r for r in rows if r["setting"] == "benchmark" and r["slices"]]
        if shown:
            plot(shown[0], PLOT)
        print(json.dumps(summary, indent=1, default=str)[:4000])
        return
    for seed in map(int, args.seeds.split(",")):  # seeds outer: every setting gets its first seeds first
        for setting in args.settings.split(","):
            target = PARTS / f"{setting}_seed{seed}.json"
            if target.exists():
                continue
            row = run_seed(setting, seed)
            target.write_text(json.dumps(row))
            print(setting, seed, f"{row['fit_s']:.0f}s", row["extrapolation"], flush=True)


if __name__ == "__main__":
    main()
