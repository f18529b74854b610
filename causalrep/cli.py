"""The ``causalrep`` command line: demo, simulate, fit, check, extrapolate, bench.

Every command prints one clear line and exits 2 on bad input (``--debug``
shows the traceback); ``check`` exits 0 when the latents are identified and 1
when they are not, so it can gate a CI job.
"""

import argparse
import contextlib
import csv
import inspect
import json
import logging
import math
import re
import sys
import textwrap
import time
import warnings
from collections.abc import Sequence

__all__ = ["main"]

_EXAMPLES = """examples:
  causalrep demo
  causalrep simulate ahuja2023 --out train.npz --test-out test.npz --param latent_dim=4
  causalrep fit interventional --data train.npz --out model.pt
  causalrep check --data test.npz --model model.pt --up-to permutation --plot fig.png
  causalrep extrapolate --model rep4ex.pt --grid -3:3:25
  causalrep bench smoke --out results
"""


# Largest --grid: a million points per action coordinate is far beyond a curve's needs.
_MAX_GRID = 1_000_000


class UsageError(ValueError):
    """Bad command-line input; reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (and exit 2, as argparse does), and
    whose option values may be negative numbers or ranges (``--grid -3:3:7``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # argparse reads a word after an option as its value only when the word is a plain
        # negative number, so "--grid -3:3:7" failed with "expected one argument". No option
        # here starts with "-<digit>", so every word starting with "-<digit>" or "-.<digit>"
        # is a value.
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``causalrep`` console script; returns the exit code.

    Any error is reported in one line on stderr with exit code 2; an
    interrupt (Ctrl-C), wherever it lands (a save included), prints
    ``causalrep COMMAND: interrupted`` and exits 130 (128 + SIGINT, as shells
    report it). ``--debug`` raises either with its traceback instead.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    command, debug = "", "--debug" in argv
    try:
        parser = _parser()
        args = parser.parse_args(argv)
        command, debug = f" {args.command}" if args.command else "", args.debug
        if args.command is None:
            parser.print_help()
            return 2
        with _console():
            _guard_outputs(args)
            return args.run(args)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"causalrep{command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # every error is one line; --debug shows where it came from
        if debug:
            raise
        from causalrep.exceptions import TrainingDivergedError

        message = str(err).splitlines()[0] if str(err) else ""
        if (
            not isinstance(err, (ValueError, TypeError, OSError, KeyError, TrainingDivergedError, RuntimeError))
            or not message
        ):
            message = f"{type(err).__name__}: {message}".rstrip(": ")
        print(f"causalrep{command}: error: {message}", file=sys.stderr)
        return 2


def _parser():
    from causalrep._version import __version__
    from causalrep.estimators import ESTIMATORS

    parser = _Parser(
        prog="causalrep",
        description="Causal representation learning that proves its own claims.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="simulate an SCM with interventions, fit, verify, report",
        description="The main job on embedded defaults: simulate a small Ahuja et al. (2023) "
        "setting, fit InterventionalCRL, check identifiability up to permutation "
        "and scaling, print the report and write its plot.",
        epilog="example:\n  causalrep demo --plot demo_report.png --seed 1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--seed", type=int, default=0, help="seed of data and fit (default 0)")
    demo.add_argument("--plot", default="demo_report.png", help="where to write the plot")
    demo.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    demo.add_argument(
        "--force",
        action="store_true",
        help="replace an output file of another kind (a dataset by a checkpoint or the reverse)",
    )
    demo.set_defaults(run=_demo, outputs={"--plot": "plot"}, inputs=())

    simulate = commands.add_parser(
        "simulate",
        help="write a simulated dataset to .npz",
        epilog="examples:\n  causalrep simulate ahuja2023 --out data.npz --param latents=scm_dense\n"
        "  causalrep simulate ahuja2023 --out train.npz --test-out test.npz\n\n"
        + _parameter_help(_settings(), "setting parameters", skip=("seed",)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    simulate.add_argument("setting", choices=sorted(_settings()), help="ready-made setting")
    simulate.add_argument("--out", required=True, help="output .npz file")
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="setting argument, repeatable (values parsed as JSON when they can be)",
    )
    simulate.add_argument(
        "--test-out",
        default=None,
        help="also write a held-out test split of the same draw to this file; --out then holds the training split",
    )
    simulate.add_argument(
        "--test-fraction", type=float, default=0.25, help="share of each regime held out for --test-out (default 0.25)"
    )
    simulate.add_argument(
        "--force",
        action="store_true",
        help="replace an output file of another kind (a dataset by a checkpoint or the reverse)",
    )
    simulate.set_defaults(run=_simulate, outputs={"--out": "dataset", "--test-out": "dataset"}, inputs=())

    fit = commands.add_parser(
        "fit",
        help="fit an estimator to a dataset and save it",
        epilog="example:\n  causalrep fit interventional --data train.npz --out model.pt "
        "--param latent_dim=4\n\n" + _parameter_help(_methods(), "estimator hyperparameters", skip=("device",)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument(
        "method", type=_method_name, choices=sorted(ESTIMATORS), help="estimator (its class name works too)"
    )
    fit.add_argument("--data", required=True, help="dataset written by 'simulate' or InterventionalData.save")
    fit.add_argument("--out", required=True, help="checkpoint to write")
    fit.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="estimator hyperparameter, repeatable; latent_dim defaults to the data's Z",
    )
    fit.add_argument("--device", default="auto")
    fit.add_argument(
        "--force",
        action="store_true",
        help="replace an output file of another kind (a dataset by a checkpoint or the reverse)",
    )
    fit.set_defaults(run=_fit, outputs={"--out": "checkpoint"}, inputs=("--data",))

    check = commands.add_parser(
        "check",
        help="verify identifiability of a fitted model on a dataset with true Z",
        description="Exit code 0 when identified, 1 when not, 2 on bad input.",
        epilog="example:\n  causalrep check --data test.npz --model model.pt --up-to permutation --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("--data", required=True)
    check.add_argument("--model", required=True)
    check.add_argument("--up-to", default="permutation", choices=["permutation", "scaling", "affine", "block"])
    check.add_argument("--blocks", default=None, help="JSON list of blocks for --up-to block, e.g. '[[0,1],[2]]'")
    check.add_argument(
        "--format", default="text", choices=["text", "json"], help="the report as text (default) or as JSON"
    )
    check.add_argument("--json", dest="format", action="store_const", const="json", help="same as --format json")
    check.add_argument("--plot", default=None, help="write the scatter grid to this file")
    check.add_argument(
        "--metrics",
        action="store_true",
        help="also print MIG, SAP, modularity, explicitness, InfoM/E/C and the Amari distance (needs scikit-learn)",
    )
    check.add_argument(
        "--force",
        action="store_true",
        help="replace an output file of another kind (a dataset by a checkpoint or the reverse)",
    )
    check.set_defaults(run=_check, outputs={"--plot": "plot"}, inputs=("--data", "--model"))

    extrapolate = commands.add_parser(
        "extrapolate",
        help="E[Y | do(A=a)] of a fitted Rep4Ex model, for unseen actions",
        description="Prints a CSV with a header row and one row per action: the action "
        "(a_0, a_1, ...), E[Y | do(A=a)] (prediction), the band of --interval (lower, upper: "
        "from the model's bootstrap refits, it holds the procedure's bias as well as its spread) "
        "and the coverage, the share of the latent points M a + V that lie inside the training "
        "data (below 0.5 the outcome model is extended, not estimated, and a warning says so).",
        epilog="examples:\n  causalrep extrapolate --model rep4ex.pt --grid -3:3:25 --plot curve.png\n"
        "  causalrep extrapolate --model rep4ex.pt --actions a.csv --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    extrapolate.add_argument("--model", required=True, help="checkpoint of a fitted Rep4Ex")
    source = extrapolate.add_mutually_exclusive_group(required=True)
    source.add_argument("--actions", help="CSV of actions, one row per action (m, dim_a)")
    source.add_argument("--grid", help="LO:HI:N, the same grid for every action coordinate")
    extrapolate.add_argument(
        "--format", default="csv", choices=["csv", "json"], help="CSV with a header row (default) or JSON records"
    )
    extrapolate.add_argument(
        "--interval",
        type=float,
        default=None,
        help="nominal level of the band, in (0, 1); 0 for none (default: 0.9 when the model was fitted "
        "with bootstrap refits, none otherwise)",
    )
    extrapolate.add_argument("--plot", default=None, help="plot the curve and its band (1-d actions)")
    extrapolate.add_argument(
        "--force",
        action="store_true",
        help="replace an output file of another kind (a dataset by a checkpoint or the reverse)",
    )
    extrapolate.set_defaults(run=_extrapolate, outputs={"--plot": "plot"}, inputs=("--model", "--actions"))

    bench = commands.add_parser(
        "bench",
        help="run a benchmark suite over settings x methods x seeds",
        epilog="example:\n  causalrep bench smoke --engine local --out results",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument("suite", help="named suite: smoke, ahuja2023, rep4ex or pendulum")
    bench.add_argument("--engine", default="local", choices=["local", "ray"])
    bench.add_argument("--address", default=None, help="Ray cluster address")
    bench.add_argument("--seeds", type=int, nargs="+", default=None)
    bench.add_argument("--out", default="results", help="results folder (resumed if present)")
    bench.add_argument(
        "--format",
        default="markdown",
        choices=["markdown", "csv", "json"],
        help="the summary table as markdown (default), CSV with a header row, or JSON records",
    )
    bench.set_defaults(run=_bench, outputs={}, inputs=())
    return parser


def _settings():
    import simulators

    return dict(simulators.SETTINGS)


def _methods():
    from causalrep.estimators import ESTIMATORS

    return {name: entry.load() for name, entry in ESTIMATORS.items()}


def _method_name(text):
    """The canonical name of the estimator called ``text`` (any of its names)."""
    from causalrep.estimators import lookup

    try:
        return lookup(text).name
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _params(pairs):
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--param expects KEY=VALUE, got {pair!r}")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
        if isinstance(params[key], list):
            params[key] = tuple(params[key])
    return params


def _read(args, flag, load):
    """``load(path)`` for the file given as ``flag``; errors name the flag."""
    path = getattr(args, flag.lstrip("-"))
    try:
        return load(path)
    except (ValueError, OSError) as err:
        if args.debug:
            raise
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UsageError(f"{flag}: {message}") from None


def _call(factory, params, what):
    try:
        return factory(**params)
    except TypeError as err:
        raise UsageError(f"bad {what} parameter: {err}") from None


def _guard_outputs(args):
    """The one rule of every command, checked before anything is read or written: no
    output is an input or another output of the same call (through any link), and none
    replaces a file of another kind without --force (:func:`causalrep.data.check_output`)."""
    from causalrep.data import check_output, same_file

    inputs = {flag: getattr(args, flag[2:].replace("-", "_")) for flag in args.inputs}
    written = {}
    for flag, kind in args.outputs.items():
        path = getattr(args, flag[2:].replace("-", "_"))
        if path is None:
            continue
        for other, earlier in written.items():
            if same_file(path, earlier):
                raise UsageError(f"{flag} {path} is the same file as {other} {earlier}: each output needs its own file")
        check_output(path, kind, overwrite=args.force, inputs=inputs, name=flag)
        written[flag] = path


def _simulate(args):
    data = _call(_settings()[args.setting], {"seed": args.seed, **_params(args.param)}, args.setting)
    if args.test_out is None:
        data.save(args.out, overwrite=args.force)
        print(f"wrote {data!r} to {args.out}")
        return 0
    import dataclasses

    if not 0 < args.test_fraction < 1:
        raise UsageError(f"--test-fraction must be in (0, 1), got {args.test_fraction:g}")
    parts = data.split(args.test_fraction, seed=args.seed)
    for part, name, path in zip(parts, ("train", "test"), (args.out, args.test_out), strict=True):
        meta = {**part.meta, "split": name, "test_fraction": args.test_fraction}
        part = dataclasses.replace(part, meta=meta)
        part.save(path, overwrite=args.force)
        print(f"wrote the {name} split, {part!r}, to {path}")
    return 0


def _fit(args):
    from causalrep.data import InterventionalData
    from causalrep.estimators import lookup

    data = _read(args, "--data", InterventionalData.load)
    entry = lookup(args.method)
    method = entry.load()
    params = _params(args.param)
    if entry.device:
        params = {"device": args.device, **params}
    elif args.device != "auto":
        raise UsageError(f"--device: {args.method} runs on the CPU only, got {args.device!r}")
    if "latent_dim" not in params:
        if data.Z is None:
            raise UsageError("--param latent_dim=D is required when the data have no Z")
        params["latent_dim"] = data.Z.shape[1]
    start = time.perf_counter()
    estimator = _call(method, params, args.method).fit(data)
    estimator.save(args.out, overwrite=args.force)
    print(f"fitted {type(estimator).__name__} in {time.perf_counter() - start:.1f} s; wrote {args.out}")
    return 0


def _check(args):
    from causalrep.data import InterventionalData
    from causalrep.estimators import load
    from causalrep.identifiability import check

    if args.up_to == "block" and not args.blocks:
        raise UsageError(
            "--up-to block needs --blocks, a JSON list of blocks of true-latent indices, e.g. --blocks '[[0,1],[2]]'"
        )
    data = _read(args, "--data", InterventionalData.load)
    if data.Z is None:
        raise UsageError(f"--data: {args.data} has no true latents Z to check against")
    model = _read(args, "--model", load)
    blocks = None
    if args.blocks:
        try:
            blocks = json.loads(args.blocks)
        except json.JSONDecodeError:
            raise UsageError(
                f"--blocks expects a JSON list of blocks such as '[[0,1],[2]]', got {args.blocks!r}"
            ) from None
    try:
        z_hat = model.transform(data.X)
    except ValueError as err:
        raise UsageError(f"--data {args.data} does not fit --model {args.model}: {str(err).splitlines()[0]}") from None
    # SHD of the latent graph when the model learned one and the data carry the truth.
    graph_hat = getattr(model, "graph_", None) if data.graph is not None else None
    report = check(
        data.Z,
        z_hat,
        up_to=args.up_to,
        blocks=blocks,
        graph_true=None if graph_hat is None else data.graph,
        graph_hat=graph_hat,
        disentanglement=args.metrics,
    )
    scored_on = _scored_on(data, args.data)
    # What the model itself says it cannot identify (latents without a regime).
    unidentified = dict(getattr(model, "unidentified_latents_", {}))
    if args.format == "json":
        fields = {**report.to_dict(), "scored_on": scored_on, "unidentified_latents": unidentified}
        print(json.dumps(_finite_or_null(fields), indent=2, allow_nan=False))
    else:
        print(scored_on["text"])
        print(report.summary())
        for j, note in unidentified.items():
            print(f"model note: latent {j} has {note}")
    if args.plot:
        report.plot(args.plot)
    return 0 if report.passed else 1


def _print_table(columns, rows, form):
    """Print ``rows`` (lists of numbers or text) under ``columns``.

    ``form`` is ``"csv"`` (a header row, then numbers to 6 significant digits) or
    ``"json"`` (a list with one object per row, full precision, NaN as null).
    """
    if form == "json":
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        print(json.dumps(_finite_or_null(records), indent=1, allow_nan=False))
        return
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([f"{v:.6g}" if isinstance(v, float) else v for v in row] for row in rows)


def _finite_or_null(value):
    """NaN and infinite floats to None (JSON null), recursively: JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite_or_null(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    return value


def _extrapolate(args):
    import numpy as np

    from causalrep.estimators import load

    model = _read(args, "--model", load)
    if not hasattr(model, "predict_interventional"):
        raise UsageError(f"--model: {args.model} holds a {type(model).__name__}, which cannot extrapolate")
    if args.grid:
        try:
            low, high, count = args.grid.split(":")
            low, high, count = float(low), float(high), int(count)
        except ValueError:
            count = None
        if count is None or count < 1 or not (np.isfinite(low) and np.isfinite(high)):
            raise UsageError(f"--grid expects LO:HI:N with finite LO, HI and an int N >= 1, got {args.grid!r}")
        if count > _MAX_GRID:
            raise UsageError(f"--grid asks for {count} points; at most {_MAX_GRID} are allowed")
        grid = np.linspace(low, high, count)
        actions = np.repeat(grid[:, None], model.dims_["action_dim"], axis=1)
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # an empty file warns, then is refused below
                actions = np.loadtxt(args.actions, delimiter=",", ndmin=2)
        except ValueError as err:
            raise UsageError(
                f"--actions expects a CSV file of numbers, {args.actions} is not one: {str(err).splitlines()[0]}"
            ) from None
        if actions.size == 0 or not np.all(np.isfinite(actions)):
            raise UsageError(f"--actions {args.actions} must hold at least one row of finite numbers")
        if actions.shape[1] != model.dims_["action_dim"]:
            raise UsageError(
                f"--actions {args.actions} has {actions.shape[1]} column(s) but "
                f"the model takes {model.dims_['action_dim']} action(s)"
            )
    refits = getattr(model, "n_bootstrap", 0)
    level = (0.9 if refits else None) if args.interval is None else (args.interval or None)
    if level is not None and not 0 < level < 1:
        raise UsageError(f"--interval must be in (0, 1), or 0 for no band, got {args.interval!r}")
    if level is not None and not refits:
        raise UsageError(
            f"--interval: {args.model} was fitted without bootstrap refits (n_bootstrap=0), so it has no band"
        )
    result = model.predict_interventional(actions, interval=level)
    predictions = result if level is None else result.mean
    coverage = model.extrapolation_coverage(actions)
    band = [] if level is None else ["lower", "upper"]
    columns = [f"a_{j}" for j in range(actions.shape[1])] + ["prediction", *band, "coverage"]
    rows = [
        [*map(float, actions[i]), float(predictions[i]), *(float(getattr(result, b)[i]) for b in band), float(c)]
        for i, c in enumerate(coverage)
    ]
    _print_table(columns, rows, args.format)
    if args.plot:
        from matplotlib.figure import Figure

        figure = Figure(figsize=(5, 3.5))
        axes = figure.add_subplot()
        if level is not None:
            axes.fill_between(actions[:, 0], result.lower, result.upper, alpha=0.25, label=f"{level:.0%} band")
        axes.plot(actions[:, 0], predictions, marker=".")
        low = coverage < 0.5
        if low.any():
            axes.plot(actions[low, 0], predictions[low], "x", color="C3", label="coverage < 0.5: no guarantee")
        if low.any() or level is not None:
            axes.legend(fontsize=8)
        axes.set_xlabel("a (first coordinate)")
        axes.set_ylabel("E[Y | do(A=a)]")
        figure.tight_layout()
        figure.savefig(args.plot)
    return 0


def _bench(args):
    from causalrep import bench

    table = bench.main_args(args.suite, engine=args.engine, address=args.address, seeds=args.seeds, out=args.out)
    if args.format == "markdown":
        print(table, end="")
        return 0
    from pathlib import Path

    # results.json holds exactly the records of this sweep; records.jsonl may hold earlier ones.
    summary = bench.summarize(json.loads((Path(args.out) / "results.json").read_text()))
    rows = [[row[field] for field in bench.SUMMARY_FIELDS] for row in summary]
    _print_table(bench.SUMMARY_FIELDS, rows, args.format)
    return 0


def _demo(args):
    import simulators
    from causalrep.estimators import InterventionalCRL
    from causalrep.identifiability import affine_r2, check, mcc

    print(
        "1/4 simulating ahuja2023: 4 latents, polynomial mixing (degree 2) into 40 "
        "dimensions, one hard do-intervention per latent"
    )
    data = simulators.ahuja2023(
        latent_dim=4, obs_dim=40, degree=2, latents="scm_dense", n_obs=4000, n_int=4000, seed=args.seed
    )
    train, test = data.split(0.25, seed=args.seed)
    print(f"    {train.n} training and {test.n} held-out samples, regimes {data.counts()}")
    print("2/4 fitting InterventionalCRL (stage 1 autoencoder, stage 2 from the interventions)")
    start = time.perf_counter()
    estimator = InterventionalCRL(latent_dim=4, device=args.device, seed=args.seed).fit(train)
    print(f"    fitted in {time.perf_counter() - start:.1f} s on {estimator.device_}")
    print(estimator.diagnostics_table())
    print("3/4 checking identifiability on held-out samples")
    stage1 = estimator.stage1_transform(test.X)
    print(
        f"    stage 1 alone: affine R2 {affine_r2(test.Z, stage1).mean:.4f}, "
        f"MCC {mcc(test.Z, stage1).score:.4f} (affine, not yet permutation)"
    )
    report = check(test.Z, estimator.transform(test.X), up_to="permutation")
    print(report.summary())
    report.plot(args.plot)
    print(f"4/4 wrote the plot of each true latent against its estimate to {args.plot}")
    print("identified up to permutation and scaling" if report.passed else "NOT identified at the default thresholds")
    return 0 if report.passed else 1


# -- help generated from the code -------------------------------------------------------


def _parameter_help(factories, title, skip=()):
    """The parameters of each factory (signature defaults, docstring text) for ``--help``."""
    from causalrep.estimators import DEPRECATED

    docs = {name: _argument_docs(f) for name, f in factories.items()}
    shared = {}
    for described in docs.values():
        for arg, text in described.items():
            shared.setdefault(arg, text)
    lines = [f"{title} (--param KEY=VALUE, VALUE as JSON; defaults shown):"]
    for name, factory in factories.items():
        summary = (inspect.getdoc(factory) or "").splitlines()[0] if factory.__doc__ else ""
        lines.append(f"  {name}: {summary}")
        for param in inspect.signature(factory).parameters.values():
            if (
                param.name in skip
                or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
                or param.default == DEPRECATED
            ):  # a former name, not advertised
                continue
            default = " (required)" if param.default is param.empty else "=" + _json_default(param.default)
            text = docs[name].get(param.name) or shared.get(param.name, "")
            head = f"    {param.name}{default}"
            body = textwrap.wrap(text, 66) or [""]
            if len(head) < 29:
                lines.append(f"{head:<30}{body.pop(0)}".rstrip())
            else:
                lines.append(head)
            lines.extend(" " * 30 + part for part in body)
    return "\n".join(lines)


def _argument_docs(factory):
    """``{argument: description}`` from the ``Arguments:`` section of a docstring."""
    doc = inspect.getdoc(factory) or ""
    found, name = {}, None
    section = doc.partition("\nArguments:\n")[2]
    for line in section.splitlines():
        if line and not line.startswith(" "):
            break
        match = re.match(r"^    (\w+)(?:, \w+)*: ?(.*)$", line)
        if match:
            name = match.group(1)
            found[name] = match.group(2)
        elif name and line.startswith("        "):
            found[name] += " " + line.strip()
        elif line.strip():
            name = None
    return {k: re.sub(r":\w+:`~?([^`]*)`", r"\1", v).replace("``", "") for k, v in found.items()}


def _json_default(value):
    try:
        return json.dumps(value)
    except TypeError:
        return repr(value)


# -- console: warnings and progress lines ------------------------------------------------

_LONG_FLOAT = re.compile(r"(?<![\w.])-?\d+\.\d{4,}(?:e[+-]?\d+)?(?![\w.])")


def _short_floats(text):
    """Floats with many digits rounded to 3 significant digits."""
    return _LONG_FLOAT.sub(lambda m: f"{float(m.group()):.3g}", text)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """One readable line per warning: no source line, no file path, short floats."""
    text = " ".join(str(message).split())
    print(f"causalrep: warning: {_short_floats(text)} ({category.__name__})", file=file or sys.stderr)


@contextlib.contextmanager
def _console():
    """While a command runs: warnings as one line each, and training progress as
    log lines on stderr when it is not a terminal."""
    logger = logging.getLogger("causalrep")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("    %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _scored_on(data, path):
    """Which samples ``check`` scored, as a dict with a ``text`` line."""
    split = data.meta.get("split")
    if split == "test":
        text = (
            f"scored on the held-out test split in {path} ({data.n} samples, "
            "written by 'simulate --test-out', not the training split)"
        )
    elif split == "train":
        text = (
            f"scored on the training split in {path} ({data.n} samples): in sample "
            "for a model fitted on it; check the --test-out file instead"
        )
    else:
        text = (
            f"scored on all {data.n} samples of {path} (no split recorded: in sample "
            "if the model was fitted on this file; see 'simulate --test-out')"
        )
    return {"file": str(path), "split": split, "n": data.n, "text": text}


if __name__ == "__main__":
    sys.exit(main())
