"""The shared networks: the standardiser every network estimator puts in front."""

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causalrep.estimators._core.nets import Standardizer
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
