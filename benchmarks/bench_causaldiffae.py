"""CausalDiffAE on the pendulum and morpho-digits scenes, against a baseline without causal layer.

Usage:
    python benchmarks/bench_causaldiffae.py [--seed 0] [--device cpu] [--threads 1]
                                            [--scale 1.0] [--report-only]

For each scene: fit CausalDiffAE (the scene's DAG) and the same model with an
empty graph (a label-conditioned diffusion autoencoder: an intervention moves
only the variable it names) on simulated images, then on held-out images

- MCC and DCI of the latents against the true variables;
- for a do-intervention on each variable in turn, the pixel MSE between the
  generated counterfactual and the TRUE counterfactual (the simulator replays
  the sample's exogenous noise under the intervention), next to the MSE of
  leaving the image unchanged;
- the variables read off the generated counterfactuals by a small CNN trained
  on other simulator images: the intervened variable should take its new
  value, its descendants their true counterfactual values, and the other
  variables should stay put (errors in units of each variable's standard
  deviation; the same reader on the true counterfactuals gives the floor);
- the CPU time (``time.process_time``) and wall-clock time of each fit.

The models run at the estimator's defaults (training and DDIM), so that the
page describes what a user gets.

The value of a root's intervention is another test sample's value; the value of
a child's is the one it would take with another sample's noise, so every
intervened scene stays inside the support the models were trained on.

Writes benchmarks/results/causaldiffae.json, docs/benchmarks_causaldiffae.md
and docs/img/causaldiffae_counterfactuals.png. ``--scale`` multiplies the sample
sizes and training steps (0.1 for a smoke run); ``--report-only`` rewrites the
markdown from the JSON.
"""

import argparse
import inspect
import json
import os
import platform
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import torch
from torch import nn

