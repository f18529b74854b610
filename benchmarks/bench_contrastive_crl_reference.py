"""Side by side with the authors' Contrastive CRL code, on the arrays its own generator makes.

Usage:
    python -m benchmarks.bench_contrastive_crl_reference --reference PATH [--seeds 0 1 2] [--dims 5 10]
    CONTRASTIVE_CRL_REFERENCE=PATH python -m benchmarks.bench_contrastive_crl_reference

PATH is a checkout of the repository that holds the reference
(github.com/simonbing/CRLSanityCheck, folder ``crc/baselines/contrastive_crl``);
without one the script says so and exits with status 0. Its generator needs
``sempler`` (``pip install sempler``), which causalrep does not depend on.

For each latent dimension d and seed, in this process:

1. the arrays, from the reference's ``data_generation.get_data_from_kwargs``
   with the paper's synthetic settings (its ``settings.yaml``): a linear
   Gaussian SCM from ``sempler`` with 4 expected neighbours per node, edge
   weights in [0.25, 1] with random signs, noise variances in [1, 2]; one
   perfect intervention per latent setting its mean to +-[1, 2] and its
   variance to [1, 2]; a randomly initialised leaky-ReLU MLP of 3 hidden layers
   of 512 into 100 dimensions; ``n`` samples per environment, 80% to fit and
   20% for validation, the observational fit rows repeated once per
   environment as the reference pairs them;
2. the reference's fit: its ``models.get_contrastive_synthetic`` (512 wide,
   residual, no hidden layers) trained by its ``training.train_model`` with the
   paper's hyperparameters (Adam at 5e-4, batch 512, 200 epochs, eta 1e-4,
   kappa 0.1, mu 1e-5), keeping its best model by validation loss. Its batches
   are served from tensors already mixed (its own data set class would run the
   mixing MLP once per sample), so its CPU time is that of its model and
   training loop alone;
3. ``ContrastiveCRL`` with its defaults, and the baselines of
   ``bench_contrastive_crl`` (InterventionalCRL's MLP route, iVAE), on the same
   samples: each environment's fit and validation rows (the observational ones
   once), targets hidden.

Both are scored on the reference's 5,000 observational test samples: MCC and
the structural Hamming distance of the learned graph after the MCC matching
(the reference's graph is its adjacency above its evaluation threshold, 0.3).
Fit time in CPU seconds, one torch thread. Writes
benchmarks/results/contrastive_crl_reference.json and prints a markdown table.

Shims: the reference imports wandb, torchvision, scikit-image and the Causal
Chamber's data sets (which go online on import) at module level; the path used
here calls only ``wandb.log``. They are replaced by stub
modules written to a temporary folder put first on the import path. No file of
the reference is changed.
"""

import argparse
import contextlib
import functools
import importlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import networkx as nx
import numpy as np
import torch

from benchmarks._shims import write_shims
from benchmarks.bench_contrastive_crl import METHODS, fit_and_score
from causalrep import InterventionalData
from causalrep.identifiability import mcc, structural_hamming_distance

RESULTS = Path(__file__).parent / "results" / "contrastive_crl_reference.json"
PACKAGE = "crc.baselines.contrastive_crl.src"
DATA = {
    "mixing": "mlp",
    "k": 4,
    "dim_x": 100,
    "hidden_dim": 512,
    "hidden_layers": 3,
    "var_range_obs": (1.0, 2.0),
    "var_range_int": (1.0, 2.0),
    "mean_range": (1.0, 2.0),
    "var_shift": True,
    "repeat_obs_samples": True,
}
TRAINING = {
    "epochs": 200,
    "optimizer": "adam",
    "lr_nonparametric": 5e-4,
    "lr_parametric": 5e-4,
    "mu": 1e-5,
    "eta": 1e-4,
    "kappa": 0.1,
    "weight_decay": 0.0,
    "type": "contrastive",
}
BATCH_SIZE = 512
GRAPH_THRESHOLD = 0.3

