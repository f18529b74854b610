"""InterventionalCRL at the edges of its theory, 3 seeds each, one torch thread.

Usage:
    python benchmarks/bench_interventional_edges.py [--seeds 0 1 2] [--only NAME]

Every fit uses the estimator's defaults apart from ``latent_dim``, ``degree``,
``max_steps=3000`` (half the default, to keep the MLP fits short on a shared
2-core machine) and ``decoder="mlp"`` for the pendulum, digit and
general-mixing rows, whose mixing is not polynomial (the light-tunnel rows keep
the polynomial decoder: their colour is linear in the LED brightnesses, and
the rows show which stage 1 ``encoder="auto"`` picks). It is trained on 80% of the samples and scored
on the held-out 20%:
MCC, the smallest per-latent correlation, which stage 1 ran (exact, near-exact,
MLP and why), the held-out reconstruction error, the IdentifiabilityWarnings
raised (the simulator's too) and the fit's CPU seconds. Writes
benchmarks/results/interventional_edges.json and prints a markdown table.

Settings (``*`` marks the negative controls, which must warn):

- near-exact: polynomial mixing whose quadratic part is rescaled by 0.4% in the
  interventional regimes (as a generator that rescales it per file does);
- pendulum / digit images (16x16, 1% pixel noise) with a do on each latent,
  where the MLP stage 1 runs;
- light tunnel (causalchamber's model F3, 16x16 RGB) with LED brightnesses as
  latents, at degree 2 (too few components: the MLP route) and degree 1 (exact);
- a general mixing (3-layer leaky-ReLU MLP) with one random-valued do per
  latent, the setting of Causal Component Analysis (Liang et al., 2023);
- * a latent without a regime, * shifts declared as do's, * too low a degree,
  * a non-injective renderer (both polarisers of the light tunnel).
"""

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import causalrep
import simulators
from causalrep import InterventionalCRL, InterventionalData
from causalrep.exceptions import IdentifiabilityWarning
from causalrep.identifiability import mcc

RESULTS = Path(__file__).parent / "results" / "interventional_edges.json"


def _scm(d, seed, mechanism="mlp", noise="gaussian"):
    return simulators.LatentSCM(simulators.erdos_renyi(d, 2.0, seed=seed), mechanism=mechanism, noise=noise, seed=seed)


def rescaled_quadratic(seed, d=6, obs_dim=40, n=2000, rescale=1.004):
    mixing = simulators.PolynomialMixing(d, obs_dim, 2, nonlinear_scale=1.0, seed=seed)
    data = simulators.interventional(_scm(d, seed), mixing, n, [simulators.do({j: 1.0}) for j in range(d)], seed=seed)
    quadratic = mixing.exponents.sum(1) >= 2
    part = mixing.features(data.Z)[:, quadratic] @ mixing.weight[quadratic]
    X = data.X + (rescale - 1.0) * part * (data.regime > 0)[:, None]
    return InterventionalData(X=X, regime=data.regime, targets=data.targets, Z=data.Z), {}


def _with_pixel_noise(X, Z, regime, targets, seed, level=0.01):
    X = X + np.random.default_rng(seed).normal(0.0, level, X.shape)
    return InterventionalData(X=X, regime=regime, targets=targets, Z=Z)


def pendulum_images(seed, n=1000, size=16):
    dos = [None, {"angle": 20.0}, {"light": 0.4}, {"shadow_length": 0.3}, {"shadow_position": 0.5}]
    parts = [simulators.pendulum(n, size=size, seed=10 * seed + k, do=do) for k, do in enumerate(dos)]
    targets = {0: (), 1: (0,), 2: (1,), 3: (2,), 4: (3,)}
    regime = np.repeat(np.arange(len(dos)), n)
    X, Z = np.concatenate([p.X for p in parts]), np.concatenate([p.Z for p in parts])
    return _with_pixel_noise(X, Z, regime, targets, seed), {"decoder": "mlp"}


def digit_images(seed, n=1000, size=16, digit=3):
    """Morpho digits of one class (the class is not a latent: a fixed glyph keeps X injective in Z)."""
    dos = [None, {"thickness": 2.5}, {"intensity": 0.6}]
    parts = [simulators.morpho_digits(n, size=size, seed=10 * seed + k, do=do) for k, do in enumerate(dos)]
    Z = np.concatenate([p.Z for p in parts])
    X = simulators.images.render_digits(Z, np.full(len(Z), digit), size)
    data = _with_pixel_noise(X, Z, np.repeat(np.arange(3), n), {0: (), 1: (0,), 2: (1,)}, seed)
    return data, {"decoder": "mlp"}


def light_tunnel(seed, inputs=("red", "green", "blue"), degree=2):
    data = simulators.light_tunnel(1000, inputs=inputs, size=16, pixel_noise=0.01, seed=seed)
    return data, {"degree": degree}


def general_mixing(seed, d=4, n=3000):
    laws = [lambda rng, m: rng.normal(0.5, 1.0, m), lambda rng, m: rng.uniform(-2.0, 2.0, m)]
    interventions = [simulators.do({j: laws[j % 2]}) for j in range(d)]
    mixing = simulators.MLPMixing(d, 20, n_layers=3, seed=seed)
    data = simulators.interventional(_scm(d, seed, mechanism="linear"), mixing, n, interventions, seed=seed)
    return data, {"decoder": "mlp"}


