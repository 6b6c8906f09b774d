"""Shifts of price-like columns and the constant-column test of :func:`rolling_ols`.

A column whose level dominates its variation (``|mean| > std`` over the first window; prices,
not returns) loses digits in window sums of cross products. :func:`shifts` gives the amount
to subtract from each regressor column and each series (its first valid observation, or 0):
the fitted slopes, R² and residuals do not change, and the constant is corrected back. The
choice reads the first window only, so results stay point in time.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    return (LevelParts.of(x3, vx, window, 0).shift(),
            LevelParts.of(y2, cell, window, 0).shift())


@dataclass(frozen=True)
class LevelParts:
    """What the shift of each column depends on, from one stretch of rows.

    The shift (:func:`shifts`) of a column reads its first valid observation (anywhere in
    the series) and whether its level dominates its variation over the series' first window
    (rows ``0 .. window - 1``). A caller fitting a series in time blocks takes the parts of
    each block (:meth:`of` with the block's first row) and :meth:`combine` s them, in any
    order, into the parts of the whole series: :meth:`shift` then equals the whole-series
    shift exactly.

    Attributes
    ----------
    first_row : ndarray of int64, shape (M,)
        Row (of the whole series) of each column's first valid value; -1 when none.
    first_value : ndarray of float64, shape (M, ...)
        That value (0 when none).
    level_free : ndarray of bool, shape (M, ...), or None
        ``|mean| <= std`` over the first window (None: this stretch does not start the
        series).
    """

    first_row: np.ndarray
    first_value: np.ndarray
    level_free: np.ndarray | None

    @classmethod
    def of(cls, values: np.ndarray, valid: np.ndarray, window: int, row0: int) -> LevelParts:
        """Parts of rows ``row0 ..`` of a series (``values`` (L, M, ...), ``valid`` (L, M)).

        When ``row0 == 0`` the stretch must hold the series' whole first window (or all of
        a shorter series).
        """
        n = valid.shape[0]
        first = _first_true(valid)
        found = first < n
        idx = first % max(n, 1)
        val = values[idx, np.arange(valid.shape[1])] if n else np.zeros(values.shape[1:])
        shape = (-1,) + (1,) * (values.ndim - 2)
        val = np.where(found.reshape(shape), val, 0.0)
        free = None
        if row0 == 0:
            head = valid[:window].reshape(valid[:window].shape + (1,) * (values.ndim - 2))
            free = _level_free(values[:window], np.broadcast_to(head, values[:window].shape))
        return cls(np.where(found, first + row0, -1).astype(np.int64), val, free)

    def combine(self, other: LevelParts) -> LevelParts:
        """Parts of the union of two disjoint stretches of the same series."""
        take = (other.first_row >= 0) & ((self.first_row < 0)
                                         | (other.first_row < self.first_row))
        shape = (-1,) + (1,) * (self.first_value.ndim - 1)
        return LevelParts(np.where(take, other.first_row, self.first_row),
                          np.where(take.reshape(shape), other.first_value, self.first_value),
                          self.level_free if self.level_free is not None
                          else other.level_free)

    def shift(self) -> np.ndarray:
        """Return the shift of each column, shape (M, ...): its first valid value, or 0."""
        if self.level_free is None:
            raise ValueError("LevelParts.shift needs the parts of the series' first rows")
        shape = (-1,) + (1,) * (self.first_value.ndim - 1)
        found = (self.first_row >= 0).reshape(shape)
        out = np.where(found, self.first_value, 0.0)
        out[self.level_free] = 0.0
        return np.asarray(out, dtype=np.float64)


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


def aligned_start(first_row: int, window: int) -> int:
    """First input row of a block fit whose outputs start at ``first_row``.

    ``rolling_ols`` sums rows in blocks of ``window`` rows counted from row 0, and a window
    sum reads its block and the one before it: a fit of rows ``aligned_start(s, w) ..`` (with
    the whole series' :class:`LevelParts` shifts) gives, from row ``s`` on, the whole-series
    values bit for bit.

    Examples
    --------
    >>> aligned_start(2880, 1440), aligned_start(3000, 1440), aligned_start(100, 1440)
    (1440, 1440, 0)
    """
    return max(0, (first_row // window - 1) * window)
