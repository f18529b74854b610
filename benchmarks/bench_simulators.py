"""Sampling throughput of LatentSCM + PolynomialMixing at a million samples.

Each configuration is timed against the cheapest possible way to fill an
array of the same output size, ``rng.standard_normal((n, obs_dim))``, measured
in the same process, so the ratio is comparable across machines. Results go
to ``benchmarks/results/simulators.json``; a markdown table goes to stdout.

A degree-2 polynomial mixing of d latents needs obs_dim >= d(d+3)/2 to be
injective (230 for d = 20), so d = 20 is run with obs_dim = 230, and
obs_dim = 200 with d = 18, the largest d that fits.

Usage, from the repository root (or anywhere once causalrep is installed):
    python -m benchmarks.bench_simulators
"""

import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from simulators import LatentSCM, PolynomialMixing, erdos_renyi

N_SAMPLES = 1_000_000
REPEATS = 3
CONFIGS = [
    {"latent_dim": 18, "obs_dim": 200, "degree": 2, "expected_degree": 2.0},
    {"latent_dim": 20, "obs_dim": 230, "degree": 2, "expected_degree": 2.0},
]
RESULTS = Path(__file__).resolve().parent / "results" / "simulators.json"


def _median_seconds(run):
    """Median wall-clock and CPU seconds of ``run(repeat)`` over REPEATS calls.

    CPU time (summed over threads) is reported too: on a shared machine it
    moves much less than wall time with the load of other processes.
    """
    wall, cpu = [], []
    for repeat in range(REPEATS):
        start, start_cpu = time.perf_counter(), time.process_time()
        run(repeat)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def bench(config):
    """Median seconds of each stage for one configuration."""
    d, obs_dim = config["latent_dim"], config["obs_dim"]
    scm = LatentSCM(erdos_renyi(d, config["expected_degree"], seed=0), "linear", seed=0)
    mixing = PolynomialMixing(d, obs_dim, config["degree"], seed=0)
    z = scm.sample(N_SAMPLES, seed=0)
    stages = {
        "scm": lambda r: scm.sample(N_SAMPLES, seed=r),
        "mixing": lambda r: mixing(z),
        "total": lambda r: mixing(scm.sample(N_SAMPLES, seed=r)),
        "baseline": lambda r: np.random.default_rng(r).standard_normal((N_SAMPLES, obs_dim)),
    }
    timings = {}
    for name, run in stages.items():
        timings[f"{name}_s"], timings[f"{name}_cpu_s"] = _median_seconds(run)
    timings["ratio"] = timings["total_s"] / timings["baseline_s"]
    timings["cpu_ratio"] = timings["total_cpu_s"] / timings["baseline_cpu_s"]
    timings["samples_per_s"] = N_SAMPLES / timings["total_s"]
    return {**config, "n": N_SAMPLES, "edges": scm.graph.number_of_edges(), **timings}


def main():
    rows = [bench(config) for config in CONFIGS]
    report = {
        "benchmark": "LatentSCM(linear, gaussian) + PolynomialMixing",
        "repeats": REPEATS,
        "statistic": "median",
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "python": platform.python_version(),
        "numpy": np.__version__,
        "results": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print("| d | obs_dim | n | SCM (s) | mixing (s) | total (s) | baseline (s) | ratio | CPU ratio | samples/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['latent_dim']} | {row['obs_dim']} | {row['n']:,} | {row['scm_s']:.2f} "
            f"| {row['mixing_s']:.2f} | {row['total_s']:.2f} | {row['baseline_s']:.2f} "
            f"| {row['ratio']:.2f} | {row['cpu_ratio']:.2f} | {row['samples_per_s']:,.0f} |"
        )
    print(f"\n{os.cpu_count()} cores, 1-minute load average {report['load_average_1min']:.1f}")


if __name__ == "__main__":
    main()
