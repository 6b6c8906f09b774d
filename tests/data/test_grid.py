"""``coinfactor.data.Grid``: the one long <-> wide boundary.

References: a plain-Python dict lookup of every (ts, symbol) cell, polars' ``pivot`` /
``unpivot``, ``infer_freq`` followed by the general (unsorted) path, and truncation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from coinfactor import signals
from coinfactor.data import TS_DTYPE, Grid, infer_freq, regularize, shared_grid, validate_panel
from coinfactor.errors import DataError

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _panel(paths: dict[str, list[float | None]], step: timedelta = timedelta(hours=1)
           ) -> pl.DataFrame:
    rows = [(T0 + i * step, sym, c) for sym, path in paths.items()
            for i, c in enumerate(path) if c is not None]
    return validate_panel(pl.DataFrame(
        {"ts": [r[0] for r in rows], "symbol": [r[1] for r in rows],
         "open": [r[2] for r in rows], "high": [r[2] for r in rows],
         "low": [r[2] for r in rows], "close": [r[2] for r in rows], "volume": 1.0},
        schema_overrides={"ts": TS_DTYPE}))


@pytest.fixture
def small() -> pl.DataFrame:
    """Three symbols, hourly: a gap in B, C listed late, an hour missing for every symbol."""
    return _panel({"A": [100.0, 101.0, 102.0, None, 103.0, 104.0],
                   "B": [10.0, 10.5, None, None, 10.4, 10.1],
                   "C": [None, None, 5.0, None, 5.25, 5.5]})


def _lookup(frame: pl.DataFrame, column: str) -> dict[tuple[datetime, str], float]:
    return {(t, s): v for t, s, v in frame.select("ts", "symbol", column).iter_rows()}


def test_axes_are_regular_and_hold_an_hour_missing_everywhere(small: pl.DataFrame) -> None:
    grid = Grid.from_panel(small)
    assert grid.freq == "1h" and grid.shape == (6, 3) and grid.symbols == ("A", "B", "C")
    assert grid.ts.to_list() == [T0 + timedelta(hours=h) for h in range(6)]
    assert not grid.bars[3].any()  # the bar missing for every symbol is still a row


def test_wide_equals_a_cell_by_cell_lookup(small: pl.DataFrame) -> None:
    """Reference: a dict lookup of every (ts, symbol); NaN where the panel has no row."""
    grid = Grid.from_panel(small)
    wide = grid.wide(small, "close")
    ref = _lookup(small, "close")
    for i, t in enumerate(grid.ts.to_list()):
        for j, s in enumerate(grid.symbols):
            assert (wide[i, j] == ref[(t, s)]) if (t, s) in ref else np.isnan(wide[i, j])
    np.testing.assert_array_equal(grid.bars, ~np.isnan(wide))


def test_wide_equals_polars_pivot(small: pl.DataFrame) -> None:
    """Reference: polars pivot on the regular axis (a join of the axis and the pivot)."""
    grid = Grid.from_panel(small)
    pivot = (pl.DataFrame({"ts": grid.ts}).join(
        small.pivot(on="symbol", index="ts", values="close"), on="ts", how="left")
        .select(grid.symbols).to_numpy())
    np.testing.assert_array_equal(grid.wide(small, "close"), pivot)


def test_long_round_trip_and_where_orders(small: pl.DataFrame) -> None:
    grid = Grid.from_panel(small)
    back = grid.long({"close": grid.wide(small, "close")})
    assert back.equals(small.select("ts", "symbol", "close"))  # exactly the panel's rows
    wide = grid.wide(small, "close")
    by_symbol = grid.long({"close": wide}, where=grid.bars)
    assert by_symbol.equals(small.select("ts", "symbol", "close"))
    by_ts = grid.long({"close": wide}, where=grid.bars, order="ts")
    assert by_ts.equals(small.select("ts", "symbol", "close").sort("ts", "symbol"))
    unpivot = (pl.DataFrame({"ts": grid.ts, **{s: wide[:, j] for j, s in
                                               enumerate(grid.symbols)}})
               .unpivot(index="ts", variable_name="symbol", value_name="close")
               .filter(pl.col("close").is_not_nan()).sort("symbol", "ts"))
    assert by_symbol.equals(unpivot.select("ts", "symbol", "close"))
    flags = grid.long({"bar": grid.bars, "n": grid.bars.astype(np.int32)}, where=grid.bars)
    assert flags.schema["bar"] == pl.Boolean and flags.schema["n"] == pl.Int32


def test_long_writes_non_finite_as_null(small: pl.DataFrame) -> None:
    grid = Grid.from_panel(small)
    values = np.full(grid.shape, np.inf)
    assert grid.long({"x": values}).get_column("x").null_count() == small.height


def test_filled_bars_never_pass_as_values(small: pl.DataFrame) -> None:
    filled = regularize(small)
    grid = Grid.from_panel(filled)
    close = grid.wide(filled, "close")
    assert np.isnan(close[2, 1]) and grid.filled_bars[2, 1] and not grid.bars[2, 1]
    assert grid.wide(filled, "close", mask_filled=False)[2, 1] == 10.5


def test_bad_input_is_named(small: pl.DataFrame) -> None:
    grid = Grid.from_panel(small)
    with pytest.raises(DataError, match="expected column 'nope'"):
        grid.wide(small, "nope")
    with pytest.raises(DataError, match="expected the grid's panel"):
        grid.wide(small.head(3), "close")
    with pytest.raises(DataError, match=r"expected the grid's \(6, 3\)"):
        grid.long({"x": np.zeros((2, 2))})
    off = small.with_columns(
        pl.when(pl.col("symbol") == "B").then(pl.col("ts") + timedelta(minutes=30))
        .otherwise(pl.col("ts")).alias("ts")).sort("symbol", "ts")
    with pytest.raises(DataError, match="off it"):
        Grid.from_panel(off, "1h")
    single = small.group_by("symbol", maintain_order=True).head(1).with_columns(
        pl.Series("ts", [T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2)]))
    with pytest.raises(DataError, match="no symbol has two bars"):
        Grid.from_panel(single)


@pytest.mark.parametrize("hours", [
    {"A": [0, 1, 2, 3, 5, 6, 9], "B": [2, 3, 4, 8]},  # gaps, staggered listing
    {"A": [0, 2, 4, 6], "B": [2, 4, 8]},  # 2h is the most common step
    {"A": [0, 1, 3, 5], "B": [10, 11]},  # a tie of 1h and 2h: the smallest wins
    {"B": [0, 1, 2], "A": [0, 1]},  # symbols not sorted: the general path
    {"A": [0, 1, 2], "B": [2, 3, 4], "C": [7]},  # a one-bar symbol
], ids=["gaps", "two-hour-mode", "tie", "unsorted", "one-bar-symbol"])
def test_sorted_path_equals_infer_freq_then_the_general_path(hours: dict[str, list[int]]) -> None:
    """Reference: ``infer_freq`` and the grid of the same rows sorted by time (general path)."""
    rows = [(T0 + timedelta(hours=h), s) for s, hs in hours.items() for h in hs]
    panel = pl.DataFrame({"ts": [r[0] for r in rows], "symbol": [r[1] for r in rows]},
                         schema={"ts": TS_DTYPE, "symbol": pl.String})
    grid = Grid.from_panel(panel)
    assert grid.freq == infer_freq(panel)
    ref = Grid.from_panel(panel.sort("ts"), grid.freq)
    order = panel.with_row_index("i").sort("ts").get_column("i").to_numpy()
    assert grid.ts.equals(ref.ts) and grid.symbols == ref.symbols
    np.testing.assert_array_equal(grid.rows[order], ref.rows)
    np.testing.assert_array_equal(grid.cols[order], ref.cols)


def test_chosen_axes_and_truncation(small: pl.DataFrame) -> None:
    """A panel cut at T on a grid ending at T equals the whole panel's grid up to T."""
    cut = T0 + timedelta(hours=3)
    whole = Grid.from_panel(small)
    part = Grid.from_panel(small.filter(pl.col("ts") <= cut), end=cut)
    assert part.ts.equals(whole.ts.head(4))
    np.testing.assert_array_equal(part.wide(small.filter(pl.col("ts") <= cut), "close"),
                                  whole.wide(small, "close")[:4])
    longer = Grid.from_panel(small, end=T0 + timedelta(hours=8, minutes=30))
    assert longer.shape == (9, 3)
    sub = Grid.from_panel(small, symbols=("C", "A"))
    np.testing.assert_array_equal(sub.wide(small, "close"),
                                  whole.wide(small, "close")[:, [2, 0]])
    assert (sub.cols[small.get_column("symbol").to_numpy() == "B"] == -1).all()
    tail = whole.slice(2)
    assert tail.ts.equals(whole.ts.slice(2)) and tail.symbols == whole.symbols


