r"""Benchmark sweeps: settings x methods x seeds, on local processes or on Ray.

A sweep is plain data, so every task pickles and runs the same anywhere:

* a *setting* names a simulator of :mod:`simulators` and its parameters,
  ``{"name": "uniform d=2", "simulator": "ahuja2023", "params": {...}}``,
  optionally with ``"test_fraction"`` (default 0.2): the share of each regime
  held out to score on;
* a *method* names an estimator of :mod:`causalrep.estimators` and its
  parameters, ``{"name": "iVAE", "estimator": "IVAE", "params": {...}}``,
  optionally with ``"from_setting"``: the setting parameters copied into the
  estimator's (default ``["latent_dim"]``; add ``"degree"`` for a polynomial
  decoder that matches the mixing).

Each (setting, method, seed) task simulates the data with that seed, splits it
with that seed, fits the estimator with that seed on the training part and
scores the held-out part: MCC, affine R2, and the verdicts of
:func:`causalrep.identifiability.check` up to permutation and up to affine
maps. The result is one *record*, a flat dict; a task that raises is recorded
with its error and the sweep goes on.

Records are appended to a JSONL file as they finish; running the same sweep
with the same file again skips the tasks already recorded, so an interrupted
sweep resumes where it stopped. Same seeds give the same numbers on either
engine (every worker computes with one thread); only :data:`TIMING_FIELDS`
differ between runs.
"""

import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import statistics
import threading
import time
import warnings
from pathlib import Path

__all__ = ["SUITES", "TIMING_FIELDS", "run", "main_args", "markdown_table", "write_csv",
           "write_json", "read_records", "plot"]

TIMING_FIELDS = ("fit_seconds",)
_RESULT_FIELDS = ("mcc", "affine_r2", "permutation_passed", "affine_passed", "fit_seconds")
_KEY = ("setting", "method", "seed")


def _methods(d_steps, **overrides):
    """The five methods of the ahuja2023 suite, with shared sizes."""
    common = dict(overrides, verbose=0)
    return [
        {"name": "InterventionalCRL", "estimator": "InterventionalCRL",
         "params": {**common, "max_steps": d_steps}, "from_setting": ["latent_dim", "degree"]},
        {"name": "Autoencoder", "estimator": "Autoencoder", "params": {**common, "max_steps": d_steps}},
        {"name": "BetaVAE", "estimator": "BetaVAE", "params": {**common, "max_steps": d_steps}},
        {"name": "iVAE", "estimator": "IVAE", "params": {**common, "max_steps": d_steps}},
        {"name": "LinearICA", "estimator": "LinearICA", "params": {"verbose": 0}},
    ]


def _ahuja_grid():
    settings = []
    for latents in ("uniform", "scm_sparse", "scm_dense"):
        for d, degree in ((6, 2), (6, 3), (10, 2), (10, 3)):
            # Degree 3 in 10 latents has 285 non-constant monomials: an
            # injective polynomial lift needs more than the paper's 200 dimensions.
            obs_dim = 300 if (d, degree) == (10, 3) else 200
            settings.append({
                "name": f"{latents} d={d} p={degree}", "simulator": "ahuja2023",
                "params": {"latent_dim": d, "obs_dim": obs_dim, "degree": degree,
                           "latents": latents, "n_obs": 10000, "n_int": 10000}})
    return settings


def _rep4ex_methods():
    """Rep4Ex against the baselines, each at its defaults; iVAE conditions on the actions."""
    quiet = {"verbose": 0}
    return [
        {"name": "Rep4Ex", "estimator": "Rep4Ex", "params": quiet},
        {"name": "Autoencoder", "estimator": "Autoencoder", "params": quiet},
        {"name": "BetaVAE", "estimator": "BetaVAE", "params": quiet},
        {"name": "iVAE", "estimator": "IVAE", "params": {**quiet, "auxiliary": "actions"}},
        {"name": "LinearICA", "estimator": "LinearICA", "params": quiet},
    ]


def _pendulum_methods():
    """CausalDiffAE with the scene's DAG and without it, and two baselines."""
    quiet = {"verbose": 0}
    return [
        {"name": "CausalDiffAE", "estimator": "CausalDiffAE", "params": quiet},
        {"name": "no causal layer", "estimator": "CausalDiffAE",
         "params": {**quiet, "latent_dim": 4, "graph": []}},
        {"name": "BetaVAE", "estimator": "BetaVAE", "params": {**quiet, "latent_dim": 4}},
        {"name": "LinearICA", "estimator": "LinearICA", "params": {**quiet, "latent_dim": 4}},
    ]


