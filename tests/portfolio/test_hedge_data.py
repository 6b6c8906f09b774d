"""The hedge's dense inputs against plain references on a ragged panel.

References: returns as ``close / prev - 1`` on the pivot (the two NumPy operations the
in-place kernel replays block by block), open interest as the last non-null value at or
before each bar read by a loop over each symbol's bars, and first bars from
``group_by(symbol).min(ts)``. Blocks of 7 rows (instead of 4096) put block edges inside
gaps, listings and filled bars.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from coinfactor.data import Grid, validate_panel
from coinfactor.portfolio import _hedge_data
from coinfactor.portfolio._hedge_data import build_hedge_data

START = datetime(2025, 1, 1, tzinfo=UTC)


def _ragged_panel(n_bars: int = 60, seed: int = 5) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for k, s in enumerate(["A", "B", "C", "D"]):
        close = 20 * np.cumprod(1 + rng.normal(0, 0.01, n_bars))
        first = (0, 9, 0, 23)[k]  # B and D list late
        last = (n_bars, n_bars, 41, n_bars)[k]  # C delists
        for i in range(first, last):
            if rng.random() < 0.15:  # gaps
                continue
            oi = None if rng.random() < 0.4 else float(1e6 * (1 + i))
            rows.append({"ts": START + timedelta(hours=i), "symbol": s,
                         "open": float(close[i]), "high": float(close[i]),
                         "low": float(close[i]), "close": float(close[i]), "volume": 1.0,
                         "open_interest": oi, "filled": rng.random() < 0.05})
    return validate_panel(pl.DataFrame(rows).sort("symbol", "ts"))


@pytest.mark.parametrize("block", [7, 4096], ids=["block7", "block4096"])
def test_dense_inputs_equal_references(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_hedge_data, "_BLOCK", block)
    panel = _ragged_panel()
    data = build_hedge_data(panel)
    grid = Grid.from_panel(panel)
    close = grid.wide(panel, "close")
    prev = np.vstack([np.full((1, grid.shape[1]), np.nan), close[:-1]])
    with np.errstate(invalid="ignore"):
        expected = close / prev - 1.0
    np.testing.assert_array_equal(data.returns, expected)  # bit for bit, NaN where NaN
    oi = np.full(grid.shape, np.nan)
    ts0 = grid.ts[0]
    for j, sym in enumerate(grid.symbols):
        last = np.nan
        rows = panel.filter((pl.col("symbol") == sym) & ~pl.col("filled"))
        known = {int((t - ts0) / timedelta(hours=1)): v
                 for t, v in zip(rows["ts"], rows["open_interest"], strict=True)}
        for i in range(grid.shape[0]):
            if known.get(i) is not None:
                last = known[i]
            oi[i, j] = last
    np.testing.assert_array_equal(data.open_interest, oi)
    first = panel.filter(~pl.col("filled")).group_by("symbol").agg(pl.col("ts").min())
    by_symbol = dict(zip(first["symbol"], first["ts"], strict=True))
    assert data.first_bar.tolist() == [int((by_symbol[s] - ts0) / timedelta(hours=1))
                                       for s in grid.symbols]
    assert data.grid.shape == grid.shape and data.grid.rows.size == 0  # axes only


def test_columns_the_panel_lacks_cost_no_memory() -> None:
    panel = _ragged_panel().drop("open_interest", "funding_rate", strict=False)
    data = build_hedge_data(panel)
    assert np.isnan(data.funding).all() and np.isnan(data.open_interest).all()
    for unknown in (data.funding, data.open_interest):
        assert unknown.strides == (0, 0) and not unknown.flags.writeable