def test_locate_scatter_and_duplicates(small: pl.DataFrame) -> None:
    """Reference: positions found with list.index on the axes."""
    grid = Grid.from_panel(small)
    frame = pl.DataFrame({
        "ts": [T0 + timedelta(hours=h) for h in (5, 0, 7)] + [T0 + timedelta(minutes=30)],
        "symbol": ["A", "C", "A", "B"], "w": [1.0, 2.0, 3.0, 4.0]},
        schema_overrides={"ts": TS_DTYPE})
    i, j, ok = grid.locate(frame)
    np.testing.assert_array_equal(ok, [True, True, False, False])
    axis = grid.ts.to_list()
    assert (i[0], j[0]) == (axis.index(T0 + timedelta(hours=5)), 0)
    assert (i[1], j[1]) == (0, 2)
    dense = grid.scatter(frame, "w")
    assert dense[5, 0] == 1.0 and dense[0, 2] == 2.0 and np.isnan(dense).sum() == 16
    assert not grid.has_duplicates(i[ok], j[ok])
    assert grid.has_duplicates(np.array([1, 1]), np.array([2, 2]))
    assert grid.row_at(T0 + timedelta(hours=2, minutes=10)) == 2
    assert grid.column("B") == 1
    with pytest.raises(DataError, match="'ZZ' is not in the panel"):
        grid.column("ZZ")


