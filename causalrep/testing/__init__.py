"""Tools for testing estimators: hypothesis strategies and pytest assertions.

Strategies draw DAGs, latent SCMs, interventions and mixing functions
(:mod:`causalrep.testing.simulation`) and identifiability-preserving maps
(:mod:`causalrep.testing.maps`), so users can property-test their own
encoders against the same guarantees this library tests itself with.
"""

from .assertions import assert_identified, assert_not_identified
from .maps import (
    elementwise_monotone_maps,
    invertible_affine_maps,
    latent_samples,
    permutation_scalings,
)
from .simulation import dags, interventions, latent_scms, mixings

__all__ = [
    "assert_identified",
    "assert_not_identified",
    "dags",
    "elementwise_monotone_maps",
    "interventions",
    "invertible_affine_maps",
    "latent_samples",
    "latent_scms",
    "mixings",
    "permutation_scalings",
]
