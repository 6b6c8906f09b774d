"""Oracle tests of the allocator's and the sizing's fast paths.

References: the package's plain allocator loop ``coinfactor.portfolio.allocate_reference``
(bit for bit), the plain pairwise sizing formulas (``nansum``, ``einsum``) and ``vol_inputs``
on every column.
"""

from __future__ import annotations

import numpy as np
import pytest

from coinfactor.portfolio import (
    AllocationInputs,
    BufferedAllocator,
    allocate_reference,
)


@pytest.mark.parametrize("settings", [
    {"turnover_cap": 0.3, "cost_aversion": 5.0},
    {"turnover_cap": None, "exit": "decay", "open_new_fully": False, "gross_cap": 0.6},
    {"turnover_cap": 0.1, "max_weight": 0.05},
    {"turnover_cap": 0.2, "exit": "decay", "decay": 0.3, "cost_aversion": 20.0},
], ids=["cap_with_cost", "decay_exit_gross_cap", "tight_cap_max_weight", "decay_exit_with_cost"])
def test_allocator_equals_the_plain_loop(settings: dict) -> None:
    """Reference: coinfactor.portfolio.allocate_reference (the plain per-bar loop), bit for
    bit; names freeze (no price) and leave/enter the universe."""
    rng = np.random.default_rng(7)
    n_t, n_s = 120, 15
    desired = rng.normal(0, 0.2, (n_t, n_s))
    desired[rng.random((n_t, n_s)) < 0.25] = np.nan
    desired[:, 14] = np.nan  # never in the universe
    vol = np.abs(rng.normal(0.8, 0.2, (n_t, n_s)))
    vol[rng.random((n_t, n_s)) < 0.05] = np.nan
    hs = np.full((n_t, n_s), 5e-4)
    trad = rng.random((n_t, n_s)) > 0.1
    trad[:, :3] = True
    a = BufferedAllocator(**settings)
    inputs = AllocationInputs(desired, vol, hs, trad)
    fast, ref = a.fit(inputs), allocate_reference(a, inputs)
    np.testing.assert_array_equal(fast.positions, ref.positions)
    np.testing.assert_array_equal(fast.buffer, ref.buffer)
    np.testing.assert_array_equal(fast.turnover_scale, ref.turnover_scale)
    np.testing.assert_array_equal(fast.gross_scale, ref.gross_scale)


def test_sizing_ignores_flat_columns_bit_for_bit() -> None:
    """Inserting symbols that are never weighted changes no weight and no book vol.

    Reference for the values: the plain pairwise formulas (``nansum``, ``einsum``), which
    sum in another order (a few ulps).
    """
    from coinfactor.portfolio import (
        inverse_vol_weights,
        portfolio_vol,
        portfolio_vol_from,
        vol_inputs,
    )

    rng = np.random.default_rng(11)
    n_t, n_s = 160, 9
    target = rng.uniform(-1, 1, (n_t, n_s))
    target[rng.random(target.shape) < 0.3] = np.nan
    vol = rng.uniform(0.01, 0.05, (n_t, n_s))
    vol[rng.random(vol.shape) < 0.05] = np.nan
    rets = rng.normal(0, 0.03, (n_t, n_s))
    rets[rng.random(rets.shape) < 0.1] = np.nan
    w = inverse_vol_weights(target, vol)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.where(vol > 0, target / vol, np.nan)
    gross = np.nansum(np.abs(raw), axis=1, keepdims=True)
    np.testing.assert_allclose(w, raw / gross, rtol=1e-15, atol=0)
    # the same book on a grid with 5 more symbols that are never weighted
    wide_cols = np.sort(rng.choice(n_s + 5, n_s, replace=False))
    big_t = np.full((n_t, n_s + 5), np.nan)
    big_t[:, wide_cols] = target
    big_v = rng.uniform(0.01, 0.05, (n_t, n_s + 5))
    big_v[:, wide_cols] = vol
    big_r = rng.normal(0, 0.03, (n_t, n_s + 5))
    big_r[:, wide_cols] = rets
    extra = np.setdiff1d(np.arange(n_s + 5), wide_cols)
    big_v[:30, extra] = 0.0  # zero or missing forecasts: no standardised return there
    big_v[30:40, extra] = np.nan
    big_v[40:60, extra[0]] = np.inf  # r / inf = 0 is observed, inf / inf is not
    big_r[41:61:2, extra[0]] = np.inf
    np.testing.assert_array_equal(inverse_vol_weights(big_t, big_v)[:, wide_cols], w)
    wz = np.nan_to_num(w)
    big_w = np.zeros((n_t, n_s + 5))
    big_w[:, wide_cols] = wz
    for method in ("diagonal", "correlation"):
        ref = portfolio_vol(big_w, big_v, big_r, method=method, window=20)
        inputs = vol_inputs(big_v, big_r, 20, columns=wide_cols)
        got = portfolio_vol_from(wz, inputs, method=method, window=20)
        np.testing.assert_array_equal(got, ref)
    ws = wz * np.nan_to_num(vol)
    np.testing.assert_allclose(portfolio_vol(wz, vol, method="diagonal"),
                               np.sqrt(np.einsum("ij,ij->i", ws, ws)), rtol=1e-15)


