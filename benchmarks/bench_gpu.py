"""Training throughput of every trained estimator at paper-like sizes, on a GPU when present.

Usage:
    python benchmarks/bench_gpu.py [--device auto] [--max-steps N] [--cases NAME ...]
                                   [--tiny] [--out PATH]

For each estimator, on the data of its paper's synthetic experiment (Interventional
CRL and the baselines: ``ahuja2023`` with d = 6, 200 dimensions, 10,000 +
10,000 samples; Rep4Ex: ``rep4ex`` with 10,000 samples; CausalDiffAE: 5,000
pendulum images of 32 x 32), fit once at the estimator's defaults (or
``--max-steps``) and record

- the fit's wall-clock and CPU seconds, its optimiser steps and steps per second;
- the peak memory: ``torch.cuda.max_memory_allocated`` on CUDA; on the CPU the
  peak resident set size of the process (each case runs in its own process, so
  that the figure is the case's own);
- on CUDA, the host synchronisations of the fit, counted with
  ``torch.cuda.set_sync_debug_mode("warn")`` (one warning per synchronising
  call), in total and per optimiser step: the training loop reads its loss
  terms once per epoch, so a figure near 0 per step says the steps do not wait.

``--tiny`` shrinks data and steps to seconds and runs the cases in this process
(the tests run it on the CPU). Writes ``benchmarks/results/gpu.json`` (or
``--out``) and prints a markdown table.
"""

import argparse
import contextlib
import json
import platform
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch

import simulators
from causalrep import (
    IVAE,
    Autoencoder,
    BetaVAE,
    CausalDiffAE,
    InterventionalCRL,
    Rep4Ex,
)
from causalrep.estimators._core.base import resolve_device

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "gpu.json"


def _ahuja(tiny):
    n = 100 if tiny else 10000
    return simulators.ahuja2023(latent_dim=6, obs_dim=200, degree=2, n_obs=n, n_int=n, seed=0)


#: name -> (data of the paper-like setting, estimator factory).
CASES = {
    "InterventionalCRL": (_ahuja, lambda **kw: InterventionalCRL(latent_dim=6, **kw)),
    "Autoencoder": (_ahuja, lambda **kw: Autoencoder(latent_dim=6, **kw)),
    "BetaVAE": (_ahuja, lambda **kw: BetaVAE(latent_dim=6, **kw)),
    "IVAE": (_ahuja, lambda **kw: IVAE(latent_dim=6, **kw)),
    "Rep4Ex": (
        lambda tiny: simulators.rep4ex(n=200 if tiny else 10000, seed=0),
        lambda **kw: Rep4Ex(latent_dim=2, n_bootstrap=0, **kw),
    ),
    "CausalDiffAE": (
        lambda tiny: simulators.pendulum(100 if tiny else 5000, size=16 if tiny else 32, seed=0),
        lambda **kw: CausalDiffAE(**kw),
    ),
}
TINY_STEPS = 5


def measure(name, device, max_steps=None, tiny=False):
    """Fit one case; returns its record (see the module docstring)."""
    make_data, make = CASES[name]
    data = make_data(tiny)
    params = {"device": device, "verbose": 0, "seed": 0}
    if tiny:
        params["max_steps"] = TINY_STEPS
    elif max_steps is not None:
        params["max_steps"] = max_steps
    estimator = make(**params)
    if tiny and "restarts" in estimator.get_params():
        estimator.set_params(restarts=1)
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    with _sync_counter(cuda) as syncs:
        cpu, wall = time.process_time(), time.perf_counter()
        estimator.fit(data)
        if cuda:
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    steps = estimator.history_.get("steps", 0) if isinstance(estimator.history_, dict) else 0
    if cuda:
        peak, kind = torch.cuda.max_memory_allocated(), "cuda max_memory_allocated"
    else:
        # ru_maxrss is in KiB on Linux.
        peak, kind = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "peak RSS"
    return {
        "estimator": name,
        "n": data.n,
        "dim_x": data.dim_x,
        "device": str(estimator.device_),
        "steps": steps,
        "fit_seconds": wall,
        "fit_cpu_seconds": cpu,
        "steps_per_second": steps / wall if wall > 0 else None,
        "peak_memory_bytes": peak,
        "peak_memory_kind": kind,
        "host_syncs": len(syncs) if cuda else None,
        "host_syncs_per_step": len(syncs) / steps if cuda and steps else None,
    }


@contextlib.contextmanager
def _sync_counter(cuda):
    """A list that collects CUDA's synchronisation warnings raised in the block."""
    if not cuda:
        yield []
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield caught
        finally:
            torch.cuda.set_sync_debug_mode("default")
    caught[:] = [w for w in caught if "synchroniz" in str(w.message)]


def markdown(records):
    header = (
        "| estimator | n | dim_x | device | steps | fit (s) | CPU (s) | steps/s | "
        "peak memory (MiB) | host syncs per step |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        rate = "-" if r["steps_per_second"] is None else f"{r['steps_per_second']:.1f}"
        lines.append(
            f"| {r['estimator']} | {r['n']} | {r['dim_x']} | {r['device']} | "
            f"{r['steps']} | {r['fit_seconds']:.1f} | {r['fit_cpu_seconds']:.1f} | "
            f"{rate} | {r['peak_memory_bytes'] / 2**20:.0f} ({r['peak_memory_kind']}) | "
            f"{_syncs(r)} |"
        )
    return "\n".join(lines)


def _syncs(record):
    per_step = record.get("host_syncs_per_step")
    return "-" if per_step is None else f"{per_step:.2f} ({record['host_syncs']})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--tiny", action="store_true", help="seconds-long smoke run, in process")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--case-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = str(resolve_device(args.device))
    if args.case_worker:
        print(json.dumps(measure(args.cases[0], device, args.max_steps)))
        return
    records = []
    for name in args.cases:
        if args.tiny:
            records.append(measure(name, device, tiny=True))
            continue
        command = [
            sys.executable,
            __file__,
            "--case-worker",
            "--cases",
            name,
            "--device",
            device,
            "--threads",
            str(args.threads),
        ]
        if args.max_steps is not None:
            command += ["--max-steps", str(args.max_steps)]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        records.append(json.loads(out.strip().splitlines()[-1]))
        print(markdown(records[-1:]).splitlines()[-1], flush=True)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    results = {
        "machine": f"{platform.machine()}, {platform.system()}, torch {torch.__version__}",
        "gpu": gpu,
        "threads": args.threads,
        "tiny": args.tiny,
        "max_steps": args.max_steps,
        "records": records,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(markdown(records))


if __name__ == "__main__":
    main()
