"""The shared networks: the standardiser every network estimator puts in front, the convolutional network."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causalrep.estimators._core.nets import MLP, ConvNet, Standardizer, check_image_shape
from causalrep.validation import check_standardisable

FAST = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


exponents = st.integers(-150, 150)


def _z(n=400, d=3, seed=0):
    return np.random.default_rng(seed).laplace(size=(n, d))


@FAST
@given(exponent=exponents, offset_exponent=st.integers(-5, 12), dtype=st.sampled_from([np.float64, np.float32]))
def test_standardising_is_free_of_offset_and_scale(exponent, offset_exponent, dtype):
    """The networks see the same float32 inputs at any scale and offset."""
    z = _z().astype(dtype).astype(np.float64)
    scale = 10.0**exponent
    moved = z * scale + 10.0**offset_exponent * scale
    unit = Standardizer(3).fit(torch.from_numpy(z))(torch.from_numpy(z))
    far = Standardizer(3).fit(torch.from_numpy(moved))(torch.from_numpy(moved))
    assert far.dtype == torch.float32
    tolerance = 1e-5 * max(1.0, 10.0**offset_exponent * 1e-9)
    assert torch.allclose(unit, far, atol=tolerance), (unit - far).abs().max()
    mean, std = check_standardisable(moved, "X", "Test")
    assert np.all(std > 0)
    assert np.all(np.isfinite(mean))


@FAST
@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=30),
    dim=st.integers(1, 5),
)
def test_range_scaling_maps_all_values_to_minus_one_one_with_one_map(values, dim):
    x = torch.tensor(values, dtype=torch.float64).repeat(dim, 1).T * torch.arange(1, dim + 1)
    scaler = Standardizer(dim).fit_range(x)
    assert len(set(scaler.mean.tolist())) == 1
    assert len(set(scaler.scale.tolist())) == 1
    scaled = scaler(x).double()
    assert float(scaled.min()) >= -1 - 1e-6
    assert float(scaled.max()) <= 1 + 1e-6
    if float(x.max()) - float(x.min()) > 1e-6:
        assert float(scaled.min()) == pytest.approx(-1, abs=1e-6)
        assert float(scaled.max()) == pytest.approx(1, abs=1e-6)
    torch.testing.assert_close(scaler.inverse(scaler(x)), x, rtol=1e-6, atol=1e-6 * float(x.abs().max()) + 1e-9)


@FAST
@given(channels=st.integers(1, 3), height=st.integers(4, 19), width=st.integers(4, 19), out_dim=st.integers(1, 4))
def test_conv_net_takes_flat_or_shaped_images(channels, height, width, out_dim):
    torch.manual_seed(0)
    net = ConvNet((channels, height, width), out_dim, channels=2)
    images = torch.randn(3, channels, height, width)
    out = net(images)
    assert out.shape == (3, out_dim)
    torch.testing.assert_close(net(images.reshape(3, -1)), out)
    assert list(check_image_shape([channels, height, width], channels * height * width)) == [channels, height, width]


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ([1, 8, 8], r"meta\['image_shape'\]=\[1, 8, 8\] does not match dim_x=16"),
        ([1, 16], r"expected \[C, H, W\] with C\*H\*W = dim_x"),
        ([1, 4.5, 4], "does not match"),
        ("1x4x4", "does not match"),
        ([1, 2, 8], r"images of at least 4 x 4 pixels are needed"),
    ],
)
def test_image_shapes_that_do_not_fit_are_refused(shape, match):
    with pytest.raises(ValueError, match=match):
        check_image_shape(shape, 16)


@settings(max_examples=25, deadline=None)
@given(
    in_dim=st.integers(1, 6),
    out_dim=st.integers(1, 4),
    hidden=st.lists(st.integers(1, 8), min_size=1, max_size=2),
    seed=st.integers(0, 2**32 - 1),
)
def test_an_mlp_started_affine_is_that_affine_map(in_dim, out_dim, hidden, seed):
    """After start_affine(W, b) the MLP computes x @ W.T + b for any x, whatever its hidden layers hold."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed % 2**31)
    net = MLP(in_dim, out_dim, tuple(hidden), skip=True)
    weight = torch.tensor(rng.normal(size=(out_dim, in_dim)), dtype=torch.float32)
    bias = torch.tensor(rng.normal(size=out_dim), dtype=torch.float32)
    x = torch.tensor(rng.normal(scale=3.0, size=(16, in_dim)), dtype=torch.float32)
    assert net.start_affine(weight, bias) is net
    with torch.no_grad():
        torch.testing.assert_close(net(x), x @ weight.T + bias)


def test_start_affine_needs_the_skip_path():
    with pytest.raises(ValueError, match="skip=True"):
        MLP(3, 2, (4,)).start_affine(torch.zeros(2, 3), torch.zeros(2))
