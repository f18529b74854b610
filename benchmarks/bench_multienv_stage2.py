"""Stage 2 of a two-stage MultiEnvCRL, alone: an exact-likelihood flow on h = T(z) for a known T.

The question this answers before any two-stage estimator is built: given
codes that are a known smooth invertible function of the true latents, does a
normalising flow trained by the exact log-likelihood of MultiEnvCRL's latent
polynomial SCM prior recover the latents?

- Data: ``simulators.multienv`` (degree 2, Gaussian noise, 1,000 samples per
  environment), its latents z mapped by :math:`T(z) = R_2\\,\\sigma(R_1 z)`,
  :math:`R_1, R_2` random rotations and :math:`\\sigma(u) = \\tanh(u) + 0.3u`
  elementwise (smooth, monotone, slope 1.3 at 0 and 0.3 in the tails).
  Settings: ``d=3`` (7 environments), ``d=5`` (11), ``d=3 partial`` (the
  chain 0 -> 1 -> 2, the coefficients of latent 2 unchanged).
- Stage 2: the codes whitened (PCA on the training part), then a flow of
  Pyro transforms started at the identity (``MatrixExponential`` with zero
  weights, ``SplineCoupling`` whose hypernetwork's last layer is zero and
  whose splines are the identity, a reversing ``Permute``; twice; then
  ``MatrixExponential``, ``Spline``, ``MatrixExponential``), trained with
  the shared training loop on the exact negative log-likelihood
  :math:`-\\log p(g(h) \\mid e) - \\log|\\det \\partial g / \\partial h|` under
  the prior of ``MultiEnvCRL`` (its environment tables and
  ``LatentPolynomialSCM``, reused). The causal order is restarted: all d!
  orders at d <= 4, a sample of 8 beyond; each runs ``ORDER_STEPS`` steps and
  the one with the lowest validation negative log-likelihood (the loop's
  held-out 10%) is trained on for ``FINAL_STEPS``.
- Scores on the held-out 20% of each environment: MCC of g(h) against z, the
  matched correlation per latent, the correlation with the noise n_2 in the
  partial case; the held-out log-likelihood per sample of the fit and of the
  truth (the true latents, the exact log-determinant of :math:`T^{-1}`, the
  prior fitted by maximum likelihood on the true latents in the true order);
  CPU and wall seconds on one thread, the order restarts' share included.

``--start linear`` starts the flow from a fitted linear map instead of the
identity: for each causal order tried, ``LINEAR_STARTS`` invertible matrices
W started at random rotations are fitted with the prior by L-BFGS on the
exact likelihood (``minimise_full_batch``, at most ``LINEAR_ITERATIONS``
iterations) on 90% of the training part; the one with the lowest negative
log-likelihood on the other 10% wins, across orders. The flow is then the
chosen W followed by the identity-started flow above, its prior the one
fitted with W, trained in the chosen order for ``FINAL_STEPS`` (no order
restarts of the flow). Its results also score the linear map alone. Writes
benchmarks/results/multienv_stage2_linear.json.

``--start linear-flows`` chooses after the flow instead: the flow is
trained for ``FLOW_STEPS`` from each of the ``FLOW_STARTS`` linear starts
of lowest held-out NLL that are different maps (outputs with MCC < 0.99
between them), and the one with the lowest validation loss is trained on
for ``FINAL_STEPS``. Writes benchmarks/results/multienv_stage2_linear_flows.json.

``--linear-check`` trains the flow from the three linear starts of lowest
held-out NLL and from the three of highest MCC (d=3, seed 0): writes
multienv_stage2_linear_check.json.

``--start-check`` runs the diagnostic of identity start against truth start
on d=3, seed 0, in the true order: the same flow started at the identity and
trained for 4 x 2,000 steps, against the flow first regressed onto the true
latents (3,000 steps) and the prior fitted on them, then trained by
likelihood.

Writes benchmarks/results/multienv_stage2.json (``--start-check``:
multienv_stage2_start.json) and prints a markdown table.

Usage, from the repository root:
    python -m benchmarks.bench_multienv_stage2 [--seeds 0 1 2] [--workers 1]
    python -m benchmarks.bench_multienv_stage2 --start linear [--seeds 0] [--settings d=3]
    python -m benchmarks.bench_multienv_stage2 --start linear-flows [--seeds 0] [--settings d=3]
    python -m benchmarks.bench_multienv_stage2 --linear-check
    python -m benchmarks.bench_multienv_stage2 --start-check
"""