def test_shared_grid_is_reused_for_that_frame_only(small: pl.DataFrame) -> None:
    other = small.clone()
    plain = signals.compute("rolling_return", small, window=2)
    with shared_grid(small) as grid:
        assert Grid.from_panel(small) is grid
        assert Grid.from_panel(other) is not grid
        assert Grid.from_panel(small, symbols=("A",)) is not grid
        assert signals.compute("rolling_return", small, window=2).equals(plain)


def test_subset_equals_building_on_those_symbols(small: pl.DataFrame) -> None:
    """Reference: Grid.from_panel with the same symbol axis (reads the panel again)."""
    whole = Grid.from_panel(small)
    for symbols in (("C", "A"), ("B",), ("A", "ZZ")):
        sub, ref = whole.subset(symbols), Grid.from_panel(small, symbols=symbols)
        assert sub.symbols == ref.symbols and sub.ts.equals(ref.ts)
        np.testing.assert_array_equal(sub.cols, ref.cols)
        np.testing.assert_array_equal(sub.rows[sub.cols >= 0], ref.rows[ref.cols >= 0])
        np.testing.assert_array_equal(sub.wide(small, "close"), ref.wide(small, "close"))
        np.testing.assert_array_equal(sub.bars, ref.bars)
    twice = whole.subset(("A", "B")).subset(("B", "C"))  # C was already off: stays off
    assert (twice.cols[small.get_column("symbol").to_numpy() == "C"] == -1).all()


def test_row_and_column_index_are_int32_and_cells_do_not_overflow() -> None:
    """Rows and columns are held as int32 (half the memory of int64); the flat cell index is
    int64, so a grid of more than 2**31 cells places its last cell right (hand computation:
    row * n_symbols + col)."""
    panel = pl.DataFrame({"ts": [datetime(2024, 1, 1, h, tzinfo=UTC) for h in (0, 2)],
                          "symbol": "A", "close": [1.0, 2.0]})
    grid = Grid.from_panel(panel, "1h")
    assert grid.rows.dtype == np.int32 and grid.cols.dtype == np.int32
    assert grid.subset(["A", "B"]).cols.dtype == np.int32
    assert grid.slice(1).rows.dtype == np.int32
    n_bars, n_symbols = 3_000_000, 1_000
    axis = pl.Series("ts", np.arange(n_bars, dtype=np.int64))
    big = Grid(axis, "1h", tuple(f"S{k}" for k in range(n_symbols)),
               np.array([n_bars - 1], dtype=np.int32), np.array([n_symbols - 1], dtype=np.int32),
               None)
    assert big.cells.dtype == np.int64
    assert int(big.cells[0]) == (n_bars - 1) * n_symbols + n_symbols - 1 > 2**31
