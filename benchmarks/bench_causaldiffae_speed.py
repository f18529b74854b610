"""CausalDiffAE fit time and accuracy at its defaults, against the code before the speed-up.

Usage:
    python benchmarks/bench_causaldiffae_speed.py [--cases NAME ...] [--repeats 1]
                                                  [--before COMMIT] [--report-only]

Every fit runs alone in its own process (one after the other, never two at a
time), with one torch thread unless the case says otherwise:

- ``before``: the code of commit ``--before`` (the last one before the speed-up,
  unpacked with ``git archive``), 800 pendulum images of 16 x 16, with the
  settings the CausalDiffAE benchmark used then (``BEFORE``);
- ``after 16``: this tree at its defaults, the same images;
- ``after 32`` and ``after 32, 2 threads``: this tree at its defaults, 5,000
  pendulum images of 32 x 32, with one and with two torch threads;
- ``eps 16`` and ``eps 32``: as ``after 16`` / ``after 32`` but with a noise
  predictor (``prediction="eps"``), to show what the velocity target buys;
- ``confirm morpho 28`` and ``confirm pendulum 24``: settings the defaults
  were not chosen on (another scene, other sizes and seeds).

Each is scored on held-out images of the same simulator (another seed): the
MCC of the latents against the true variables (500 images), and for a
do-intervention on each of the first two variables on 100 images (the value
another test image has, so the scene stays in the training support) the pixel
MSE of the generated counterfactual against the simulator's true
counterfactual, next to that of leaving the image unchanged. The
counterfactuals are scored with the benchmark's fixed DDIM protocol (20 steps,
inversion with 2 refinements, as in every earlier run), with the code's own
defaults (``counterfactual`` without DDIM arguments), and for the ``after`` and
``eps`` cases along a curve of DDIM steps and refinements, with the CPU time
of one counterfactual batch at each point. Also recorded: the pixel MSE of
images decoded from standard normal noise (20 DDIM steps) under the encoded
latents of 100 test images, against those images.

The speed figure is the fit's CPU time (``time.process_time``): the machine
may be shared, which inflates wall-clock time but hardly CPU time.
``--repeats N`` fits each case N times (the scores do not change: the fits are
seeded) and the report gives the median times. Writes
benchmarks/results/causaldiffae_speed.json (records of other cases are kept)
and prints markdown tables (``--report-only`` prints them from the JSON).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "causaldiffae_speed.json"
BEFORE_COMMIT = "2f4886b"
BEFORE = {"channels": 16, "batch_size": 32, "max_steps": 2000, "lr": 1e-3}
PENDULUM_16 = {"scene": "pendulum", "n": 800, "size": 16, "seed": 0}
PENDULUM_32 = {"scene": "pendulum", "n": 5000, "size": 32, "seed": 0}
CASES = {
    "before": {**PENDULUM_16, "params": BEFORE, "code": "before"},
    "after 16": {**PENDULUM_16, "params": {}, "code": "this", "curve": True},
    "after 32": {**PENDULUM_32, "params": {}, "code": "this", "curve": True},
    "after 32, 2 threads": {**PENDULUM_32, "params": {}, "code": "this", "threads": 2},
    "eps 16": {**PENDULUM_16, "params": {"prediction": "eps"}, "code": "this", "curve": True},
    "eps 32": {**PENDULUM_32, "params": {"prediction": "eps"}, "code": "this", "curve": True},
    "confirm morpho 28": {"scene": "morpho_digits", "n": 3000, "size": 28, "seed": 1, "params": {}, "code": "this"},
    "confirm pendulum 24": {"scene": "pendulum", "n": 2000, "size": 24, "seed": 2, "params": {}, "code": "this"},
}
PROTOCOL = {"steps": 20, "refine": 2}
CURVE = [
    (5, 0),
    (10, 0),
    (15, 0),
    (20, 0),
    (30, 0),
    (50, 0),
    (100, 0),
    (10, 1),
    (20, 1),
    (50, 1),
    (10, 2),
    (20, 2),
    (50, 2),
]
N_TEST, N_CF = 500, 100


def _scene(name, n, size, seed):
    import simulators

    return (
        simulators.pendulum(n, size=size, seed=seed)
        if name == "pendulum"
        else simulators.morpho_digits(n, size=size, seed=seed)
    )


def _truth(name, data, index, do, size):
    import numpy as np

    import simulators

    noise = np.asarray(data.meta["noise"])[index]
    if name == "pendulum":
        return simulators.pendulum_counterfactual(data.Z[index], noise, do, size=size)[0]
    digits = np.asarray(data.meta["digit"])[index]
    return simulators.morpho_counterfactual(data.Z[index], noise, digits, do, size=size)[0]


def _counterfactuals(est, test, spec, ddim):
    """Pixel MSE of do(variable) counterfactuals and of the unchanged images,
    for the first two variables; ``ddim`` {} uses the estimator's defaults."""
    import numpy as np

    index = np.arange(N_CF)
    X, Z = test.X[index], test.Z[index]
    rng = np.random.default_rng(0)
    cpu = time.process_time()
    x_T = est.invert(X, **ddim)
    decode = {"steps": ddim["steps"]} if ddim else {}
    scores = {}
    for j, name in enumerate(test.meta["variables"][:2]):
        values = Z[rng.permutation(N_CF), j]
        truth = _truth(spec["scene"], test, index, {j: values}, spec["size"])
        generated = est.decode(x_T, est.intervene(X, {j: values}), **decode)
        scores[name] = {
            "mse": float(np.mean((generated - truth) ** 2)),
            "unchanged_mse": float(np.mean((X - truth) ** 2)),
        }
    return {**scores, "cpu_seconds": time.process_time() - cpu}


