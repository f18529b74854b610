r"""Benchmark sweeps: settings x methods x seeds, on local processes or on Ray.

A sweep is plain data, so every task pickles and runs the same anywhere:

* a *setting* names a ready-made setting of :data:`simulators.SETTINGS` and its
  parameters,
  ``{"name": "uniform d=2", "simulator": "ahuja2023", "params": {...}}``,
  optionally with ``"test_fraction"`` (default 0.2): the share of each regime
  held out to score on;
* a *method* names an estimator of :mod:`causalrep.estimators._registry` (by
  any of its names: ``"ivae"``, ``"IVAE"``) and its parameters,
  ``{"name": "iVAE", "estimator": "ivae", "params": {...}}``,
  optionally with ``"from_setting"``: the setting parameters copied into the
  estimator's (default ``["latent_dim"]``; add ``"degree"`` for a polynomial
  decoder that matches the mixing).

Each (setting, method, seed) task simulates the data with that seed, splits it
with that seed, fits the estimator with that seed on the training part and
scores the held-out part: MCC, affine R2, and the verdicts of
:func:`causalrep.identifiability.check` up to permutation and up to affine
maps. The result is one *record*, a flat dict; a task that raises is recorded
with its error and the sweep goes on.

Records are appended to a JSONL file as they finish; running the same sweep
with the same file again skips the tasks already recorded, so an interrupted
sweep resumes where it stopped. Same seeds give the same numbers on either
engine (every worker computes with one thread); only :data:`TIMING_FIELDS`
differ between runs.

The modules, one concern each: :mod:`~causalrep.bench.suites` (the named
sweeps), :mod:`~causalrep.bench.tasks` (checking specs, running one task),
:mod:`~causalrep.bench.engines` (local processes and Ray),
:mod:`~causalrep.bench.records` (the JSONL file and its lock),
:mod:`~causalrep.bench.reports` (summary, table, CSV, JSON, plot) and
:mod:`~causalrep.bench.sweep` (:func:`run` and :func:`main_args`).
"""

from .records import TIMING_FIELDS, read_records
from .reports import SUMMARY_FIELDS, markdown_table, plot, summarize, write_csv, write_json
from .suites import SUITES
from .sweep import main_args, run

__all__ = [
    "SUITES",
    "TIMING_FIELDS",
    "SUMMARY_FIELDS",
    "run",
    "main_args",
    "markdown_table",
    "summarize",
    "write_csv",
    "write_json",
    "read_records",
    "plot",
]