import argparse
import concurrent.futures
import itertools
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "multienv_stage2.json"
LINEAR_RESULTS = ROOT / "benchmarks" / "results" / "multienv_stage2_linear.json"
LINEAR_FLOWS_RESULTS = ROOT / "benchmarks" / "results" / "multienv_stage2_linear_flows.json"
LINEAR_CHECK = ROOT / "benchmarks" / "results" / "multienv_stage2_linear_check.json"
START_CHECK = ROOT / "benchmarks" / "results" / "multienv_stage2_start.json"

SETTINGS = {
    "d=3": {"latent_dim": 3, "obs_dim": 10, "n_envs": 7, "n_per_env": 1000},
    "d=5": {"latent_dim": 5, "obs_dim": 10, "n_envs": 11, "n_per_env": 1000},
    "d=3 partial": {"latent_dim": 3, "obs_dim": 10, "n_envs": 7, "n_per_env": 1000, "chain": True, "unchanged": [2]},
}
DEGREE = 2
ORDER_STEPS = 400
FINAL_STEPS = 3000
SAMPLED_ORDERS = 8
LR = 3e-3
LINEAR_STARTS = 8
LINEAR_ITERATIONS = 500
FLOW_STARTS = 8
FLOW_STEPS = 1000
_FLOW_KEYS = ("order", "start", "linear_val_nll", "linear_mcc", "val_nll", "mcc")
FLOW = {"blocks": 2, "hidden": (32, 32), "bins": 8, "bound": 4.0}
# softplus^-1(1): the unnormalised spline derivative of slope 1.
_UNIT_SLOPE = math.log(math.e - 1)


def known_map(d, seed):
    """T(z) = R2 sigma(R1 z) and log|det dT/dz|, for random rotations drawn from ``seed``."""
    rng = np.random.default_rng(1000 + seed)
    r1 = np.linalg.qr(rng.standard_normal((d, d)))[0]
    r2 = np.linalg.qr(rng.standard_normal((d, d)))[0]

    def forward(z):
        u = z @ r1.T
        return (np.tanh(u) + 0.3 * u) @ r2.T

    def log_det(z):
        u = z @ r1.T
        return np.log(1.0 - np.tanh(u) ** 2 + 0.3).sum(1)

    return forward, log_det


def _identity_spline(spline):
    import torch

    with torch.no_grad():
        spline.unnormalized_widths.zero_()
        spline.unnormalized_heights.zero_()
        spline.unnormalized_derivatives.fill_(_UNIT_SLOPE)
    return spline


def _matrix_exponential(d):
    import pyro.distributions.transforms as T
    import torch

    layer = T.MatrixExponential(d)
    with torch.no_grad():
        layer.weights.zero_()
    return layer


def _coupling(d, split, hidden, bins, bound):
    import pyro.distributions.transforms as T
    import torch
    from pyro.nn import DenseNN

    out = d - split
    net = DenseNN(split, list(hidden), [out * bins, out * bins, out * (bins - 1), out * bins])
    last = net.layers[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
        last.bias[2 * out * bins : 2 * out * bins + out * (bins - 1)] = _UNIT_SLOPE
    layer = T.SplineCoupling(d, split, net, count_bins=bins, bound=bound)
    _identity_spline(layer.lower_spline)
    return layer


def linear_map(weight):
    """Pyro transform h -> h W^T for a trainable invertible (d, d) matrix W; log|det W| per sample."""
    import torch
    from pyro.distributions.torch_transform import TransformModule
    from torch.distributions import constraints

    class Linear(TransformModule):
        domain = constraints.real_vector
        codomain = constraints.real_vector
        bijective = True

        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.as_tensor(weight, dtype=torch.float32).clone())

        def _call(self, x):
            return x @ self.weight.T

        def _inverse(self, y):
            return torch.linalg.solve(self.weight, y.T).T

        def log_abs_det_jacobian(self, x, y):
            return torch.linalg.slogdet(self.weight)[1].expand(x.shape[:-1])

    return Linear()