#: Named sweeps. ``smoke`` takes seconds (for CI); ``ahuja2023`` is the
#: synthetic grid of Ahuja et al. (2023): uniform and sparse/dense linear-SCM
#: latents, d in {6, 10}, polynomial mixing of degree 2 or 3, 10k
#: observational and 10k interventional samples, every method at its defaults;
#: ``rep4ex`` scores the representations of Rep4Ex and the baselines on
#: :func:`simulators.rep4ex` (actions on (-1, 1), MLP or polynomial mixing);
#: ``pendulum`` the latents of CausalDiffAE, with and without its DAG, on
#: 32x32 pendulum images (hours on a CPU: meant for a GPU cluster).
SUITES = {
    "smoke": {
        "settings": [{"name": "uniform d=2", "simulator": "ahuja2023",
                      "params": {"latent_dim": 2, "obs_dim": 8, "degree": 2,
                                 "latents": "uniform", "n_obs": 200, "n_int": 200}}],
        "methods": _methods(50, hidden=(16,), batch_size=128, restarts=1),
        "seeds": [0],
    },
    "ahuja2023": {
        "settings": _ahuja_grid(),
        "methods": _methods(6000),
        "seeds": [0, 1, 2],
    },
    "rep4ex": {
        "settings": [{"name": f"rep4ex {mixing} mixing", "simulator": "rep4ex",
                      "params": {"latent_dim": 2, "action_dim": 2, "obs_dim": 10, "n": 10000,
                                 "mixing": mixing}} for mixing in ("mlp", "polynomial")],
        "methods": _rep4ex_methods(),
        "seeds": [0, 1, 2],
    },
    "pendulum": {
        "settings": [{"name": "pendulum 32x32", "simulator": "pendulum",
                      "params": {"n": 3000, "size": 32}}],
        "methods": _pendulum_methods(),
        "seeds": [0, 1, 2],
    },
}


def run(settings, methods, seeds, engine="local", address=None, out=None, workers=None):
    """Run every (setting, method, seed) and return one record per task.

    Arguments:
        settings: Sequence of setting dicts (see the module docstring).
        methods: Sequence of method dicts.
        seeds: Sequence of non-negative ints.
        engine: ``"local"`` (a process pool over this machine's cores) or
            ``"ray"`` (Ray tasks on the cluster at ``address``).
        address: Ray cluster address; None starts a local Ray instance.
        out: JSONL file the records are appended to as they finish; tasks
            already recorded there are not run again.
        workers: Processes of the local engine; None uses every core.
            They die with this process, however it ends.

    Returns:
        List of record dicts, in the order settings x methods x seeds, with
        ``setting``, ``method``, ``seed``, ``status`` (``"ok"`` or
        ``"error"``), ``error``, ``mcc``, ``affine_r2``,
        ``permutation_passed``, ``affine_passed``, ``fit_seconds``,
        ``device``, ``version``, ``n_train``, ``n_test``, ``warnings`` (those
        the fit raised) and the parameters.

    Raises:
        ValueError: for a malformed setting or method, an unknown engine, or an
            ``out`` file whose records were made with other parameters under
            the same names.
        ImportError: for ``engine="ray"`` without Ray installed.
        causalrep.exceptions.SweepLockedError: while another sweep writes
            to ``out`` (it holds an exclusive lock on the file, which the
            system releases when that sweep ends or dies).
    """
    tasks = _tasks(settings, methods, seeds)
    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be 'local' or 'ray', got {engine!r}")
    with _exclusive(out):
        return _run_unlocked(tasks, engine, address, out, workers)


