"""Cross-sectional transforms on wide ``(n_bars, n_symbols)`` arrays, one row per time stamp.

NumPy kernels with the semantics of the expression builders of :mod:`coinfactor.xs` (each row
is one cross-section; NaN is missing and stays NaN), for pipelines that already hold wide
arrays (the carry study, the volume-decile universe): no long frame, no ``.over("ts")``.

- :func:`row_buckets` equals :func:`coinfactor.xs.buckets` exactly (integer arithmetic on the
  same min/max ranks; ``-0.0`` counts as ``0.0``).
- :func:`row_winsorize` computes the linear-interpolated quantiles with polars' formula, so its
  bounds are bit-identical to :func:`coinfactor.xs.winsorize`.
- :func:`row_zscore` agrees with :func:`coinfactor.xs.zscore` to rounding (NumPy and polars
  sum in a different order: a few ulps).
"""

from __future__ import annotations

import numpy as np

from coinfactor.core.errors import ConfigError


def _sorted_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stable ascending sort of every row (NaN last), the sorted values and valid counts."""
    x = np.asarray(x, dtype=np.float64) + 0.0  # -0.0 -> 0.0
    order = np.argsort(x, axis=1, kind="stable")
    s = np.take_along_axis(x, order, axis=1)
    m = np.count_nonzero(~np.isnan(x), axis=1)
    return order, s, m


def row_buckets(x: np.ndarray, n: int) -> np.ndarray:
    """Quantile buckets ``1..n`` per row; 0 where ``x`` is NaN.

    Bucket ``ceil(n * r / m)`` with ``r`` the ascending average rank among the row's ``m``
    non-NaN values (ties share a bucket), as :func:`coinfactor.xs.buckets`.

    Parameters
    ----------
    x : ndarray of shape (n_bars, n_symbols)
        Values, NaN missing.
    n : int
        Number of buckets, ``>= 1``.

    Returns
    -------
    ndarray of int64, shape (n_bars, n_symbols)
        Bucket per cell, 0 for missing cells.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"buckets: expected a whole number of buckets n >= 1, got {n!r}")
    n_t, n_s = x.shape
    out = np.zeros((n_t, n_s), dtype=np.int64)
    if x.size == 0:
        return out
    order, s, m = _sorted_rows(x)
    idx = np.arange(n_s)
    new = np.ones((n_t, n_s), dtype=bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]  # NaN never equals: each NaN its own run (ignored)
    start = np.maximum.accumulate(np.where(new, idx, 0), axis=1)  # first index of the tie run
    last = np.ones((n_t, n_s), dtype=bool)
    last[:, :-1] = new[:, 1:]
    end = np.minimum.accumulate(np.where(last, idx, n_s)[:, ::-1], axis=1)[:, ::-1]
    two_r = start + end + 2  # min rank + max rank (1-based)
    two_m = 2 * m[:, None]
    with np.errstate(divide="ignore"):
        b = (two_r * n + two_m - 1) // np.maximum(two_m, 1)
    b[idx[None, :] >= m[:, None]] = 0
    np.put_along_axis(out, order, b, axis=1)
    return out


def _row_quantile(s: np.ndarray, m: np.ndarray, q: float) -> np.ndarray:
    """Linear-interpolated ``q`` quantile of each row's first ``m`` sorted values (polars)."""
    rows = np.arange(s.shape[0])
    has = m > 0
    float_idx = (np.maximum(m, 1) - 1).astype(np.float64) * q
    base = float_idx.astype(np.int64)
    top = np.minimum(np.ceil(float_idx).astype(np.int64), np.maximum(m - 1, 0))
    lower = s[rows, base]
    upper = s[rows, top]
    with np.errstate(invalid="ignore"):
        proportion = float_idx - base
        value = np.where(lower == upper, lower, proportion * (upper - lower) + lower)
    return np.where(has, value, np.nan)


def row_winsorize(x: np.ndarray, *, lower: float = 0.05, upper: float = 0.95) -> np.ndarray:
    """Clip every row to its ``lower`` and ``upper`` linear quantiles (NaN stays NaN).

    Parameters
    ----------
    x : ndarray of shape (n_bars, n_symbols)
        Values, NaN missing.
    lower, upper : float
        Quantile levels, ``0 <= lower <= upper <= 1``.

    Returns
    -------
    ndarray of shape (n_bars, n_symbols)
        Clipped values.
    """
    if not 0.0 <= lower <= upper <= 1.0:
        raise ConfigError(
            f"winsorize: expected 0 <= lower <= upper <= 1, got lower={lower}, upper={upper}"
        )
    if x.size == 0:
        return np.array(x, dtype=np.float64, copy=True)
    _, s, m = _sorted_rows(x)
    lo = _row_quantile(s, m, lower)[:, None]
    hi = _row_quantile(s, m, upper)[:, None]
    return np.where(np.isnan(x), np.nan, np.minimum(np.maximum(x, lo), hi))


def row_zscore(x: np.ndarray, *, ddof: int = 1) -> np.ndarray:
    """``(x - mean) / std`` per row; 0 where a row's values are all equal; NaN stays NaN.

    Parameters
    ----------
    x : ndarray of shape (n_bars, n_symbols)
        Values, NaN missing.
    ddof : int, default 1
        Delta degrees of freedom of the standard deviation.

    Returns
    -------
    ndarray of shape (n_bars, n_symbols)
        Z-scores.
    """
    x = np.asarray(x, dtype=np.float64)
    ok = ~np.isnan(x)
    m = np.count_nonzero(ok, axis=1)
    xz = np.where(ok, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = xz.sum(axis=1) / m
        dev = np.where(ok, x - mean[:, None], 0.0)
        std = np.sqrt((dev * dev).sum(axis=1) / (m - ddof))
        z = dev / std[:, None]
    flat = (np.where(ok, x, -np.inf).max(axis=1, initial=-np.inf)
            == np.where(ok, x, np.inf).min(axis=1, initial=np.inf))
    z = np.where(flat[:, None], 0.0, z)
    return np.where(ok, z, np.nan)
