import json

import numpy as np
import pytest

from causalrep.data import InterventionalData
from simulators import MLPMixing, rep4ex, rep4ex_truth


def _model(meta):
    return np.asarray(meta["M"]), np.asarray(meta["v_chol"]) * meta["latent_noise"]


def test_same_seed_same_data_other_seed_other_data():
    first, again = rep4ex(n=200, seed=3), rep4ex(n=200, seed=3)
    for name in ("X", "Z", "A", "Y"):
        assert np.array_equal(getattr(first, name), getattr(again, name))
    assert first.meta == again.meta
    other = rep4ex(n=200, seed=4)
    assert not np.allclose(first.X, other.X)
    assert first.meta["M"] != other.meta["M"]
    generator = rep4ex(n=200, seed=np.random.default_rng(3))
    assert generator.meta["seed"] is None
    assert generator.X.shape == (200, 10)


def test_shapes_regime_and_json_meta(tmp_path):
    data = rep4ex(latent_dim=3, action_dim=4, obs_dim=12, n=50, seed=0)
    assert isinstance(data, InterventionalData)
    assert (data.X.shape, data.Z.shape, data.A.shape, data.Y.shape) == ((50, 12), (50, 3), (50, 4), (50,))
    assert data.counts() == {0: 50}
    assert dict(data.targets) == {0: ()}
    json.dumps(data.meta)
    data.save(tmp_path / "d.npz")
    loaded = InterventionalData.load(tmp_path / "d.npz")
    assert loaded.meta == data.meta
    assert np.allclose(rep4ex_truth(loaded.meta, np.ones((2, 4))), rep4ex_truth(data.meta, np.ones((2, 4))))


def test_actions_lie_in_their_support():
    data = rep4ex(n=500, action_support=(-0.5, 2.0), seed=0)
    assert data.A.min() >= -0.5
    assert data.A.max() <= 2.0
    assert data.A.min() < 0 < 1.5 < data.A.max()


def test_latents_are_exactly_linear_in_the_actions_plus_the_same_noise():
    data = rep4ex(n=3000, seed=1)
    M, chol = _model(data.meta)
    V = data.Z - data.A @ M.T
    a = np.array([2.5, -1.5])
    moved = rep4ex(n=3000, do_action=a, seed=1)
    assert np.all(moved.A == a)
    # Same units under do(A = a): only M A changes, V is the very same draw.
    np.testing.assert_allclose(moved.Z - a @ M.T, V, atol=1e-12)
    np.testing.assert_allclose(np.cov(V, rowvar=False), chol @ chol.T, atol=0.08)
    assert np.abs(np.corrcoef(np.c_[V, data.A], rowvar=False)[:2, 2:]).max() < 0.06


def test_observations_are_the_mixing_rebuilt_from_meta():
    data = rep4ex(n=100, seed=2)
    spec = {k: v for k, v in data.meta["mixing"].items() if k != "class"}
    assert data.meta["mixing"]["class"] == "MLPMixing"
    np.testing.assert_allclose(data.X, MLPMixing(**spec)(data.Z))


@pytest.mark.parametrize("mixing", ["linear", "polynomial"])
def test_other_mixings(mixing):
    data = rep4ex(n=40, mixing=mixing, seed=0)
    assert data.X.shape == (40, 10)
    assert data.meta["mixing"]["class"].lower().startswith(mixing[:4])


def test_truth_matches_resimulating_the_intervention():
    meta = rep4ex(n=10, seed=5).meta
    actions = np.array([[0.0, 0.0], [0.8, -0.3], [2.5, -2.0], [-3.0, 3.0]])
    truth = rep4ex_truth(meta, actions)
    assert truth.shape == (4,)
    n = 100_000
    for a, expected in zip(actions, truth, strict=True):
        y = rep4ex(n=n, do_action=a, seed=5).Y
        assert abs(y.mean() - expected) < 4 * y.std() / np.sqrt(n) + 0.01
    np.testing.assert_array_equal(truth, rep4ex_truth(meta, actions))


def test_truth_of_a_linear_outcome_is_linear_in_the_action():
    meta = rep4ex(n=10, outcome="linear", seed=0).meta
    t = np.linspace(-3, 3, 7)
    curve = rep4ex_truth(meta, np.c_[t, 2 * t])
    np.testing.assert_allclose(np.diff(curve, 2), 0, atol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"latent_dim": 3, "action_dim": 2}, "action_dim=2 < latent_dim=3"),
        ({"action_support": (1.0, -1.0)}, "action_support must satisfy low < high"),
        ({"action_support": (0.0, 0.0)}, "action_support must satisfy low < high"),
        ({"action_support": 1.0}, r"action_support must be a pair \(low, high\)"),
        ({"mixing": "spline"}, "unknown mixing 'spline'"),
        ({"outcome": "quadratic"}, "unknown outcome 'quadratic'"),
        ({"confounding": -1.0}, "confounding must be a number >= 0"),
        ({"noise_std": float("nan")}, "noise_std must be a number >= 0"),
        ({"latent_noise": 0.0}, "latent_noise must be a positive number"),
        ({"n": 0}, "n must be a positive int"),
        ({"do_action": [1.0, 2.0, 3.0]}, r"do_action must have shape \(2,\)"),
        ({"obs_dim": 1}, "obs_dim=1 < latent_dim=2"),
    ],
)
def test_bad_inputs_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        rep4ex(**{"n": 10, **kwargs})


def test_truth_rejects_bad_inputs():
    meta = rep4ex(n=10, seed=0).meta
    with pytest.raises(ValueError, match="meta"):
        rep4ex_truth({"setting": "ahuja2023"}, np.zeros((1, 2)))
    with pytest.raises(ValueError, match="shape"):
        rep4ex_truth(meta, np.zeros((3, 3)))
    assert rep4ex_truth(meta, np.zeros(2)).shape == (1,)
