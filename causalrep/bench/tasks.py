"""Tasks of a sweep: checked (setting, method, seed) triples, and running one of them."""

import json
import time
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from .records import blank

__all__ = ["make_tasks", "run_task", "error_text"]


def make_tasks(
    settings: Iterable[Mapping[str, Any]], methods: Iterable[Mapping[str, Any]], seeds: Iterable[int]
) -> list[dict]:
    """Every (setting, method, seed) as a task dict, specs checked and normalised.

    Raises:
        ValueError: for a malformed setting or method, duplicate names, a bad
            seed, or an empty sweep.
    """
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
    return [{"setting": s, "method": m, "seed": seed} for s in settings for m in methods for seed in seeds]


def _check_spec(spec, kind, field):
    if not isinstance(spec, dict) or not isinstance(spec.get(field), str):
        raise ValueError(f"a {kind} must be a dict with a {field!r} name, got {spec!r}")
    params = spec.get("params", {})
    if not isinstance(params, dict):
        raise ValueError(f"{kind} {spec.get('name')!r}: params must be a dict, got {params!r}")
    clean = {"name": str(spec.get("name", spec[field])), field: spec[field], "params": json.loads(json.dumps(params))}
    if kind == "setting":
        clean["test_fraction"] = float(spec.get("test_fraction", 0.2))
    else:
        clean["from_setting"] = list(spec.get("from_setting", ["latent_dim"]))
    unknown = set(spec) - set(clean) - {"name"}
    if unknown:
        raise ValueError(f"{kind} {clean['name']!r} has unknown key(s) {sorted(unknown)}")
    return clean


def run_task(task: Mapping[str, Any], threads: int = 1) -> dict:
    """Simulate, split, fit and score one task; never raises."""
    import torch

    torch.set_num_threads(threads)
    _warm_up(torch)
    import simulators
    from causalrep.estimators import lookup
    from causalrep.identifiability import affine_r2, check, mcc

    setting, method, seed = task["setting"], task["method"], task["seed"]
    record = blank(task)
    try:
        simulate = simulators.setting(setting["simulator"])
        estimator = lookup(method["estimator"]).load()
        data = simulate(**setting["params"], seed=seed)
        train, test = data.split(setting["test_fraction"], seed=seed)
        params = {name: setting["params"][name] for name in method["from_setting"] if name in setting["params"]}
        params.update(method["params"], seed=seed)
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est = estimator(**params).fit(train)
        record["fit_seconds"] = time.perf_counter() - start
        record["warnings"] = sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught})
        z_hat = est.transform(test.X)
        record.update(
            mcc=float(mcc(test.Z, z_hat).score),
            affine_r2=float(affine_r2(test.Z, z_hat).mean),
            permutation_passed=bool(check(test.Z, z_hat, up_to="permutation").passed),
            affine_passed=bool(check(test.Z, z_hat, up_to="affine").passed),
            device=str(est.device_),
            n_train=int(train.n),
            n_test=int(test.n),
        )
    except Exception as err:  # a failed run is a result of the sweep, not its end
        record.update(status="error", error=error_text(err))
    return record


def _warm_up(torch):
    """Take one optimiser step so that the imports torch makes on the first one
    (seconds) are not counted in the first fit's time in each worker."""
    weight = torch.zeros(1, requires_grad=True)
    optimiser = torch.optim.Adam([weight])
    weight.sum().backward()
    optimiser.step()


def error_text(err: BaseException) -> str:
    """``"Type: first line of the message"``."""
    message = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {message}".rstrip(": ")
