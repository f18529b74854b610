"""Interventional CRL (Ahuja et al., ICML 2023): the estimator, its exact
stage 1 (variable projection), its do stage 2 and the IOSS penalty."""

from ._estimator import InterventionalCRL

__all__ = ["InterventionalCRL"]