def flow(d, blocks, hidden, bins, bound, first=None):
    """Pyro transforms (n, d) -> (n, d), the identity up to the splines' rational parts (~1e-3);
    preceded by the linear map ``first`` (d, d) when given."""
    import pyro.distributions.transforms as T
    import torch

    layers = [] if first is None else [linear_map(first)]
    for b in range(blocks):
        split = d // 2 if b % 2 == 0 else (d + 1) // 2
        layers += [_matrix_exponential(d), _coupling(d, split, hidden, bins, bound)]
        layers.append(T.Permute(torch.arange(d - 1, -1, -1)))
    layers += [_matrix_exponential(d), _identity_spline(T.Spline(d, bins, bound)), _matrix_exponential(d)]
    return T.ComposeTransformModule(layers)


def stage2_model(d, n_envs, order, transform=None):
    """Flow (``transform`` if given, else :func:`flow`) and MultiEnvCRL's environment prior;
    ``log_prob(h, env)`` is the exact log-density of h."""
    import torch
    from torch import nn

    from causalrep.estimators._multienv import _EnvironmentPrior

    class Stage2(nn.Module):
        def __init__(self):
            super().__init__()
            self.flow = flow(d, **FLOW) if transform is None else transform
            self.prior = _EnvironmentPrior(n_envs, d, DEGREE)
            self.register_buffer("order", torch.as_tensor(order))

        def log_prob(self, h, env):
            z = self.flow(h)
            return self.prior(env).log_prob(z[:, self.order]) + self.flow.log_abs_det_jacobian(h, z)

    return Stage2()


def prepared(setting, seed):
    """Data, split, whitened codes (train, test) and environment indices, as tensors."""
    import torch

    import simulators

    params = dict(SETTINGS[setting])
    if params.pop("chain", False):
        params["graph"] = simulators.chain(params["latent_dim"])
    data = simulators.multienv(**params, degree=DEGREE, seed=seed)
    train, test = data.split(0.2, seed=seed)
    forward, log_det = known_map(data.meta["latent_dim"], seed)
    h_train, h_test = forward(train.Z), forward(test.Z)
    mean = h_train.mean(0)
    values, vectors = np.linalg.eigh(np.cov(h_train.T))
    whitening = vectors / np.sqrt(values)
    envs = data.regimes
    return {
        "data": data,
        "train": train,
        "test": test,
        "log_det": log_det,
        "whitening": whitening,
        "w_train": torch.tensor((h_train - mean) @ whitening, dtype=torch.float32),
        "w_test": torch.tensor((h_test - mean) @ whitening, dtype=torch.float32),
        "e_train": torch.from_numpy(np.searchsorted(envs, train.regime)),
        "e_test": torch.from_numpy(np.searchsorted(envs, test.regime)),
    }


def _nll(model, h, env):
    return {"nll": -model.log_prob(h, env).mean()}


def held_out_scores(p, model, setting, seed):
    """The fitted flow's scores on the held-out part: MCC and per latent, the log-likelihoods of fit and truth."""
    import torch

    with torch.no_grad():
        z_hat = model.flow(p["w_test"]).numpy()
        fit_ll = float(model.log_prob(p["w_test"], p["e_test"]).mean())
    graph = p["data"].graph
    return {
        "setting": setting,
        "seed": seed,
        **scores(p, z_hat),
        "caused": [i for i in range(graph.number_of_nodes()) if graph.in_degree(i) > 0],
        "fit_ll": fit_ll,
        "truth_ll": truth_log_likelihood(p, seed),
    }


def truth_log_likelihood(p, seed, steps=3000):
    """Held-out log p(h_w | e) per sample at the truth: the true latents, the exact
    log-determinant of T^{-1} and of the whitening, the prior fitted by maximum
    likelihood on the true latents in the true order."""
    import torch

    from causalrep.estimators._core.training import TrainConfig, train
    from causalrep.estimators._multienv import _EnvironmentPrior

    order = p["data"].meta["order"]
    z_train = torch.tensor(p["train"].Z[:, order], dtype=torch.float32)
    z_test = torch.tensor(p["test"].Z[:, order], dtype=torch.float32)
    torch.manual_seed(seed)
    prior = _EnvironmentPrior(len(p["data"].regimes), z_train.shape[1], DEGREE)
    config = TrainConfig(max_steps=steps, lr=1e-2, verbose=False, patience=50)
    loss = lambda m, z, e: {"nll": -m(e).log_prob(z).mean()}  # noqa: E731
    train(prior, loss, (z_train, p["e_train"]), config, seed, torch.device("cpu"))
    with torch.no_grad():
        log_prior = prior(p["e_test"]).log_prob(z_test).numpy()
    log_det_whitening = np.linalg.slogdet(p["whitening"])[1]
    return float(np.mean(log_prior - p["log_det"](p["test"].Z) - log_det_whitening))


