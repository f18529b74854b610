"""Shared fixtures: small, seeded data and tiny estimators, so the suite stays fast."""

import json
import os

import numpy as np
import pytest
from hypothesis import settings

os.environ.setdefault("MPLBACKEND", "Agg")

# No per-example deadline: on a shared 2-core machine one example can take 100x
# its usual time, and speed is measured by the benchmarks, not by the tests.
settings.register_profile("causalrep", deadline=None)
settings.load_profile("causalrep")


# Every registered estimator at a tiny size (a fit takes well under a second on the
# tiny data): these parameters, then the ones a test gives.
TINY = {"hidden": (16,), "max_steps": 20, "verbose": 0}
TINY_EXTRA = {
    "InterventionalCRL": {"restarts": 1},
    "CausalDiffAE": {"diffusion_steps": 20, "channels": 4},
    "Rep4Ex": {"n_centers": 30, "n_bootstrap": 0},
    "MultiEnvCRL": {"min_environments": 3},
    "ContrastiveCRL": {"restarts": 1},
    "LinearICA": {"max_iter": 50},
}


@pytest.fixture(scope="session")
def tiny_estimator():
    """``make(name, **params)``: the estimator registered under ``name`` (any name
    ``causalrep.estimators.lookup`` takes) with ``latent_dim=2`` at a tiny size;
    ``params`` override."""
    from causalrep.estimators import lookup

    def make(name, **params):
        cls = lookup(name).load()
        sizes = {} if cls.__name__ == "LinearICA" else TINY
        return cls(**{"latent_dim": 2, **sizes, **TINY_EXTRA.get(cls.__name__, {}), **params})

    return make


class Catalogue:
    """Small data, tiny fitted models and files (good and bad) for the bad-input catalogue."""


def _npz(path, header=None, **arrays):
    """An .npz laid out like InterventionalData.save, with arbitrary arrays."""
    header = {"format": "causalrep.InterventionalData", "targets": {"0": []}, **(header or {})}
    np.savez(path, header=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)
    return path


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory, tiny_estimator):
    """The cases of docs/reliability.md's catalogue call into this: ``data`` (ahuja2023,
    2 latents), ``rdata`` (rep4ex), ``one`` and ``bare`` (one row; X alone), fitted
    ``ae``, ``cdae``, ``rep``, ``ica``, ``make`` (:func:`tiny_estimator`) and the files
    in ``dir``."""
    import simulators
    from causalrep import InterventionalData

    c = Catalogue()
    c.make = tiny_estimator
    c.dir = tmp_path_factory.mktemp("reliability")
    c.data = simulators.ahuja2023(latent_dim=2, obs_dim=6, degree=2, n_obs=60, n_int=60, seed=0)
    c.rdata = simulators.rep4ex(n=200, latent_dim=2, action_dim=2, obs_dim=10, seed=0)
    c.one = c.data.take([0])
    c.bare = InterventionalData(X=c.data.X)
    c.ae = c.make("Autoencoder").fit(c.data)
    c.cdae = c.make("CausalDiffAE", max_steps=5).fit(c.data)
    c.rep = c.make("Rep4Ex").fit(c.rdata)
    c.ica = c.make("LinearICA").fit(c.data)
    c.data.save(c.dir / "data.npz")
    c.ica.save(c.dir / "ica.pt")
    c.ae.save(c.dir / "ae.pt")
    one_action = simulators.rep4ex(n=200, latent_dim=1, action_dim=1, obs_dim=10, seed=0)
    c.make("Rep4Ex", latent_dim=1).fit(one_action).save(c.dir / "rep4ex.pt")
    c.data.take([0]).save(c.dir / "one.npz")
    simulators.ahuja2023(latent_dim=2, obs_dim=4, degree=1, n_obs=30, n_int=30, seed=0).save(c.dir / "narrow.npz")
    InterventionalData(X=c.data.X, regime=c.data.regime, targets={0: (), 1: (5,), 2: (1,)}).save(
        c.dir / "unknown_target.npz"
    )
    InterventionalData(X=c.data.X * 1e306, Z=c.data.Z).save(c.dir / "huge.npz")
    X = c.data.X.copy()
    X[3, 1] = np.nan
    _npz(c.dir / "nan.npz", X=X, Z=c.data.Z)
    _npz(c.dir / "empty.npz", X=np.ones((0, 3)))
    _npz(c.dir / "flat.npz", X=np.ones(5))
    _npz(c.dir / "complex.npz", X=np.ones((4, 2), dtype=complex))
    (c.dir / "nan.csv").write_text("0.5\nnan\n")
    (c.dir / "words.csv").write_text("left,right\n")
    (c.dir / "wide.csv").write_text("1,2,3\n4,5,6\n")
    (c.dir / "empty.csv").write_text("")
    (c.dir / "folder").mkdir()
    np.save(c.dir / "plain.npy", np.ones(3))
    return c


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def tiny_data():
    """Three regimes of a 2-latent problem with a linear 5-d mixing (immutable)."""
    from causalrep import InterventionalData

    rng = np.random.default_rng(0)
    n = 60
    Z = rng.normal(size=(3 * n, 2))
    Z[n : 2 * n, 0] = 1.0
    Z[2 * n :, 1] = -1.0
    X = Z @ rng.normal(size=(2, 5))
    regime = np.repeat([0, 1, 2], n)
    return InterventionalData(X=X, regime=regime, targets={0: (), 1: (0,), 2: (1,)}, Z=Z)


@pytest.fixture(scope="session")
def tiny_action_data():
    """Actions acting on 2 latents, mixed into 5 dimensions, with an outcome (immutable)."""
    from simulators import rep4ex

    return rep4ex(latent_dim=2, action_dim=2, obs_dim=5, n=180, seed=0)