def _from_noise(est, test):
    """Pixel MSE of images decoded from standard normal noise under the encoded
    latents of test images, against those images: whether the model can draw
    an image from its latents alone (the pendulum's images are functions of
    them)."""
    import numpy as np

    X = test.X[:N_CF]
    noise = np.random.default_rng(0).standard_normal(X.shape)
    return float(np.mean((est.decode(noise, est.transform(X), PROTOCOL["steps"]) - X) ** 2))


def worker(case):
    """Fit and score one case in this process (its code is whatever
    ``causalrep`` imports); prints the record as JSON."""
    import torch

    from causalrep import CausalDiffAE
    from causalrep.identifiability import mcc

    spec = CASES[case]
    torch.set_num_threads(spec.get("threads", 1))
    train = _scene(spec["scene"], spec["n"], spec["size"], spec["seed"])
    test = _scene(spec["scene"], N_TEST, spec["size"], spec["seed"] + 1)
    # The code before the speed-up has no n_threads; None leaves torch's setting here.
    threads = {"n_threads": None} if spec["code"] == "this" else {}
    est = CausalDiffAE(verbose=0, device="cpu", seed=spec["seed"], **threads, **spec["params"])
    cpu, wall = time.process_time(), time.perf_counter()
    est.fit(train)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    params = est.get_params()
    record = {
        "case": case,
        **spec,
        "fit_cpu_seconds": cpu,
        "fit_seconds": wall,
        "load_average": os.getloadavg(),
        "threads": torch.get_num_threads(),
        "steps": est.history_["steps"],
        "settings": {k: params[k] for k in ("channels", "batch_size", "lr", "max_steps")},
        "width": getattr(est, "dims_", {}).get("channels", params["channels"]),
        "prediction": params.get("prediction", "eps"),
        "mcc": mcc(test.Z, est.transform(test.X)).score,
        "protocol": _counterfactuals(est, test, spec, PROTOCOL),
        "defaults": _counterfactuals(est, test, spec, {}),
        "from_noise_mse": _from_noise(est, test),
    }
    if spec.get("curve"):
        record["curve"] = [
            {"steps": s, "refine": r, **_counterfactuals(est, test, spec, {"steps": s, "refine": r})} for s, r in CURVE
        ]
    print(json.dumps(record), flush=True)


def _before_tree(commit, directory):
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", directory], input=archive, check=True)
    return directory


