"""Intervention extrapolation with Rep4Ex on ``simulators.rep4ex``, against honest references.

For each setting and seed: draw 12,500 samples with actions on (-1, 1)^k, hold
out 20% (affine R2 of a representation is scored there), fit on the rest and
predict E[Y | do(A = a)] for actions outside the training support: a 13 x 13
grid over (-3, 3)^2 without its central square for k = 2, 300 uniform draws
from (-3, 3)^3 with max |a_j| > 1 for k = 3. The error is the mean squared
difference to the exact curve (``simulators.rep4ex_truth``). "Covered" is the
same error over the actions where at least half of the oracle's latent points
M a + V lie inside the training latents (``ControlFunction.coverage``): where
the data say something about the answer.

Methods (one control function, ``causalrep.estimators.ControlFunction``, on each representation):
- ``rep4ex``: ``causalrep.Rep4Ex`` at its defaults, one fit (``n_bootstrap=0``: the bands are
  measured by ``benchmarks.bench_rep4ex_intervals``);
- ``oracle``: the true latents Z;
- ``matched``: the best affine image of Z in Rep4Ex's coordinates (least squares of
  Rep4Ex's representation on [1, Z]): what a perfectly affine representation would
  give, with the same coordinates;
- ``supervised``: Rep4Ex's encoder architecture, steps, batch and learning rate,
  trained by least squares on the true (standardised) Z: the ceiling of the
  encoder class;
- ``autoencoder``: ``Rep4Ex(mmr_lambda=0, hsic_lambda=0)``, the same pipeline without
  the invariance penalties;
- ``mlp_y_on_a``: an MLP (64, 64) regressing Y on A, what one does without latents;
- on the benchmark setting also ``rep4ex_large`` and ``supervised_large``, the same
  with an encoder of (128, 128, 128).

Writes benchmarks/results/rep4ex_extrapolation/<setting>.json per setting; ``--report`` gathers
them into benchmarks/results/rep4ex.json, docs/benchmarks_rep4ex.md and the plot
docs/img/rep4ex_extrapolation.png. Every fit uses one torch thread; ``--time``
measures the default fit on 2 threads (median of 3, wall and CPU seconds).

Usage, from the repository root (two processes share the settings on 2 cores):
    python -m benchmarks.bench_rep4ex --settings benchmark,linear_outcome &
    python -m benchmarks.bench_rep4ex --settings three_latents,polynomial_mixing; wait
    python -m benchmarks.bench_rep4ex --time
    python -m benchmarks.bench_rep4ex --report
"""

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import simulators
from causalrep import Rep4Ex
from causalrep.estimators import ControlFunction
from causalrep.estimators._core.nets import MLP, Standardizer
from causalrep.estimators._core.training import TrainConfig, train
from causalrep.identifiability import affine_r2

ROOT = Path(__file__).resolve().parent.parent
PARTS = ROOT / "benchmarks" / "results" / "rep4ex_extrapolation"
RESULTS = ROOT / "benchmarks" / "results" / "rep4ex.json"
TABLE = ROOT / "docs" / "benchmarks_rep4ex.md"
PLOT = ROOT / "docs" / "img" / "rep4ex_extrapolation.png"

N_SAMPLES = 12_500
TEST_FRACTION = 0.2
BASE = {
    "latent_dim": 2,
    "action_dim": 2,
    "obs_dim": 10,
    "mixing": "mlp",
    "outcome": "nonlinear",
    "confounding": 1.0,
    "action_support": (-1.0, 1.0),
}
SETTINGS = {
    "benchmark": BASE,
    "three_latents": {**BASE, "latent_dim": 3, "action_dim": 3, "obs_dim": 15},
    "linear_outcome": {**BASE, "outcome": "linear"},
    "polynomial_mixing": {**BASE, "mixing": "polynomial"},
}
LARGE = (128, 128, 128)
MLP_STEPS = 3000
GRID = np.linspace(-3.0, 3.0, 13)
SLICE = np.linspace(-3.0, 3.0, 49)
TARGETS = {"matched_ratio_max": 3.0, "supervised_ratio_max": 1.5, "baseline_ratio_min": 10.0}
NAMES = {
    "rep4ex": "Rep4Ex (defaults)",
    "oracle": "true Z (oracle)",
    "matched": "affine image of Z in Rep4Ex's coordinates (matched oracle)",
    "supervised": "Rep4Ex's encoder trained on Z (supervised ceiling)",
    "autoencoder": "plain autoencoder (no penalties)",
    "mlp_y_on_a": "MLP of Y on A",
    "rep4ex_large": "Rep4Ex, encoder (128, 128, 128)",
    "supervised_large": "encoder (128, 128, 128) trained on Z",
}


