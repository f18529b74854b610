"""The one table of estimators: their names, where they live, what they compute on.

The command line (``causalrep fit NAME``), benchmark sweeps (a method's
``"estimator"``), checkpoints (the class name they store) and the lazy
attributes of :mod:`causalrep` and :mod:`causalrep.estimators` all resolve
estimators here. Importing this module imports no torch: an entry imports its
class on :meth:`EstimatorEntry.load`.

A name is looked up case-insensitively among an entry's canonical name (the
command line's, e.g. ``"beta_vae"``), its class name (``"BetaVAE"``) and its
aliases, so ``"ivae"``, ``"IVAE"`` and ``"iVAE"`` are one estimator, and every
name a checkpoint or a records file carries keeps resolving.

Example:
    >>> lookup("iVAE").class_name
    'IVAE'
    >>> lookup("BetaVAE").name
    'beta_vae'
"""

import importlib
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["EstimatorEntry", "ESTIMATORS", "lookup"]


@dataclass(frozen=True)
class EstimatorEntry:
    """Where an estimator lives and what it computes on.

    Attributes:
        name: Canonical name, lower case, as the command line takes it.
        class_name: Name of the class (what checkpoints store).
        module: Module that defines the class.
        aliases: Other accepted names.
        device: Whether it computes with torch on a device (``device=`` and
            a GPU when there is one); False: CPU only, with no ``device``.
    """

    name: str
    class_name: str
    module: str
    aliases: tuple[str, ...] = ()
    device: bool = True

    def load(self) -> type:
        """The estimator class (importing its module, and torch, on first use)."""
        return getattr(importlib.import_module(self.module), self.class_name)

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the entry answers to."""
        return (self.name, self.class_name, *self.aliases)


def _entries(*entries):
    return MappingProxyType({entry.name: entry for entry in entries})


_HERE = __name__.rpartition(".")[0]

#: Canonical name -> :class:`EstimatorEntry`, in the order the documentation presents them.
ESTIMATORS = _entries(
    EstimatorEntry("interventional", "InterventionalCRL", f"{_HERE}.interventional._estimator"),
    EstimatorEntry("rep4ex", "Rep4Ex", f"{_HERE}.rep4ex._estimator"),
    EstimatorEntry("causaldiffae", "CausalDiffAE", f"{_HERE}.causaldiffae._estimator"),
    EstimatorEntry("multienv", "MultiEnvCRL", f"{_HERE}._multienv"),
    EstimatorEntry("contrastive_crl", "ContrastiveCRL", f"{_HERE}._contrastive"),
    EstimatorEntry("autoencoder", "Autoencoder", f"{_HERE}._autoencoders"),
    EstimatorEntry("beta_vae", "BetaVAE", f"{_HERE}._autoencoders"),
    EstimatorEntry("ivae", "IVAE", f"{_HERE}._autoencoders"),
    EstimatorEntry("linear_ica", "LinearICA", f"{_HERE}._ica", device=False),
)

_BY_NAME = MappingProxyType({alias.lower(): entry for entry in ESTIMATORS.values() for alias in entry.names})


def lookup(name: str) -> EstimatorEntry:
    """The entry of the estimator called ``name`` (any of its names, any case).

    Raises:
        ValueError: for a name no estimator answers to, listing the canonical names.
    """
    entry = _BY_NAME.get(name.lower()) if isinstance(name, str) else None
    if entry is None:
        raise ValueError(f"unknown estimator {name!r}; choose from {sorted(ESTIMATORS)} (or their class names)")
    return entry
