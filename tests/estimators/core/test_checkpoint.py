"""Checkpoints: every fitted array checked against the configuration, digests required."""

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import causalrep
import simulators
from causalrep import CheckpointError
from causalrep.estimators._core.checkpoint import _digest

FAST = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _z(n=400, d=3, seed=0):
    return np.random.default_rng(seed).laplace(size=(n, d))


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    data = simulators.ahuja2023(latent_dim=2, obs_dim=6, degree=1, n_obs=60, n_int=60, seed=0)
    causalrep.IVAE(2, hidden=(8,), max_steps=5, verbose=0).fit(data).save(folder / "ivae.pt")
    return folder


def _rewrite(source, target, change, digest=True):
    payload = torch.load(source, weights_only=True)
    change(payload)
    if digest:
        payload["sha256"] = _digest(payload)
    else:
        payload.pop("sha256", None)
    torch.save(payload, target)
    return target


@FAST
@given(shape=st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple))
def test_every_array_is_checked_against_the_configuration(checkpoints, tmp_path, shape):
    assume(shape != (3,))  # the true shape: 3 regimes

    def reshape(payload):
        payload["arrays"]["regimes"] = torch.zeros(shape, dtype=torch.int64)

    path = _rewrite(checkpoints / "ivae.pt", tmp_path / "bad.pt", reshape)
    with pytest.raises(CheckpointError, match=r"array 'regimes' has shape"):
        causalrep.load(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p["arrays"].clear(), r"array 'regimes' is missing"),
        (lambda p: p["arrays"].update(extra=torch.zeros(2)), r"unexpected array\(s\) \['extra'\]"),
        (lambda p: p["arrays"].update(regimes=torch.tensor([0.0, math.nan, 2.0])), r"array 'regimes' holds non-finite"),
    ],
)
def test_emptied_or_foreign_arrays_are_refused(checkpoints, tmp_path, change, message):
    with pytest.raises(CheckpointError, match=message):
        causalrep.load(_rewrite(checkpoints / "ivae.pt", tmp_path / "bad.pt", change))


def test_a_missing_digest_needs_the_legacy_opt_in(checkpoints, tmp_path):
    path = _rewrite(checkpoints / "ivae.pt", tmp_path / "legacy.pt", lambda p: None, digest=False)
    with pytest.raises(CheckpointError, match=r"has no SHA-256 digest"):
        causalrep.load(path)
    assert causalrep.load(path, allow_legacy=True).transform(_z(5, 6)).shape == (5, 2)