@contextlib.contextmanager
def _exclusive(out):
    """Hold an exclusive lock on the records file ``out`` (POSIX ``flock``) for the sweep.

    Two sweeps into one file would both run every task and double the
    records; the second one is refused instead. The kernel drops the lock
    when the process ends, a kill included, so a stale lock never blocks.
    """
    if out is None:
        yield
        return
    from .exceptions import SweepLockedError

    try:
        import fcntl
    except ImportError:  # no flock (Windows): sweeps are not protected
        yield
        return
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepLockedError(f"another sweep is writing to {out}; wait for it to "
                                   "finish or use another output") from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _run_unlocked(tasks, engine, address, out, workers):
    done = {}
    if out is not None:
        for record in read_records(out):
            done[_key(record)] = record
        for task in tasks:
            previous = done.get(_key(task))
            if previous is not None and not _same_params(previous, task):
                raise ValueError(
                    f"{out} already holds a record of {_key(task)} made with other "
                    "parameters; use another out file")
    todo = [task for task in tasks if _key(task) not in done]
    if todo:
        sink = _Appender(out)
        runner = _run_local if engine == "local" else _run_ray
        for record, persist in runner(todo, address=address, workers=workers):
            done[_key(record)] = record
            if persist:
                sink.append(record)
    return [done[_key(task)] for task in tasks]


def read_records(path):
    """Records of a JSONL file (``[]`` when it does not exist); unreadable lines,
    such as a line cut short by an interruption, are skipped."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and all(k in record for k in _KEY):
            records.append(record)
    return records


# -- tasks -----------------------------------------------------------------

def _tasks(settings, methods, seeds):
    settings = [_check_spec(s, "setting", "simulator") for s in settings]
    methods = [_check_spec(m, "method", "estimator") for m in methods]
    seeds = list(seeds)
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seeds must be non-negative ints, got {seed!r}")
    for kind, specs in (("setting", settings), ("method", methods)):
        names = [spec["name"] for spec in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"{kind} names must be unique, got {names}")
    if not (settings and methods and seeds):
        raise ValueError("settings, methods and seeds must each be non-empty")
    return [{"setting": s, "method": m, "seed": seed}
            for s in settings for m in methods for seed in seeds]


def _check_spec(spec, kind, field):
    if not isinstance(spec, dict) or not isinstance(spec.get(field), str):
        raise ValueError(f"a {kind} must be a dict with a {field!r} name, got {spec!r}")
    params = spec.get("params", {})
    if not isinstance(params, dict):
        raise ValueError(f"{kind} {spec.get('name')!r}: params must be a dict, got {params!r}")
    clean = {"name": str(spec.get("name", spec[field])), field: spec[field],
             "params": json.loads(json.dumps(params))}
    if kind == "setting":
        clean["test_fraction"] = float(spec.get("test_fraction", 0.2))
    else:
        clean["from_setting"] = list(spec.get("from_setting", ["latent_dim"]))
    unknown = set(spec) - set(clean) - {"name"}
    if unknown:
        raise ValueError(f"{kind} {clean['name']!r} has unknown key(s) {sorted(unknown)}")
    return clean


def _key(item):
    if isinstance(item["setting"], dict):
        return (item["setting"]["name"], item["method"]["name"], item["seed"])
    return tuple(item[k] for k in _KEY)


def _same_params(record, task):
    return (record.get("setting_params") == task["setting"]["params"]
            and record.get("method_params") == task["method"]["params"])


def _run_task(task, threads=1):
    """Simulate, split, fit and score one task; never raises."""
    import torch

    torch.set_num_threads(threads)
    _warm_up(torch)
    import simulators
    from causalrep import estimators
    from causalrep.identifiability import affine_r2, check, mcc

    setting, method, seed = task["setting"], task["method"], task["seed"]
    record = _blank(task)
    try:
        simulate = _lookup(simulators, setting["simulator"], "simulator")
        estimator = _lookup(estimators, method["estimator"], "estimator")
        data = simulate(**setting["params"], seed=seed)
        train, test = data.split(setting["test_fraction"], seed=seed)
        params = {name: setting["params"][name] for name in method["from_setting"]
                  if name in setting["params"]}
        params.update(method["params"], seed=seed)
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est = estimator(**params).fit(train)
        record["fit_seconds"] = time.perf_counter() - start
        record["warnings"] = sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0]}"
                                     for w in caught})
        z_hat = est.transform(test.X)
        record.update(
            mcc=float(mcc(test.Z, z_hat).score),
            affine_r2=float(affine_r2(test.Z, z_hat).mean),
            permutation_passed=bool(check(test.Z, z_hat, up_to="permutation").passed),
            affine_passed=bool(check(test.Z, z_hat, up_to="affine").passed),
            device=str(est.device_), n_train=int(train.n), n_test=int(test.n))
    except Exception as err:  # a failed run is a result of the sweep, not its end
        record.update(status="error", error=_error_text(err))
    return record


def _warm_up(torch):
    """Take one optimiser step so that the imports torch makes on the first one
    (seconds) are not counted in the first fit's time in each worker."""
    weight = torch.zeros(1, requires_grad=True)
    optimiser = torch.optim.Adam([weight])
    weight.sum().backward()
    optimiser.step()


