"""The one table of ready-made settings: every simulator that draws a whole dataset from a seed.

The command line (``causalrep simulate NAME``) and benchmark sweeps (a
setting's ``"simulator"``) resolve names here. Each setting is called as
``SETTINGS[name](**params, seed=seed)`` and returns an
:class:`~causalrep.InterventionalData`.

Example:
    >>> setting("ahuja2023")(latent_dim=2, obs_dim=8, n_obs=20, n_int=20, seed=0).n
    40
"""

from collections.abc import Callable
from types import MappingProxyType

from causalrep.data import InterventionalData

from .contrastive_crl import contrastive_crl
from .images import morpho_digits, pendulum
from .multienv import multienv
from .rep4ex import rep4ex
from .settings import ahuja2023

__all__ = ["SETTINGS", "setting"]

#: Name -> function that draws the dataset; the names are the functions' own.
SETTINGS = MappingProxyType(
    {f.__name__: f for f in (ahuja2023, rep4ex, multienv, pendulum, morpho_digits, contrastive_crl)}
)


def setting(name: str) -> Callable[..., InterventionalData]:
    """The ready-made setting called ``name``.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if not isinstance(name, str) or name not in SETTINGS:
        raise ValueError(f"unknown setting {name!r}; choose from {sorted(SETTINGS)}")
    return SETTINGS[name]
