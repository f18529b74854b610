"""Where the time of a CausalDiffAE training step goes, and what Pyro modules cost.

Usage:
    python benchmarks/bench_causaldiffae_profile.py [--report-only]

On one torch thread, at the estimator's defaults, for pendulum images of
16 x 16 and 32 x 32 (a batch of the default size):

- the CPU milliseconds of each part of a step (drawing the times and the noise,
  the encoder, the causal layer
  with the Pyro ELBO, the denoiser, the whole forward pass, the backward pass,
  gradient clipping, Adam with its fused kernel and with its per-tensor loop)
  and of a whole step, each the median of 7 blocks of 10 repetitions;
- the operators that take the most CPU time in 20 whole steps
  (``torch.profiler``, self time);
- the CPU time of a whole step with the same networks and weights as plain
  ``nn.Module``s, as shipped (Pyro modules at the top: encoder, causal layer,
  denoiser) and with every submodule a Pyro module
  (``pyro.nn.module.to_pyro_module_``), as medians of 21 blocks of 10 steps,
  the three variants' blocks taking turns.

Writes benchmarks/results/causaldiffae_profile.json and prints markdown tables.
"""

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import pyro
import torch
from pyro.nn import PyroModule
from pyro.nn.module import to_pyro_module_
from torch import nn

from causalrep import CausalDiffAE
from causalrep.estimators._core.base import local_params
from causalrep.estimators.causaldiffae._diffusion import alpha_bars, noised, stratified_times, target
from causalrep.estimators.causaldiffae._estimator import _negative_elbo
from simulators import pendulum

RESULTS = Path(__file__).resolve().parent / "results" / "causaldiffae_profile.json"
BLOCKS, REPEATS = 7, 10
VARIANTS = ("plain nn.Module", "Pyro at the top (shipped)", "Pyro everywhere")


def _timed(fn):
    """Median CPU milliseconds of one call of ``fn`` (7 blocks of 10 calls)."""
    fn()
    blocks = []
    for _ in range(BLOCKS):
        start = time.process_time()
        for _ in range(REPEATS):
            fn()
        blocks.append(1e3 * (time.process_time() - start) / REPEATS)
    return statistics.median(blocks)


def _setup(size):
    data = pendulum(512, size=size, seed=0)
    est = CausalDiffAE(verbose=0, device="cpu", max_steps=1, n_threads=None).fit(data)
    modules = est.modules_.train()
    batch = est.get_params()["batch_size"]
    x = torch.tensor(data.X[:batch])
    labels, labeled = est._labels(data, 4)
    return est, modules, x, labels[:batch], labeled[:batch]


def _step_parts(size):
    est, modules, x, labels, labeled = _setup(size)
    schedule = alpha_bars(est.diffusion_steps)
    parameters = list(modules.parameters())
    fused = torch.optim.Adam(parameters, lr=1e-4, fused=True)
    loop = torch.optim.Adam(parameters, lr=1e-4, foreach=False)
    xs = est._shaped(modules["scaler"](x))
    mu, log_scale = modules["encoder"](xs)
    z = modules["causal"](mu).detach()
    t = torch.randint(0, est.diffusion_steps, (x.shape[0],))
    keep = torch.ones(x.shape[0])

    def loss():
        return sum(est._loss(modules, schedule, 0.0, x, labels, labeled).values())

    def backward():
        fused.zero_grad()
        loss().backward()

    def elbo():
        with pyro.validation_enabled(False):
            return _negative_elbo(modules["causal"], mu.detach(), log_scale.detach(), labels, labeled, est.label_scale)

    def step():
        backward()
        torch.nn.utils.clip_grad_norm_(parameters, 10.0)
        fused.step()

    def times_and_noise():
        steps = stratified_times(x.shape[0], est.diffusion_steps, "cpu")
        noise = torch.randn(xs.shape)
        return noised(xs, steps, noise, schedule), target(xs, steps, noise, schedule, "v")

    parts = {
        "times, noise, noised images, targets": _timed(times_and_noise),
        "encoder forward": _timed(lambda: modules["encoder"](xs)),
        "causal layer + ELBO forward": _timed(elbo),
        "denoiser forward": _timed(lambda: modules["denoiser"](xs, t, z, keep)),
        "loss forward": _timed(loss),
        "loss forward + backward": _timed(backward),
        "gradient clipping": _timed(lambda: torch.nn.utils.clip_grad_norm_(parameters, 10.0)),
        "Adam, fused": _timed(fused.step),
        "Adam, per-tensor loop": _timed(loop.step),
        "whole step (fused Adam)": _timed(step),
    }
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(20):
            step()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    top = [
        {"op": e.key, "share": e.self_cpu_time_total / total, "ms_per_step": e.self_cpu_time_total / 1e3 / 20}
        for e in events[:10]
    ]
    return {
        "size": size,
        "batch": x.shape[0],
        "width": est.dims_["channels"],
        "parameters": sum(p.numel() for p in parameters),
        "parameter_tensors": len(parameters),
        "parts_ms": parts,
        "top_ops": top,
    }