def _blank(task):
    """The record of a task before it ran: names, parameters, empty results."""
    from causalrep import __version__

    setting, method = task["setting"], task["method"]
    return {"setting": setting["name"], "method": method["name"], "seed": task["seed"],
            "status": "ok", "error": None, **dict.fromkeys(_RESULT_FIELDS),
            "device": None, "version": __version__, "n_train": None, "n_test": None,
            "warnings": [], "simulator": setting["simulator"],
            "estimator": method["estimator"], "setting_params": setting["params"],
            "method_params": method["params"]}


def _lookup(module, name, kind):
    if name not in getattr(module, "__all__", ()) or not callable(getattr(module, name)):
        raise ValueError(f"unknown {kind} {name!r}; choose from {sorted(module.__all__)}")
    return getattr(module, name)


def _error_text(err):
    message = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {message}".rstrip(": ")


# -- engines ---------------------------------------------------------------

def _worker_init(parent):
    """One torch thread, and death with the parent process ``parent`` (a pid)."""
    import torch

    torch.set_num_threads(1)
    # Polling rather than PR_SET_PDEATHSIG, which fires when the thread that
    # started the worker ends, not the process, and exists on Linux only.
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent, period=0.5):
    """End this worker as soon as ``parent`` is no longer its parent (it died)."""
    while os.getppid() == parent:
        time.sleep(period)
    os._exit(1)


def _run_local(tasks, address=None, workers=None):
    """Yield (record, persist) as tasks finish on a spawn-context process pool."""
    workers = min(workers or os.cpu_count() or 1, len(tasks))
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context,
                                                initializer=_worker_init,
                                                initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(_run_task, task): task for task in tasks}
        for future in concurrent.futures.as_completed(futures):
            try:
                yield future.result(), True
            except Exception as err:  # the worker itself died: retry on resume
                yield _lost(futures[future], err), False


def _run_ray(tasks, address=None, workers=None):
    """Yield (record, persist) as Ray tasks finish; one CPU (and GPU if used) each."""
    try:
        import ray
    except ImportError:
        raise ImportError("engine='ray' needs Ray: pip install causalrep[distributed]") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        has_gpu = ray.cluster_resources().get("GPU", 0) > 0
        remote = {gpus: ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(_run_task)
                  for gpus in (0, 1)}
        pending = {remote[int(_uses_cuda(task["method"], has_gpu))].remote(task): task
                   for task in tasks}
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            task = pending.pop(ref)
            try:
                yield ray.get(ref), True
            except Exception as err:  # the worker itself died: retry on resume
                yield _lost(task, err), False
    finally:
        if started:
            ray.shutdown()


def _uses_cuda(method, cluster_has_gpu):
    device = str(method["params"].get("device", "auto"))
    if method["estimator"] == "LinearICA":
        return False
    return device.startswith("cuda") or (device == "auto" and cluster_has_gpu)


def _lost(task, err):
    return {**_blank(task), "status": "error", "error": f"worker failed: {_error_text(err)}"}


class _Appender:
    """Appends records to a JSONL file, one flushed line each."""

    def __init__(self, path):
        self.path = None if path is None else Path(path)
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and self.path.stat().st_size:
            with open(self.path, "rb") as handle:
                handle.seek(-1, os.SEEK_END)
                cut_short = handle.read(1) != b"\n"
            if cut_short:  # end the partial line so the next record starts clean
                with open(self.path, "a") as handle:
                    handle.write("\n")

    def append(self, record):
        if self.path is None:
            return
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


# -- reports ---------------------------------------------------------------

def _groups(records):
    groups = {}
    for record in records:
        groups.setdefault((record["setting"], record["method"]), []).append(record)
    return groups


