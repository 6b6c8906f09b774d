"""``rolling_ols`` in time blocks and coin blocks equals the whole-series fit, bit for bit.

Reference: the whole-series fit on the same arrays. A block of rows starting one window
before a multiple of the window (:func:`aligned_start`), given the whole series' level shifts
(:class:`LevelParts` combined over blocks), and any subset of the series, must give every
output (params, R², SSR, nobs, rank, condition number) with the same bits; so must the
shifts themselves (:func:`coinfactor.rolling._levels.shifts`).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from coinfactor.rolling import LevelParts, aligned_start, rolling_ols
from coinfactor.rolling._levels import shifts

W = 40
OUTPUTS = ("params", "rsquared", "ssr", "nobs", "rank", "condition_number")


def _data(seed: int, shared: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t, n, k = 400, 6, 3
    x = rng.standard_normal((t, k) if shared else (t, n, k)) * 0.01
    beta = rng.standard_normal((k, n))
    y = (np.einsum("tk,kn->tn", x, beta) if shared else np.einsum("tnk,kn->tn", x, beta))
    y = y + 0.01 * rng.standard_normal((t, n))
    y[: int(rng.integers(0, 150)), 0] = np.nan        # late listing
    y[int(rng.integers(250, 400)):, 1] = np.nan       # delisting
    y[rng.random((t, n)) < 0.04] = np.nan             # gaps
    y[:, 2] += 3.0                                    # a level (shifted series)
    if shared:
        x[rng.random(t) < 0.02, 1] = np.nan
        x[:, 0] = np.where(rng.random(t) < 0.5, x[:, 0], -x[:, 0])
        x = np.concatenate([x, x[:, :1] + x[:, 1:2]], axis=1)   # an exact dependency
    return y, x


def _parts(y: np.ndarray, x: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    shared = x.ndim == 2
    x3 = x[:, None, :] if shared else x
    vx = np.isfinite(x3).all(axis=2)
    cell = vx & np.isfinite(y)
    px = py = None
    for s in range(0, y.shape[0], block):
        e = min(y.shape[0], s + block)
        a = LevelParts.of(x3[s:e], vx[s:e], W, s)
        b = LevelParts.of(y[s:e], cell[s:e], W, s)
        px = a if px is None else px.combine(a)
        py = b if py is None else py.combine(b)
    assert px is not None and py is not None
    want = shifts(x3, vx, y, cell, W, enabled=True)
    got = (px.shift(), py.shift())
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    return got


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 50), shared=st.booleans(), blocks=st.integers(1, 4),
       cols=st.lists(st.integers(0, 5), min_size=1, max_size=6, unique=True))
def test_time_and_coin_blocks_equal_the_whole_series(seed: int, shared: bool, blocks: int,
                                                      cols: list[int]) -> None:
    y, x = _data(seed, shared)
    kw = {"min_nobs": 20, "condition_number": True, "n_threads": 2}
    whole = rolling_ols(y, x, W, **kw)
    sx, sy = _parts(y, x, W * blocks)
    cols = sorted(cols)
    for s in range(0, y.shape[0], W * blocks):
        e = min(y.shape[0], s + W * blocks)
        a = aligned_start(s, W)
        xs = x[a:e] if shared else x[a:e][:, cols]
        part = rolling_ols(y[a:e][:, cols], xs, W, level_shifts=(sx if shared else sx[cols],
                                                                  sy[cols]), **kw)
        for name in OUTPUTS:
            got = getattr(part, name)[s - a :]
            want = getattr(whole, name)[s:e][:, cols]
            np.testing.assert_array_equal(got, want, err_msg=f"{name} rows {s}:{e}")


def test_level_shifts_must_match_the_shapes() -> None:
    import pytest

    from coinfactor.core.errors import DataError

    y, x = _data(0, True)
    with pytest.raises(DataError, match="level_shifts"):
        rolling_ols(y, x, W, level_shifts=(np.zeros((1, 2)), np.zeros(6)))
