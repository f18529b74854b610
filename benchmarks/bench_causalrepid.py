"""Side by side with CausalRepID, the code of Ahuja et al. (2023), on its own arrays.

Usage:
    python -m benchmarks.bench_causalrepid --reference PATH [--seeds 0 1 2] [--latents scm_dense uniform]
    CAUSALREPID=PATH python -m benchmarks.bench_causalrepid

PATH is a checkout of the reference repository (github.com/facebookresearch/CausalRepID);
without one the script says so and exits with status 0. For each latent
distribution and seed, in a scratch directory (the checkout is not written to):

1. the arrays: the reference's ``data/synthetic_polynomial_dgp.py`` with
   ``--latent_dim 6 --poly_degree 2`` and its defaults otherwise (200
   dimensions; 10,000 training, 2,500 validation and 20,000 test samples, each
   observational and interventional, a do at 2.0 on one latent drawn per
   interventional sample). It rescales the quadratic part of each file by its
   own factor, so the observational and interventional files differ in mixing
   (by 12% for uniform latents and 30% for the dense SCM at seed 0);
2. the reference's fit: its ``train.py`` at its defaults (polynomial decoder,
   Adam at 1e-3, batch 16, weight decay 5e-4, up to 200 epochs with early
   stopping on the validation files) with ``--intervention_case 1``, on the CPU
   with one thread (OMP/MKL/OpenBLAS_NUM_THREADS=1), timed as the child
   process's CPU seconds; then its do step, ``utils.metrics.intervene_metric``
   (per target, a linear regression of the code of the interventional training
   samples with that target onto a constant), applied to the observational test
   file;
3. InterventionalCRL with its defaults (``latent_dim=6``, one thread) on the
   same observational and interventional training files, timed as CPU seconds
   of the fit.

Both are scored by MCC on the observational test file (20,000 samples), after
the do step and of the stage-1 code alone. Writes
benchmarks/results/causalrepid.json and prints a markdown table.

Shims: the reference imports wandb, torchvision and the causal discovery toolbox
(cdt) at module level, but its polynomial path never calls them. They are
replaced by stub modules written to a temporary directory put first on
PYTHONPATH (``wandb.init``/``log`` do nothing, torchvision's names are None,
``cdt.metrics.get_CPDAG`` raises). No file of the reference is changed.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import causalrep
from benchmarks._shims import write_shims
from causalrep import InterventionalCRL, InterventionalData
from causalrep.exceptions import IdentifiabilityWarning
from causalrep.identifiability import mcc

RESULTS = Path(__file__).parent / "results" / "causalrepid.json"
LATENT_DIM, DEGREE, DATA_DIM = 6, 2, 200
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

SHIMS = {
    "wandb.py": "def init(*args, **kwargs):\n    return None\n\n\ndef log(*args, **kwargs):\n    return None\n",
    "cdt/__init__.py": "",
    "cdt/metrics.py": "def get_CPDAG(*args, **kwargs):\n    raise NotImplementedError('cdt is not installed')\n",
    "torchvision/__init__.py": "from . import datasets, models, transforms, utils\n",
    "torchvision/datasets.py": "def __getattr__(name):\n    return None\n",
    "torchvision/transforms.py": "def __getattr__(name):\n    return None\n",
    "torchvision/utils.py": "def __getattr__(name):\n    return None\n",
    "torchvision/models/__init__.py": "def __getattr__(name):\n    return None\n",
    "torchvision/models/resnet.py": "ResNet = BasicBlock = None\n",
}

# The reference's do step, run in its own process: its encoder, saved by
# train.py, codes the interventional training file and the observational test
# file; intervene_metric fits and applies its per-target regressions.
DO_STEP = """
import sys
import numpy as np
import torch
from models.encoder import Encoder
from utils.metrics import intervene_metric

