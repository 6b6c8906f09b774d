"""Oracle test of the compiled per-cell solves: equal to the NumPy reference bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from coinfactor.rolling._solve import solve_chunk
from coinfactor.rolling._solve_kernel import solve_cells

_CASES = [(rows, series, p, shared, own_sx, const, fix, centred)
          for rows, series, p in [(1, 1, 2), (7, 13, 5), (40, 60, 11)]
          for shared in (True, False) for own_sx in (False, True)
          for const in ("none", "added", "added-shifted") for fix in (False, True)
          for centred in (False, True) if not (centred and const != "none")]


@pytest.mark.parametrize(("rows", "series", "p", "shared", "own_sx", "const", "fix", "centred"),
                         _CASES, ids=[
                             f"{r}x{n}x{p}-{'shared' if s else 'own'}-sx{'N' if o else '1'}-"
                             f"{c}-{'fix' if f else 'nofix'}-{'centred' if m else 'raw'}"
                             for r, n, p, s, o, c, f, m in _CASES])
def test_solve_cells_equals_solve_chunk(rows: int, series: int, p: int, shared: bool,
                                        own_sx: bool, const: str, fix: bool,
                                        centred: bool) -> None:
    """Reference: :func:`coinfactor.rolling._solve.solve_chunk` (NumPy, one pass per term).

    Random inverses, sums and corrections (not a fit: every operation is exercised, also on
    inf, NaN and zero totals), shared (B = 1) or per-series (B = N) inverses and shifts;
    the cells selected must carry the same bits, the others NaN.
    """
    rng = np.random.default_rng(rows * 1000 + series * 10 + p)
    b = 1 if shared else series
    g = rng.normal(size=(rows, b, p, p))
    g[0, 0, 0, 0] = np.inf
    n = rng.integers(1, 100, (rows, b)).astype(np.float64)
    s_zy = rng.normal(size=(rows, series, p + 1))[..., :p]   # a strided view, as in the fit
    s_yy = np.abs(rng.normal(size=(rows, series))) * 3.0
    s_yy[0, 0] = 0.0
    s_yy[-1, -1] = np.nan
    mean_sq = np.abs(rng.normal(size=(rows, series))) if centred else None
    sx = (rng.normal(size=(series if own_sx else 1, p - 1)) if const == "added-shifted"
          else np.zeros((series if own_sx else 1, p - 1)))
    sy = rng.normal(size=series)
    e = rng.normal(size=(rows, b, p, p))
    where = rng.random((rows, b)) < 0.5
    sel = rng.random((rows, series)) < 0.8
    added = const != "none"
    ref = [np.empty((rows, series, p)), np.empty((rows, series)), np.empty((rows, series))]
    with np.errstate(all="ignore"):
        solve_chunk(g, n, s_zy, s_yy, mean_sq, sx, sy, added, *ref, sel, None,
                    (e, where) if fix else None)
    got = [np.empty((rows, series, p)), np.empty((rows, series)), np.empty((rows, series))]
    solve_cells(g, n, s_zy, s_yy, np.empty((0, 0)) if mean_sq is None else mean_sq,
                mean_sq is not None, sx, sy, added, bool(sx.any()),
                e if fix else np.empty((0, 0, 0, 0)),
                where if fix else np.empty((0, 0), dtype=bool), fix, sel, *got)
    for r, o in zip(ref, got, strict=True):
        np.testing.assert_array_equal(r[sel].view(np.int64), o[sel].view(np.int64))
        assert np.isnan(o[~sel]).all()