def orders_to_try(d, seed):
    """All orders at d <= 4, else SAMPLED_ORDERS drawn from ``seed``."""
    orders = list(itertools.permutations(range(d)))
    if d <= 4:
        return orders
    chosen = np.random.default_rng(seed).choice(len(orders), SAMPLED_ORDERS, replace=False)
    return [orders[i] for i in chosen]


def scores(p, z_hat):
    """MCC, matched correlation per latent and best correlation with each noise, on the test part."""
    import simulators
    from causalrep.identifiability import mcc

    test = p["test"]
    d = test.Z.shape[1]
    result = mcc(test.Z, z_hat)
    noise = simulators.multienv_noise(test)
    noise_corr = np.abs(np.corrcoef(noise.T, z_hat.T)[:d, d:])
    return {
        "mcc": float(result.score),
        "per_latent": result.per_latent.tolist(),
        "best_noise": noise_corr.max(1).tolist(),
    }


def run_one(setting, seed):
    """Fit stage 2 with its order restarts on one (setting, seed); score it and the truth."""
    import torch

    from causalrep.estimators._core.training import TrainConfig, train

    torch.set_num_threads(1)
    p = prepared(setting, seed)
    d, n_envs = p["w_train"].shape[1], len(p["data"].regimes)
    device = torch.device("cpu")
    tensors = (p["w_train"], p["e_train"])
    cpu, wall = time.process_time(), time.perf_counter()
    candidates = []
    for k, order in enumerate(orders_to_try(d, seed)):
        torch.manual_seed(seed * 1000 + k)
        model = stage2_model(d, n_envs, order)
        config = TrainConfig(max_steps=ORDER_STEPS, lr=LR, verbose=False)
        history = train(model, _nll, tensors, config, seed + k, device)
        with torch.no_grad():
            z_hat = model.flow(p["w_test"]).numpy()
        candidates.append({"order": list(order), "val_nll": min(history.val), "mcc": scores(p, z_hat)["mcc"]})
        candidates[-1]["model"] = model
    restart_cpu = time.process_time() - cpu
    best = min(candidates, key=lambda c: c["val_nll"])
    history = train(
        best["model"], _nll, tensors, TrainConfig(max_steps=FINAL_STEPS, lr=LR, verbose=False), seed, device
    )
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        **held_out_scores(p, best["model"], setting, seed),
        "true_order": p["data"].meta["order"],
        "chosen_order": best["order"],
        "orders": [{k: c[k] for k in ("order", "val_nll", "mcc")} for c in candidates],
        "cpu_seconds": cpu,
        "restart_cpu_seconds": restart_cpu,
        "wall_seconds": wall,
        "final_steps": history.steps,
    }


def linear_starts(p, seed, per_order):
    """Linear maps W fitted with the prior by L-BFGS from ``per_order`` random rotations per order;
    each one's held-out (10% of the training part) negative log-likelihood, test MCC and model."""
    import torch

    from causalrep.estimators._core.training import minimise_full_batch

    d, n_envs = p["w_train"].shape[1], len(p["data"].regimes)
    rows = torch.randperm(len(p["w_train"]), generator=torch.Generator().manual_seed(seed))
    cut = len(rows) // 10
    held = (p["w_train"][rows[:cut]], p["e_train"][rows[:cut]])
    fit = (p["w_train"][rows[cut:]], p["e_train"][rows[cut:]])
    rng = np.random.default_rng(2000 + seed)
    candidates = []
    for order in orders_to_try(d, seed):
        for k in range(per_order):
            torch.manual_seed(seed * 1000 + len(candidates))
            rotation = np.linalg.qr(rng.standard_normal((d, d)))[0]
            model = stage2_model(d, n_envs, order, linear_map(rotation))
            loss = minimise_full_batch(model, _nll, fit, LINEAR_ITERATIONS)
            with torch.no_grad():
                held_nll = float(_nll(model, *held)["nll"]) if math.isfinite(loss) else math.inf
                z_hat = model.flow(p["w_test"]).numpy()
            mcc = scores(p, z_hat)["mcc"] if math.isfinite(held_nll) else float("nan")
            candidates.append({"order": list(order), "start": k, "val_nll": held_nll, "mcc": mcc, "model": model})
    return candidates


