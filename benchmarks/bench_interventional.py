"""InterventionalCRL on the ahuja2023 grid and on harder settings, 3 seeds each.

Usage:
    python benchmarks/bench_interventional.py [--suite ahuja2023 hard] [--seeds 0 1 2]

Every fit uses the estimator's defaults (one torch thread), is trained on 80%
of the samples and scored on the held-out 20%: affine R2 of stage 1, MCC after
stage 2 (or block R2 where the regimes only identify blocks), the warnings
raised, and the fit's CPU and wall seconds. Writes
benchmarks/results/interventional.json and prints markdown tables for
docs/benchmarks.md.

- ``ahuja2023``: latents uniform, sparse SCM and dense SCM; d in {6, 10};
  degree 2 and 3 (obs_dim 200, or 300 where degree 3 in 10 latents needs 285
  dimensions); 10,000 observational and 10,000 interventional samples.
- ``hard``: settings the ahuja2023 simulator does not reach: dense
  Erdos-Renyi graphs with tanh mechanisms, Laplace and Student-t noise,
  full-strength quadratic mixing (no rescaling of the degree-2 part),
  unbalanced regimes (20,000 observational, 500 per interventional regime),
  multi-target regimes, unknown targets, 1% observation noise, do with a random
  value (linear and tanh SCMs, known and unknown targets) and one latent.
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
from causalrep.identifiability import affine_r2, check, mcc

RESULTS = Path(__file__).parent / "results" / "interventional.json"


def ahuja_settings():
    for latents in ("uniform", "scm_sparse", "scm_dense"):
        for d in (6, 10):
            for degree in (2, 3):
                obs_dim = 300 if (d, degree) == (10, 3) else 200
                yield (
                    f"{latents} d={d} p={degree}",
                    lambda seed, latents=latents, d=d, degree=degree, obs_dim=obs_dim: simulators.ahuja2023(
                        latent_dim=d,
                        obs_dim=obs_dim,
                        degree=degree,
                        latents=latents,
                        n_obs=10000,
                        n_int=10000,
                        seed=seed,
                    ),
                )


def _scm_data(
    seed, d, obs_dim, noise="gaussian", degree=2, sizes=2000, interventions=None, expected_degree=3.0, mechanism="mlp"
):
    graph = simulators.erdos_renyi(d, min(expected_degree, d - 1), seed=seed)
    scm = simulators.LatentSCM(graph, mechanism=mechanism, noise=noise, seed=seed)
    mixing = simulators.PolynomialMixing(d, obs_dim, degree, nonlinear_scale=1.0, seed=seed)
    if interventions is None:
        interventions = [simulators.do({j: 1.5}) for j in range(d)]
    return simulators.interventional(scm, mixing, sizes, interventions, seed=seed)


def _random_do(d):
    """A do with a random value on each latent: N(0.5, 1) and U(-2, 2), alternating."""
    laws = [lambda rng, m: rng.normal(0.5, 1.0, m), lambda rng, m: rng.uniform(-2.0, 2.0, m)]
    return [simulators.do({j: laws[j % 2]}) for j in range(d)]


def _hidden_targets(data):
    targets = {k: (None if k else ()) for k in data.targets}
    return InterventionalData(X=data.X, regime=data.regime, targets=targets, Z=data.Z, meta=data.meta)


def _noisy(data, level, seed):
    noise = np.random.default_rng(seed).normal(scale=level * data.X.std(), size=data.X.shape)
    return InterventionalData(X=data.X + noise, regime=data.regime, targets=data.targets, Z=data.Z, meta=data.meta)


def hard_settings():
    do = simulators.do
    yield "dense ER, tanh, Gaussian, d=8, D=60", lambda s: _scm_data(s, 8, 60)
    yield "Laplace noise, d=6, D=40", lambda s: _scm_data(s, 6, 40, noise="laplace")
    yield "Student-t(3) noise, d=6, D=40", lambda s: _scm_data(s, 6, 40, noise="student_t")
    yield "degree 3, d=5, D=80", lambda s: _scm_data(s, 5, 80, degree=3)
    yield ("unbalanced 20k + 500/regime, d=6", lambda s: _scm_data(s, 6, 40, sizes=[20000] + [500] * 6))
    yield (
        "multi-target blocks, d=6",
        lambda s: _scm_data(
            s, 6, 40, interventions=[do({0: 1.0, 1: -1.0}), do({2: 1.0, 3: -1.0}), do({4: 1.0, 5: -1.0})]
        ),
    )
    yield "unknown targets, d=6", lambda s: _hidden_targets(_scm_data(s, 6, 40))
    yield "1% observation noise, d=6", lambda s: _noisy(_scm_data(s, 6, 40), 0.01, s)
    yield (
        "random-valued do, linear SCM, Laplace, d=6",
        lambda s: _scm_data(
            s, 6, 40, noise="laplace", mechanism="linear", sizes=[10000] + [3000] * 6, interventions=_random_do(6)
        ),
    )
    yield (
        "random-valued do, unknown targets, linear SCM, d=6",
        lambda s: _hidden_targets(
            _scm_data(s, 6, 40, mechanism="linear", sizes=[10000] + [3000] * 6, interventions=_random_do(6))
        ),
    )
    yield (
        "random-valued do, tanh SCM, d=6",
        lambda s: _scm_data(s, 6, 40, sizes=[10000] + [3000] * 6, interventions=_random_do(6)),
    )
    # The same two at 10,000 samples per regime: the moments' error shrinks with n.
    yield (
        "random-valued do, linear SCM, Laplace, d=6, 10k/regime",
        lambda s: _scm_data(
            s, 6, 40, noise="laplace", mechanism="linear", sizes=[10000] * 7, interventions=_random_do(6)
        ),
    )
    yield (
        "random-valued do, tanh SCM, d=6, 10k/regime",
        lambda s: _scm_data(s, 6, 40, sizes=[10000] * 7, interventions=_random_do(6)),
    )
    yield ("one latent, D=5", lambda s: _scm_data(s, 1, 5, interventions=[do({0: 1.0})], expected_degree=0.0))


SUITES = {"ahuja2023": ahuja_settings, "hard": hard_settings}


def timing(repeats):
    """CPU seconds of a d=6, degree-2 fit on 20,000 samples: the default
    (linear) stage 1 ``repeats`` times, and the MLP stage 1 once as the
    baseline measured in the same run."""
    data = simulators.ahuja2023(
        latent_dim=6, obs_dim=200, degree=2, latents="scm_dense", n_obs=10000, n_int=10000, seed=0
    )
    rows = []
    for encoder, count in (("linear", repeats), ("mlp", 1)):
        for _ in range(count):
            cpu, wall = time.process_time(), time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                InterventionalCRL(latent_dim=6, encoder=encoder, verbose=0).fit(data)
            rows.append(
                {
                    "encoder": encoder,
                    "cpu_seconds": time.process_time() - cpu,
                    "wall_seconds": time.perf_counter() - wall,
                    "load_average": os.getloadavg()[0],
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def run_one(suite, name, make, seed):
    data = make(seed)
    train, test = data.split(0.2, seed=seed)
    d = data.Z.shape[1]
    cpu, wall = time.process_time(), time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", causalrep.estimators.IdentifiabilityWarning)
        est = InterventionalCRL(latent_dim=d, degree=data.meta["mixing"]["degree"], seed=seed, verbose=0).fit(train)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    stage1, stage2 = est.stage1_transform(test.X), est.transform(test.X)
    record = {
        "suite": suite,
        "setting": name,
        "seed": seed,
        "latent_dim": d,
        "n_train": train.n,
        "dim_x": data.dim_x,
        "fit_cpu_seconds": cpu,
        "fit_wall_seconds": wall,
        "stage1_encoder": est.stage1_.encoder,
        "stage1_affine_r2": affine_r2(test.Z, stage1).mean,
        "mcc": mcc(test.Z, stage2).score,
        "blocks": est.blocks_,
        "warnings": [str(w.message) for w in caught],
        "load_average": os.getloadavg()[0],
    }
    if est.blocks_:
        report = check(test.Z, stage2, up_to="block", blocks=est.blocks_)
        record["block_r2"] = float(report.block.per_block.min())
        record["passed"] = report.passed
    else:
        record["passed"] = check(test.Z, stage2, up_to="permutation").passed
    return record


def table(records):
    lines = [
        "| setting | MCC (median [min]) | block R2 (min) | stage-1 affine R2 (min) "
        "| passed | warned | fit CPU s (median) | fit wall s (median) |",
        "|" + "---|" * 8,
    ]
    for name in dict.fromkeys(r["setting"] for r in records):
        group = [r for r in records if r["setting"] == name]
        mccs = [r["mcc"] for r in group]
        blocks = [r["block_r2"] for r in group if "block_r2" in r]
        lines.append(
            f"| {name} | {statistics.median(mccs):.5f} [{min(mccs):.5f}] "
            f"| {f'{min(blocks):.5f}' if blocks else '-'} "
            f"| {min(r['stage1_affine_r2'] for r in group):.6f} "
            f"| {sum(r['passed'] for r in group)}/{len(group)} "
            f"| {sum(bool(r['warnings']) for r in group)}/{len(group)} "
            f"| {statistics.median(r['fit_cpu_seconds'] for r in group):.1f} "
            f"| {statistics.median(r['fit_wall_seconds'] for r in group):.1f} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", nargs="+", default=list(SUITES), choices=list(SUITES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", default=None, help="run settings whose name contains this")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file")
    parser.add_argument(
        "--timing", type=int, default=0, metavar="REPEATS", help="only time the d=6, degree-2, 20,000-sample fit"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.timing:
        rows = timing(args.timing)
        (RESULTS.parent / "interventional_timing.json").write_text(json.dumps(rows, indent=2))
        for encoder in ("linear", "mlp"):
            cpu = [r["cpu_seconds"] for r in rows if r["encoder"] == encoder]
            wall = [r["wall_seconds"] for r in rows if r["encoder"] == encoder]
            print(
                f"{encoder}: median CPU {statistics.median(cpu):.1f} s, "
                f"wall {statistics.median(wall):.1f} s over {len(cpu)} runs"
            )
        return
    records = []
    if args.out.exists() and args.only:
        records = [
            r
            for r in json.loads(args.out.read_text()).get("records", [])
            if "suite" in r and args.only not in r["setting"]
        ]
    for suite in args.suite:
        for name, make in SUITES[suite]():
            if args.only and args.only not in name:
                continue
            for seed in args.seeds:
                records.append(run_one(suite, name, make, seed))
                shown = {k: v for k, v in records[-1].items() if k != "warnings"}
                print(json.dumps(shown), len(records[-1]["warnings"]), "warnings", flush=True)
                args.out.parent.mkdir(exist_ok=True)
                args.out.write_text(
                    json.dumps(
                        {
                            "version": causalrep.__version__,
                            "torch": torch.__version__,
                            "machine": platform.machine(),
                            "threads": 1,
                            "records": records,
                        },
                        indent=2,
                    )
                )
    for suite in args.suite:
        print(f"\n{suite}\n" + table([r for r in records if r["suite"] == suite]))


if __name__ == "__main__":
    main()
