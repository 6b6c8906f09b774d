"""Drift-free rolling window sums from blocked prefix sums.

A running sum over two million rows accumulates rounding error without bound. Here prefix sums
restart every ``window`` rows (one *block*), so the sum over rows ``t - window + 1 .. t`` is the
suffix of the previous block plus the prefix of the current one: every window sum is built from
at most ``2 * window`` terms, wherever it sits in the series, and the error does not grow with
the length of the series.
"""

from __future__ import annotations

import math

import numpy as np

_ROW_LOOP_MIN = 512
"""Row width (elements) from which prefix sums are taken by a loop over rows."""


class PieceWindowSum:
    """Rolling window sums of rows fed a few at a time, pieces never crossing a block boundary.

    Prefix sums restart every ``window`` rows (one *block*, counted from the first row of the
    series), and the window sum at a row is the prefix of its block plus the suffix of the
    previous block. Callers feed pieces of rows in order, a whole block or a few rows (so
    that their work arrays stay in the processor's cache); prefix sums are accumulated row
    after row in one fixed order, so the sums do not depend on how the rows are cut into
    pieces, nor on where the series ends.

    Parameters
    ----------
    window : int
        Rows per window (and per block).
    piece_rows : int
        Largest piece, in rows.
    tail : tuple of int
        Shape of one row.

    Examples
    --------
    >>> s = PieceWindowSum(2, 1, ())
    >>> [float(s.window_sums_of(np.array([v]))[0]) for v in (1.0, 2.0, 3.0, 4.0)]
    [1.0, 3.0, 5.0, 7.0]
    """

    def __init__(self, window: int, piece_rows: int, tail: tuple[int, ...]) -> None:
        self.window = window
        self._blocks = [np.zeros((window, *tail)), np.zeros((window, *tail))]
        self._rows = ([list(b) for b in self._blocks] if math.prod(tail) >= _ROW_LOOP_MIN
                      else None)
        self._out = np.empty((min(piece_rows, window), *tail))
        self._cur = 0
        self._pos = 0
        self._has_previous = False

    @property
    def rows_left_in_block(self) -> int:
        """Rows the next piece may have at most (to the end of the current block)."""
        return self.window - self._pos

    def buffer(self, n_rows: int) -> np.ndarray:
        """Writable ``(n_rows, *tail)`` buffer for the next piece's row values."""
        if not 0 < n_rows <= min(self.rows_left_in_block, self._out.shape[0]):
            raise ValueError("a piece must be non-empty, fit the work buffer and not cross "
                             "a block boundary")
        return self._blocks[self._cur][self._pos : self._pos + n_rows]

    def window_sums(self, n_rows: int) -> np.ndarray:
        """Return window sums of the rows just written to :meth:`buffer`.

        Parameters
        ----------
        n_rows : int
            Rows written to the buffer.

        Returns
        -------
        ndarray of shape (n_rows, *tail)
            Sum over the trailing ``window`` rows at each row (fewer at the start of the
            series); a view, valid until the next call.
        """
        a, b = self._pos, self._pos + n_rows
        cur = self._blocks[self._cur]
        if self._rows is not None:
            rows, add = self._rows[self._cur], np.add
            prev = rows[a - 1] if a else rows[a]
            for row in rows[a + 1 if not a else a : b]:
                add(row, prev, out=row)
                prev = row
        else:
            if a:
                cur[a] += cur[a - 1]
            np.cumsum(cur[a:b], axis=0, out=cur[a:b])
        out = self._out[:n_rows]
        if self._has_previous:
            # prefix of this block plus the suffix of the previous one (its total minus its
            # prefix through the same row)
            before = self._blocks[1 - self._cur]
            np.subtract(cur[a:b], before[a:b], out=out)
            out += before[-1]
        else:
            out[...] = cur[a:b]
        self._pos = b
        if b == self.window:
            self._cur, self._pos, self._has_previous = 1 - self._cur, 0, True
        return out

    def window_sums_of(self, values: np.ndarray) -> np.ndarray:
        """Feed ``values`` (n_rows, *tail) as the next piece and return its window sums."""
        self.buffer(values.shape[0])[...] = values
        return self.window_sums(values.shape[0])


def count_dtype(n_rows: int) -> type[np.signedinteger]:
    """Integer type of row counts over ``n_rows`` rows: int32, int64 from 2**31 rows."""
    return np.int64 if n_rows >= 2**31 else np.int32


def window_count(valid: np.ndarray, window: int) -> np.ndarray:
    """Count True values over the trailing ``window`` rows (exact integer arithmetic).

    Parameters
    ----------
    valid : ndarray of bool, shape (n_rows, ...)
        Row validity.
    window : int
        Window length in rows.

    Returns
    -------
    ndarray of int32 (int64 from 2**31 rows), shape (n_rows, ...)
        Count at each row of valid rows among the last ``window`` (fewer at the start).
    """
    c = np.cumsum(valid, axis=0, dtype=count_dtype(valid.shape[0]))
    out = np.empty_like(c)
    out[:window] = c[:window]
    np.subtract(c[window:], c[:-window], out=out[window:])
    return out


def trailing_window_sums(a: np.ndarray, window: int) -> np.ndarray:
    """Replace the rows of ``a`` by their trailing ``window``-row sums, in place; returns ``a``.

    The whole-array form of :class:`PieceWindowSum` (same blocks, for an array already in
    memory): values depend on rows ``<= t`` only, bit for bit.

    Rows are first turned into prefix sums restarting every ``window`` rows (one *block*,
    counted from row 0; added row after row, top to bottom); the sum over rows
    ``t - window + 1 .. t`` is then the prefix of ``t``'s block plus the suffix of the
    previous block, ``P[t] + (P[last row of the previous block] - P[t - window])``, formed
    block by block from the last one back (each block reads only the prefix sums before it).
    """
    n = a.shape[0]
    full = n // window
    if full:
        pv = a[: full * window].reshape(full, window, *a.shape[1:])
        for i in range(1, window):
            np.add(pv[:, i], pv[:, i - 1], out=pv[:, i])
    for i in range(full * window + 1, n):  # the partial last block
        np.add(a[i], a[i - 1], out=a[i])
    tmp = np.empty((window, *a.shape[1:]), dtype=a.dtype)
    for start in range(full * window if n > full * window else n - window, 0, -window):
        rows = min(window, n - start)
        prev = a[start - window : start - window + rows]
        d = np.subtract(a[start - 1], prev, out=tmp[:rows])  # suffix of the previous block
        np.add(a[start : start + rows], d, out=a[start : start + rows])
    return a
