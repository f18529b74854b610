"""CausalDiffAE fit time and accuracy on pendulum images, before and after the speed-up.

Usage:
    python benchmarks/bench_causaldiffae_speed.py [--before COMMIT] [--report-only]

Fits run at the same time in separate processes with one torch thread each:

- ``before``: the code of commit ``--before`` (the last one before the speed-up,
  unpacked with ``git archive``), 800 pendulum images of 16 x 16, with the
  settings its benchmark used (``BEFORE``);
- ``after 16``: this tree, the same images, ``AFTER_16``;
- ``after 16, batch 64``: the same with ``AFTER_16_B64`` (added after the first
  run, see docs/benchmarks.md);
- ``after 32``: this tree, 5,000 images of 32 x 32, ``AFTER_32``; and
  ``after 32, batch 64`` with ``AFTER_32_B64`` (also added later).

``--cases`` runs some of them and replaces their records in the JSON.

Each is scored on held-out images: the MCC of the latents against the true
variables (500 images), and for do(angle) and do(light) on 100 images (the
value another test image has, so the scene stays in the training support) the
pixel MSE of the generated counterfactual against the simulator's true
counterfactual, next to that of leaving the image unchanged (DDIM: 20 steps,
inversion with 2 refinements). The primary speed figure is the fit's CPU time
(``time.process_time``, one thread): the machine may be shared, which inflates
wall-clock time but hardly CPU time.

Writes benchmarks/results/causaldiffae_speed.json and prints a markdown table
(``--report-only`` prints it from the JSON).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "causaldiffae_speed.json"
BEFORE_COMMIT = "2f4886b"
BEFORE = {"channels": 16, "batch_size": 32, "max_steps": 2000, "lr": 1e-3}
AFTER_16 = {"channels": 16, "batch_size": 32, "max_steps": 1000, "lr": 2e-3}
AFTER_16_B64 = {"channels": 16, "batch_size": 64, "max_steps": 1000, "lr": 3e-3}
AFTER_32_B64 = {"channels": 16, "batch_size": 64, "max_steps": 3500, "lr": 3e-3}
AFTER_32 = {"channels": 16, "batch_size": 32, "max_steps": 4000, "lr": 2e-3}
CASES = {
    "before": {"n": 800, "size": 16, "params": BEFORE, "code": "before"},
    "after 16": {"n": 800, "size": 16, "params": AFTER_16, "code": "this"},
    "after 16, batch 64": {"n": 800, "size": 16, "params": AFTER_16_B64, "code": "this"},
    "after 32": {"n": 5000, "size": 32, "params": AFTER_32, "code": "this"},
    "after 32, batch 64": {"n": 5000, "size": 32, "params": AFTER_32_B64, "code": "this"},
}
DDIM = {"steps": 20, "refine": 2}


def worker(case):
    """Fit and score one case in this process (its code is whatever
    ``causalrep`` imports); prints the record as JSON."""
    import numpy as np
    import torch

    from causalrep import CausalDiffAE
    from causalrep.identifiability import mcc
    from simulators import pendulum, pendulum_counterfactual

    torch.set_num_threads(1)
    spec = CASES[case]
    train = pendulum(spec["n"], size=spec["size"], seed=0)
    test = pendulum(500, size=spec["size"], seed=1)
    est = CausalDiffAE(verbose=0, device="cpu", seed=0, **spec["params"])
    cpu, wall = time.process_time(), time.perf_counter()
    est.fit(train)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    record = {"case": case, **spec, "fit_cpu_seconds": cpu, "fit_seconds": wall,
              "load_average": os.getloadavg(), "steps": est.history_["steps"],
              "mcc": mcc(test.Z, est.transform(test.X)).score, "interventions": {}}
    index = np.arange(100)
    X, Z = test.X[index], test.Z[index]
    noise = np.asarray(test.meta["noise"])[index]
    rng = np.random.default_rng(0)
    x_T = est.invert(X, **DDIM)
    for j, name in enumerate(test.meta["variables"][:2]):
        values = Z[rng.permutation(len(index)), j]
        truth, _ = pendulum_counterfactual(Z, noise, {j: values}, size=spec["size"])
        generated = est.decode(x_T, est.intervene(X, {j: values}), DDIM["steps"])
        record["interventions"][name] = {
            "mse": float(np.mean((generated - truth) ** 2)),
            "unchanged_mse": float(np.mean((X - truth) ** 2))}
    print(json.dumps(record), flush=True)


def _before_tree(commit, directory):
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", directory], input=archive, check=True)
    return directory


def run(commit, cases):
    with tempfile.TemporaryDirectory() as before:
        trees = {"this": str(ROOT), "before": _before_tree(commit, before)}
        start = time.perf_counter()
        running = {}
        for case in cases:
            spec = CASES[case]
            env = {**os.environ, "PYTHONPATH": trees[spec["code"]], "OMP_NUM_THREADS": "1",
                   "MKL_NUM_THREADS": "1"}
            running[case] = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--worker", case],
                cwd=trees[spec["code"]], env=env, stdout=subprocess.PIPE, text=True)
        records = []
        for case, process in running.items():
            out, _ = process.communicate()
            if process.returncode:
                raise RuntimeError(f"case {case!r} failed with exit status {process.returncode}")
            records.append(json.loads(out.strip().splitlines()[-1]))
    return {"before_commit": commit, "ddim": DDIM, "wall_seconds": time.perf_counter() - start,
            "cpu_count": os.cpu_count(), "records": records}


def markdown(results):
    lines = ["| case | images | steps | fit CPU (s) | fit wall (s) | load avg | MCC | "
             + " | ".join(f"do({v}) MSE / unchanged (x lower)" for v in ("angle", "light")) + " |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results["records"]:
        cells = [f"{i['mse']:.5f} / {i['unchanged_mse']:.5f} ({i['unchanged_mse'] / i['mse']:.1f}x)"
                 for i in r["interventions"].values()]
        lines.append(f"| {r['case']} | {r['n']} x {r['size']}x{r['size']} | {r['steps']} | "
                     f"{r['fit_cpu_seconds']:.0f} | {r['fit_seconds']:.0f} | "
                     f"{r['load_average'][0]:.1f} | {r['mcc']:.4f} | " + " | ".join(cells) + " |")
    by_case = {r["case"]: r for r in results["records"]}
    for case in ("after 16", "after 16, batch 64"):
        if "before" in by_case and case in by_case:
            ratio = by_case["before"]["fit_cpu_seconds"] / by_case[case]["fit_cpu_seconds"]
            lines += ["", f"{case}: the fit takes {ratio:.1f}x less CPU time than before."]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE_COMMIT)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES),
                        help="run these cases only; their records replace those of the "
                             "same name in the JSON")
    parser.add_argument("--worker", choices=list(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    if not args.report_only:
        results = run(args.before, args.cases)
        if RESULTS.exists() and set(args.cases) != set(CASES):
            kept = [r for r in json.loads(RESULTS.read_text())["records"]
                    if r["case"] not in args.cases]
            results["records"] = kept + results["records"]
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2))
    print(markdown(json.loads(RESULTS.read_text())))


if __name__ == "__main__":
    main()
