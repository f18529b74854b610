"""Fit time on a quiet CPU and on one with a CPU-bound neighbour per core.

Usage:
    python benchmarks/bench_threads.py [--cases demo d6] [--n-threads auto]

Run it without OMP_NUM_THREADS / MKL_NUM_THREADS set, so that the estimator's
own thread policy (``n_threads="auto"``) is what is measured. For each case
(``demo``: the fit ``causalrep demo`` makes; ``d6``: six latents into 200
dimensions), fits InterventionalCRL once with the machine as it is ("quiet")
and once while this script runs one busy-looping process per available core
("loaded"), and reports wall and CPU seconds of each fit (median of ``--repeats`` fits,
quiet and loaded interleaved). The target is loaded <= 2 x quiet. Writes benchmarks/results/threads.json and prints a
markdown table for docs/benchmarks.md.
"""

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import time
from pathlib import Path

import torch

import causalrep
import simulators
from causalrep import InterventionalCRL
from causalrep.estimators._core.threads import available_cores

RESULTS = Path(__file__).parent / "results" / "threads.json"
CASES = {
    "demo": {"latent_dim": 4, "obs_dim": 40, "degree": 2, "latents": "scm_dense", "n_obs": 4000, "n_int": 4000},
    "d6": {"latent_dim": 6, "obs_dim": 200, "degree": 2, "latents": "scm_dense", "n_obs": 4000, "n_int": 4000},
}


def _spin():
    while True:
        pass


def fit_once(case, n_threads):
    setting = CASES[case]
    data = simulators.ahuja2023(**setting, seed=0)
    train, _ = data.split(0.25, seed=0)
    est = InterventionalCRL(latent_dim=setting["latent_dim"], device="cpu", seed=0, verbose=0, n_threads=n_threads)
    wall, cpu = time.perf_counter(), time.process_time()
    est.fit(train)
    return {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "threads": est._threads(train.dim_x),
    }


def measure(case, n_threads, loaded):
    neighbours = []
    if loaded:
        neighbours = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(available_cores())]
        for process in neighbours:
            process.start()
        time.sleep(1.0)
    load_before = os.getloadavg()[0]
    try:
        record = fit_once(case, n_threads)
    finally:
        for process in neighbours:
            process.terminate()
            process.join()
    return {
        "case": case,
        "loaded": loaded,
        "neighbours": len(neighbours),
        "n_threads": n_threads,
        "load_average_1min": load_before,
        **record,
    }


def _median(records, case, loaded, key):
    values = sorted(r[key] for r in records if r["case"] == case and r["loaded"] == loaded)
    return statistics.median(values)


def table(records):
    header = (
        "| case | threads used | quiet wall (s) | quiet CPU (s) | loaded wall (s) | loaded CPU (s) | loaded / quiet |"
    )
    lines = [header, "|" + "---|" * 7]
    for case in dict.fromkeys(r["case"] for r in records):
        threads = next(r["threads"] for r in records if r["case"] == case)
        quiet_wall, loaded_wall = (_median(records, case, flag, "wall_s") for flag in (False, True))
        quiet_cpu, loaded_cpu = (_median(records, case, flag, "cpu_s") for flag in (False, True))
        lines.append(
            f"| {case} | {threads} | {quiet_wall:.1f} | {quiet_cpu:.1f} | "
            f"{loaded_wall:.1f} | {loaded_cpu:.1f} | {loaded_wall / quiet_wall:.2f} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument(
        "--n-threads", default="auto", help="estimator n_threads: auto, an int, or none for torch's default"
    )
    parser.add_argument("--repeats", type=int, default=3, help="fits per case and condition")
    args = parser.parse_args()
    n_threads = {"auto": "auto", "none": None}.get(args.n_threads.lower(), None)
    if n_threads is None and args.n_threads.lower() != "none":
        n_threads = int(args.n_threads)
    records = []
    for case in args.cases:
        for loaded in (False, True) * args.repeats:
            records.append(measure(case, n_threads, loaded))
            print(json.dumps(records[-1]), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "causalrep": causalrep.__version__,
                "torch": torch.__version__,
                "platform": platform.platform(),
                "cores_available": available_cores(),
                "torch_default_threads": torch.get_num_threads(),
                "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")},
                "records": records,
            },
            indent=2,
        )
    )
    print(table(records))


if __name__ == "__main__":
    main()
