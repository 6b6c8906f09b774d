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


class BlockedWindowSum:
    """Stateful helper that turns consecutive chunks of rows into rolling window sums.

    Chunks are fed in order; each holds a whole number of blocks (a multiple of ``window``
    rows) except possibly the last, so block boundaries sit at multiples of ``window`` from the
    first row of the series. Boundaries never depend on the series length, so a truncated
    series gives bit-identical sums at every row it keeps. Work buffers are allocated once and
    reused (two prefix buffers used in turn, so the previous block needs no copy).

    Parameters
    ----------
    window : int
        Rows per window (and per block).
    chunk_rows : int
        Largest chunk, a multiple of ``window``.
    tail : tuple of int
        Shape of one row.

    Examples
    --------
    >>> s = BlockedWindowSum(2, 4, ())
    >>> s.buffer(4)[:] = [1.0, 2.0, 3.0, 4.0]
    >>> s.window_sums(4)
    array([1., 3., 5., 7.])
    """

    def __init__(self, window: int, chunk_rows: int, tail: tuple[int, ...]) -> None:
        if chunk_rows % window:
            raise ValueError("chunk_rows must be a multiple of window")
        self.window = window
        self._prefix = [np.zeros((chunk_rows, *tail)), np.zeros((chunk_rows, *tail))]
        self._out = np.empty((chunk_rows, *tail))
        self._turn = 0
        self._last: np.ndarray | None = None
        # wide rows: prefix sums by adding row after row (in cache, beats a strided cumsum),
        # through row views made once
        self._rows = ([list(buf) for buf in self._prefix] if math.prod(tail) >= _ROW_LOOP_MIN
                      else None)

    def buffer(self, n_rows: int) -> np.ndarray:
        """Writable ``(n_rows, *tail)`` buffer for the next chunk's row values."""
        return self._prefix[self._turn][:n_rows]

    def window_sums(self, n_rows: int) -> np.ndarray:
        """Return window sums of the rows just written to :meth:`buffer`.

        The result is a view, valid until the next call; rows before the first full window get
        the sum of the rows so far.

        Parameters
        ----------
        n_rows : int
            Rows written to the buffer.

        Returns
        -------
        ndarray of shape (n_rows, *tail)
            Sum over the trailing ``window`` rows at each row.
        """
        w = self.window
        n_blocks = -(-n_rows // w)
        buf = self._prefix[self._turn]
        buf[n_rows : n_blocks * w] = 0.0
        tail = buf.shape[1:]
        prefix = buf[: n_blocks * w].reshape((n_blocks, w, *tail))
        out = self._out[: n_blocks * w].reshape((n_blocks, w, *tail))
        if self._rows is not None:
            rows, add = self._rows[self._turn], np.add
            for b in range(n_blocks):
                prev = rows[b * w]
                for row in rows[b * w + 1 : (b + 1) * w]:
                    add(row, prev, out=row)
                    prev = row
        else:
            np.cumsum(prefix, axis=1, out=prefix)
        # block b: prefix of block b plus the suffix of block b - 1 (its total minus its
        # prefix through the same row)
        if self._last is None:
            out[0] = prefix[0]
        else:
            np.subtract(prefix[0], self._last, out=out[0])
            out[0] += self._last[-1]
        if n_blocks > 1:
            np.subtract(prefix[1:], prefix[:-1], out=out[1:])
            out[1:] += prefix[:-1, -1:]
        self._last = prefix[-1]
        self._turn = 1 - self._turn
        return self._out[:n_rows]


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
    c = np.cumsum(valid, axis=0, dtype=np.int64 if valid.shape[0] >= 2**31 else np.int32)
    out = np.empty_like(c)
    out[:window] = c[:window]
    np.subtract(c[window:], c[:-window], out=out[window:])
    return out
