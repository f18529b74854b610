"""InterventionalCRL on the synthetic settings of Ahuja et al. (2023), 3 seeds each.

Usage:
    python benchmarks/bench_interventional.py [--seeds 0 1 2] [--device auto]

For each setting and seed: fit on 80% of the samples with default
hyperparameters, score on the held-out 20%: affine R2 and MCC of stage 1 alone,
MCC and the permutation check after stage 2, and the wall time of the fit.
Writes benchmarks/results/interventional.json and prints a markdown table
(median over seeds, with min and max) for docs/benchmarks.md.
"""

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

import causalrep
import simulators
from causalrep import InterventionalCRL
from causalrep.identifiability import affine_r2, check, mcc

RESULTS = Path(__file__).parent / "results" / "interventional.json"
SETTINGS = [
    dict(latent_dim=6, obs_dim=200, degree=2, latents="uniform"),
    dict(latent_dim=6, obs_dim=200, degree=2, latents="scm_dense"),
    # degree 3 in 10 latents has 285 non-constant monomials: obs_dim 200 cannot
    # hold an injective polynomial lift, so this setting uses 300.
    dict(latent_dim=10, obs_dim=300, degree=3, latents="uniform"),
]


def run_one(setting, seed, device):
    data = simulators.ahuja2023(**setting, n_obs=10000, n_int=10000, seed=seed)
    train, test = data.split(0.2, seed=seed)
    start = time.perf_counter()
    est = InterventionalCRL(latent_dim=setting["latent_dim"], degree=setting["degree"],
                            device=device, seed=seed, verbose=0).fit(train)
    seconds = time.perf_counter() - start
    stage1, stage2 = est.stage1_transform(test.X), est.transform(test.X)
    return {
        **setting, "seed": seed, "fit_seconds": seconds, "device": str(est.device_),
        "stage1_affine_r2": affine_r2(test.Z, stage1).mean,
        "stage1_mcc": mcc(test.Z, stage1).score,
        "stage2_mcc": mcc(test.Z, stage2).score,
        "stage2_passed": check(test.Z, stage2, up_to="permutation").passed,
        "max_variance_ratio": max(r["variance_ratio"] for r in est.diagnostics_),
        "load_average": os.getloadavg()[0],
    }


def table(records):
    lines = ["| latents | d | obs_dim | degree | stage-1 affine R2 | stage-1 MCC | stage-2 MCC "
             "| passed | fit (s) | device |", "|" + "---|" * 10]
    keys = sorted({(r["latents"], r["latent_dim"], r["obs_dim"], r["degree"]) for r in records},
                  key=lambda k: (k[1], k[0]))
    for key in keys:
        group = [r for r in records if (r["latents"], r["latent_dim"], r["obs_dim"], r["degree"]) == key]

        def fmt(name, digits=4):
            values = [r[name] for r in group]
            return (f"{statistics.median(values):.{digits}f} "
                    f"[{min(values):.{digits}f}, {max(values):.{digits}f}]")

        passed = sum(r["stage2_passed"] for r in group)
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {fmt('stage1_affine_r2')} "
                     f"| {fmt('stage1_mcc')} | {fmt('stage2_mcc')} | {passed}/{len(group)} "
                     f"| {fmt('fit_seconds', 1)} | {group[0]['device']} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    records = []
    for setting in SETTINGS:
        for seed in args.seeds:
            records.append(run_one(setting, seed, args.device))
            print(json.dumps(records[-1]), flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({
        "version": causalrep.__version__, "torch": torch.__version__,
        "machine": platform.machine(), "threads": torch.get_num_threads(),
        "records": records}, indent=2))
    print(table(records))


if __name__ == "__main__":
    main()
