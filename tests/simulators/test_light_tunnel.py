"""simulators.light_tunnel: the Causal Chamber's image model under an SCM with do-interventions."""

import warnings

import numpy as np
import pytest

import simulators
from causalrep.exceptions import IdentifiabilityWarning

pytest.importorskip("causalchamber")


def test_shapes_regimes_and_physical_units():
    data = simulators.light_tunnel(30, size=8, seed=0)
    assert data.X.shape == (120, 3 * 8 * 8)
    assert data.Z.shape == (120, 3)
    assert data.counts() == {0: 30, 1: 30, 2: 30, 3: 30}
    assert dict(data.targets) == {0: (), 1: (0,), 2: (1,), 3: (2,)}
    assert data.meta["image_shape"] == [3, 8, 8]
    low, high = np.array(data.meta["ranges"]).T
    assert np.all((data.Z >= low) & (data.Z <= high))
    # do({j: 0.0}) puts input j at the middle of its range.
    np.testing.assert_allclose(data.Z[data.regime == 2, 1], (low[1] + high[1]) / 2)
    assert 0.0 <= data.X.min()
    assert data.X.max() < 1.0


def test_same_seed_same_images():
    a, b = (simulators.light_tunnel(10, size=8, seed=3) for _ in range(2))
    np.testing.assert_array_equal(a.X, b.X)


def test_rgb_images_span_three_dimensions_linear_in_the_inputs():
    data = simulators.light_tunnel(60, size=8, seed=0)
    singular = np.linalg.svd(data.X - data.X.mean(0), compute_uv=False)
    assert singular[2] > 1e-3 * singular[0]
    assert singular[3] < 1e-10 * singular[0]
    design = np.column_stack([np.ones(data.n), data.Z])
    residual = data.X - design @ np.linalg.lstsq(design, data.X, rcond=None)[0]
    assert np.abs(residual).max() < 1e-10  # colour linear in (red, green, blue)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [(("pol_1", "pol_2"), "only their difference"), (("red", "green", "blue", "pol_1"), "at most 3 inputs")],
)
def test_a_non_injective_choice_warns(inputs, message):
    with pytest.warns(IdentifiabilityWarning, match=message):
        simulators.light_tunnel(10, inputs=inputs, size=8, seed=0)


@pytest.mark.parametrize("inputs", [("red",), ("green", "blue"), ("pol_1",), ("red", "pol_1")])
def test_an_injective_choice_does_not_warn(inputs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = simulators.light_tunnel(10, inputs=inputs, size=8, seed=0)
    assert data.Z.shape[1] == len(inputs)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"inputs": ("red", "red")}, "inputs must be distinct"),
        ({"inputs": ("ir",)}, "inputs must be distinct"),
        ({"size": 4}, "size must be"),
        ({"pixel_noise": -1.0}, "pixel_noise must be"),
        ({"n_per_regime": [5, 5]}, "n_per_regime has 2 entries"),
    ],
)
def test_bad_arguments_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        simulators.light_tunnel(**{"n_per_regime": 5, **params})
