"""Sweeps: trials of a study over its parameters, with a ledger and overfitting statistics.

A study TOML file with a ``[sweep]`` table (:mod:`coinfactor.sweeps._spec`) is a sweep:
:func:`run_sweep` (``coinfactor sweep FILE --out DIR``) expands it into trials, skips those the
ledger under ``DIR`` already holds, runs the rest in this process or on Dask distributed
(``workers=N`` starts a LocalCluster on 127.0.0.1, ``scheduler=`` uses an existing cluster),
reusing the upstream stages trials share, and writes the trials table, their returns, the
overfitting statistics (PSR, DSR, PBO, SPA), optional walk-forward selection and a report.
"""

from coinfactor.sweeps._execute import TrialTask, run_chunk
from coinfactor.sweeps._ledger import Ledger, TrialRecord, data_fingerprint, trial_id
from coinfactor.sweeps._outdir import SWEEP_KIND, is_sweep_dir
from coinfactor.sweeps._spec import Range, SweepSpec, expand, parse_sweep, trial_params
from coinfactor.sweeps._stats import overfitting_stats, returns_matrix
from coinfactor.sweeps._sweep import SweepProgress, SweepResult, load_sweep_config, run_sweep
from coinfactor.sweeps._walk import (
    SELECT_FROM_RETURNS,
    WalkForwardResult,
    WalkForwardSpec,
    parse_walk_forward,
    walk_forward,
)

__all__ = [
    "SELECT_FROM_RETURNS",
    "SWEEP_KIND",
    "Ledger",
    "Range",
    "SweepProgress",
    "SweepResult",
    "SweepSpec",
    "TrialRecord",
    "TrialTask",
    "WalkForwardResult",
    "WalkForwardSpec",
    "data_fingerprint",
    "expand",
    "is_sweep_dir",
    "load_sweep_config",
    "overfitting_stats",
    "parse_sweep",
    "parse_walk_forward",
    "returns_matrix",
    "run_chunk",
    "run_sweep",
    "trial_id",
    "trial_params",
    "walk_forward",
]
