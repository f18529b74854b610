import numpy as np
import pytest

from simulators import (
    morpho_counterfactual,
    morpho_digits,
    pendulum,
    pendulum_counterfactual,
)

ANGLE, LIGHT, LENGTH, POSITION = range(4)


@pytest.fixture(scope="module")
def scene():
    return pendulum(64, size=16, seed=3)


@pytest.fixture(scope="module")
def digits():
    return morpho_digits(64, size=16, seed=3)


def test_pendulum_shapes_and_meta(scene):
    assert scene.X.shape == (64, 256)
    assert scene.Z.shape == (64, 4)
    assert 0 <= scene.X.min()
    assert scene.X.max() <= 1
    assert scene.X.max() > 0.9
    assert scene.meta["image_shape"] == [1, 16, 16]
    assert scene.meta["variables"] == ["angle", "light", "shadow_length", "shadow_position"]
    assert sorted(scene.graph.edges) == [(0, 2), (0, 3), (1, 2), (1, 3)]
    assert np.array(scene.meta["noise"]).shape == (64, 4)
    assert scene.counts() == {0: 64}


def test_pendulum_is_deterministic_per_seed(scene):
    again = pendulum(64, size=16, seed=3)
    np.testing.assert_array_equal(again.X, scene.X)
    np.testing.assert_array_equal(again.Z, scene.Z)
    assert not np.array_equal(pendulum(64, size=16, seed=4).Z, scene.Z)


@pytest.mark.parametrize("noise_from", ["meta", "abduction"])
def test_pendulum_counterfactual_without_intervention_is_the_factual(scene, noise_from):
    noise = scene.meta["noise"] if noise_from == "meta" else None
    images, labels = pendulum_counterfactual(scene.Z, noise, {}, size=16)
    np.testing.assert_allclose(labels, scene.Z, atol=1e-12)
    np.testing.assert_allclose(images, scene.X, atol=1e-12)


def test_do_on_angle_moves_the_shadow_but_not_the_light(scene):
    images, labels = pendulum_counterfactual(scene.Z, scene.meta["noise"], {"angle": 35.0}, size=16)
    np.testing.assert_array_equal(labels[:, LIGHT], scene.Z[:, LIGHT])
    np.testing.assert_array_equal(labels[:, ANGLE], 35.0)
    moved = np.abs(scene.Z[:, ANGLE] - 35.0) > 10
    assert np.all(np.abs(labels[moved, POSITION] - scene.Z[moved, POSITION]) > 1e-6)
    assert np.all(np.abs(labels[moved, LENGTH] - scene.Z[moved, LENGTH]) > 1e-6)
    assert np.all(np.abs(images[moved] - scene.X[moved]).max(axis=1) > 0.1)


def test_do_on_a_leaf_leaves_its_non_descendants(scene):
    values = np.linspace(0.05, 0.3, 64)
    _, labels = pendulum_counterfactual(scene.Z, scene.meta["noise"], {LENGTH: values}, size=16)
    np.testing.assert_array_equal(labels[:, [ANGLE, LIGHT, POSITION]], scene.Z[:, [ANGLE, LIGHT, POSITION]])
    np.testing.assert_array_equal(labels[:, LENGTH], values)


def test_interventional_sampling_equals_the_counterfactual_of_the_same_seed(scene):
    under = pendulum(64, size=16, seed=3, do={"light": 0.3})
    images, labels = pendulum_counterfactual(scene.Z, scene.meta["noise"], {"light": 0.3}, size=16)
    np.testing.assert_allclose(under.Z, labels)
    np.testing.assert_allclose(under.X, images)
    assert dict(under.targets) == {1: (1,)}
    assert under.regimes == (1,)


def test_pendulum_rejects_bad_requests(scene):
    with pytest.raises(ValueError, match=r"unknown do node 'mass'; use indices 0..3 or names \['angle'"):
        pendulum(4, do={"mass": 1.0})
    with pytest.raises(ValueError, match="unknown do node 7"):
        pendulum_counterfactual(scene.Z, None, {7: 1.0})
    with pytest.raises(ValueError, match=r"must be a number or have shape \(64,\)"):
        pendulum_counterfactual(scene.Z, None, {0: np.ones(3)})
    with pytest.raises(ValueError, match="size must be an int >= 8"):
        pendulum(4, size=4)
    with pytest.raises(ValueError, match="labels must have 4 columns"):
        pendulum_counterfactual(scene.Z[:, :3], None, {})


def test_morpho_shapes_and_determinism(digits):
    assert digits.X.shape == (64, 256)
    assert digits.Z.shape == (64, 2)
    assert list(digits.graph.edges) == [(0, 1)]
    assert len(digits.meta["digit"]) == 64
    np.testing.assert_array_equal(morpho_digits(64, size=16, seed=3).X, digits.X)
    assert morpho_digits(5).X.shape == (5, 28 * 28)


@pytest.mark.parametrize("noise_from", ["meta", "abduction"])
def test_morpho_counterfactual_without_intervention_is_the_factual(digits, noise_from):
    noise = digits.meta["noise"] if noise_from == "meta" else None
    images, labels = morpho_counterfactual(digits.Z, noise, digits.meta["digit"], {}, size=16)
    np.testing.assert_allclose(labels, digits.Z, atol=1e-9)
    np.testing.assert_allclose(images, digits.X, atol=1e-9)


def test_thickness_causes_intensity_and_ink(digits):
    d = digits.meta["digit"]
    thin, thin_z = morpho_counterfactual(digits.Z, digits.meta["noise"], d, {"thickness": 1.5}, 16)
    thick, thick_z = morpho_counterfactual(digits.Z, digits.meta["noise"], d, {"thickness": 4.0}, 16)
    assert np.all(thick_z[:, 1] > thin_z[:, 1])
    assert np.all((thick > 0.05).sum(1) > (thin > 0.05).sum(1))
    _, bright = morpho_counterfactual(digits.Z, digits.meta["noise"], d, {"intensity": 0.9}, 16)
    np.testing.assert_array_equal(bright[:, 0], digits.Z[:, 0])