def flow_from(p, linear, order, seed, steps=FINAL_STEPS):
    """The flow started at the linear map and prior of ``linear``, trained for ``steps``; model and history."""
    import torch

    from causalrep.estimators._core.training import TrainConfig, train

    d, n_envs = p["w_train"].shape[1], len(p["data"].regimes)
    torch.manual_seed(seed)
    model = stage2_model(d, n_envs, order, flow(d, **FLOW, first=linear.flow.weight.detach()))
    model.prior.load_state_dict(linear.prior.state_dict())
    config = TrainConfig(max_steps=steps, lr=LR, verbose=False)
    history = train(model, _nll, (p["w_train"], p["e_train"]), config, seed, torch.device("cpu"))
    return model, history


def distinct(candidates, p, most):
    """Up to ``most`` candidates in order of held-out NLL, each a different linear map: its output
    on 1,000 training codes has MCC < 0.99 with every one kept before it."""
    import torch

    from causalrep.identifiability import mcc

    kept, outputs = [], []
    for c in sorted(candidates, key=lambda c: c["val_nll"]):
        if not math.isfinite(c["val_nll"]):
            break
        with torch.no_grad():
            z = c["model"].flow(p["w_train"][:1000]).numpy()
        if all(mcc(z, other).score < 0.99 for other in outputs):
            kept.append(c)
            outputs.append(z)
            if len(kept) == most:
                break
    return kept


def run_linear(setting, seed, per_order=LINEAR_STARTS, flows=0):
    """Linear start, then the flow from it, on one (setting, seed); score both and the truth.

    With ``flows`` > 0 the flow is first trained for ``FLOW_STEPS`` from each of the ``flows``
    best distinct linear starts (see :func:`distinct`), and the one with the lowest validation
    loss is trained on for ``FINAL_STEPS``; the linear start reported is that one's.
    """
    import torch

    from causalrep.estimators._core.training import TrainConfig, train

    torch.set_num_threads(1)
    p = prepared(setting, seed)
    cpu, wall = time.process_time(), time.perf_counter()
    candidates = linear_starts(p, seed, per_order)
    linear_cpu = time.process_time() - cpu
    tried = []
    if flows:
        for c in distinct(candidates, p, flows):
            model, history = flow_from(p, c["model"], c["order"], seed, FLOW_STEPS)
            with torch.no_grad():
                flow_mcc = scores(p, model.flow(p["w_test"]).numpy())["mcc"]
            tried.append({**c, "flow": model, "linear_val_nll": c["val_nll"], "linear_mcc": c["mcc"]})
            tried[-1].update(val_nll=min(history.val), mcc=flow_mcc)
        chosen = min(tried, key=lambda c: c["val_nll"])
    else:
        chosen = min(candidates, key=lambda c: c["val_nll"])
    restart_cpu = time.process_time() - cpu
    with torch.no_grad():
        linear_scores = scores(p, chosen["model"].flow(p["w_test"]).numpy())
        linear_ll = float(chosen["model"].log_prob(p["w_test"], p["e_test"]).mean())
    if flows:
        model = chosen["flow"]
        config = TrainConfig(max_steps=FINAL_STEPS, lr=LR, verbose=False)
        history = train(model, _nll, (p["w_train"], p["e_train"]), config, seed, torch.device("cpu"))
    else:
        model, history = flow_from(p, chosen["model"], chosen["order"], seed)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        **held_out_scores(p, model, setting, seed),
        "linear": {**linear_scores, "ll": linear_ll},
        "true_order": p["data"].meta["order"],
        "chosen_order": chosen["order"],
        "linear_starts_per_order": per_order,
        "starts": [{k: c[k] for k in ("order", "start", "val_nll", "mcc")} for c in candidates],
        **({"flows": [{k: c[k] for k in _FLOW_KEYS} for c in tried]} if flows else {}),
        "cpu_seconds": cpu,
        "linear_cpu_seconds": linear_cpu,
        "restart_cpu_seconds": restart_cpu,
        "wall_seconds": wall,
        "final_steps": history.steps,
    }


