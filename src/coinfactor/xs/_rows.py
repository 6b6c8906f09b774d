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


def _sorted_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every row sorted ascending (NaN last, ``-0.0`` as ``0.0``) and its valid counts."""
    s = np.asarray(x, dtype=np.float64) + 0.0  # a new array, sorted in place
    s.sort(axis=1)
    m = np.count_nonzero(~np.isnan(s), axis=1)
    return s, m


def _sorted_valid(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_sorted_rows` cut to the widest row's valid count (NaN-only tail dropped).

    Sparse rows (a universe of a few names on a wide grid) are first packed to the left, so
    only ``max(m)`` columns are sorted: the same sorted values.
    """
    x = np.asarray(x, dtype=np.float64)
    ok = ~np.isnan(x)
    m = np.count_nonzero(ok, axis=1)
    width = max(int(m.max()), 1)
    if 2 * width > x.shape[1]:
        s, _ = _sorted_rows(x)
        return s[:, :width], m
    flat = np.flatnonzero(ok)  # row-major: row by row, left to right
    starts = np.cumsum(m) - m
    rows = np.repeat(np.arange(x.shape[0]), m)
    packed = np.full((x.shape[0], width), np.nan)
    packed[rows, np.arange(flat.size) - starts[rows]] = np.ravel(x)[flat] + 0.0
    packed.sort(axis=1)
    return packed, m


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
    _check_n(n)
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return np.zeros(x.shape, dtype=np.int64)
    s, m = _sorted_rows(x)
    return _buckets_from_sorted(x, s, m, n)


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"buckets: expected a whole number of buckets n >= 1, got {n!r}")


def _level_thresholds(s: np.ndarray, m: np.ndarray, n: int, levels: range
                      ) -> list[np.ndarray]:
    """Smallest value of each row whose bucket is ``>= level``, per level (NaN: none).

    ``s`` holds each row's values sorted ascending (NaN last, ``m`` valid). Bucket
    ``ceil(n·r/m)`` with ``r`` the average 1-based rank of the value's tie run is
    non-decreasing along the row, so for each level only two candidates exist: without ties
    the first position reaching the level is ``p = floor((level - 1)·m / n)``; if the tie run
    ``[a, b]`` around ``p`` reaches it (``ceil(n·(a + b + 2) / (2m)) >= level``) its value is
    the threshold, else the next run's (which starts at rank ``b + 2 > p + 1``), if any.
    Integer arithmetic throughout, so the thresholds equal those of the buckets of every
    position (:func:`row_buckets`).
    """
    n_t, width = s.shape
    new_run = np.empty((n_t, width), dtype=bool)  # a tie run starts here (NaN never equal)
    new_run[:, 0] = True
    np.not_equal(s[:, 1:], s[:, :-1], out=new_run[:, 1:])
    starts = np.flatnonzero(new_run)  # flat positions, every row starts a run
    rows = np.arange(n_t)
    base = rows * width
    two_m = 2 * np.maximum(m, 1)
    out = []
    for level in levels:
        p = ((level - 1) * m) // n  # < m when m > 0
        run = np.searchsorted(starts, base + p, side="right") - 1
        a = starts[run] - base
        nxt = np.minimum(run + 1, starts.size - 1)
        b = np.where(run + 1 < starts.size, starts[nxt], n_t * width) - 1 - base
        reach = ((a + b + 2) * n + two_m - 1) // two_m >= level
        pos = np.where(reach, p, b + 1)
        ok = (m > 0) & (pos < m)
        out.append(np.where(ok, s[rows, np.minimum(pos, width - 1)], np.nan))
    return out


def _buckets_from_sorted(x: np.ndarray, s: np.ndarray, m: np.ndarray, n: int) -> np.ndarray:
    """Buckets of ``x`` from its row-sorted values (no argsort, no scatter of ranks).

    Buckets are non-decreasing in the value and equal within a tie run, so
    ``bucket(v) >= k`` exactly when ``v`` is at least the first sorted value whose bucket is
    ``>= k``: one threshold per bucket and row (:func:`_level_thresholds`), ``n - 1``
    comparisons per valid cell.

    ``s`` may be any row-wise non-decreasing arrangement of the values of ``x`` (NaN last).
    """
    width = max(int(m.max()), 1)  # NaN-only columns at the end of ``s`` carry nothing
    s = s[:, :width]
    flat_ok = np.flatnonzero(~np.isnan(x))  # valid cells, row-major
    row_of = flat_ok // x.shape[1]
    vals = np.ravel(x)[flat_ok]
    bucket = np.ones(vals.size, dtype=np.int64)
    for thr in _level_thresholds(s, m, n, range(2, n + 1)):
        # NaN where no value reaches the level: the comparison is then False
        bucket += vals >= thr[row_of]
    out = np.zeros(x.shape, dtype=np.int64)
    out.reshape(-1)[flat_ok] = bucket
    return out


def row_bucket_at_least(x: np.ndarray, n: int, level: int) -> np.ndarray:
    """``row_buckets(x, n) >= level`` without forming every bucket (one threshold per row).

    Parameters
    ----------
    x : ndarray of shape (n_bars, n_symbols)
        Values, NaN missing (never selected).
    n : int
        Number of buckets.
    level : int
        Lowest bucket selected.

    Returns
    -------
    ndarray of bool, shape (n_bars, n_symbols)
    """
    _check_n(n)
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0 or level > n:
        return np.zeros(x.shape, dtype=bool)
    if level <= 1:
        return ~np.isnan(x)
    s, m = _sorted_rows(x)
    s = s[:, : max(int(m.max()), 1)]
    thr = _level_thresholds(s, m, n, range(level, level + 1))[0]
    return x >= thr[:, None]  # NaN threshold or NaN value: False


