"""ContrastiveCRL against InterventionalCRL's MLP route and iVAE on ``simulators.contrastive_crl``.

The paper's synthetic setting (Buchholz et al., NeurIPS 2023), d = 5: a linear
Gaussian SCM on a random DAG with 4 expected neighbours per node (every pair of
the 5 latents linked), one perfect stochastic intervention per latent (mean
shifted by 1-2, variance in [1, 2]), a randomly initialised leaky-ReLU MLP of
3 hidden layers of 512 into 100 dimensions, 10,000 samples per regime (8,000
to fit, 2,000 held out per regime). 3 seeds; the model, data, split and fits
follow the seed. Targets are given to none of the methods
(``data.targets[k] = None``).

Methods: ``ContrastiveCRL`` with its defaults; ``InterventionalCRL`` with its
MLP stage 1 (``encoder="mlp", decoder="mlp"``); ``IVAE(auxiliary="regime")``.
Scores on the held-out rows of every regime: MCC, the matched correlation of
each latent, and the structural Hamming distance of the learned graph after the
MCC matching (``causalrep.identifiability.structural_hamming_distance``) where a
method learns one. Negative controls (seed 0, ContrastiveCRL): heavy-tailed
latents (Student t with 3 degrees of freedom) and regimes that intervene on two
latents each; the warnings they raised are recorded. Fit time in CPU seconds,
one torch thread per fit.

Writes benchmarks/results/contrastive_crl.json and prints the markdown table of
the section "ContrastiveCRL" of docs/benchmarks.md.

Usage, from the repository root:
    python -m benchmarks.bench_contrastive_crl [--seeds 0 1 2] [--n 10000]
"""

import argparse
import json
import platform
import statistics
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "contrastive_crl.json"

SETTING = {"latent_dim": 5, "obs_dim": 100, "hidden": (512, 512, 512)}
METHODS = ("ContrastiveCRL", "InterventionalCRL (MLP)", "iVAE")
CONTROLS = {"heavy tails": {"noise": "student_t"}, "two latents per regime": {"n_targets": 2}}


def simulate(n, seed, **extra):
    """The setting's data, targets hidden, split 80/20 in each regime."""
    import simulators
    from causalrep import InterventionalData

    data = simulators.contrastive_crl(**SETTING, n_per_regime=n, seed=seed, **extra)
    hidden = {k: None if k else () for k in data.regimes}
    data = InterventionalData(X=data.X, regime=data.regime, targets=hidden, Z=data.Z, graph=data.graph, meta=data.meta)
    return data.split(0.2, seed=seed)


def make(method, seed, latent_dim=SETTING["latent_dim"]):
    from causalrep import IVAE, ContrastiveCRL, InterventionalCRL

    common = {"latent_dim": latent_dim, "seed": seed, "verbose": 0, "n_threads": 1}
    if method == "ContrastiveCRL":
        return ContrastiveCRL(**common)
    if method == "iVAE":
        return IVAE(**common, auxiliary="regime")
    return InterventionalCRL(**common, encoder="mlp", decoder="mlp")


def fit_and_score(method, train, test, seed):
    from causalrep.identifiability import mcc, structural_hamming_distance

    est = make(method, seed, test.Z.shape[1])
    cpu = time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(train)
    cpu = time.process_time() - cpu
    result = mcc(test.Z, est.transform(test.X))
    try:
        graph = est.graph_
    except AttributeError:
        graph = None
    shd = None if graph is None else structural_hamming_distance(test.graph, graph, result.matching).shd
    return {
        "method": method,
        "seed": seed,
        "mcc": float(result.score),
        "per_latent": [float(c) for c in result.per_latent],
        "shd": shd,
        "true_edges": test.graph.number_of_edges(),
        "cpu_seconds": cpu,
        "warnings": sorted({str(w.message) for w in caught if w.category.__name__ == "IdentifiabilityWarning"}),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n", type=int, default=10000, help="samples per regime (80%% fitted)")
    parser.add_argument(
        "--methods", nargs="+", default=list(METHODS), choices=METHODS, help="refit these; keep the others' records"
    )
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    kept = json.loads(RESULTS.read_text())["records"] if RESULTS.exists() else []
    records = [r for r in kept if r["method"] not in args.methods]
    for seed in args.seeds:
        train, test = simulate(args.n, seed)
        for method in args.methods:
            record = fit_and_score(method, train, test, seed)
            records.append({"setting": "d=5", **record})
            print(json.dumps({k: v for k, v in records[-1].items() if k != "warnings"}), flush=True)
    for name, extra in CONTROLS.items() if "ContrastiveCRL" in args.methods else ():
        train, test = simulate(args.n, args.seeds[0], **extra)
        records.append({"setting": name, **fit_and_score("ContrastiveCRL", train, test, args.seeds[0])})
        print(json.dumps(records[-1]), flush=True)
    RESULTS.write_text(
        json.dumps(
            {
                "setting": {**SETTING, "n_per_regime": args.n, "fit_fraction": 0.8},
                "machine": platform.processor() or platform.machine(),
                "torch_threads": 1,
                "records": records,
            },
            indent=1,
        )
    )
    print(markdown(records))


def markdown(records):
    lines = [
        "| method | held-out MCC (mean, min) | worst latent | SHD (of 10 edges) | fit CPU s |",
        "| --- | --- | --- | --- | --- |",
    ]
    for method in METHODS:
        recs = [r for r in records if r["setting"] == "d=5" and r["method"] == method]
        if not recs:
            continue
        shd = [r["shd"] for r in recs if r["shd"] is not None]
        lines.append(
            f"| {method} | {statistics.mean(r['mcc'] for r in recs):.3f} ({min(r['mcc'] for r in recs):.3f}) | "
            f"{min(min(r['per_latent']) for r in recs):.2f} | "
            f"{', '.join(map(str, shd)) if shd else '-'} | {statistics.mean(r['cpu_seconds'] for r in recs):.0f} |"
        )
    for r in records:
        if r["setting"] in CONTROLS:
            lines.append(f"\n{r['setting']}: MCC {r['mcc']:.3f}, {len(r['warnings'])} warning(s)")
            lines += [f"- {message}" for message in r["warnings"]]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
