"""Time the identifiability metrics at the sizes they are meant to handle.

Usage:
    python benchmarks/bench_identifiability.py [--n 1000000] [--d 50] [--repeats 3]

Prints a markdown table of the median wall time of each case and writes the
figures, with the machine's context, to benchmarks/results/identifiability.json.
"""

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import scipy

from causalrep.identifiability import affine_r2, block_r2, check, dci, mcc

RESULTS = Path(__file__).parent / "results" / "identifiability.json"


def make_latents(n, d, seed):
    """Latents and a noisy, mixed estimate of them: shapes (n, d) and (n, d)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, d))
    mixing = np.eye(d) + 0.1 * rng.normal(size=(d, d))
    z_hat = z @ mixing + 0.05 * rng.normal(size=(n, d))
    return z, z_hat


def median_seconds(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def cases(n, d, dci_n, dci_d):
    z, z_hat = make_latents(n, d, seed=0)
    small, small_hat = make_latents(dci_n, dci_d, seed=1)
    blocks = [tuple(range(i, min(i + 5, d))) for i in range(0, d, 5)]

    def both():
        return mcc(z, z_hat), affine_r2(z, z_hat)

    return [
        (f"mcc pearson n={n} d={d}", lambda: mcc(z, z_hat)),
        (f"affine_r2 n={n} d={d}", lambda: affine_r2(z, z_hat)),
        (f"mcc + affine_r2 n={n} d={d}", both),
        (f"check permutation n={n} d={d}", lambda: check(z, z_hat)),
        (
            f"block_r2 {len(blocks)} blocks n={n} d={d}",
            lambda: block_r2(z, z_hat, blocks),
        ),
        (f"mcc spearman n={n} d={d}", lambda: mcc(z, z_hat, kind="spearman")),
        (f"dci n={dci_n} d={dci_d}", lambda: dci(small, small_hat)),
        (f"dci forest n={dci_n} d={dci_d}", lambda: dci(small, small_hat, regressor="forest")),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=50)
    parser.add_argument("--dci-n", type=int, default=10_000)
    parser.add_argument("--dci-d", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    rows = []
    for name, function in cases(args.n, args.d, args.dci_n, args.dci_d):
        median, times = median_seconds(function, args.repeats)
        rows.append({"case": name, "median_s": median, "runs_s": times})

    context = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "blas_threads_env": {
            key: os.environ[key]
            for key in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
            if key in os.environ
        },
        "repeats": args.repeats,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"context": context, "results": rows}, indent=2))

    print("| case | median (s) | runs (s) |\n| --- | ---: | --- |")
    for row in rows:
        runs = ", ".join(f"{t:.3f}" for t in row["runs_s"])
        print(f"| {row['case']} | {row['median_s']:.3f} | {runs} |")
    load = context["load_average_1min"]
    print(f"\n{context['cpu_count']} CPUs, load average {load:.2f}; wrote {args.out}")


if __name__ == "__main__":
    main()
