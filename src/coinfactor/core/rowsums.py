"""Row sums over symbols left to right, a block of rows at a time (no copy of the whole array).

A reduction along axis 1 of a Fortran-ordered array adds the columns one after another, so
each row sums left to right from its first element: a column that is always 0 changes no bit,
and a book gives the same numbers on any grid that holds it. Each row's sum is the same
whatever rows are summed with it, so the rows can be taken a block at a time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

BLOCK = 4096
"""Rows per block (a block of 500 float64 columns is 16 MB)."""


def row_blocks(n: int, block: int = BLOCK) -> list[tuple[int, int]]:
    """Return ``(lo, hi)`` bounds of row blocks covering ``range(n)``, none of one row.

    A block of one row would be a contiguous row, which NumPy sums pairwise: a last block of
    one row joins the block before it (a single row is summed alone only when ``n == 1``).
    """
    starts = list(range(0, n, block))
    if not starts:
        return []
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return list(zip(starts, [*starts[1:], n], strict=True))


def row_sums(values: np.ndarray, of: Callable[[np.ndarray], np.ndarray] | None = None,
             block: int = BLOCK) -> np.ndarray:
    """Sum ``of(values)`` over axis 1, left to right, ``block`` rows at a time.

    Parameters
    ----------
    values : ndarray of shape (n_rows, n_cols)
        The array (any order).
    of : callable, optional
        An elementwise map applied to each block before it is summed (default: none).
    block : int
        Rows per block.

    Returns
    -------
    ndarray of shape (n_rows,)
        ``np.asfortranarray(of(values)).sum(axis=1)``, bit for bit (zeros without columns).
    """
    if values.shape[1] == 0:
        return np.zeros(values.shape[0])
    out = np.empty(values.shape[0])
    for lo, hi in row_blocks(values.shape[0], block):
        part = values[lo:hi]
        out[lo:hi] = np.asfortranarray(part if of is None else of(part)).sum(axis=1)
    return out