def _plain(module):
    """The same module, weights and forward, with every Pyro module in it made a
    plain ``nn.Module``."""
    for part in module.modules():
        if isinstance(part, PyroModule):
            part.__class__ = type(f"Plain{type(part).__name__}", (nn.Module,), {"forward": type(part).forward})
    return module


def _pyro_overhead(size):
    est, modules, x, labels, labeled = _setup(size)
    schedule = alpha_bars(est.diffusion_steps)
    steps = {}
    for variant in VARIANTS:
        nets = est._build(est.dims_)
        nets.load_state_dict(modules.state_dict())
        nets.train()
        for name in ("encoder", "causal", "denoiser"):
            if variant == "plain nn.Module":
                _plain(nets[name])
            elif variant == "Pyro everywhere":
                to_pyro_module_(nets[name])
        optimiser = torch.optim.Adam(nets.parameters(), lr=1e-4, fused=True)

        def step(nets=nets, optimiser=optimiser):
            optimiser.zero_grad()
            sum(est._loss(nets, schedule, 0.0, x, labels, labeled).values()).backward()
            optimiser.step()

        step()
        steps[variant] = step
    # Blocks of the variants in turn, so that a change of the machine's load
    # falls on all of them alike.
    blocks = {variant: [] for variant in VARIANTS}
    for _ in range(3 * BLOCKS):
        for variant, step in steps.items():
            start = time.process_time()
            for _ in range(REPEATS):
                step()
            blocks[variant].append(1e3 * (time.process_time() - start) / REPEATS)
    return {"size": size, "step_ms": {v: statistics.median(b) for v, b in blocks.items()}, "step_ms_blocks": blocks}


def markdown(results):
    lines = []
    for record in results["parts"]:
        lines += [
            f"Pendulum {record['size']} x {record['size']}, batch {record['batch']}, "
            f"width {record['width']}, {record['parameters']:,} parameters in "
            f"{record['parameter_tensors']} tensors: CPU ms (one thread)",
            "",
            "| part | ms |",
            "|---|---|",
        ]
        lines += [f"| {name} | {ms:.1f} |" for name, ms in record["parts_ms"].items()]
        lines += ["", "| operator (self time, 20 whole steps) | share | ms per step |", "|---|---|---|"]
        lines += [f"| {op['op']} | {op['share']:.0%} | {op['ms_per_step']:.1f} |" for op in record["top_ops"]]
        lines.append("")
    lines += [
        "Whole step (forward, backward, fused Adam), CPU ms:",
        "",
        "| modules | " + " | ".join(f"{r['size']} x {r['size']}" for r in results["pyro"]) + " |",
        "|---|" + "---|" * len(results["pyro"]),
    ]
    for variant in results["pyro"][0]["step_ms"]:
        lines.append(f"| {variant} | " + " | ".join(f"{r['step_ms'][variant]:.1f}" for r in results["pyro"]) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    if not args.report_only:
        torch.set_num_threads(1)
        with local_params():
            results = {
                "machine": f"{platform.machine()}, {platform.system()}, torch {torch.__version__}",
                "load_average": os.getloadavg(),
                "parts": [_step_parts(size) for size in (16, 32)],
                "pyro": [_pyro_overhead(size) for size in (16, 32)],
            }
        results["load_average_after"] = os.getloadavg()
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2))
    print(markdown(json.loads(RESULTS.read_text())))


if __name__ == "__main__":
    main()
