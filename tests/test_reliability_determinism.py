"""The same seed gives the same numbers, bit for bit, on the same CPU and torch version.

tests/test_estimators.py already fits each of six estimators twice and compares
their latents, and tests/test_rep4ex.py does it for Rep4Ex; here the whole
chain is compared: simulate with a seed, split, fit with a seed, transform,
check. Latents, training histories and identifiability reports must be
identical, and so must benchmark records once their timing fields are removed.
"""

import numpy as np
import pytest
import torch

import simulators
from causalrep import (
    IVAE,
    Autoencoder,
    BetaVAE,
    CausalDiffAE,
    InterventionalCRL,
    LinearICA,
    Rep4Ex,
    bench,
)
from causalrep.identifiability import check

torch.set_num_threads(1)

pytestmark = [
    pytest.mark.filterwarnings("ignore::causalrep.estimators.IdentifiabilityWarning"),
    pytest.mark.filterwarnings("ignore::causalrep.estimators.ConvergenceWarning"),
]

TINY = dict(max_steps=40, hidden=(16,), verbose=0, device="cpu")


def _ahuja(seed):
    return simulators.ahuja2023(latent_dim=2, obs_dim=6, degree=2, n_obs=150, n_int=150, seed=seed)


CHAINS = {  # estimator name -> (simulate(seed), make(seed))
    "InterventionalCRL": (_ahuja, lambda s: InterventionalCRL(2, restarts=2, seed=s, **TINY)),
    "Rep4Ex": (
        lambda s: simulators.rep4ex(n=300, seed=s),
        lambda s: Rep4Ex(2, n_centers=30, seed=s, n_bootstrap=0, **TINY),
    ),
    "CausalDiffAE": (_ahuja, lambda s: CausalDiffAE(2, diffusion_steps=20, channels=4, seed=s, **TINY)),
    "Autoencoder": (_ahuja, lambda s: Autoencoder(2, seed=s, **TINY)),
    "BetaVAE": (_ahuja, lambda s: BetaVAE(2, seed=s, **TINY)),
    "IVAE": (_ahuja, lambda s: IVAE(2, seed=s, **TINY)),
    "LinearICA": (_ahuja, lambda s: LinearICA(2, seed=s)),
}


def identical(a, b):
    """Equal structures whose numbers are equal bit for bit (NaN equal to NaN)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(identical(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return (
            isinstance(b, (list, tuple))
            and len(a) == len(b)
            and all(identical(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, (float, np.floating, np.ndarray)):
        return (
            np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True) and np.asarray(a).dtype == np.asarray(b).dtype
        )
    return type(a) is type(b) and a == b


def test_identical_helper_sees_one_ulp():
    x = np.float64(0.1)
    assert identical({"a": [x, 1]}, {"a": [x, 1]})
    assert not identical({"a": [x, 1]}, {"a": [np.nextafter(x, 1.0), 1]})


def _chain(name, seed):
    simulate, make = CHAINS[name]
    train, test = simulate(seed).split(0.3, seed=seed)
    estimator = make(seed).fit(train)
    z_hat = estimator.transform(test.X)
    report = check(test.Z, z_hat, up_to="affine", seed=seed)
    return z_hat, estimator.history_, report.to_dict()


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_same_seed_same_latents_history_and_report(name):
    z_hat, history, report = _chain(name, seed=3)
    z_again, history_again, report_again = _chain(name, seed=3)
    assert np.array_equal(z_hat, z_again)
    assert identical(history, history_again)
    assert identical(report, report_again)


SIMULATORS = {
    "ahuja2023": lambda s: simulators.ahuja2023(
        latent_dim=3, obs_dim=12, n_obs=50, n_int=30, latents="scm_dense", seed=s
    ),
    "interventional": lambda s: simulators.interventional(
        simulators.LatentSCM(simulators.erdos_renyi(3, 1.0, seed=s), "mlp", seed=s),
        simulators.MLPMixing(3, 8, seed=s),
        20,
        [simulators.do({0: 1.0}), simulators.shift({2: 0.5})],
        seed=s,
    ),
    "rep4ex": lambda s: simulators.rep4ex(n=100, seed=s),
    "pendulum": lambda s: simulators.pendulum(20, size=16, seed=s),
    "morpho_digits": lambda s: simulators.morpho_digits(20, size=16, seed=s),
}


@pytest.mark.parametrize("name", sorted(SIMULATORS))
def test_same_seed_same_simulated_data(name):
    first, again, other = (SIMULATORS[name](s) for s in (7, 7, 8))
    for field in ("X", "regime", "Z", "A", "Y"):
        a, b = getattr(first, field), getattr(again, field)
        assert (a is None and b is None) or np.array_equal(a, b), field
    assert dict(first.targets) == dict(again.targets)
    if first.graph is None:
        assert again.graph is None
    else:
        assert sorted(first.graph.edges) == sorted(again.graph.edges)
    assert identical(first.meta, again.meta)
    assert not np.array_equal(first.X, other.X)


def test_same_seed_same_benchmark_records():
    setting = {
        "name": "uniform d=2",
        "simulator": "ahuja2023",
        "params": {"latent_dim": 2, "obs_dim": 6, "degree": 2, "n_obs": 100, "n_int": 100},
    }
    methods = [
        {
            "name": "InterventionalCRL",
            "estimator": "InterventionalCRL",
            "params": {"max_steps": 40, "hidden": [16], "restarts": 1, "verbose": 0},
            "from_setting": ["latent_dim", "degree"],
        },
        {"name": "iVAE", "estimator": "IVAE", "params": {"max_steps": 40, "hidden": [16], "verbose": 0}},
    ]
    tasks = bench.tasks.make_tasks([setting], methods, [4])
    first = [bench.tasks.run_task(task) for task in tasks]
    again = [bench.tasks.run_task(task) for task in tasks]
    assert [r["status"] for r in first] == ["ok", "ok"], [r["error"] for r in first]
    strip = [{k: v for k, v in r.items() if k not in bench.TIMING_FIELDS} for r in first]
    strip_again = [{k: v for k, v in r.items() if k not in bench.TIMING_FIELDS} for r in again]
    assert identical(strip, strip_again)
    assert first[0]["fit_seconds"] > 0