def missing_regime(seed, d=5):
    mixing = simulators.PolynomialMixing(d, 40, 2, nonlinear_scale=1.0, seed=seed)
    interventions = [simulators.do({j: 1.0}) for j in range(d - 1)]
    return simulators.interventional(_scm(d, seed), mixing, 1000, interventions, seed=seed), {}


def shifts(seed, d=4):
    mixing = simulators.PolynomialMixing(d, 30, 2, nonlinear_scale=1.0, seed=seed)
    interventions = [simulators.shift({j: 1.5}) for j in range(d)]
    data = simulators.interventional(_scm(d, seed, mechanism="linear"), mixing, 1500, interventions, seed=seed)
    return data, {}


def low_degree(seed, d=4):
    mixing = simulators.PolynomialMixing(d, 60, 3, nonlinear_scale=1.0, seed=seed)
    interventions = [simulators.do({j: 1.0}) for j in range(d)]
    return simulators.interventional(_scm(d, seed), mixing, 1000, interventions, seed=seed), {"degree": 2}


SETTINGS = {
    "near-exact: quadratic part x1.004 in the interventional regimes, d=6": rescaled_quadratic,
    "pendulum images 16x16, 1% noise, do per latent (d=4)": pendulum_images,
    "digit images 16x16, 1% noise, do per latent (d=2)": digit_images,
    "light tunnel RGB 16x16, degree 2 (auto: MLP route)": light_tunnel,
    "light tunnel RGB 16x16, degree 1 (exact)": lambda s: light_tunnel(s, degree=1),
    "general mixing (leaky-ReLU MLP), random-valued do, d=4": general_mixing,
    "* no regime on latent 4 (do on 4 of 5)": missing_regime,
    "* shifts declared as do's, d=4": shifts,
    "* too low a degree (degree-3 mixing, degree=2)": low_degree,
    "* non-injective renderer (light tunnel pol_1 + pol_2)": lambda s: light_tunnel(s, inputs=("pol_1", "pol_2")),
}


def run_one(name, make, seed):
    with warnings.catch_warnings(record=True) as simulated:
        warnings.simplefilter("always", IdentifiabilityWarning)
        data, params = make(seed)
    train, test = data.split(0.2, seed=seed)
    d = data.Z.shape[1]
    cpu, wall = time.process_time(), time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IdentifiabilityWarning)
        est = InterventionalCRL(latent_dim=d, max_steps=3000, seed=seed, verbose=0, **params).fit(train)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    result = mcc(test.Z, est.transform(test.X))
    report = est.stage1_
    route = report.encoder
    if report.near_exact:
        route = "linear (near-exact)"
    elif report.route_reason:
        route = "mlp (route: spectrum)"
    elif report.fallback:
        route = f"{report.encoder} (fallback)"
    messages = [str(w.message) for w in simulated + caught if issubclass(w.category, IdentifiabilityWarning)]
    return {
        "setting": name,
        "seed": seed,
        "latent_dim": d,
        "n_train": train.n,
        "dim_x": data.dim_x,
        "params": params,
        "mcc": result.score,
        "min_latent": float(np.min(result.per_latent)),
        "stage1": route,
        "heldout_error": report.heldout_error,
        "fit_cpu_seconds": cpu,
        "fit_wall_seconds": wall,
        "warnings": messages,
        "load_average": os.getloadavg()[0],
    }


def table(records):
    lines = [
        "| setting | MCC (median [min]) | min latent (min) | stage 1 | held-out error (median) | warned "
        "| fit CPU s (median) |",
        "|" + "---|" * 7,
    ]
    for name in dict.fromkeys(r["setting"] for r in records):
        group = [r for r in records if r["setting"] == name]
        mccs = [r["mcc"] for r in group]
        lines.append(
            f"| {name} | {statistics.median(mccs):.5f} [{min(mccs):.5f}] | {min(r['min_latent'] for r in group):.3f} "
            f"| {', '.join(sorted({r['stage1'] for r in group}))} "
            f"| {statistics.median(r['heldout_error'] for r in group):.2g} "
            f"| {sum(bool(r['warnings']) for r in group)}/{len(group)} "
            f"| {statistics.median(r['fit_cpu_seconds'] for r in group):.1f} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", default=None, help="run settings whose name contains this")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    records = []
    if args.out.exists() and args.only:
        records = [r for r in json.loads(args.out.read_text())["records"] if args.only not in r["setting"]]
    for name, make in SETTINGS.items():
        if args.only and args.only not in name:
            continue
        for seed in args.seeds:
            records.append(run_one(name, make, seed))
            shown = {k: v for k, v in records[-1].items() if k != "warnings"}
            print(json.dumps(shown), len(records[-1]["warnings"]), "warnings", flush=True)
            args.out.parent.mkdir(exist_ok=True)
            meta = {"version": causalrep.__version__, "torch": torch.__version__, "machine": platform.machine()}
            args.out.write_text(json.dumps({**meta, "threads": 1, "records": records}, indent=2))
    order = list(SETTINGS)
    records.sort(key=lambda r: (order.index(r["setting"]) if r["setting"] in order else len(order), r["seed"]))
    print(table(records))
    for name in dict.fromkeys(r["setting"] for r in records if r["setting"].startswith("*")):
        first = next(r for r in records if r["setting"] == name)
        print(f"\n{name}, seed {first['seed']}:\n" + "\n".join(f"- {m}" for m in first["warnings"]))


if __name__ == "__main__":
    main()