files, checkpoint, out = sys.argv[1], sys.argv[2], sys.argv[3]
encoder = Encoder({data_dim}, {latent_dim})
encoder.load_state_dict(torch.load(checkpoint, map_location="cpu"))
encoder.eval()
def code(x):
    with torch.no_grad():
        return encoder(torch.tensor(x).float()).numpy()
x_itv, z_itv = np.load(files + "/intervention/train_x.npy"), np.load(files + "/intervention/train_z.npy")
x_obs = np.load(files + "/observation/test_x.npy")
models = intervene_metric({{"tr": code(x_itv)}}, {{"tr": z_itv}}, model_train=1)
stage1 = code(x_obs)
z = intervene_metric({{"te": stage1}}, {{"tr": z_itv, "te": np.zeros_like(stage1)}}, model_train=0, list_models=models)
np.savez(out, stage1=stage1, z=z["te"])
"""


def _run(args, cwd, env, log):
    """Run ``args`` in ``cwd``; returns (CPU seconds of the child, wall seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    with open(log, "w") as handle:
        done = subprocess.run(args, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, check=False)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise RuntimeError(f"{' '.join(map(str, args))} failed with status {done.returncode}; see {log}")
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, wall


def _folder(latents):
    return f"polynomial_latent_{latents}_poly_degree_{DEGREE}_data_dim_{DATA_DIM}_latent_dim_{LATENT_DIM}"


def _arrays(work, latents, seed, split, kind):
    """x, z, y of one of the reference's files (``kind`` observation or intervention)."""
    path = work / "data" / "datasets" / f"seed_{seed}" / kind / _folder(latents)
    return [np.load(path / f"{split}_{key}.npy") for key in "xzy"]


def reference_fit(reference, work, env, latents, seed):
    """The reference's training script at its defaults, then its do step; MCCs and CPU seconds."""
    flags = ["--latent_case", latents, "--latent_dim", str(LATENT_DIM), "--poly_degree", str(DEGREE)]
    cpu, wall = _run(
        [sys.executable, str(reference / "train.py"), *flags, "--seed", str(seed), "--intervention_case", "1"],
        work,
        env,
        work / f"train_{latents}_{seed}.log",
    )
    checkpoint = (
        work
        / "results"
        / "ae-poly"
        / "intervention"
        / _folder(latents)
        / f"seed_{seed}"
        / "lr_0.001_weight_decay_0.0005_batch_size_16_encoder.pth"
    )
    files = work / "files"
    files.mkdir(exist_ok=True)
    for kind in ("observation", "intervention"):
        (files / kind).unlink(missing_ok=True)
        (files / kind).symlink_to(work / "data" / "datasets" / f"seed_{seed}" / kind / _folder(latents))
    script = work / "do_step.py"
    script.write_text(DO_STEP.format(data_dim=DATA_DIM, latent_dim=LATENT_DIM))
    out = work / f"do_{latents}_{seed}.npz"
    env = {**env, "PYTHONPATH": os.pathsep.join([str(reference), env["PYTHONPATH"]])}
    _run([sys.executable, str(script), str(files), str(checkpoint), str(out)], work, env, work / "do_step.log")
    codes = np.load(out)
    _, z_test, _ = _arrays(work, latents, seed, "test", "observation")
    epochs = sum(line.startswith("Done Training for Epoch") for line in open(work / f"train_{latents}_{seed}.log"))
    return {
        "mcc": mcc(z_test, codes["z"]).score,
        "mcc_stage1": mcc(z_test, codes["stage1"]).score,
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "epochs": epochs,
    }


def ours_fit(work, latents, seed):
    """InterventionalCRL's defaults on the reference's training files; MCCs and CPU seconds."""
    x_obs, z_obs, _ = _arrays(work, latents, seed, "train", "observation")
    x_itv, z_itv, y_itv = _arrays(work, latents, seed, "train", "intervention")
    data = InterventionalData(
        X=np.concatenate([x_obs, x_itv]),
        regime=np.concatenate([np.zeros(len(x_obs), dtype=int), y_itv.astype(int) + 1]),
        targets={0: (), **{j + 1: (j,) for j in range(LATENT_DIM)}},
        Z=np.concatenate([z_obs, z_itv]),
    )
    cpu, wall = time.process_time(), time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IdentifiabilityWarning)
        est = InterventionalCRL(latent_dim=LATENT_DIM, degree=DEGREE, seed=seed, verbose=0, n_threads=1).fit(data)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    x_test, z_test, _ = _arrays(work, latents, seed, "test", "observation")
    report = est.stage1_
    return {
        "mcc": mcc(z_test, est.transform(x_test)).score,
        "mcc_stage1": mcc(z_test, est.stage1_transform(x_test)).score,
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "stage1": "linear (near-exact)" if report.near_exact else report.encoder,
        "heldout_residual": report.heldout_residual,
        "observational_residual": report.observational_residual,
        "warnings": [str(w.message) for w in caught if issubclass(w.category, IdentifiabilityWarning)],
    }


