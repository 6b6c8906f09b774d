"""Ragged array inputs shared by the rolling-regression tests."""

from __future__ import annotations

import numpy as np


def ragged_regression(seed: int = 0, n_rows: int = 700, n_series: int = 5, k: int = 3):
    """Returns-like data with NaN gaps in y and X, a late listing and a sparse series."""
    rng = np.random.default_rng(seed)
    x = 0.01 * rng.standard_normal((n_rows, k)) + 0.002
    beta = rng.standard_normal((k, n_series))
    y = 0.0005 + x @ beta + 0.01 * rng.standard_normal((n_rows, n_series))
    y[100:130, 0] = np.nan          # a gap inside windows
    y[:400, 1] = np.nan             # late listing
    y[rng.random(n_rows) < 0.2, 2] = np.nan   # scattered missing bars
    y[600:, 3] = np.nan             # delisting
    x[250, 1] = np.nan              # a missing factor value: the row drops for every series
    x[251:253, 0] = np.nan
    return y, x
