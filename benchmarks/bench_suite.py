"""The ahuja2023 benchmark suite: InterventionalCRL against the baselines, 3 seeds.

Usage:
    python benchmarks/bench_suite.py [--engine local|ray] [--address ADDR] [--seeds 0 1 2]

Runs :func:`causalrep.bench.run` over the grid of Ahuja et al. (2023) (see
``causalrep.bench.SUITES["ahuja2023"]``), appending records to
benchmarks/results/suite.jsonl as they finish (rerun the same command to
resume an interrupted sweep), then writes docs/benchmarks_suite.md (the
command, the machine and the table of mean ± std over seeds) and
docs/img/benchmarks_suite_mcc.png. ``--suite smoke`` runs the tiny CI suite
instead, to check the script in seconds (write it elsewhere with ``--doc``).
"""

import argparse
import platform
from pathlib import Path

import torch

import causalrep
from causalrep import bench

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="ahuja2023", choices=sorted(bench.SUITES))
    parser.add_argument("--engine", default="local", choices=("local", "ray"))
    parser.add_argument("--address", default=None, help="Ray cluster address")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--records", type=Path, default=None, help="JSONL of records (default benchmarks/results/<suite>.jsonl)"
    )
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks_suite.md")
    parser.add_argument("--img", type=Path, default=ROOT / "docs" / "img" / "benchmarks_suite_mcc.png")
    args = parser.parse_args(argv)

    suite = bench.SUITES[args.suite]
    records_path = args.records or ROOT / "benchmarks" / "results" / f"{args.suite}.jsonl"
    records = bench.run(
        suite["settings"], suite["methods"], args.seeds, engine=args.engine, address=args.address, out=records_path
    )
    table = bench.markdown_table(records)
    args.img.parent.mkdir(parents=True, exist_ok=True)
    bench.plot(records, args.img)

    # The command without file arguments, so the page names no local paths.
    command = ["python", "benchmarks/bench_suite.py", "--engine", args.engine]
    if args.engine == "ray" and args.address:
        command += ["--address", "<address>"]
    command += ["--seeds", *map(str, args.seeds)]
    if args.suite != "ahuja2023":
        command += ["--suite", args.suite]
    devices = sorted({r["device"] for r in records if r.get("device")})
    image = Path("img") / args.img.name
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(
        f"# Benchmark suite: {args.suite}\n\n"
        f"Produced by:\n\n```\n{' '.join(command)}\n```\n\n"
        f"causalrep {causalrep.__version__}, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}, device(s) {', '.join(devices) or '-'}, "
        f"engine {args.engine}, seeds {args.seeds}. Each cell is the mean ± standard "
        "deviation over seeds of the held-out score (20% of each regime); "
        '"passed" counts the seeds whose latents pass '
        "`causalrep.identifiability.check` up to permutation (resp. affine maps).\n\n"
        f"{table}\n![MCC by method and setting]({image.as_posix()})\n"
    )
    print(table)


if __name__ == "__main__":
    main()
