import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators import chain, multienv, multienv_noise


@settings(max_examples=20, deadline=None)
@given(
    d=st.integers(1, 4),
    degree=st.integers(1, 3),
    noise=st.sampled_from(["gaussian", "gamma"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_latents_follow_the_recorded_model(d, degree, noise, seed):
    data = multienv(latent_dim=d, obs_dim=d + 2, n_envs=3, n_per_env=30, degree=degree, noise=noise, seed=seed)
    assert data.counts() == {0: 30, 1: 30, 2: 30}
    assert dict(data.targets) == {0: (), 1: tuple(range(d)), 2: tuple(range(d))}
    json.dumps(data.meta)
    noise_values = multienv_noise(data)
    params = np.asarray(data.meta["noise_params"])[data.regime]
    if noise == "gamma":
        assert np.all(noise_values > 0)
    else:
        # Gaussian noise standardised with its recorded mean and std is a
        # moderate number: the recorded model is the one that made Z.
        assert np.all(np.abs((noise_values - params[..., 0]) / params[..., 1]) < 8)
    for i, coef in enumerate(data.meta["coefficients"]):
        assert np.all(np.asarray(coef)[0] == 0)  # the reference environment
        assert len(data.meta["monomials"][i]) == len(coef[0])


def test_gaussian_noise_matches_its_parameters_per_environment():
    data = multienv(latent_dim=3, n_envs=3, n_per_env=20000, seed=1)
    noise = multienv_noise(data)
    params = np.asarray(data.meta["noise_params"])
    for e in range(3):
        rows = noise[data.regime == e]
        np.testing.assert_allclose(rows.mean(0), params[e, :, 0], atol=0.05)
        np.testing.assert_allclose(rows.std(0), params[e, :, 1], rtol=0.03)


def test_coefficients_change_across_environments_except_unchanged():
    data = multienv(latent_dim=3, n_envs=4, n_per_env=10, graph=chain(3), unchanged=[2], seed=0)
    coef = [np.asarray(c) for c in data.meta["coefficients"]]
    assert coef[0].shape == (4, 0)  # root
    assert np.all(coef[1][0] == 0)
    assert np.all(np.abs(np.diff(coef[1][1:], axis=0)) > 0)
    assert np.all(coef[2] == coef[2][0])
    assert np.all(coef[2][0] != 0)


def test_same_seed_same_data_and_latents_on_a_moderate_scale():
    first = multienv(latent_dim=4, n_per_env=500, seed=3)
    again = multienv(latent_dim=4, n_per_env=500, seed=3)
    np.testing.assert_array_equal(first.X, again.X)
    assert not np.array_equal(first.X, multienv(latent_dim=4, n_per_env=500, seed=4).X)
    np.testing.assert_allclose(first.Z.std(0), 1.0, atol=0.2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_envs": 1}, "n_envs must be an int >= 2"),
        ({"noise": "cauchy"}, "unknown noise 'cauchy'"),
        ({"graph": chain(3), "unchanged": [0]}, "latent 0, which has no parents"),
        ({"unchanged": [7]}, "unchanged names latent 7, but latents are 0..2"),
        ({"n_per_env": [10, 10]}, "n_per_env has 2 entries but n_envs=5"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        multienv(latent_dim=3, **kwargs)


def test_noise_needs_multienv_data():
    data = multienv(latent_dim=2, n_per_env=5, seed=0)
    with pytest.raises(ValueError, match="made by simulators.multienv"):
        multienv_noise(type(data)(X=data.X, Z=data.Z))