SHIMS = {
    "wandb.py": "def init(*args, **kwargs):\n    return None\n\n\ndef log(*args, **kwargs):\n    return None\n",
    "torchvision/__init__.py": "from . import models, transforms\n",
    "torchvision/transforms.py": "def __getattr__(name):\n    return None\n",
    "torchvision/models.py": "def __getattr__(name):\n    return None\n",
    "skimage/__init__.py": "from . import io\n",
    "skimage/io.py": "def __getattr__(name):\n    return None\n",
    "causalchamber/__init__.py": "",
    "causalchamber/datasets.py": "Dataset = None\n",
}


def load_reference(reference, shims):
    """The reference's data generation, models and training modules."""
    sys.path[:0] = [str(shims), str(reference)]
    return [importlib.import_module(f"{PACKAGE}.{name}") for name in ("data_generation", "models", "training")]


def reference_data(generation, d, n, seed):
    """The reference's DataBag for latent dimension ``d``, ``n`` samples per environment."""
    return generation.get_data_from_kwargs({**DATA, "d": d, "n": n, "seed": seed})


def _batches(*tensors, seed):
    """Shuffled batches of ``tensors`` (aligned rows), one epoch per iteration."""
    generator = torch.Generator().manual_seed(seed)

    class Epochs:
        def __iter__(self):
            order = torch.randperm(len(tensors[0]), generator=generator)
            for rows in order.split(BATCH_SIZE):
                yield tuple(t[rows] for t in tensors)

    return Epochs()


def reference_fit(models, training, bag, seed):
    """Train the reference's model on ``bag``; returns (model, CPU seconds)."""
    as_tensor = functools.partial(torch.tensor, dtype=torch.float)
    train = _batches(as_tensor(bag.obs_f), as_tensor(bag.int_f), torch.tensor(bag.targets), seed=seed)
    val = _batches(as_tensor(bag.obs_f_val), as_tensor(bag.int_f_val), torch.tensor(bag.targets_val), seed=seed)
    torch.manual_seed(seed)
    model = models.get_contrastive_synthetic(
        input_dim=DATA["dim_x"], latent_dim=bag.d, hidden_dim=512, hidden_layers=0, residual=True
    )
    cpu = time.process_time()
    with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):
        best, _, _, _ = training.train_model(model, "cpu", train, val, TRAINING)
    return best, time.process_time() - cpu


def our_data(bag):
    """The bag's fit and validation samples as InterventionalData, targets hidden."""
    n_obs = bag.train_samples
    x = [bag.obs_f[:n_obs], bag.obs_f_val[: bag.val_samples], bag.int_f, bag.int_f_val]
    z = [bag.obs[:n_obs], bag.obs_val[: bag.val_samples], bag.int, bag.int_val]
    regime = np.concatenate([np.zeros(n_obs + bag.val_samples, dtype=np.int64), bag.targets + 1, bag.targets_val + 1])
    targets = {k: None if k else () for k in range(bag.d + 1)}
    return InterventionalData(
        X=np.concatenate(x).astype(np.float32), regime=regime, targets=targets, Z=np.concatenate(z), graph=_graph(bag.W)
    )


def _graph(weights):
    """The DiGraph of the nonzero entries of ``weights`` (``weights[i, j]``: the edge i -> j)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(range(weights.shape[0]))
    graph.add_edges_from(zip(*np.nonzero(np.abs(weights) > 1e-12), strict=True))
    return graph


def score(bag, z_hat, graph_hat):
    """MCC on the reference's test samples, per-latent correlations and SHD after the matching."""
    result = mcc(bag.obs_test, z_hat)
    shd = structural_hamming_distance(_graph(bag.W), graph_hat, result.matching)
    return {"mcc": float(result.score), "per_latent": [float(c) for c in result.per_latent], "shd": shd.shd}