def table(records):
    lines = [
        "| latents | CausalRepID MCC (median [min]) | its CPU s (median) | InterventionalCRL MCC (median [min]) "
        "| its CPU s (median) | CPU ratio (median) |",
        "|" + "---|" * 6,
    ]
    for latents in dict.fromkeys(r["latents"] for r in records):
        group = [r for r in records if r["latents"] == latents]
        ref = [r["reference"]["mcc"] for r in group]
        ours = [r["ours"]["mcc"] for r in group]
        lines.append(
            f"| {latents} | {statistics.median(ref):.5f} [{min(ref):.5f}] "
            f"| {statistics.median(r['reference']['cpu_seconds'] for r in group):.0f} "
            f"| {statistics.median(ours):.5f} [{min(ours):.5f}] "
            f"| {statistics.median(r['ours']['cpu_seconds'] for r in group):.1f} "
            f"| {statistics.median(r['cpu_ratio'] for r in group):.0f}x |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=os.environ.get("CAUSALREPID"), help="CausalRepID checkout")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--latents", nargs="+", default=["scm_dense"], help="its --latent_case values")
    parser.add_argument("--work", type=Path, default=None, help="scratch directory to keep (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file")
    args = parser.parse_args(argv)
    if args.reference is None or not (args.reference / "data" / "synthetic_polynomial_dgp.py").is_file():
        print(
            "skipped: no CausalRepID checkout (pass --reference PATH or set CAUSALREPID to a clone of "
            f"github.com/facebookresearch/CausalRepID); got {args.reference}"
        )
        return
    reference = args.reference.resolve()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as scratch:
        work = (args.work or Path(scratch)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        write_shims(work / "shims", SHIMS)
        env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(work / "shims")}
        records = []
        for latents in args.latents:
            for seed in args.seeds:
                flags = ["--latent_case", latents, "--latent_dim", str(LATENT_DIM), "--poly_degree", str(DEGREE)]
                if not (work / "data" / "datasets" / f"seed_{seed}" / "observation" / _folder(latents)).exists():
                    generator = [sys.executable, str(reference / "data" / "synthetic_polynomial_dgp.py")]
                    _run([*generator, *flags, "--seed", str(seed)], work, env, work / f"data_{latents}_{seed}.log")
                ours = ours_fit(work, latents, seed)
                ref = reference_fit(reference, work, env, latents, seed)
                records.append(
                    {
                        "latents": latents,
                        "seed": seed,
                        "reference": ref,
                        "ours": ours,
                        "cpu_ratio": ref["cpu_seconds"] / ours["cpu_seconds"],
                        "load_average": os.getloadavg()[0],
                    }
                )
                print(json.dumps(records[-1]), flush=True)
                args.out.parent.mkdir(exist_ok=True)
                meta = {"version": causalrep.__version__, "torch": torch.__version__, "machine": platform.machine()}
                args.out.write_text(json.dumps({**meta, "threads": 1, "records": records}, indent=2))
    print(table(records))


if __name__ == "__main__":
    main()
