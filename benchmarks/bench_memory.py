"""Peak memory of the identifiability metrics on large inputs.

Usage:
    python benchmarks/bench_memory.py [--n 2000000] [--d 200] [--metrics mcc,affine_r2,check,spearman]

Each metric runs in its own process on ``z_true`` and ``z_hat`` of shape
(n, d), float64 (at the defaults, 3.2 GB each, 6.4 GB of inputs), filled in
place so that making them leaves no temporaries behind. The process reports
its peak resident memory (``ru_maxrss``) before and after the metric, and the
peak of the memory numpy allocated during the metric (``tracemalloc``). The
promise is a peak under 1.5 times the inputs.

Writes benchmarks/results/memory.json and docs/benchmarks_memory.md.
"""

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, resource, sys, time, tracemalloc
import numpy as np
from causalrep.identifiability import affine_r2, check, mcc

n, d, name = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
z_true, z_hat = np.empty((n, d)), np.empty((n, d))
rng = np.random.default_rng(0)
for start in range(0, n, 100_000):
    block = rng.standard_normal((min(100_000, n - start), d))
    z_true[start:start + len(block)] = block
    z_hat[start:start + len(block)] = block[:, ::-1] * 2.0 + 0.1 * rng.standard_normal(block.shape)
del block
run = {"mcc": lambda: mcc(z_true, z_hat).score,
       "affine_r2": lambda: affine_r2(z_true, z_hat).mean,
       "check": lambda: check(z_true, z_hat).passed,
       "spearman": lambda: mcc(z_true, z_hat, kind="spearman").score}[name]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
tracemalloc.start()
wall, cpu = time.perf_counter(), time.process_time()
value = run()
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
traced = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"metric": name, "value": value, "input_bytes": z_true.nbytes + z_hat.nbytes,
                  "rss_before": before, "rss_peak": after, "traced_peak": traced,
                  "wall_s": wall, "cpu_s": cpu}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000_000)
    parser.add_argument("--d", type=int, default=200)
    parser.add_argument("--metrics", default="mcc,affine_r2,check,spearman")
    args = parser.parse_args()
    rows = []
    for name in args.metrics.split(","):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(args.n), str(args.d), name],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    result = {
        "n": args.n,
        "d": args.d,
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
        "note": "shared machine (2 cores, 24 GB, other jobs running); one thread",
        "rows": rows,
    }
    (ROOT / "benchmarks" / "results" / "memory.json").write_text(json.dumps(result, indent=2))
    (ROOT / "docs" / "benchmarks_memory.md").write_text(report(result))


def report(result):
    gib = 2**30
    lines = [
        "# Peak memory of the metrics",
        "",
        f"`z_true` and `z_hat` of shape ({result['n']:,}, {result['d']}), float64: "
        f"{result['rows'][0]['input_bytes'] / gib:.2f} GiB of inputs. Each metric ran in its "
        "own process (`benchmarks/bench_memory.py`); peak resident memory is the "
        "process's `ru_maxrss`, inputs included; the traced peak is what numpy allocated "
        f"during the metric (`tracemalloc`). {result['note']}.",
        "",
        "| metric | value | peak RSS / inputs | RSS added by the metric (GiB) | "
        "traced peak / inputs | wall s | CPU s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in result["rows"]:
        value = row["value"] if isinstance(row["value"], bool) else f"{row['value']:.6f}"
        lines.append(
            f"| {row['metric']} | {value} | {row['rss_peak'] / row['input_bytes']:.3f} | "
            f"{(row['rss_peak'] - row['rss_before']) / gib:.2f} | "
            f"{row['traced_peak'] / row['input_bytes']:.3f} | {row['wall_s']:.0f} | "
            f"{row['cpu_s']:.0f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