def run(modules, d, n, seed, methods=METHODS, fit_reference=True):
    generation, models, training = modules
    bag = reference_data(generation, d, n, seed)
    x_test = bag.f(torch.tensor(bag.obs_test, dtype=torch.float)).detach()
    common = {"d": d, "seed": seed, "n_per_environment": n, "true_edges": int(np.count_nonzero(bag.W))}
    records = []

    if fit_reference:
        model, cpu = reference_fit(models, training, bag, seed)
        with torch.no_grad():
            z_hat = model.get_z(x_test).numpy()
        weights = model.parametric_part.A.t().detach().numpy() * (1 - np.eye(d))
        graph_hat = _graph(np.where(np.abs(weights) > GRAPH_THRESHOLD, weights, 0))
        records.append({"method": "reference", **common, **score(bag, z_hat, graph_hat), "cpu_seconds": cpu})
        print(json.dumps(records[-1]), flush=True)

    train = our_data(bag)
    test = InterventionalData(
        X=x_test.numpy(),
        regime=np.zeros(len(x_test), dtype=np.int64),
        targets={0: ()},
        Z=bag.obs_test,
        graph=train.graph,
    )
    for method in methods:
        records.append({**fit_and_score(method, train, test, seed), **common})
        print(json.dumps(records[-1]), flush=True)
    return records


def table(records):
    lines = [
        "| d | method | MCC per seed | SHD per seed (true edges) | CPU-s per seed | CPU-s ratio (median) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for d in sorted({r["d"] for r in records}):
        reference = {r["seed"]: r["cpu_seconds"] for r in records if r["d"] == d and r["method"] == "reference"}
        for method in ("reference", *METHODS):
            rows = [r for r in records if r["d"] == d and r["method"] == method]
            if not rows:
                continue
            ratio = statistics.median(r["cpu_seconds"] / reference[r["seed"]] for r in rows if r["seed"] in reference)
            mccs = ", ".join(f"{r['mcc']:.3f}" for r in rows)
            shds = ", ".join("-" if r["shd"] is None else f"{r['shd']} ({r['true_edges']})" for r in rows)
            cpus = ", ".join(f"{r['cpu_seconds']:.0f}" for r in rows)
            lines.append(f"| {d} | {method} | {mccs} | {shds} | {cpus} | {ratio:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reference", type=Path, default=os.environ.get("CONTRASTIVE_CRL_REFERENCE"), help="CRLSanityCheck checkout"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--dims", type=int, nargs="+", default=[5, 10])
    parser.add_argument("--n", type=int, default=10000, help="samples per environment (80%% fit, 20%% validation)")
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS, help="ours to fit")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file")
    parser.add_argument("--no-reference", action="store_true", help="fit only ours (to merge with earlier runs)")
    parser.add_argument(
        "--merge", type=Path, nargs="+", help="combine these results files into --out (later files win) and stop"
    )
    args = parser.parse_args(argv)
    if args.merge:
        merged = [json.loads(path.read_text()) for path in args.merge]
        latest = {(r["method"], r["d"], r["seed"]): r for m in merged for r in m["records"]}
        records = sorted(latest.values(), key=lambda r: (r["d"], r["seed"], r["method"] != "reference"))
        args.out.write_text(json.dumps({**merged[0], "records": records}, indent=1))
        print(table(records))
        return
    if args.reference is None or not (args.reference / "crc" / "baselines" / "contrastive_crl").is_dir():
        print("no checkout of the reference given (--reference or CONTRASTIVE_CRL_REFERENCE); nothing to compare")
        return
    torch.set_num_threads(1)
    records = []
    with tempfile.TemporaryDirectory() as shims:
        modules = load_reference(args.reference, write_shims(Path(shims), SHIMS))
        for d in args.dims:
            for seed in args.seeds:
                records += run(modules, d, args.n, seed, args.methods, not args.no_reference)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(
                    json.dumps(
                        {
                            "data": {**DATA, "n_per_environment": args.n},
                            "reference_training": {**TRAINING, "batch_size": BATCH_SIZE},
                            "machine": platform.processor() or platform.machine(),
                            "torch_threads": 1,
                            "records": records,
                        },
                        indent=1,
                    )
                )
    print(table(records))


if __name__ == "__main__":
    main()
