"""Small numba-compiled helpers shared by the compiled loops (imported on first use: numba).

The compiled loops (the backtest's account loop, the allocator's bar loop) sum over symbols
left to right from the first element, as ``np.add.accumulate`` and ``np.cumsum`` do, so that
they equal their NumPy references bit for bit and a column that is always 0 changes no bit.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def left_sum(x: np.ndarray) -> float:  # pragma: no cover - compiled
    """Sum of ``x`` (shape (n,)) left to right from ``x[0]``; 0.0 when empty."""
    n = x.shape[0]
    if n == 0:
        return 0.0
    s = x[0]
    for j in range(1, n):
        s = s + x[j]
    return s


def frozen(values: np.ndarray, dtype: type) -> np.ndarray:
    """``values`` as a read-only C-contiguous array of ``dtype`` (copied only if needed).

    A compiled function is specialised on whether its arrays are writable; columns read in
    place from polars are read-only, so every argument is made so: one compiled variant.
    """
    out: np.ndarray = np.ascontiguousarray(values, dtype=dtype)
    out.flags.writeable = False
    return out