def run(commit, cases, repeats, save):
    """Every case ``repeats`` times, one process at a time; ``save(records)``
    after each fit, so that a run stopped half way keeps what it measured."""
    records = []
    with tempfile.TemporaryDirectory() as before:
        trees = {"this": str(ROOT), "before": _before_tree(commit, before)}
        for case in cases:
            spec = CASES[case]
            threads = str(spec.get("threads", 1))
            env = {
                **os.environ,
                "PYTHONPATH": trees[spec["code"]],
                "OMP_NUM_THREADS": threads,
                "MKL_NUM_THREADS": threads,
            }
            for _ in range(repeats):
                out = subprocess.run(
                    [sys.executable, str(Path(__file__).resolve()), "--worker", case],
                    cwd=trees[spec["code"]],
                    env=env,
                    stdout=subprocess.PIPE,
                    text=True,
                    check=True,
                ).stdout
                records.append(json.loads(out.strip().splitlines()[-1]))
                save(records)
                print(f"{case}: {records[-1]['fit_cpu_seconds']:.1f} CPU s", flush=True)


def _ratio(scores, name):
    return scores[name]["unchanged_mse"] / scores[name]["mse"]


def _by_case(records):
    cases = {}
    for r in records:
        cases.setdefault(r["case"], []).append(r)
    return cases


def markdown(results):
    cases = _by_case(results["records"])
    lines = [
        "| case | images | settings | steps | fit CPU (s) | fit wall (s) | load avg | MCC | "
        "do 1: unchanged / cf, 20 steps refine 2 | do 2 | do 1, defaults | do 2 | "
        "from noise MSE |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case, runs in cases.items():
        r = runs[0]
        cpu = statistics.median(x["fit_cpu_seconds"] for x in runs)
        wall = statistics.median(x["fit_seconds"] for x in runs)
        load = statistics.median(x["load_average"][0] for x in runs)
        names = [k for k in r["protocol"] if k != "cpu_seconds"]
        s = r["settings"]
        settings = (
            f"width {r['width']}, batch {s['batch_size']}, lr {s['lr']:g}, "
            f"{r['prediction']}, {r['threads']} thread{'s' if r['threads'] > 1 else ''}"
        )
        times = "" if len(runs) == 1 else f" (median of {len(runs)})"
        cells = [f"{_ratio(r[kind], name):.1f}x" for kind in ("protocol", "defaults") for name in names]
        lines.append(
            f"| {case} | {r['n']} x {r['size']}x{r['size']} {r['scene']} | {settings} | "
            f"{r['steps']} | {cpu:.1f}{times} | {wall:.1f} | {load:.1f} | "
            f"{r['mcc']:.4f} | "
            + " | ".join(cells)
            + " | "
            + (f"{r['from_noise_mse']:.5f}" if "from_noise_mse" in r else "-")
            + " |"
        )
    if "before" in cases:
        before = statistics.median(x["fit_cpu_seconds"] for x in cases["before"])
        for case in ("after 16", "eps 16"):
            if case in cases:
                after = statistics.median(x["fit_cpu_seconds"] for x in cases[case])
                lines += ["", f"{case}: the fit takes {before / after:.1f}x less CPU time than before."]
    for case, runs in cases.items():
        if "curve" not in runs[0]:
            continue
        names = [k for k in runs[0]["curve"][0] if k not in ("steps", "refine", "cpu_seconds")]
        lines += [
            "",
            f"DDIM curve, {case}: unchanged MSE / counterfactual MSE "
            "(higher is better), CPU s of inverting and decoding 100 images twice",
            "",
            "| steps | refine | " + " | ".join(f"do({n})" for n in names) + " | CPU (s) |",
            "|---|---|" + "---|" * len(names) + "---|",
        ]
        for point in runs[0]["curve"]:
            lines.append(
                f"| {point['steps']} | {point['refine']} | "
                + " | ".join(f"{_ratio(point, n):.1f}x" for n in names)
                + f" | {point['cpu_seconds']:.1f} |"
            )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE_COMMIT)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--cases",
        nargs="+",
        choices=list(CASES),
        default=list(CASES),
        help="run these cases only; their records replace those of the same name in the JSON",
    )
    parser.add_argument("--worker", choices=list(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    if not args.report_only:
        kept = []
        if RESULTS.exists():
            old = json.loads(RESULTS.read_text())
            if old.get("format") == 2:
                kept = [r for r in old["records"] if r["case"] not in args.cases]

        def save(records):
            results = {
                "format": 2,
                "before_commit": args.before,
                "protocol": PROTOCOL,
                "cpu_count": os.cpu_count(),
                "records": kept + records,
            }
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=2))

        run(args.before, args.cases, args.repeats, save)
    print(markdown(json.loads(RESULTS.read_text())))


if __name__ == "__main__":
    main()
