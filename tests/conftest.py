"""Shared fixtures: small, seeded data so the suite stays fast."""

import os

import numpy as np
import pytest
from hypothesis import settings

os.environ.setdefault("MPLBACKEND", "Agg")

# No per-example deadline: on a shared 2-core machine one example can take 100x
# its usual time, and speed is measured by the benchmarks, not by the tests.
settings.register_profile("causalrep", deadline=None)
settings.load_profile("causalrep")


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