def row_winsorize_zscore_buckets(
    x: np.ndarray, n: int, *, lower: float = 0.05, upper: float = 0.95, ddof: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """``row_zscore(row_winsorize(x))`` and its :func:`row_buckets`, sorting each row once.

    Clipping and the z-score's affine map (positive scale) are non-decreasing, also in
    floating point, so applying them to the sorted values (with the row's own mean and std,
    computed in the row's order) gives the sorted z-scores. The results equal the three
    separate calls exactly.

    Returns
    -------
    score : ndarray of shape (n_bars, n_symbols)
        Z-score of the winsorised values.
    bucket : ndarray of int64, shape (n_bars, n_symbols)
        Bucket ``1..n`` of the score (0 where missing).
    """
    _check_n(n)
    _check_levels(lower, upper)
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return np.array(x, copy=True), np.zeros(x.shape, dtype=np.int64)
    s, m = _sorted_valid(x)
    lo = _row_quantile(s, m, lower)[:, None]
    hi = _row_quantile(s, m, upper)[:, None]
    # NaN stays NaN through maximum/minimum (and lo, hi are NaN only in all-NaN rows)
    w = np.maximum(x, lo)
    np.minimum(w, hi, out=w)
    w_sorted = np.maximum(s, lo)
    np.minimum(w_sorted, hi, out=w_sorted)
    ok = ~np.isnan(w)
    mean, std = _zscore_moments(w, ok, m, ddof)
    # all-equal rows: the sorted row's first and last valid values are its min and max
    rows = np.arange(s.shape[0])
    flat = (m > 0) & (w_sorted[rows, np.maximum(m - 1, 0)] == w_sorted[:, 0])
    score = _zscore_fill(w, mean, std, flat, ok, inplace=True)  # w is ours
    valid_sorted = np.arange(w_sorted.shape[1])[None, :] < m[:, None]
    score_sorted = _zscore_fill(w_sorted, mean, std, flat, valid_sorted, inplace=True)
    return score, _buckets_from_sorted(score, score_sorted, m, n)


def _zscore_moments(x: np.ndarray, ok: np.ndarray, m: np.ndarray, ddof: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Row mean and std of the valid values: :func:`_zscore_params`' sums, fewer copies."""
    buf = np.where(ok, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = buf.sum(axis=1) / m
        np.subtract(x, mean[:, None], out=buf)
        np.copyto(buf, 0.0, where=~ok)
        np.multiply(buf, buf, out=buf)
        std = np.sqrt(buf.sum(axis=1) / (m - ddof))
    return mean, std


def _zscore_fill(x: np.ndarray, mean: np.ndarray, std: np.ndarray, flat: np.ndarray,
                 ok: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    """:func:`_zscore_apply` with the validity mask given: 0 on flat rows, NaN off ``ok``.

    ``inplace=True`` writes the z-scores over ``x``.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.subtract(x, mean[:, None], out=x if inplace else None)
        np.divide(z, std[:, None], out=z)
    flat_rows = np.flatnonzero(flat)
    if flat_rows.size:
        z[flat_rows] = np.where(ok[flat_rows], 0.0, np.nan)
    return z


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
    s, m = _sorted_rows(x)
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
    mean, std, flat = _zscore_params(x, ddof)
    return _zscore_apply(x, mean, std, flat)


def _zscore_params(x: np.ndarray, ddof: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row mean, std and all-equal flag of the non-NaN values (sums in the row's order)."""
    ok = ~np.isnan(x)
    m = np.count_nonzero(ok, axis=1)
    xz = np.where(ok, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = xz.sum(axis=1) / m
        dev = np.where(ok, x - mean[:, None], 0.0)
        std = np.sqrt((dev * dev).sum(axis=1) / (m - ddof))
    flat = (np.where(ok, x, -np.inf).max(axis=1, initial=-np.inf)
            == np.where(ok, x, np.inf).min(axis=1, initial=np.inf))
    return mean, std, flat


def _zscore_apply(x: np.ndarray, mean: np.ndarray, std: np.ndarray, flat: np.ndarray
                  ) -> np.ndarray:
    """Apply ``(x - mean) / std`` per row; 0 on flat rows, NaN where ``x`` is NaN.

    Elementwise, so any arrangement of a row's values gives the same z-scores.
    """
    ok = ~np.isnan(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(ok, x - mean[:, None], 0.0) / std[:, None]
    z = np.where(flat[:, None], 0.0, z)
    return np.where(ok, z, np.nan)


def row_sum(values: np.ndarray) -> np.ndarray:
    """Sum a ``(n_bars, n_symbols)`` array over symbols, strictly left to right.

    A sequential sum: adding all-zero columns anywhere (a symbol that never trades) leaves
    every row sum identical bit for bit, so the result does not depend on which flat symbols
    are on the axis (truncation invariance).

    Returns
    -------
    ndarray of shape (n_bars,)
    """
    if values.shape[1] == 0:
        return np.zeros(values.shape[0])
    # On a Fortran-ordered array NumPy reduces axis 1 column by column (sequentially), which
    # gives the same bits as a cumulative sum, without its (n_bars, n_symbols) output.
    return np.asfortranarray(values).sum(axis=1)