@pytest.mark.parametrize("settings", [
    {"turnover_cap": 4.0, "gross_cap": 10.0, "max_weight": 1.0},  # binds on ~4% of bars
    {"turnover_cap": 1.5, "cost_aversion": 5.0},  # on ~60%
    {"turnover_cap": 0.05, "max_weight": 0.1},  # on every bar
    {"turnover_cap": None, "gross_cap": 0.8, "exit": "decay"},  # the gross cap, ~90%
    {"turnover_cap": None, "gross_cap": 100.0},  # never: whole chunks
], ids=["cap_binds_rarely", "cap_binds_often", "cap_binds_always", "gross_cap_binds",
        "never_binds"])
def test_chunked_allocation_equals_the_plain_loop(settings: dict) -> None:
    """Reference: coinfactor.portfolio.allocate_reference, the plain per-bar loop (bit for
    bit), on a long book with staggered listings (untradable before), a delisting (frozen
    with a position) and gaps."""
    from coinfactor.portfolio import AllocationInputs, BufferedAllocator, allocate_reference

    rng = np.random.default_rng(21)
    n_t, n_s = 420, 12
    desired = rng.normal(0, 0.25, (n_t, n_s))
    desired[rng.random((n_t, n_s)) < 0.15] = np.nan
    vol = np.abs(rng.normal(0.8, 0.2, (n_t, n_s)))
    hs = np.full((n_t, n_s), 5e-4)
    trad = np.ones((n_t, n_s), dtype=bool)
    listing = rng.integers(0, 150, n_s)
    listing[:4] = 0
    trad[np.arange(n_t)[:, None] < listing[None, :]] = False
    desired[~trad] = np.nan
    trad[300:, 5] = False  # delisted while held: frozen from bar 300
    trad[200:203, 1] = False  # a three-bar gap
    a = BufferedAllocator(**settings)
    inputs = AllocationInputs(desired, vol, hs, trad)
    fast, ref = a.fit(inputs), allocate_reference(a, inputs)
    np.testing.assert_array_equal(fast.positions, ref.positions)
    np.testing.assert_array_equal(fast.turnover_scale, ref.turnover_scale)
    np.testing.assert_array_equal(fast.gross_scale, ref.gross_scale)
    assert (fast.turnover_scale <= 1).all() and (fast.gross_scale <= 1).all()


def test_vol_inputs_counts_observations_of_every_column() -> None:
    """Reference: vol_inputs on every column (standardised returns formed everywhere)."""
    from coinfactor.portfolio import vol_inputs

    n_t = 12
    vol = np.full((n_t, 3), np.nan)
    ret = np.full((n_t, 3), np.nan)
    # column 2 (outside the book) alone has observations: each kind of edge, one bar each
    vol[:, 2] = [1.0, 0.0, np.inf, np.inf, 2.0, np.nan, 1.0, -1.0, 1.0, np.inf, 3.0, 1.0]
    ret[:, 2] = [0.1, 0.2, 0.3, np.inf, -np.inf, 0.1, 0.2, np.nan, 0.1, 0.5, np.inf, 0.2]
    for window in (2, 3, 5):
        full = vol_inputs(vol, ret, window)
        book = vol_inputs(vol, ret, window, columns=np.array([0, 1]))
        np.testing.assert_array_equal(book.seen, full.seen)
        assert full.seen is not None and full.seen.max() > 0
