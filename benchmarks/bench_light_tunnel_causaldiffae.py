"""CausalDiffAE on the light tunnel's images, 3 seeds, one torch thread.

Usage:
    python benchmarks/bench_light_tunnel_causaldiffae.py [--seeds 0 1 2] [--max-steps 1000]

The setting of the light-tunnel rows of bench_interventional_edges.py:
``simulators.light_tunnel`` (the causalchamber package's image model F3) with
the LED brightnesses red, green and blue as latents on a chain, a do on each
(1,000 samples per regime, 4,000 images of 16x16 RGB, 1% pixel noise), trained
on 80% and scored on the held-out 20%. CausalDiffAE runs at its defaults
(1,000 steps, batch 48) with the chain as its graph, once with every label
(its default, ``label_fraction=1``) and once with a tenth of them; MCC and
the smallest per-latent correlation of ``transform`` against the true
brightnesses, and the fit's CPU seconds. Writes benchmarks/results/light_tunnel_causaldiffae.json
and prints a markdown table.
"""

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

import causalrep
import simulators
from causalrep import CausalDiffAE
from causalrep.identifiability import mcc

RESULTS = Path(__file__).parent / "results" / "light_tunnel_causaldiffae.json"
ROWS = {"all labels": 1.0, "a tenth of the labels": 0.1}


def run_one(name, label_fraction, seed, max_steps):
    data = simulators.light_tunnel(1000, inputs=("red", "green", "blue"), size=16, pixel_noise=0.01, seed=seed)
    train, test = data.split(0.2, seed=seed)
    cpu, wall = time.process_time(), time.perf_counter()
    est = CausalDiffAE(label_fraction=label_fraction, max_steps=max_steps, seed=seed, verbose=0, n_threads=1)
    est.fit(train)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    result = mcc(test.Z, est.transform(test.X))
    return {
        "setting": name,
        "seed": seed,
        "label_fraction": label_fraction,
        "max_steps": max_steps,
        "n_train": train.n,
        "mcc": result.score,
        "min_latent": float(np.min(result.per_latent)),
        "fit_cpu_seconds": cpu,
        "fit_wall_seconds": wall,
        "load_average": os.getloadavg()[0],
    }


def table(records):
    lines = [
        "| CausalDiffAE on the light tunnel | MCC (median [min]) | min latent (min) | fit CPU s (median) |",
        "|" + "---|" * 4,
    ]
    for name in dict.fromkeys(r["setting"] for r in records):
        group = [r for r in records if r["setting"] == name]
        mccs = [r["mcc"] for r in group]
        lines.append(
            f"| {name} | {statistics.median(mccs):.5f} [{min(mccs):.5f}] | {min(r['min_latent'] for r in group):.3f} "
            f"| {statistics.median(r['fit_cpu_seconds'] for r in group):.0f} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    records = []
    for name, fraction in ROWS.items():
        for seed in args.seeds:
            records.append(run_one(name, fraction, seed, args.max_steps))
            print(json.dumps(records[-1]), flush=True)
            args.out.parent.mkdir(exist_ok=True)
            meta = {"version": causalrep.__version__, "torch": torch.__version__, "machine": platform.machine()}
            args.out.write_text(json.dumps({**meta, "threads": 1, "records": records}, indent=2))
    print(table(records))


if __name__ == "__main__":
    main()
