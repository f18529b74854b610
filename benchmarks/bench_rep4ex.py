"""Intervention extrapolation with Rep4Ex on ``simulators.rep4ex``.

For each seed: draw 12,500 samples with actions on (-1, 1)^2, hold out 20%
(affine R2 of the representation is scored there), fit on the rest, and
predict E[Y | do(A = a)] on a 13 x 13 grid over (-3, 3)^2. The error is the
mean squared difference to the exact curve (``simulators.rep4ex_truth``) over
the grid points outside the training support (max |a_j| > 1), and inside it.

Methods:
- ``rep4ex``: ``causalrep.Rep4Ex`` with its default hyperparameters;
- ``mmr_only``: ``Rep4Ex(hsic_lambda=0)``, the paper's objective (MMR penalty only);
- ``oracle``: the same control-function stage fitted on the true latents Z;
- ``no_mmr``: ``Rep4Ex(mmr_lambda=0, hsic_lambda=0)``, the same pipeline on a plain autoencoder;
- ``mlp_y_on_a``: an MLP regressing Y on A (what one does without latents).

Writes benchmarks/results/rep4ex.json, docs/benchmarks_rep4ex.md, the plot
docs/img/rep4ex_extrapolation.png, and prints the markdown table.

Usage, from the repository root:
    python -m benchmarks.bench_rep4ex [--seeds 5] [--threads 2]
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
from causalrep.estimators.nets import MLP
from causalrep.estimators.training import TrainConfig, train
from causalrep.identifiability import affine_r2

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "rep4ex.json"
TABLE = ROOT / "docs" / "benchmarks_rep4ex.md"
PLOT = ROOT / "docs" / "img" / "rep4ex_extrapolation.png"

N_SAMPLES = 12_500
TEST_FRACTION = 0.2
SETTING = {"latent_dim": 2, "action_dim": 2, "obs_dim": 10, "mixing": "mlp",
           "outcome": "nonlinear", "confounding": 1.0, "action_support": (-1.0, 1.0)}
GRID = np.linspace(-3.0, 3.0, 13)
SLICE = np.linspace(-3.0, 3.0, 49)
METHODS = ("rep4ex", "mmr_only", "oracle", "no_mmr", "mlp_y_on_a")
TARGETS = {"affine_r2_min": 0.95, "oracle_ratio_max": 1.5, "baseline_ratio_min": 5.0}


def fit_action_regression(A, Y, seed, steps=3000):
    """MLP (64, 64) regressing Y on A with the shared training loop; returns a predictor."""
    a = torch.tensor(A, dtype=torch.float32)
    y = torch.tensor(Y, dtype=torch.float32)
    mean, scale = y.mean(), y.std()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = MLP(A.shape[1], 1, (64, 64))

    def loss(module, ab, yb):
        return {"mse": ((module(ab)[:, 0] - (yb - mean) / scale) ** 2).mean()}

    config = TrainConfig(max_steps=steps, batch_size=256, lr=3e-3, verbose=False)
    train(net, loss, (a, y), config, seed, torch.device("cpu"))

    @torch.no_grad()
    def predict(actions):
        out = net(torch.tensor(actions, dtype=torch.float32))[:, 0]
        return (out * scale + mean).numpy().astype(np.float64)

    return predict


def run_seed(seed):
    """Fit every method on one seed; errors, R2, times and the plotted slices."""
    data = simulators.rep4ex(n=N_SAMPLES, seed=seed, **SETTING)
    train_part, test_part = data.split(TEST_FRACTION, seed=seed)
    grid = np.array(np.meshgrid(GRID, GRID)).reshape(2, -1).T
    outside = np.abs(grid).max(axis=1) > 1
    slices = {"axis": np.c_[SLICE, np.zeros_like(SLICE)], "diagonal": np.c_[SLICE, SLICE]}
    truth = simulators.rep4ex_truth(data.meta, grid)
    row = {"seed": seed, "n_train": train_part.n,
           "truth_slices": {k: simulators.rep4ex_truth(data.meta, a).tolist()
                            for k, a in slices.items()}}
    predictors = {}
    variants = {"rep4ex": {}, "mmr_only": {"hsic_lambda": 0.0}, "no_mmr": {"mmr_lambda": 0.0, "hsic_lambda": 0.0}}
    for name, params in variants.items():
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est = Rep4Ex(latent_dim=2, seed=seed, verbose=0, device="cpu", **params).fit(train_part)
        row[f"{name}_fit_s"] = time.perf_counter() - start
        row[f"{name}_affine_r2"] = affine_r2(test_part.Z, est.transform(test_part.X)).mean
        row[f"{name}_warned"] = any("nonlinearly" in str(w.message) for w in caught)
        row[f"{name}_diagnostics"] = est.diagnostics_
        predictors[name] = est.predict_interventional
    start = time.perf_counter()
    predictors["oracle"] = ControlFunction(seed=seed).fit(
        train_part.Z, train_part.A, train_part.Y).predict_interventional
    row["oracle_fit_s"] = time.perf_counter() - start
    start = time.perf_counter()
    predictors["mlp_y_on_a"] = fit_action_regression(train_part.A, train_part.Y, seed)
    row["mlp_y_on_a_fit_s"] = time.perf_counter() - start
    for name in METHODS:
        predicted = predictors[name](grid)
        row[f"{name}_mse_out"] = float(((predicted - truth)[outside] ** 2).mean())
        row[f"{name}_mse_in"] = float(((predicted - truth)[~outside] ** 2).mean())
        row[f"{name}_slices"] = {k: predictors[name](a).tolist() for k, a in slices.items()}
        far = np.abs(SLICE) > 1
        row[f"{name}_mse_out_lines"] = float(np.mean([
            ((np.asarray(row[f"{name}_slices"][k]) - row["truth_slices"][k])[far] ** 2).mean()
            for k in slices]))
    return row


def summarise(rows):
    med = lambda key: statistics.median(r[key] for r in rows)  # noqa: E731
    summary = {f"{m}_{k}": med(f"{m}_{k}") for m in METHODS
               for k in ("mse_out", "mse_in", "mse_out_lines", "fit_s")}
    for m in ("rep4ex", "mmr_only", "no_mmr"):
        summary[f"{m}_affine_r2"] = med(f"{m}_affine_r2")
    ratios = {
        "rep4ex_over_oracle": [r["rep4ex_mse_out"] / r["oracle_mse_out"] for r in rows],
        "mlp_over_rep4ex": [r["mlp_y_on_a_mse_out"] / r["rep4ex_mse_out"] for r in rows],
        "mlp_over_rep4ex_lines": [r["mlp_y_on_a_mse_out_lines"] / r["rep4ex_mse_out_lines"]
                                  for r in rows],
        "rep4ex_over_oracle_lines": [r["rep4ex_mse_out_lines"] / r["oracle_mse_out_lines"]
                                     for r in rows],
        "no_mmr_over_rep4ex": [r["no_mmr_mse_out"] / r["rep4ex_mse_out"] for r in rows],
        "mmr_only_over_rep4ex": [r["mmr_only_mse_out"] / r["rep4ex_mse_out"] for r in rows],
    }
    summary.update({f"median_{k}": statistics.median(v) for k, v in ratios.items()})
    summary["targets_met"] = {
        "affine_r2": summary["rep4ex_affine_r2"] >= TARGETS["affine_r2_min"],
        "within_1.5x_oracle": summary["median_rep4ex_over_oracle"] <= TARGETS["oracle_ratio_max"],
        "5x_below_mlp": summary["median_mlp_over_rep4ex"] >= TARGETS["baseline_ratio_min"],
        "5x_below_no_mmr": summary["median_no_mmr_over_rep4ex"] >= TARGETS["baseline_ratio_min"],
    }
    return summary, ratios


def markdown(rows, summary, threads):
    names = {"rep4ex": "Rep4Ex (default: MMR + HSIC)", "mmr_only": "Rep4Ex, hsic_lambda=0 (MMR only)",
             "oracle": "control function on true Z (oracle)",
             "no_mmr": "plain autoencoder, mmr_lambda=0, hsic_lambda=0", "mlp_y_on_a": "MLP of Y on A"}
    lines = [
        "## Rep4Ex: intervention extrapolation",
        "",
        f"`simulators.rep4ex` (d=2 latents, 2 actions on (-1, 1), 10-d MLP mixing, "
        f"sin outcome, confounding 1), {rows[0]['n_train']} training samples, "
        f"{len(rows)} seeds. MSE of E[Y | do(A=a)] on a 13 x 13 grid over (-3, 3)^2, "
        "split into points outside the training support (max |a_j| > 1) and inside; "
        "'lines' is the MSE outside the support along the two plotted lines a = (t, 0) "
        "and a = (t, t), t in (-3, 3), which stay closer to the data than the grid's corners. "
        f"Medians over seeds; fit times on CPU with {threads} torch thread(s), "
        "on a machine shared with other jobs. Produced by `python -m benchmarks.bench_rep4ex`.",
        "",
        "| method | MSE outside, grid | MSE outside, lines | MSE inside | affine R2 (held out) | fit s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in METHODS:
        r2 = summary.get(f"{m}_affine_r2")
        r2 = "1 (true Z)" if m == "oracle" else ("-" if r2 is None else f"{r2:.3f}")
        lines.append(f"| {names[m]} | {summary[f'{m}_mse_out']:.4f} "
                     f"| {summary[f'{m}_mse_out_lines']:.4f} | {summary[f'{m}_mse_in']:.4f} "
                     f"| {r2} | {summary[f'{m}_fit_s']:.1f} |")
    lines += [
        "",
        "Per seed, MSE outside the support, and affine R2:",
        "",
        "| seed | Rep4Ex | MMR only | oracle | plain AE | MLP Y~A | R2 Rep4Ex | R2 MMR only "
        "| R2 plain AE |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['rep4ex_mse_out']:.4f} | {r['mmr_only_mse_out']:.4f} | "
                     f"{r['oracle_mse_out']:.4f} | {r['no_mmr_mse_out']:.4f} | "
                     f"{r['mlp_y_on_a_mse_out']:.4f} | {r['rep4ex_affine_r2']:.3f} | "
                     f"{r['mmr_only_affine_r2']:.3f} | {r['no_mmr_affine_r2']:.3f} |")
    met = summary["targets_met"]
    lines += [
        "",
        f"Median ratios: Rep4Ex / oracle = {summary['median_rep4ex_over_oracle']:.1f} "
        f"(target <= 1.5: {'met' if met['within_1.5x_oracle'] else 'not met'}); "
        f"MLP of Y on A / Rep4Ex = {summary['median_mlp_over_rep4ex']:.1f} "
        f"(target >= 5: {'met' if met['5x_below_mlp'] else 'not met'}); "
        f"plain autoencoder / Rep4Ex = {summary['median_no_mmr_over_rep4ex']:.1f} "
        f"(target >= 5: {'met' if met['5x_below_no_mmr'] else 'not met'}); "
        f"affine R2 >= 0.95: {'met' if met['affine_r2'] else 'not met'}. "
        f"MMR only / Rep4Ex = {summary['median_mmr_only_over_rep4ex']:.1f} (what the "
        "HSIC term adds).",
        "",
        "![Rep4Ex extrapolation](img/rep4ex_extrapolation.png)",
        "",
    ]
    return "\n".join(lines)


def plot(row, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {"rep4ex": ("Rep4Ex", "C0", "-"), "mmr_only": ("Rep4Ex, MMR only", "C4", (0, (5, 1))),
              "oracle": ("oracle (true Z)", "C2", "--"),
              "no_mmr": ("plain autoencoder", "C1", "-."), "mlp_y_on_a": ("MLP of Y on A", "C3", ":")}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, key, label in zip(axes, ("axis", "diagonal"), ("a = (t, 0)", "a = (t, t)")):
        ax.axvspan(-1, 1, color="0.9", label="training support")
        ax.plot(SLICE, row["truth_slices"][key], color="k", lw=2.5, label="truth")
        for m, (name, color, ls) in styles.items():
            ax.plot(SLICE, row[f"{m}_slices"][key], color=color, ls=ls, lw=1.8, label=name)
        ax.set_xlabel(f"t, {label}")
        ax.set_title(f"E[Y | do(A = a)], seed {row['seed']}")
    truth = np.concatenate([row["truth_slices"][k] for k in ("axis", "diagonal")])
    span = truth.max() - truth.min()
    axes[0].set_ylim(truth.min() - span, truth.max() + span)
    axes[0].legend(fontsize=8, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for seed in range(args.seeds):
        rows.append(run_seed(seed))
        r = rows[-1]
        print(f"seed {seed}: " + ", ".join(f"{m} {r[f'{m}_mse_out']:.4f}" for m in METHODS)
              + f"; R2 {r['rep4ex_affine_r2']:.3f}", flush=True)
    summary, ratios = summarise(rows)
    report = {
        "benchmark": "Rep4Ex intervention extrapolation on simulators.rep4ex",
        "setting": {**SETTING, "n": N_SAMPLES, "test_fraction": TEST_FRACTION,
                    "grid": [float(GRID[0]), float(GRID[-1]), len(GRID)]},
        "targets": TARGETS,
        "summary": summary,
        "ratios": ratios,
        "per_seed": [{k: v for k, v in r.items() if not k.endswith("slices")} for r in rows],
        "statistic": "median over seeds",
        "torch_threads": args.threads,
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(rows, summary, args.threads)
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_text(table)
    plot(rows[0], PLOT)
    print(table)


if __name__ == "__main__":
    main()
