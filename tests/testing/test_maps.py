"""causalrep.testing.maps: the Hypothesis strategies of latents and maps."""

import pytest

from causalrep.testing.maps import latent_samples


@pytest.mark.parametrize("sizes", [(0, 5), (2, 0), (2, -1), (1.5, 3), (True, 3)])
def test_strategy_sizes_are_checked_when_built(sizes):
    with pytest.raises(ValueError, match=r"latent_samples needs sizes that are ints >= 1"):
        latent_samples(*sizes)
