"""A benchmark sweep on Ray: settings x methods x seeds, resumable, with a table and a plot.

Each (setting, method, seed) is one Ray task that simulates its data, fits,
and scores on held-out samples. Records are appended to a JSONL file as tasks
finish, so running the script again with the same --out skips what is done
(kill it half-way and start it again to see). Without --address, Ray starts on
this machine; with --address auto (or ray://host:10001) the tasks go to an
existing cluster, and a method asking for device="auto" gets a GPU where the
cluster has one.

    python examples/ray_sweep.py                     # local Ray, under two minutes
    python examples/ray_sweep.py --engine local      # the same sweep on a process pool
"""

import argparse
from pathlib import Path

from causalrep import bench


def sweep(n, max_steps):
    """Two settings (independent and SCM latents) and three methods, at size n per regime kind."""
    settings = [
        {
            "name": f"{latents} d=3",
            "simulator": "ahuja2023",
            "params": {"latent_dim": 3, "obs_dim": 12, "degree": 2, "latents": latents, "n_obs": n, "n_int": n},
        }
        for latents in ("uniform", "scm_dense")
    ]
    small = {"hidden": (64, 64), "max_steps": max_steps, "restarts": 1, "verbose": 0}
    methods = [
        {
            "name": "InterventionalCRL",
            "estimator": "interventional",
            "params": small,
            "from_setting": ["latent_dim", "degree"],
        },
        {"name": "iVAE", "estimator": "ivae", "params": small},
        {"name": "LinearICA", "estimator": "linear_ica", "params": {"verbose": 0}},
    ]
    return settings, methods


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("ray", "local"), default="ray")
    parser.add_argument("--address", default=None, help="Ray cluster; default: start one here")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--n", type=int, default=1000, help="samples per kind of regime")
    parser.add_argument("--max-steps", type=int, default=1500)
    parser.add_argument("--out", type=Path, default=Path("sweep"))
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    settings, methods = sweep(args.n, args.max_steps)
    records = bench.run(
        settings, methods, args.seeds, engine=args.engine, address=args.address, out=args.out / "records.jsonl"
    )
    print(bench.markdown_table(records))
    bench.plot(records, args.out / "sweep.png")
    print(f"records in {args.out / 'records.jsonl'}, plot in {args.out / 'sweep.png'}")
    return records


if __name__ == "__main__":
    main()
