"""Interventional CRL (Ahuja et al., ICML 2023): the estimator, its exact
stage 1 (variable projection), its do stage 2 and the IOSS penalty, and the
records of a fit (``stage1_``, ``diagnostics_``)."""

from ._diagnostics import RegimeDiagnostic
from ._estimator import InterventionalCRL
from ._stage1 import Stage1Report

__all__ = ["InterventionalCRL", "Stage1Report", "RegimeDiagnostic"]
