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


class PieceWindowSum:
    """Rolling window sums of rows fed a few at a time, pieces never crossing a block boundary.

    The same blocked prefix sums as :class:`BlockedWindowSum` (prefix sums restarting every
    ``window`` rows, counted from the first row of the series), for callers that work on short
    pieces of rows so that their work arrays stay in the processor's cache. Prefix sums are
    accumulated row after row in one fixed order, so the sums do not depend on how the rows
    are cut into pieces.

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
