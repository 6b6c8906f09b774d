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
    if x.size == 0:
        return np.zeros(x.shape, dtype=np.int64)
    order, s, m = _sorted_rows(x)
    return _buckets_sorted(order, s, m, n)


def _buckets_sorted(order: np.ndarray, s: np.ndarray, m: np.ndarray, n: int) -> np.ndarray:
    """:func:`row_buckets` from a row sort: ``s = x[order]`` ascending (NaN last), ``m`` valid.

    ``order`` may be any permutation under which every row of ``s`` is non-decreasing over its
    first ``m`` entries (the tie runs are found on ``s`` itself).
    """
    n_t, n_s = s.shape
    flat = s.ravel()
    # a new tie run starts at every row start and wherever the value changes
    new = np.empty(flat.size, dtype=bool)
    new[0] = True
    np.not_equal(flat[1:], flat[:-1], out=new[1:])  # NaN never equals: own runs (ignored)
    new[::n_s] = True
    starts = np.flatnonzero(new)
    run = np.cumsum(new) - 1
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:] - 1
    ends[-1] = flat.size - 1
    row_start = np.repeat(np.arange(n_t) * n_s, n_s)
    # 2 * average rank = min rank + max rank (1-based): an integer
    two_r = (starts[run] - row_start) + (ends[run] - row_start) + 2
    two_m = np.repeat(2 * m, n_s)
    b = (two_r * n + two_m - 1) // np.maximum(two_m, 1)
    b[np.tile(np.arange(n_s), n_t) >= np.repeat(m, n_s)] = 0
    out = np.empty((n_t, n_s), dtype=np.int64)
    np.put_along_axis(out, order, b.reshape(n_t, n_s), axis=1)
    return out


def row_winsorize_zscore_buckets(
    x: np.ndarray, n: int, *, lower: float = 0.05, upper: float = 0.95, ddof: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """``row_zscore(row_winsorize(x))`` and its :func:`row_buckets`, sorting each row once.

    Clipping and an affine map with a positive scale are non-decreasing (also in floating
    point), so the sort order of ``x`` orders the z-scores too; ties are found on the sorted
    z-scores. The results equal the three separate calls exactly.

    Returns
    -------
    score : ndarray of shape (n_bars, n_symbols)
        Z-score of the winsorised values.
    bucket : ndarray of int64, shape (n_bars, n_symbols)
        Bucket ``1..n`` of the score (0 where missing).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"buckets: expected a whole number of buckets n >= 1, got {n!r}")
    _check_levels(lower, upper)
    if x.size == 0:
        return np.array(x, dtype=np.float64, copy=True), np.zeros(x.shape, dtype=np.int64)
    order, s, m = _sorted_rows(x)
    lo = _row_quantile(s, m, lower)[:, None]
    hi = _row_quantile(s, m, upper)[:, None]
    xf = np.asarray(x, dtype=np.float64)
    w = np.where(np.isnan(xf), np.nan, np.minimum(np.maximum(xf, lo), hi))
    score = row_zscore(w, ddof=ddof)
    return score, _buckets_sorted(order, np.take_along_axis(score, order, axis=1), m, n)


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


def _check_levels(lower: float, upper: float) -> None:
    if not 0.0 <= lower <= upper <= 1.0:
        raise ConfigError(
            f"winsorize: expected 0 <= lower <= upper <= 1, got lower={lower}, upper={upper}"
        )


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
    _check_levels(lower, upper)
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