import causalrep
from causalrep import CausalDiffAE
from causalrep.estimators._core.training import TrainConfig, train
from causalrep.identifiability import dci, mcc
from simulators import (
    morpho_counterfactual,
    morpho_digits,
    pendulum,
    pendulum_counterfactual,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "causaldiffae.json"
REPORT = ROOT / "docs" / "benchmarks_causaldiffae.md"
FIGURE = ROOT / "docs" / "img" / "causaldiffae_counterfactuals.png"

SCENES = {
    "pendulum": dict(size=32, n_train=3000, n_test=500, n_cf=100),
    "morpho_digits": dict(size=16, n_train=3000, n_test=500, n_cf=100),
}
MODEL = {
    name: CausalDiffAE().get_params()[name]
    for name in ("channels", "batch_size", "max_steps", "lr", "prediction", "diffusion_steps")
}
DDIM = {name: inspect.signature(CausalDiffAE.counterfactual).parameters[name].default for name in ("steps", "refine")}
READER_STEPS = 800


class Scene:
    """One simulator: sampling, true counterfactuals, variable names, graph."""

    def __init__(self, name, size):
        self.name, self.size = name, size

    def sample(self, n, seed):
        if self.name == "pendulum":
            return pendulum(n, size=self.size, seed=seed)
        return morpho_digits(n, size=self.size, seed=seed)

    def truth(self, data, index, noise, do):
        labels = data.Z[index]
        if self.name == "pendulum":
            return pendulum_counterfactual(labels, noise, do, size=self.size)
        digits = np.asarray(data.meta["digit"])[index]
        return morpho_counterfactual(labels, noise, digits, do, size=self.size)


class Reader(nn.Module):
    """Small CNN from an image to its (standardised) variables."""

    def __init__(self, size, d):
        super().__init__()
        self.size = size
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 4, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv2d(16, 32, 4, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.SiLU(),
            nn.Flatten(),
            nn.Linear(32 * (size // 4) ** 2, 64),
            nn.SiLU(),
            nn.Linear(64, d),
        )

    def forward(self, x):
        return self.net(x.view(-1, 1, self.size, self.size))


def fit_reader(scene, seed, n):
    """Train the attribute reader on fresh simulator images; returns a function."""
    data = scene.sample(n, seed + 1000)
    mean, std = data.Z.mean(0), data.Z.std(0)
    x = torch.tensor(data.X, dtype=torch.float32)
    y = torch.tensor((data.Z - mean) / std, dtype=torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        reader = Reader(scene.size, data.Z.shape[1])
    train(
        reader,
        lambda m, xb, yb: {"mse": ((m(xb) - yb) ** 2).mean()},
        (x, y),
        TrainConfig(max_steps=READER_STEPS, batch_size=64, lr=2e-3, verbose=False),
        seed,
        torch.device("cpu"),
    )

    @torch.no_grad()
    def read(images):
        out = reader(torch.tensor(np.asarray(images), dtype=torch.float32)).numpy()
        return out * std + mean

    return read


def interventions(scene, data, index, rng):
    """One do per variable, with in-support values (see the module docstring)."""
    noise = np.asarray(data.meta["noise"])[index]
    plans = []
    for j, name in enumerate(data.meta["variables"]):
        swapped = noise.copy()
        swapped[:, j] = noise[rng.permutation(len(index)), j]
        if data.graph.in_degree(j) == 0:
            values = data.Z[index][rng.permutation(len(index)), j]
        else:
            values = scene.truth(data, index, swapped, {})[1][:, j]
        plans.append((name, j, values))
    return plans


def read_errors(read, images, j, values, factual, true_labels, graph, std):
    """Errors (in standard deviations) of the variables read off ``images``."""
    got = read(images)
    below = nx.descendants(graph, j)
    others = [k for k in range(len(std)) if k != j and k not in below]
    scaled = lambda a, b, cols: float(np.mean(np.abs(a[:, cols] - b[:, cols]) / std[cols]))  # noqa: E731
    return {
        "intervened": float(np.mean(np.abs(got[:, j] - values) / std[j])),
        "descendants": scaled(got, true_labels, sorted(below)) if below else None,
        "non_descendants": scaled(got, factual, others) if others else None,
    }


def evaluate(est, scene, test, index, plans, read, seconds, cpu_seconds):
    X, Z = test.X[index], test.Z[index]
    noise = np.asarray(test.meta["noise"])[index]
    std = test.Z.std(0)
    z = est.transform(test.X)
    m, scores = mcc(test.Z, z), dci(test.Z, z)
    x_T = est.invert(X, **DDIM)
    z_fact = est.transform(X)
    record = {
        "fit_seconds": seconds,
        "fit_cpu_seconds": cpu_seconds,
        "mcc": m.score,
        "mcc_per_latent": m.per_latent.tolist(),
        "dci_disentanglement": scores.disentanglement,
        "dci_completeness": scores.completeness,
        "dci_informativeness": scores.informativeness,
        "reconstruction_mse": float(np.mean((est.decode(x_T, z_fact, DDIM["steps"]) - X) ** 2)),
        "interventions": {},
    }
    images = {}
    for name, j, values in plans:
        true_images, true_labels = scene.truth(test, index, noise, {j: values})
        cf = est.decode(x_T, est.intervene(X, {j: values}), DDIM["steps"])
        images[name] = cf
        record["interventions"][name] = {
            "mse": float(np.mean((cf - true_images) ** 2)),
            "read": read_errors(read, cf, j, values, Z, true_labels, test.graph, std),
        }
    return record, images


def reference(scene, test, index, plans, read):
    """MSE of doing nothing, and the reader on the true counterfactuals."""
    X, Z = test.X[index], test.Z[index]
    noise = np.asarray(test.meta["noise"])[index]
    std = test.Z.std(0)
    out, images = {}, {}
    for name, j, values in plans:
        true_images, true_labels = scene.truth(test, index, noise, {j: values})
        images[name] = true_images
        out[name] = {
            "unchanged_mse": float(np.mean((X - true_images) ** 2)),
            "read_true": read_errors(read, true_images, j, values, Z, true_labels, test.graph, std),
            "read_unchanged": read_errors(read, X, j, values, Z, true_labels, test.graph, std),
        }
    return out, images


def run_scene(name, config, seed, device, scale):
    scene = Scene(name, config["size"])
    n_train = max(200, int(config["n_train"] * scale))
    train_data = scene.sample(n_train, seed)
    test = scene.sample(config["n_test"], seed + 1)
    index = np.arange(min(config["n_cf"], config["n_test"]))
    rng = np.random.default_rng(seed)
    plans = interventions(scene, test, index, rng)
    start = time.perf_counter()
    read = fit_reader(scene, seed, n_train)
    reader_seconds = time.perf_counter() - start
    test_read = read(test.X)
    reader_r2 = 1 - ((test_read - test.Z) ** 2).mean(0) / test.Z.var(0)
    refs, true_images = reference(scene, test, index, plans, read)
    steps = max(20, int(MODEL["max_steps"] * scale))
    d = test.Z.shape[1]
    models = {
        "CausalDiffAE": dict(),
        "no causal layer": dict(graph={"nodes": list(range(d)), "edges": []}),
    }
    records, generated = {}, {}
    for label, extra in models.items():
        est = CausalDiffAE(max_steps=steps, seed=seed, device=device, verbose=0, n_threads=None, **extra)
        start, cpu = time.perf_counter(), time.process_time()
        est.fit(train_data)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        records[label], generated[label] = evaluate(est, scene, test, index, plans, read, seconds, cpu)
        records[label]["device"] = str(est.device_)
        print(f"{name:>14} {label:>16}: MCC {records[label]['mcc']:.3f}, fit {seconds:.0f} s", flush=True)
    record = {
        "scene": name,
        **config,
        "n_train": n_train,
        "max_steps": steps,
        "seed": seed,
        "variables": test.meta["variables"],
        "edges": sorted(test.graph.edges),
        "reader_r2": reader_r2.tolist(),
        "reader_seconds": reader_seconds,
        "reference": refs,
        "models": records,
    }
    shown = {
        "original": test.X[index[:4]],
        **{f"{label} do({var})": generated[label][var][:4] for var in test.meta["variables"][:2] for label in models},
    }
    shown.update({f"true do({var})": true_images[var][:4] for var in test.meta["variables"][:2]})
    return record, shown


def figure(panels, path):
    """Rows: test images; columns: original, then per intervention both models and the truth."""
    rows = []
    for name, (size, shown) in panels.items():
        variables = [key[len("true do(") : -1] for key in shown if key.startswith("true do(")]
        columns = ["original"] + [
            f"{who} do({var})" for var in variables for who in ("CausalDiffAE", "no causal layer", "true")
        ]
        rows += [(name, size, shown, columns, r) for r in range(len(shown["original"]))]
    n_cols = len(rows[0][3])
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(1.25 * n_cols, 1.3 * len(rows)))
    for i, (name, size, shown, columns, r) in enumerate(rows):
        for c, key in enumerate(columns):
            ax = axes[i, c]
            ax.imshow(shown[key][r].reshape(size, size), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(key.replace(" do(", "\ndo(").replace("no causal layer", "no causal\nlayer"), fontsize=6)
            if c == 0:
                ax.set_ylabel(name if r == 0 else "", fontsize=7)
    fig.tight_layout(pad=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def fmt(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f}"


def findings(record):
    """Plain comparisons of the two models on this run's numbers, as bullets."""
    ours, base = record["models"]["CausalDiffAE"], record["models"]["no causal layer"]

    def split(values):
        better = [f"do({v})" for v, (a, b) in values.items() if a < b]
        worse = [f"do({v})" for v, (a, b) in values.items() if a >= b]
        return ", ".join(better) or "none", ", ".join(worse) or "none"

    mse = {v: (ours["interventions"][v]["mse"], base["interventions"][v]["mse"]) for v in record["variables"]}
    beats = [
        f"do({v})"
        for v in record["variables"]
        if ours["interventions"][v]["mse"] < record["reference"][v]["unchanged_mse"]
    ]
    descendants = {
        v: (ours["interventions"][v]["read"]["descendants"], base["interventions"][v]["read"]["descendants"])
        for v in record["variables"]
        if ours["interventions"][v]["read"]["descendants"] is not None
    }
    lower, higher = split(mse)
    lines = [
        f"- Pixel MSE: CausalDiffAE below the baseline on {lower}"
        + (f"; not below on {higher}" if higher != "none" else "")
        + f". CausalDiffAE below the unchanged original on {', '.join(beats) or 'none'}."
    ]
    if descendants:
        closer, farther = split(descendants)
        lines.append(
            "- Descendants read off the images: CausalDiffAE closer to their true "
            f"counterfactual values than the baseline on {closer}"
            + (f"; not closer on {farther}" if farther != "none" else "")
            + "."
        )
    return lines


def markdown(results):
    lines = [
        "# CausalDiffAE: counterfactual images against the simulator's truth",
        "",
        "Generated by `python benchmarks/bench_causaldiffae.py` "
        f"(seed {results['seed']}, torch threads {results['threads']}, {results['machine']}). "
        "Every number is measured on held-out images. The baseline is the same model with an "
        "empty graph: a label-conditioned diffusion autoencoder, in which an intervention moves "
        "only the variable it names. See the script's docstring for the protocol.",
        "",
        f"DDIM: {DDIM['steps']} steps, inversion with {DDIM['refine']} fixed-point refinements "
        f"per step. Model: the defaults, {results['model']}. Whole run: "
        f"{results['total_seconds']:.0f} s wall clock (1-minute load average "
        f"{results['load_average'][0]:.1f} at the end: other jobs shared the two cores, so the "
        "wall-clock times are upper bounds; CPU times hardly depend on it).",
        "",
    ]
    for record in results["scenes"]:
        lines += [
            f"## {record['scene']} ({record['size']}x{record['size']}, "
            f"{record['n_train']} training images, {record['max_steps']} steps)",
            "",
            f"Graph: {record['edges']}. Attribute reader R2 on test images: "
            + ", ".join(f"{v} {r:.3f}" for v, r in zip(record["variables"], record["reader_r2"], strict=True))
            + ".",
            "",
            "| model | MCC | DCI D | DCI C | DCI I | reconstruction MSE | fit CPU (s) | fit wall (s) | device |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for label, m in record["models"].items():
            lines.append(
                f"| {label} | {m['mcc']:.3f} | {m['dci_disentanglement']:.3f} | "
                f"{m['dci_completeness']:.3f} | {m['dci_informativeness']:.3f} | "
                f"{m['reconstruction_mse']:.5f} | {m['fit_cpu_seconds']:.0f} | "
                f"{m['fit_seconds']:.0f} | {m['device']} |"
            )
        lines += [
            "",
            "Counterfactuals: pixel MSE against the true counterfactual, and the "
            "variables read off the images (mean absolute error in standard deviations: "
            "the intervened variable against its new value, descendants against their true "
            "counterfactual values, the others against their factual values).",
            "",
            "| do on | images | pixel MSE | intervened | descendants | non-descendants |",
            "|---|---|---|---|---|---|",
        ]
        for var in record["variables"]:
            ref = record["reference"][var]
            rows = [
                ("true counterfactual", 0.0, ref["read_true"]),
                ("unchanged original", ref["unchanged_mse"], ref["read_unchanged"]),
            ]
            rows += [
                (label, m["interventions"][var]["mse"], m["interventions"][var]["read"])
                for label, m in record["models"].items()
            ]
            for who, mse, read in rows:
                lines.append(
                    f"| {var} | {who} | {mse:.5f} | {fmt(read['intervened'])} | "
                    f"{fmt(read['descendants'])} | {fmt(read['non_descendants'])} |"
                )
        lines += ["", *findings(record), ""]
    lines += [
        "![originals, counterfactuals of both models, true counterfactuals](img/causaldiffae_counterfactuals.png)",
        "",
        "## Reading the numbers",
        "",
        "- *unchanged original* is the counterfactual that changes nothing: a useful "
        "generator beats it on pixel MSE and on the intervened variable. *true "
        "counterfactual* shows the reader's own error, the floor of the last three columns.",
        "- The baseline keeps the descendants of an intervened variable at their factual "
        "latent values; the descendants column shows whether CausalDiffAE's propagation "
        "through the causal layer reaches the generated images. On interventions on a "
        "leaf both models change the same single latent.",
        "- The in-support interventions on a shadow variable move it by at most 0.06 scene "
        "units (2 pixels at 32x32): their pixel MSEs are of the order of the models' "
        "reconstruction error, and they mostly test that nothing else moves.",
        "- DCI uses linear regressors, and the variables here are strongly correlated "
        "(shadow_position with light: -0.91; intensity with thickness: 0.88), so small "
        "errors in the latents let the regression spread weight over several codes: DCI "
        "disentanglement stays well below 1 at an MCC near 1 (on the pendulum, adding "
        "noise of 3% of a standard deviation to the true variables already lowers it to "
        "about 0.88).",
        "- The digit's class is no latent of the morpho scene: only the inverted noise "
        "carries it, and a large change of thickness can redraw the digit as another "
        "one (see the figure).",
        "- These are small networks trained for one or two minutes on one CPU thread; "
        "the paper trains a far larger UNet on a GPU for hours.",
        "- Fit time against accuracy before and after the speed-up of the estimator "
        "(velocity prediction, a width set by the patch size, space-to-depth patches, "
        "stratified times, 1,000 steps), in CPU seconds, and the counterfactual error "
        "against the number of DDIM steps: [benchmarks, CausalDiffAE speed]"
        "(benchmarks.md#causaldiffae-speed-python-benchmarksbench_causaldiffae_speedpy).",
        "",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--scenes", nargs="+", default=list(SCENES), choices=list(SCENES))
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the markdown report from the JSON results; fit nothing"
    )
    args = parser.parse_args()
    if args.report_only:
        REPORT.write_text(markdown(json.loads(RESULTS.read_text())))
        return
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    records, panels = [], {}
    for name in args.scenes:
        record, shown = run_scene(name, SCENES[name], args.seed, args.device, args.scale)
        records.append(record)
        panels[name] = (SCENES[name]["size"], shown)
    results = {
        "seed": args.seed,
        "threads": args.threads,
        "scale": args.scale,
        "machine": f"{platform.machine()}, {platform.system()}, torch {torch.__version__}",
        "causalrep": causalrep.__version__,
        "ddim": DDIM,
        "model": MODEL,
        "total_seconds": time.perf_counter() - start,
        "load_average": os.getloadavg(),
        "scenes": records,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(markdown(results))
    figure(panels, FIGURE)
    print(
        f"done in {results['total_seconds']:.0f} s: {RESULTS.relative_to(ROOT)}, "
        f"{REPORT.relative_to(ROOT)}, {FIGURE.relative_to(ROOT)}"
    )


if __name__ == "__main__":
    main()