def _mean_std(values, digits):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def markdown_table(records):
    """Mean ± standard deviation over seeds for each setting x method, as markdown.

    Columns: MCC, affine R2, how many seeds passed the permutation and the
    affine checks, fit time, and failed runs (with the first error).
    """
    lines = ["| setting | method | MCC | affine R2 | passed (perm.) | passed (affine) "
             "| fit (s) | failed |", "|" + "---|" * 8]
    for (setting, method), group in _groups(records).items():
        ok = [r for r in group if r["status"] == "ok"]
        failed = [r for r in group if r["status"] != "ok"]
        note = f"{len(failed)}: {failed[0]['error']}" if failed else "0"
        lines.append(
            f"| {setting} | {method} | {_mean_std([r['mcc'] for r in ok], 3)} "
            f"| {_mean_std([r['affine_r2'] for r in ok], 3)} "
            f"| {sum(r['permutation_passed'] for r in ok)}/{len(group)} "
            f"| {sum(r['affine_passed'] for r in ok)}/{len(group)} "
            f"| {_mean_std([r.get('fit_seconds') for r in ok], 1)} | {note.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def write_json(records, path):
    """Write the records as one JSON list."""
    Path(path).write_text(json.dumps(list(records), indent=1, sort_keys=True) + "\n")


def write_csv(records, path):
    """Write the records as CSV, one row each; dict fields as JSON text."""
    import csv

    records = list(records)
    columns = []
    for record in records:
        columns += [k for k in record if k not in columns]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for record in records:
            writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v
                             for k, v in record.items()})


def plot(records, path=None):
    """MCC per method, grouped by setting: bars at the mean, dots per seed.

    Returns:
        The ``matplotlib.figure.Figure`` (saved to ``path`` when given).
    """
    from matplotlib.figure import Figure

    records = [r for r in records if r["status"] == "ok"]
    settings = list(dict.fromkeys(r["setting"] for r in records))
    methods = list(dict.fromkeys(r["method"] for r in records))
    groups = _groups(records)
    width = 0.8 / max(len(methods), 1)
    fig = Figure(figsize=(max(6.0, 0.9 * len(settings) + 2), 4.5), layout="constrained")
    ax = fig.subplots()
    for j, method in enumerate(methods):
        xs, means = [], []
        for i, setting in enumerate(settings):
            values = [r["mcc"] for r in groups.get((setting, method), [])]
            if not values:
                continue
            x = i + (j - (len(methods) - 1) / 2) * width
            xs.append(x)
            means.append(statistics.fmean(values))
            ax.scatter([x] * len(values), values, s=8, color="black", zorder=3)
        ax.bar(xs, means, width=width, label=method)
    ax.set_xticks(range(len(settings)), settings, rotation=30, ha="right")
    ax.set_ylabel("MCC (held out)")
    ax.set_ylim(0, 1.02)
    fig.legend(fontsize=8, ncols=min(len(methods), 5), loc="outside upper center")
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


# -- command line ----------------------------------------------------------

def main_args(suite, engine="local", address=None, seeds=None, out=None):
    """Run a named suite and write its results folder; returns the markdown table.

    Arguments:
        suite: A key of :data:`SUITES`.
        engine: ``"local"`` or ``"ray"``.
        address: Ray cluster address (``engine="ray"`` only).
        seeds: None for the suite's seeds, an int n for ``range(n)``, or a
            sequence of ints.
        out: Results folder (default ``bench-<suite>``): ``records.jsonl``
            (resumable), ``results.csv``, ``results.json``, ``table.md`` and
            ``mcc.png``.

    Raises:
        ValueError: for an unknown suite or engine, or bad seeds.
    """
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; choose from {sorted(SUITES)}")
    spec = SUITES[suite]
    if seeds is None:
        seeds = spec["seeds"]
    elif isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"seeds must be >= 1 when given as a count, got {seeds}")
        seeds = range(seeds)
    folder = Path(out if out is not None else f"bench-{suite}")
    folder.mkdir(parents=True, exist_ok=True)
    records = run(spec["settings"], spec["methods"], list(seeds), engine=engine,
                  address=address, out=folder / "records.jsonl")
    table = markdown_table(records)
    write_csv(records, folder / "results.csv")
    write_json(records, folder / "results.json")
    (folder / "table.md").write_text(table)
    if any(r["status"] == "ok" for r in records):
        plot(records, folder / "mcc.png")
    return table
