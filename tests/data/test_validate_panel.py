"""validate_panel: one test per rejection (asserting its message) and each coercion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from coinfactor.data import PANEL_SCHEMA, infer_freq, validate_panel
from coinfactor.errors import DataError

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def raw(n: int = 4, symbols: tuple[str, ...] = ("A", "B"), step: timedelta = timedelta(hours=1),
        ) -> pl.DataFrame:
    rows = []
    for s in symbols:
        for i in range(n):
            rows.append({"ts": T0 + i * step, "symbol": s, "open": 10.0 + i, "high": 12.0 + i,
                         "low": 9.0 + i, "close": 11.0 + i, "volume": 5.0})
    return pl.DataFrame(rows)


def test_valid_panel_gets_canonical_schema() -> None:
    out = validate_panel(raw())
    assert dict(out.schema) == PANEL_SCHEMA
    assert out["quote_volume"].is_null().all()
    assert out.height == 8


def test_extra_columns_kept_after_canonical_ones() -> None:
    out = validate_panel(raw().with_columns(pl.lit(1).alias("note")))
    assert out.columns == [*PANEL_SCHEMA, "note"]


def test_missing_required_column() -> None:
    with pytest.raises(DataError, match=r"missing required column\(s\) \['close'\]") as e:
        validate_panel(raw().drop("close"))
    assert e.value.column == "close"
    assert "rename" in str(e.value)


def test_wrong_dtype() -> None:
    bad = raw().with_columns(pl.col("close").cast(pl.String))
    with pytest.raises(DataError, match=r"column 'close': expected Float64, got dtype String"):
        validate_panel(bad)


def test_naive_ts_rejected() -> None:
    bad = raw().with_columns(pl.col("ts").dt.replace_time_zone(None))
    with pytest.raises(DataError, match="expected tz-aware UTC timestamps, got naive") as e:
        validate_panel(bad)
    assert "replace_time_zone('UTC')" in str(e.value)


def test_non_utc_ts_rejected() -> None:
    bad = raw().with_columns(pl.col("ts").dt.convert_time_zone("Europe/Paris"))
    with pytest.raises(DataError, match="expected UTC timestamps, got time zone 'Europe/Paris'"):
        validate_panel(bad)


def test_duplicate_rows() -> None:
    df = raw()
    bad = pl.concat([df, df.slice(1, 1)]).sort("symbol", "ts")
    with pytest.raises(DataError, match=r"one row per \(symbol, ts\), found 2 duplicated") as e:
        validate_panel(bad)
    assert "unique" in str(e.value)


def test_unsorted_rows() -> None:
    bad = raw().sort("ts", "symbol")
    with pytest.raises(DataError, match=r"sorted by \(symbol, ts\), found \d+ row\(s\) out of"):
        validate_panel(bad)


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), None])
def test_bad_price(value: float | None) -> None:
    bad = raw().with_columns(
        pl.when(pl.int_range(pl.len()) == 2).then(value).otherwise(pl.col("open")).alias("open")
    )
    with pytest.raises(DataError, match=r"column 'open': expected prices > 0 and not NaN/null, "
                                        r"found 1 bad row") as e:
        validate_panel(bad)
    assert e.value.rows["row"].to_list() == [2]


def test_high_below_low() -> None:
    bad = raw().with_columns(pl.col("high").alias("low"), pl.col("low").alias("high"))
    with pytest.raises(DataError, match="expected high >= low, found 8 bar"):
        validate_panel(bad)


def test_close_outside_range() -> None:
    bad = raw().with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(100.0).otherwise(pl.col("close")).alias("close")
    )
    with pytest.raises(DataError, match="column 'close': expected low <= close <= high"):
        validate_panel(bad)


def test_open_outside_range() -> None:
    bad = raw().with_columns(pl.lit(1.0).alias("open"))
    with pytest.raises(DataError, match="column 'open': expected low <= open <= high"):
        validate_panel(bad)


def test_negative_volume() -> None:
    bad = raw().with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(-1.0).otherwise(pl.col("volume"))
        .alias("volume")
    )
    with pytest.raises(DataError, match=r"column 'volume': expected base volume >= 0"):
        validate_panel(bad)


def test_negative_quote_volume() -> None:
    bad = raw().with_columns(pl.lit(-5.0).alias("quote_volume"))
    with pytest.raises(DataError, match=r"column 'quote_volume': expected values >= 0"):
        validate_panel(bad)


def test_nan_funding_rejected_null_allowed() -> None:
    ok = validate_panel(raw().with_columns(pl.lit(None, pl.Float64).alias("funding_rate")))
    assert ok["funding_rate"].is_null().all()
    with pytest.raises(DataError, match="column 'funding_rate': expected a rate or null"):
        validate_panel(raw().with_columns(pl.lit(float("nan")).alias("funding_rate")))


def test_mixed_frequency_across_symbols() -> None:
    bad = pl.concat([raw(symbols=("A",)), raw(symbols=("B",), step=timedelta(minutes=5))])
    with pytest.raises(DataError, match=r"expected one bar frequency \(\dh|\dm\) for every symbol"):
        validate_panel(bad)


def test_mixed_frequency_within_symbol() -> None:
    df = raw(n=6, symbols=("A",))
    bad = df.with_columns(
        pl.when(pl.int_range(pl.len()) == 5)
        .then(pl.col("ts") - timedelta(minutes=30)).otherwise(pl.col("ts")).alias("ts")
    )
    with pytest.raises(DataError, match="mixed bar frequency: expected steps that are whole "
                                        "multiples of 1h"):
        validate_panel(bad)


def test_gaps_are_allowed() -> None:
    df = raw(n=6).filter(pl.int_range(pl.len()).over("symbol") != 2)
    assert validate_panel(df).height == 10


def test_explicit_freq_mismatch() -> None:
    with pytest.raises(DataError, match=r"expected one bar frequency \(4h\)"):
        validate_panel(raw(), freq="4h")


def test_null_symbol() -> None:
    bad = raw().with_columns(pl.when(pl.int_range(pl.len()) == 0).then(None)
                             .otherwise(pl.col("symbol")).alias("symbol"))
    with pytest.raises(DataError, match="column 'symbol': expected no missing values"):
        validate_panel(bad)


def test_not_a_frame() -> None:
    with pytest.raises(DataError, match="expected a polars or pandas DataFrame, got dict"):
        validate_panel({"ts": [1]})


def test_fractional_trades_rejected() -> None:
    with pytest.raises(DataError, match="column 'trades': expected whole numbers"):
        validate_panel(raw().with_columns(pl.lit(1.5).alias("trades")))


# --- coercions ---------------------------------------------------------------------------

def test_epoch_ms_coerced() -> None:
    df = raw().with_columns(pl.col("ts").dt.epoch("ms"))
    out = validate_panel(df)
    assert out["ts"].dtype == pl.Datetime("us", "UTC")
    assert out["ts"][0] == T0


@pytest.mark.parametrize("unit", ["s", "us"])
def test_epoch_other_units_coerced(unit: str) -> None:
    out = validate_panel(raw().with_columns(pl.col("ts").dt.epoch(unit)))  # type: ignore[arg-type]
    assert out["ts"][1] == T0 + timedelta(hours=1)


def test_string_ts_coerced() -> None:
    df = raw().with_columns(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%z"))
    assert validate_panel(df)["ts"].equals(validate_panel(raw())["ts"])


def test_unparsable_string_ts() -> None:
    with pytest.raises(DataError, match="expected ISO-8601 timestamps"):
        validate_panel(raw().with_columns(pl.lit("yesterday").alias("ts")))


def test_pandas_frame_coerced() -> None:
    pdf = raw().to_pandas()
    out = validate_panel(pdf)
    assert out.equals(validate_panel(raw()))


def test_integer_prices_and_ms_ts_coerced() -> None:
    df = raw().with_columns(pl.col("open", "high", "low", "close").cast(pl.Int64))
    assert validate_panel(df)["close"].dtype == pl.Float64


def test_infer_freq_modal_step() -> None:
    df = raw(n=6).filter(pl.int_range(pl.len()).over("symbol") != 2)
    assert infer_freq(validate_panel(df)) == "1h"
    assert infer_freq(validate_panel(raw(step=timedelta(days=1)))) == "1d"


def test_validation_is_fast_enough_for_real_data() -> None:
    """Smoke: 200k rows validate (no quadratic behaviour); correctness is checked above."""
    n = 100_000
    ts = pl.datetime_range(T0, T0 + timedelta(hours=n - 1), "1h", eager=True)
    close = np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, n))) * 100
    one = pl.DataFrame({"ts": ts, "open": close, "high": close * 1.01, "low": close * 0.99,
                        "close": close, "volume": 1.0})
    df = pl.concat([one.with_columns(pl.lit(s).alias("symbol")) for s in ("A", "B")])
    assert validate_panel(df.sort("symbol", "ts")).height == 2 * n


def test_declared_freq_accepts_sparse_symbol() -> None:
    """A symbol mostly 2h apart on a declared 1h panel has gaps, not another frequency."""
    sparse = raw(n=4, symbols=("B",), step=timedelta(hours=2))
    df = pl.concat([raw(n=8, symbols=("A",)), sparse])
    assert validate_panel(df, freq="1h").height == 12
    with pytest.raises(DataError, match="expected one bar frequency"):
        validate_panel(df)  # undeclared: B's usual step differs -> mixed frequency
    with pytest.raises(DataError, match=r"expected one bar frequency \(4h\)"):
        validate_panel(df, freq="4h")  # steps shorter than the declared bar
