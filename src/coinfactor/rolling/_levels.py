"""Shifts of price-like columns and the constant-column test of :func:`rolling_ols`.

A column whose level dominates its variation (``|mean| > std`` over the first window; prices,
not returns) loses digits in window sums of cross products. :func:`shifts` gives the amount
to subtract from each regressor column and each series (its first valid observation, or 0):
the fitted slopes, R² and residuals do not change, and the constant is corrected back. The
choice reads the first window only, so results stay point in time.
"""

from __future__ import annotations

import numpy as np


def has_constant_column(x3: np.ndarray, valid: np.ndarray) -> bool:
    """Whether some regressor is one non-zero value on every valid row (statsmodels' test)."""
    for j in range(x3.shape[-1]):
        vals = np.broadcast_to(x3[..., j], valid.shape)[valid]
        if vals.size and vals[0] != 0 and np.all(vals == vals[0]):
            return True
    return False


def shifts(x3: np.ndarray, vx: np.ndarray, y2: np.ndarray, cell: np.ndarray, window: int, *,
            enabled: bool) -> tuple[np.ndarray, np.ndarray]:
    """Shift of each regressor column (per series) and of each series.

    0, or the first valid observation where the level dominates the variation over the first
    window (see :func:`_level_free`).
    """
    n_x, k = x3.shape[1], x3.shape[2]
    n_series = y2.shape[1]
    if not enabled:
        return np.zeros((n_x, k)), np.zeros(n_series)
    first_x = _first_true(vx)
    sx = np.where((first_x < vx.shape[0])[:, None], x3[first_x % vx.shape[0], np.arange(n_x)],
                  0.0)
    sx[_level_free(x3[:window], np.broadcast_to(vx[:window, :, None], x3[:window].shape))] = 0.0
    first_y = _first_true(cell)
    sy = np.where(first_y < cell.shape[0], y2[first_y % cell.shape[0], np.arange(n_series)],
                  0.0)
    sy[_level_free(y2[:window], cell[:window])] = 0.0
    return sx, sy


def _level_free(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Whether each column's valid values have ``|mean| <= std`` (at least two of them).

    Shifting such a column would not make its window sums any more accurate.
    """
    n = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.where(valid, values, 0.0)
        mean = v.sum(axis=0) / n
        var = np.where(valid, (v - mean) ** 2, 0.0).sum(axis=0) / n
        return np.asarray((n >= 2) & (mean * mean <= var))


def _first_true(mask: np.ndarray) -> np.ndarray:
    """Index of the first True row of each column of ``mask`` (T, M); ``T`` when none."""
    first = np.zeros(mask.shape[1], dtype=np.intp)
    late = np.flatnonzero(~mask[0]) if mask.shape[0] else np.arange(mask.shape[1])
    if late.size:
        sub = mask[:, late]
        first[late] = np.where(sub.any(axis=0), np.argmax(sub, axis=0), mask.shape[0])
    return first