def actions_outside(k, seed=0):
    """Evaluation actions outside the training support (-1, 1)^k."""
    if k == 2:
        grid = np.array(np.meshgrid(GRID, GRID)).reshape(2, -1).T
        return grid[np.abs(grid).max(axis=1) > 1]
    draws = np.random.default_rng(seed).uniform(-3, 3, (3000, k))
    return draws[np.abs(draws).max(axis=1) > 1][:300]


def fit_mlp(inputs, targets, hidden, steps, batch_size, lr, seed):
    """An MLP regressing standardised ``targets`` on standardised ``inputs`` with the
    shared training loop; returns a numpy predictor in the targets' units."""
    x = torch.tensor(inputs, dtype=torch.float64)
    y = torch.tensor(np.asarray(targets, dtype=np.float64).reshape(len(inputs), -1))
    y_mean, y_scale = y.mean(0), y.std(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        scaler = Standardizer(x.shape[1])
        scaler.fit(x)
        net = torch.nn.Sequential(scaler, MLP(x.shape[1], y.shape[1], hidden, skip=True))
    yt = ((y - y_mean) / y_scale).float()

    def loss(module, xb, yb):
        return {"mse": ((module(xb) - yb) ** 2).mean()}

    config = TrainConfig(max_steps=steps, batch_size=batch_size, lr=lr, verbose=False, patience=steps)
    train(net, loss, (x, yt), config, seed, torch.device("cpu"))

    @torch.no_grad()
    def predict(new):
        out = net(torch.tensor(new, dtype=torch.float64)).double() * y_scale + y_mean
        return out.numpy()

    return predict


def run_seed(setting, seed):
    """Every method on one seed of one setting: errors, R2, times, plotted slices."""
    params = SETTINGS[setting]
    d, k = params["latent_dim"], params["action_dim"]
    data = simulators.rep4ex(n=N_SAMPLES, seed=seed, **params)
    train_part, test_part = data.split(TEST_FRACTION, seed=seed)
    actions = actions_outside(k, seed)
    truth = simulators.rep4ex_truth(data.meta, actions)
    slices = {"axis": np.c_[SLICE, np.zeros_like(SLICE)], "diagonal": np.c_[SLICE, SLICE]} if k == 2 else {}
    row = {
        "setting": setting,
        "seed": seed,
        "n_train": train_part.n,
        "truth_slices": {key: simulators.rep4ex_truth(data.meta, a).tolist() for key, a in slices.items()},
    }
    reps = {}
    variants = {"rep4ex": {}, "autoencoder": {"mmr_lambda": 0.0, "hsic_lambda": 0.0}}
    if setting == "benchmark":
        variants["rep4ex_large"] = {"hidden": LARGE}
    for name, extra in variants.items():
        est = Rep4Ex(latent_dim=d, seed=seed, verbose=0, device="cpu", n_threads=1, n_bootstrap=0, **extra)
        start, cpu = time.perf_counter(), time.process_time()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est.fit(train_part)
        row[f"{name}_fit_s"] = time.perf_counter() - start
        row[f"{name}_fit_cpu_s"] = time.process_time() - cpu
        row[f"{name}_affine_r2"] = affine_r2(test_part.Z, est.transform(test_part.X)).mean
        row[f"{name}_warnings"] = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
        row[f"{name}_diagnostics"] = est.diagnostics_
        reps[name] = est.transform(train_part.X)
        if name == "rep4ex":
            row["rep4ex_coverage"] = est.extrapolation_coverage(actions).tolist()
            defaults = est
    design = np.c_[np.ones(train_part.n), train_part.Z]
    reps["matched"] = design @ np.linalg.lstsq(design, reps["rep4ex"], rcond=None)[0]
    reps["oracle"] = train_part.Z
    for name, hidden in (("supervised", tuple(defaults.hidden)), ("supervised_large", LARGE)):
        if name == "supervised_large" and setting != "benchmark":
            continue
        start, cpu = time.perf_counter(), time.process_time()
        encoder = fit_mlp(
            train_part.X, train_part.Z, hidden, defaults.max_steps, defaults.batch_size, defaults.lr, seed
        )
        row[f"{name}_fit_s"] = time.perf_counter() - start
        row[f"{name}_fit_cpu_s"] = time.process_time() - cpu
        row[f"{name}_affine_r2"] = affine_r2(test_part.Z, encoder(test_part.X)).mean
        reps[name] = encoder(train_part.X)
    predictors = {}
    for name, rep in reps.items():
        control = ControlFunction(seed=seed).fit(rep, train_part.A, train_part.Y)
        predictors[name] = control.predict_interventional
        if name == "oracle":
            covered = control.coverage(actions) >= 0.5
    start, cpu = time.perf_counter(), time.process_time()
    mlp = fit_mlp(train_part.A, train_part.Y, (64, 64), MLP_STEPS, 256, 3e-3, seed)
    predictors["mlp_y_on_a"] = lambda a: mlp(a)[:, 0]
    row["mlp_y_on_a_fit_s"] = time.perf_counter() - start
    row["mlp_y_on_a_fit_cpu_s"] = time.process_time() - cpu
    row["n_actions"], row["n_covered"] = int(len(actions)), int(covered.sum())
    for name, predict in predictors.items():
        error = (predict(actions) - truth) ** 2
        row[f"{name}_mse_out"] = float(error.mean())
        row[f"{name}_mse_covered"] = float(error[covered].mean()) if covered.any() else None
        row[f"{name}_slices"] = {key: predict(a).tolist() for key, a in slices.items()}
    return row


def ratio(rows, top, bottom, key="mse_out"):
    return [
        r[f"{top}_{key}"] / r[f"{bottom}_{key}"]
        for r in rows
        if r.get(f"{top}_{key}") is not None and r.get(f"{bottom}_{key}")
    ]


def summarise(rows):
    """Medians over seeds of every error and time, and the per-seed ratios."""
    methods = [m for m in NAMES if f"{m}_mse_out" in rows[0]]
    med = lambda values: statistics.median(values) if values else None  # noqa: E731
    summary = {}
    for m in methods:
        for key in ("mse_out", "mse_covered", "fit_s", "fit_cpu_s", "affine_r2"):
            values = [r[f"{m}_{key}"] for r in rows if r.get(f"{m}_{key}") is not None]
            summary[f"{m}_{key}"] = med(values)
    pairs = {
        "rep4ex_over_matched": ("rep4ex", "matched"),
        "rep4ex_over_supervised": ("rep4ex", "supervised"),
        "rep4ex_over_oracle": ("rep4ex", "oracle"),
        "matched_over_oracle": ("matched", "oracle"),
        "supervised_over_oracle": ("supervised", "oracle"),
        "mlp_over_rep4ex": ("mlp_y_on_a", "rep4ex"),
        "autoencoder_over_rep4ex": ("autoencoder", "rep4ex"),
    }
    if "rep4ex_large" in methods:
        pairs.update(
            {
                "rep4ex_large_over_supervised_large": ("rep4ex_large", "supervised_large"),
                "supervised_large_over_oracle": ("supervised_large", "oracle"),
                "rep4ex_large_over_rep4ex": ("rep4ex_large", "rep4ex"),
            }
        )
    ratios = {}
    for name, (top, bottom) in pairs.items():
        ratios[name] = ratio(rows, top, bottom)
        ratios[f"{name}_covered"] = ratio(rows, top, bottom, "mse_covered")
    summary.update({f"median_{k}": med(v) for k, v in ratios.items()})
    summary["warned_fits"] = {
        m: sum(bool(r.get(f"{m}_warnings")) for r in rows)
        for m in ("rep4ex", "autoencoder", "rep4ex_large")
        if m in methods
    }
    return summary, ratios


def fmt(x, digits=4):
    return "-" if x is None else f"{x:.{digits}f}"


def markdown(report):
    lines = [
        "## Rep4Ex: intervention extrapolation",
        "",
        "`simulators.rep4ex` with 12,500 samples (10,000 to fit, 2,500 held out for affine R2), "
        f"actions on (-1, 1)^k, {report['seeds']} seeds per setting. Error: MSE of "
        "E[Y | do(A = a)] over actions outside the training support (k = 2: the 13 x 13 grid "
        "over (-3, 3)^2 without its central square; k = 3: 300 uniform draws from (-3, 3)^3). "
        "'Covered' restricts it to the actions where at least half of the oracle's latent "
        "points M a + V lie inside the training latents. Every method uses the same control "
        "function. Medians over seeds, fits on one torch thread. "
        "Produced by `python -m benchmarks.bench_rep4ex` (see its docstring).",
        "",
    ]
    lines += targets(report["settings"]) + [""]
    for setting, part in report["settings"].items():
        s, rows = part["summary"], part["per_seed"]
        methods = [m for m in NAMES if s.get(f"{m}_mse_out") is not None]
        lines += [
            f"### {setting}: {describe(SETTINGS[setting])}",
            "",
            "| method | MSE outside | MSE outside, covered | affine R2 (held out) | fit CPU s |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for m in methods:
            r2 = "1 (true Z)" if m in ("oracle", "matched") else fmt(s.get(f"{m}_affine_r2"), 3)
            lines.append(
                f"| {NAMES[m]} | {fmt(s[f'{m}_mse_out'])} | "
                f"{fmt(s[f'{m}_mse_covered'])} | {r2} | {fmt(s.get(f'{m}_fit_cpu_s'), 1)} |"
            )
        lines += [
            "",
            "Per seed, ratios of MSE outside (covered in brackets):",
            "",
            "| seed | Rep4Ex / matched | Rep4Ex / supervised | matched / oracle "
            "| MLP Y~A / Rep4Ex | autoencoder / Rep4Ex | R2 Rep4Ex | Rep4Ex warned |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in rows:
            cells = []
            for top, bottom in (
                ("rep4ex", "matched"),
                ("rep4ex", "supervised"),
                ("matched", "oracle"),
                ("mlp_y_on_a", "rep4ex"),
                ("autoencoder", "rep4ex"),
            ):
                out = r[f"{top}_mse_out"] / r[f"{bottom}_mse_out"]
                cov = (
                    r[f"{top}_mse_covered"] / r[f"{bottom}_mse_covered"]
                    if r[f"{top}_mse_covered"] is not None
                    else None
                )
                cells.append(f"{out:.2f} ({fmt(cov, 2)})")
            lines.append(
                f"| {r['seed']} | "
                + " | ".join(cells)
                + f" | {r['rep4ex_affine_r2']:.3f} | {'yes' if r['rep4ex_warnings'] else 'no'} |"
            )
        lines += [
            "",
            "Medians of the per-seed ratios: "
            + "; ".join(
                f"{k[7:].replace('_over_', ' / ')} {fmt(v, 2)}"
                for k, v in s.items()
                if k.startswith("median_") and not k.endswith("_covered")
            )
            + ". Covered: "
            + "; ".join(
                f"{k[7:-8].replace('_over_', ' / ')} {fmt(v, 2)}"
                for k, v in s.items()
                if k.startswith("median_") and k.endswith("_covered")
            )
            + ".",
            "",
        ]
    timing = report.get("timing")
    if timing:
        lines += [
            f"Default fit on the benchmark setting with {timing['threads']} torch threads "
            f"({timing['cpu_count']} cores): {timing['wall_s']:.1f} s wall, "
            f"{timing['cpu_s']:.1f} CPU-s (median of {timing['repeats']}).",
            "",
        ]
    lines += ["![Rep4Ex extrapolation](img/rep4ex_extrapolation.png)", ""]
    return "\n".join(lines)


def targets(settings):
    """The issue's targets, each with the median it is judged on, met or not."""
    checks = []
    main = settings.get("benchmark", {}).get("summary")
    if main:
        checks += [
            (
                "Rep4Ex <= 3x the matched oracle (benchmark)",
                main["median_rep4ex_over_matched"],
                main["median_rep4ex_over_matched"] <= TARGETS["matched_ratio_max"],
            ),
            (
                "Rep4Ex <= 1.5x the supervised ceiling (benchmark)",
                main["median_rep4ex_over_supervised"],
                main["median_rep4ex_over_supervised"] <= TARGETS["supervised_ratio_max"],
            ),
            (
                "MLP of Y on A >= 10x Rep4Ex (benchmark)",
                main["median_mlp_over_rep4ex"],
                main["median_mlp_over_rep4ex"] >= TARGETS["baseline_ratio_min"],
            ),
            (
                "plain autoencoder >= 10x Rep4Ex (benchmark)",
                main["median_autoencoder_over_rep4ex"],
                main["median_autoencoder_over_rep4ex"] >= TARGETS["baseline_ratio_min"],
            ),
        ]
    for name in ("three_latents", "linear_outcome"):
        part = settings.get(name, {}).get("summary")
        if part:
            checks.append(
                (
                    f"MLP of Y on A >= 1x Rep4Ex ({name})",
                    part["median_mlp_over_rep4ex"],
                    part["median_mlp_over_rep4ex"] >= 1.0,
                )
            )
    return ["Targets (medians of the per-seed ratios of MSE outside):", ""] + [
        f"- {label}: {value:.2f}, {'met' if met else 'not met'}" for label, value, met in checks
    ]


def describe(params):
    return (
        f"d = {params['latent_dim']} latents, k = {params['action_dim']} actions, "
        f"{params['obs_dim']}-d {params['mixing']} mixing, {params['outcome']} outcome"
    )


def plot(row, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {
        "rep4ex": ("C0", "-"),
        "matched": ("C2", "--"),
        "supervised": ("C4", (0, (5, 1))),
        "autoencoder": ("C1", "-."),
        "mlp_y_on_a": ("C3", ":"),
    }
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, key, label in zip(axes, ("axis", "diagonal"), ("a = (t, 0)", "a = (t, t)"), strict=True):
        ax.axvspan(-1, 1, color="0.9", label="training support")
        ax.plot(SLICE, row["truth_slices"][key], color="k", lw=2.5, label="truth")
        for m, (color, ls) in styles.items():
            ax.plot(SLICE, row[f"{m}_slices"][key], color=color, ls=ls, lw=1.8, label=NAMES[m])
        ax.set_xlabel(f"t, {label}")
        ax.set_title(f"E[Y | do(A = a)], benchmark setting, seed {row['seed']}")
    truth = np.concatenate([row["truth_slices"][k] for k in ("axis", "diagonal")])
    span = truth.max() - truth.min()
    axes[0].set_ylim(truth.min() - span, truth.max() + span)
    axes[0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_settings(names, seeds):
    for setting in names:
        rows = []
        for seed in range(seeds):
            rows.append(run_seed(setting, seed))
            r = rows[-1]
            print(
                f"{setting} seed {seed}: "
                + ", ".join(f"{m} {r[f'{m}_mse_out']:.4f}" for m in NAMES if f"{m}_mse_out" in r),
                flush=True,
            )
        PARTS.mkdir(parents=True, exist_ok=True)
        (PARTS / f"{setting}.json").write_text(
            json.dumps(
                {
                    "setting": setting,
                    "params": SETTINGS[setting],
                    "rows": rows,
                    "load_average_1min": os.getloadavg()[0],
                },
                indent=1,
            )
            + "\n"
        )


def time_default(threads=2, repeats=3):
    data = simulators.rep4ex(n=N_SAMPLES, seed=0, **BASE).split(TEST_FRACTION, seed=0)[0]
    walls, cpus = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Rep4Ex(latent_dim=2, verbose=0, device="cpu", n_threads=threads, n_bootstrap=0).fit(data)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    timing = {
        "threads": threads,
        "repeats": repeats,
        "wall_s": statistics.median(walls),
        "cpu_s": statistics.median(cpus),
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
    }
    PARTS.mkdir(parents=True, exist_ok=True)
    (PARTS / "timing.json").write_text(json.dumps(timing, indent=1) + "\n")
    print(timing)


def report():
    settings, seeds = {}, None
    for name in SETTINGS:
        path = PARTS / f"{name}.json"
        if not path.exists():
            continue
        rows = json.loads(path.read_text())["rows"]
        seeds = len(rows)
        summary, ratios = summarise(rows)
        settings[name] = {
            "params": SETTINGS[name],
            "summary": summary,
            "ratios": ratios,
            "per_seed": [{k: v for k, v in r.items() if not k.endswith("slices")} for r in rows],
        }
        if name == "benchmark":
            plot(rows[0], PLOT)
    timing = PARTS / "timing.json"
    out = {
        "benchmark": "Rep4Ex intervention extrapolation on simulators.rep4ex",
        "n": N_SAMPLES,
        "test_fraction": TEST_FRACTION,
        "seeds": seeds,
        "targets": TARGETS,
        "statistic": "median over seeds",
        "torch_threads": 1,
        "settings": settings,
        "timing": json.loads(timing.read_text()) if timing.exists() else None,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    TABLE.write_text(markdown(out))
    print(TABLE.read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--time", action="store_true", help="time the default fit on 2 threads")
    parser.add_argument("--report", action="store_true", help="gather the parts and write docs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.report:
        report()
    elif args.time:
        time_default()
    else:
        run_settings(args.settings.split(","), args.seeds)


if __name__ == "__main__":
    main()