def linear_check(setting="d=3", seed=0, each=3):
    """The flow from the ``each`` linear starts of lowest held-out NLL and from the ``each`` of highest
    MCC: does the flow keep a good start's basin, and does its likelihood then rank the starts right?"""
    import torch

    torch.set_num_threads(1)
    p = prepared(setting, seed)
    candidates = linear_starts(p, seed, LINEAR_STARTS)
    by_nll = sorted(candidates, key=lambda c: c["val_nll"])[:each]
    by_mcc = [c for c in sorted(candidates, key=lambda c: -c["mcc"]) if c not in by_nll][:each]
    rows = []
    for picked_by, group in (("held-out NLL", by_nll), ("MCC", by_mcc)):
        for c in group:
            model, history = flow_from(p, c["model"], c["order"], seed)
            with torch.no_grad():
                ll = float(model.log_prob(p["w_test"], p["e_test"]).mean())
                flow_scores = scores(p, model.flow(p["w_test"]).numpy())
            rows.append(
                {
                    "picked_by": picked_by,
                    **{k: c[k] for k in ("order", "start")},
                    "linear_val_nll": c["val_nll"],
                    "linear_mcc": c["mcc"],
                    "flow_val_nll": min(history.val),
                    "flow_test_ll": ll,
                    "flow_mcc": flow_scores["mcc"],
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return {"setting": setting, "seed": seed, "truth_ll": truth_log_likelihood(p, seed), "rows": rows}


def start_check(seed=0, steps=2000, chunks=4):
    """Identity start against truth start on d=3 in the true order: held-out LL and MCC per chunk."""
    import torch

    from causalrep.estimators._core.training import TrainConfig, train

    torch.set_num_threads(1)
    p = prepared("d=3", seed)
    order = p["data"].meta["order"]
    n_envs, device = len(p["data"].regimes), torch.device("cpu")
    tensors = (p["w_train"], p["e_train"])
    rows = []

    def record(start, step, model):
        with torch.no_grad():
            z_hat = model.flow(p["w_test"]).numpy()
            ll = float(model.log_prob(p["w_test"], p["e_test"]).mean())
        rows.append({"start": start, "steps": step, "ll": ll, **scores(p, z_hat)})
        print(json.dumps(rows[-1]), flush=True)

    torch.manual_seed(seed)
    model = stage2_model(3, n_envs, order)
    for chunk in range(chunks):
        train(
            model, _nll, tensors, TrainConfig(max_steps=steps, lr=LR, verbose=False, patience=100), seed + chunk, device
        )
        record("identity", (chunk + 1) * steps, model)
    torch.manual_seed(seed)
    model = stage2_model(3, n_envs, order)
    z_train = torch.tensor(p["train"].Z, dtype=torch.float32)
    mse = lambda f, h, z: {"mse": ((f(h) - z) ** 2).mean()}  # noqa: E731
    train(model.flow, mse, (p["w_train"], z_train), TrainConfig(max_steps=3000, lr=LR, verbose=False), seed, device)
    prior_nll = lambda m, z, e: {"nll": -m(e).log_prob(z[:, order]).mean()}  # noqa: E731
    config = TrainConfig(max_steps=2000, lr=1e-2, verbose=False)
    train(model.prior, prior_nll, (z_train, p["e_train"]), config, seed, device)
    record("truth", 0, model)
    for chunk in range(chunks):
        config = TrainConfig(max_steps=steps, lr=LR / 3, verbose=False, patience=100)
        train(model, _nll, tensors, config, seed + chunk, device)
        record("truth", (chunk + 1) * steps, model)
    return {"truth_ll": truth_log_likelihood(p, seed), "rows": rows}


def summarise(records):
    rows = []
    for setting in SETTINGS:
        recs = sorted((r for r in records if r["setting"] == setting), key=lambda r: r["seed"])
        if not recs:
            continue
        # The restarts the likelihood chose among: flow orders (identity start) or linear starts.
        key = next(k for k in ("flows", "starts", "orders") if k in recs[0])
        rows.append(
            {
                "setting": setting,
                "seeds": len(recs),
                "mcc": [r["mcc"] for r in recs],
                "linear_mcc": [r["linear"]["mcc"] for r in recs if "linear" in r],
                "caused": statistics.mean(np.mean([r["per_latent"][i] for i in r["caused"]]) for r in recs),
                "per_latent": np.mean([r["per_latent"] for r in recs], axis=0).tolist(),
                "best_noise": np.mean([r["best_noise"] for r in recs], axis=0).tolist(),
                "gap": [r["truth_ll"] - r["fit_ll"] for r in recs],
                # Seeds where the restart the likelihood picked was also the best by MCC.
                "picked_best": sum(
                    min(r[key], key=lambda o: o["val_nll"]) is max(r[key], key=lambda o: o["mcc"]) for r in recs
                ),
                "cpu_seconds": statistics.mean(r["cpu_seconds"] for r in recs),
                "restart_cpu_seconds": statistics.mean(r["restart_cpu_seconds"] for r in recs),
                "wall_seconds": statistics.mean(r["wall_seconds"] for r in recs),
            }
        )
    return rows


def markdown(rows):
    lines = [
        "| setting | held-out MCC per seed | mean | linear start's MCC | caused latents | LL truth - fit (nats/sample) "
        "| likelihood picked the best-MCC restart | CPU s | of which restarts | wall s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        linear = ", ".join(f"{m:.3f}" for m in r["linear_mcc"]) or "-"
        lines.append(
            f"| {r['setting']} | {', '.join(f'{m:.3f}' for m in r['mcc'])} | {statistics.mean(r['mcc']):.3f} | "
            f"{linear} | {r['caused']:.3f} | {', '.join(f'{g:.3f}' for g in r['gap'])} | "
            f"{r['picked_best']}/{r['seeds']} | {r['cpu_seconds']:.0f} | {r['restart_cpu_seconds']:.0f} | "
            f"{r['wall_seconds']:.0f} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS))
    parser.add_argument(
        "--start",
        choices=["identity", "linear", "linear-flows"],
        default="identity",
        help="start of the flow (see the module doc)",
    )
    parser.add_argument("--linear-starts", type=int, default=LINEAR_STARTS, help="linear starts per order")
    parser.add_argument("--linear-check", action="store_true", help="flows from several linear starts, d=3 seed 0")
    parser.add_argument("--start-check", action="store_true", help="identity start against truth start, d=3 seed 0")
    args = parser.parse_args()
    if args.start_check:
        START_CHECK.write_text(json.dumps(start_check(), indent=1))
        return
    if args.linear_check:
        LINEAR_CHECK.write_text(json.dumps(linear_check(), indent=1))
        return
    results, fit = {
        "identity": (RESULTS, run_one),
        "linear": (LINEAR_RESULTS, run_linear),
        "linear-flows": (LINEAR_FLOWS_RESULTS, run_linear),
    }[args.start]
    saved = json.loads(results.read_text()) if results.exists() else {}
    tasks = [(s, seed) for s in args.settings for seed in args.seeds]
    flows = FLOW_STARTS if args.start == "linear-flows" else 0
    extra = [[args.linear_starts] * len(tasks), [flows] * len(tasks)] if fit is run_linear else []
    records = []
    with concurrent.futures.ProcessPoolExecutor(args.workers) as pool:
        for record in pool.map(fit, *zip(*tasks, strict=True), *extra):
            records.append(record)
            print(json.dumps({k: record[k] for k in ("setting", "seed", "mcc", "fit_ll", "truth_ll")}), flush=True)
    kept = [r for r in saved.get("records", []) if (r["setting"], r["seed"]) not in tasks]
    saved["records"] = kept + records
    saved["summary"] = summarise(saved["records"])
    print(markdown(saved["summary"]))
    saved.update(
        {
            "settings": SETTINGS,
            "flow": {k: list(v) if isinstance(v, tuple) else v for k, v in FLOW.items()},
            "order_steps": ORDER_STEPS,
            "final_steps": FINAL_STEPS,
            "lr": LR,
            **({"linear_iterations": LINEAR_ITERATIONS} if fit is run_linear else {}),
            **({"flow_starts": FLOW_STARTS, "flow_steps": FLOW_STEPS} if flows else {}),
        }
    )
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(saved, indent=1))


if __name__ == "__main__":
    main()
