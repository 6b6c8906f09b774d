"""The EWMA variance recursion over bars, compiled by numba (several decays in one pass).

Per column and decay λ, with x the (squared) return of a bar::

    v(t) = x(t)                          at the column's first observation
    v(t) = λ·v(t-1) + (1 - λ)·x(t)       at later observations
    v(t) = v(t-1)                        where x(t) is missing (0.0 before the first)

the same two products and one sum per cell as the per-column recursion written out in
``tests/risk/test_risk_fast_paths.py`` (the reference it equals bit for bit).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def ewma_recursion(x: np.ndarray, lams: np.ndarray, square: bool,
                   out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Fill ``out`` (n_bars, n_decays × n_symbols) from ``x`` (n_bars, n_symbols).

    Decay ``i`` fills columns ``i·n_symbols .. (i + 1)·n_symbols - 1``; with ``square`` the
    recursion runs on ``x·x``.
    """
    n_t, n_s = x.shape
    k = lams.shape[0]
    seen = np.zeros(n_s, dtype=np.bool_)
    for t in range(n_t):
        for c in range(n_s):
            v = x[t, c]
            observed = v == v
            if square:
                v = v * v
            for i in range(k):
                j = i * n_s + c
                prev = out[t - 1, j] if t > 0 else 0.0
                if not observed:
                    out[t, j] = prev
                elif not seen[c]:
                    out[t, j] = v
                else:
                    lam = lams[i]
                    out[t, j] = lam * prev + (1.0 - lam) * v
            if observed:
                seen[c] = True
