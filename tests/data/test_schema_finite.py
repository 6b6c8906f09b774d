"""validate_panel: numbers are finite, and the slice-wise row checks equal whole-frame checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from coinfactor.data import _checks, infer_freq, validate_panel
from coinfactor.errors import DataError

T0 = datetime(2024, 1, 1, tzinfo=UTC)
INF = float("inf")


def raw(n: int = 4, symbols: tuple[str, ...] = ("A", "B")) -> pl.DataFrame:
    rows = []
    for s in symbols:
        for i in range(n):
            rows.append({"ts": T0 + timedelta(hours=i), "symbol": s, "open": 10.0 + i,
                         "high": 12.0 + i, "low": 9.0 + i, "close": 11.0 + i, "volume": 5.0,
                         "quote_volume": 50.0, "trades": 3, "funding_rate": 1e-4,
                         "open_interest": 1e6})
    return pl.DataFrame(rows)


def _set(df: pl.DataFrame, row: int, **values: float) -> pl.DataFrame:
    at = pl.int_range(pl.len()) == row
    return df.with_columns(
        pl.when(at).then(pl.lit(v)).otherwise(pl.col(c)).alias(c) for c, v in values.items()
    )


# each case makes one row infinite while keeping every other rule (high >= close, ...) true
CASES = {
    "high+inf": {"high": INF},
    "open+inf": {"open": INF, "high": INF},
    "close+inf": {"close": INF, "high": INF},
    "low-inf": {"low": -INF},
    "volume+inf": {"volume": INF},
    "quote_volume+inf": {"quote_volume": INF},
    "open_interest+inf": {"open_interest": INF},
    "funding+inf": {"funding_rate": INF},
    "funding-inf": {"funding_rate": -INF},
}


@pytest.mark.parametrize("values", list(CASES.values()), ids=list(CASES))
def test_infinite_values_are_rejected_with_the_rows_named(values: dict[str, float]) -> None:
    bad = _set(raw(), 5, **values)
    with pytest.raises(DataError, match=r"expected finite numbers, found 1 row\(s\) with "
                                        r"\+inf/-inf") as e:
        validate_panel(bad)
    assert e.value.column in values
    assert e.value.rows["row"].to_list() == [5]
    assert e.value.rows["symbol"].to_list() == ["B"]
    assert "null" in str(e.value)  # the fix


def test_all_infinite_rows_are_counted_and_the_first_shown() -> None:
    bad = _set(_set(raw(n=6), 1, volume=INF), 9, volume=INF)
    with pytest.raises(DataError, match=r"column 'volume': expected finite numbers, found 2 "):
        validate_panel(bad)


def test_finite_extremes_and_nulls_pass() -> None:
    ok = _set(raw(), 2, volume=1e300, quote_volume=0.0, funding_rate=-0.75)
    ok = ok.with_columns(pl.lit(None, pl.Float64).alias("open_interest"))
    assert validate_panel(ok).height == 8


@pytest.fixture
def tiny_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices of 3 rows, so every rule is checked across slice boundaries."""
    monkeypatch.setattr(_checks, "_SLICE_ROWS", 3)


@pytest.mark.usefixtures("tiny_slices")
def test_duplicates_across_a_slice_boundary_are_found() -> None:
    df = raw(n=5, symbols=("A",))
    bad = pl.concat([df.slice(0, 3), df.slice(2, 3)])  # row 2 == row 3, across slices 0 and 1
    with pytest.raises(DataError, match=r"found 2 duplicated row\(s\)") as e:
        validate_panel(bad)
    assert e.value.rows["row"].to_list() == [2, 3]


@pytest.mark.usefixtures("tiny_slices")
def test_unsorted_rows_across_a_slice_boundary_are_found() -> None:
    df = raw(n=6, symbols=("A",))
    bad = pl.concat([df.slice(0, 2), df.slice(3, 1), df.slice(2, 1), df.slice(4, 2)])
    # hours 0, 1, 3 | 2, 4, 5: row 3 (hour 2) goes back, across slices 0 and 1
    with pytest.raises(DataError, match=r"found 1 row\(s\) out of order") as e:
        validate_panel(bad)
    assert e.value.rows["row"].to_list() == [3]


@pytest.mark.usefixtures("tiny_slices")
def test_off_grid_step_across_a_slice_boundary_is_found() -> None:
    df = raw(n=6, symbols=("A",))
    bad = df.with_columns(
        pl.when(pl.int_range(pl.len()) >= 3).then(pl.col("ts") + timedelta(minutes=30))
        .otherwise(pl.col("ts")).alias("ts")
    )
    with pytest.raises(DataError, match=r"mixed bar frequency.*found 1 bar\(s\) off") as e:
        validate_panel(bad, freq="1h")
    assert e.value.rows["row"].to_list() == [3]


@pytest.mark.usefixtures("tiny_slices")
def test_sliced_frequency_inference_equals_the_whole_frame() -> None:
    df = raw(n=7, symbols=("A", "B", "C"))
    gappy = df.filter(~pl.int_range(pl.len()).is_in([2, 9, 10]))
    assert infer_freq(validate_panel(gappy)) == "1h"
    with pytest.raises(DataError, match=r"expected finite numbers, found 1 row"):
        validate_panel(_set(gappy, 14, open_interest=INF))


def test_an_optional_column_without_values_reads_as_null() -> None:
    """A CSV column left empty reads as String; having no values, it is a null column."""
    df = raw().with_columns(pl.lit(None, pl.String).alias("funding_rate"))
    assert validate_panel(df)["funding_rate"].dtype == pl.Float64
    with pytest.raises(DataError, match="column 'funding_rate': expected Float64, got dtype"):
        validate_panel(df.with_columns(pl.lit("x").alias("funding_rate")))


@pytest.mark.parametrize("rate", [float("inf"), float("-inf"), float("nan"), None])
def test_funding_events_without_a_finite_rate_are_refused(rate: float | None) -> None:
    from coinfactor.data import validate_funding_events

    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    events = pl.DataFrame({"symbol": ["A", "A"], "ts": [t0, t0 + timedelta(hours=8)],
                           "funding_rate": [1e-4, rate]},
                          schema={"symbol": pl.String, "ts": pl.Datetime("us", "UTC"),
                                  "funding_rate": pl.Float64})
    with pytest.raises(DataError, match="expected a rate on every event") as err:
        validate_funding_events(events)
    assert "null, NaN or infinite" in str(err.value)
    ok = validate_funding_events(events.head(1))
    assert ok.get_column("funding_rate").to_list() == [1e-4]
