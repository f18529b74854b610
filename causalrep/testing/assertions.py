r"""Assertions for a user's own test suite.

Example:
    >>> import numpy as np
    >>> z = np.random.default_rng(0).normal(size=(1000, 2))
    >>> assert_identified(z, 3 * z[:, ::-1] - 1).passed
    True
    >>> assert_not_identified(z, np.random.default_rng(1).normal(size=(1000, 2))).passed
    False
"""

from typing import Any

from causalrep.identifiability.report import Report, assert_identified, check
from causalrep.validation import ArrayLike

__all__ = ["assert_identified", "assert_not_identified"]


def assert_not_identified(z_true: ArrayLike, z_hat: ArrayLike, up_to: str = "permutation", **kwargs: Any) -> Report:
    r"""Assert that a check fails: for negative controls (shuffled or random latents).

    Arguments:
        z_true: True latents, shape (n, d).
        z_hat: Estimated latents, shape (n, k), k >= d.
        up_to: ``"permutation"``, ``"scaling"``, ``"affine"`` or ``"block"``.
        kwargs: Passed to :func:`causalrep.identifiability.check`.

    Returns:
        The failing Report.

    Raises:
        AssertionError: With the report summary as message, when the check passes.
    """
    report = check(z_true, z_hat, up_to=up_to, **kwargs)
    if report.passed:
        raise AssertionError("expected identification to fail\n" + report.summary())
    return report
