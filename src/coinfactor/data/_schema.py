"""The canonical bar panel: schema and validation.

A panel is a long polars DataFrame, one row per (symbol, ts), sorted by (symbol, ts), with the
columns of :data:`PANEL_SCHEMA` (DESIGN.md). It is validated once at the boundary (reader,
source, dataset loader) by :func:`validate_panel` and trusted afterwards. The rules over its
rows (order, values, frequency) are in :mod:`coinfactor.data._checks`.
"""

from __future__ import annotations

from typing import Any, Literal

import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.data._checks import NUMERIC_COLUMNS as NUMERIC_COLUMNS
from coinfactor.data._checks import PRICE_COLUMNS as PRICE_COLUMNS
from coinfactor.data._checks import (
    SHOW_ROWS,
    check_declared,
    check_frequency,
    check_nulls,
    check_order,
    check_rows,
)
from coinfactor.data._checks import infer_freq as infer_freq
from coinfactor.data._checks import mode_step as mode_step

TS_DTYPE = pl.Datetime("us", "UTC")
"""dtype of every `ts` column: microseconds, UTC."""

PANEL_SCHEMA: dict[str, pl.DataType] = {
    "ts": TS_DTYPE,
    "symbol": pl.String(),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Float64(),
    "quote_volume": pl.Float64(),
    "trades": pl.Int64(),
    "funding_rate": pl.Float64(),
    "open_interest": pl.Float64(),
}
"""Column name -> dtype of the canonical panel, in canonical order."""

REQUIRED_COLUMNS: tuple[str, ...] = ("ts", "symbol", "open", "high", "low", "close", "volume")
OPTIONAL_COLUMNS: tuple[str, ...] = ("quote_volume", "trades", "funding_rate", "open_interest")
FILLED_COLUMN = "filled"
"""Boolean flag set on bars added by :func:`coinfactor.data.regularize`; never a price."""
def _coerce_ts(df: pl.DataFrame) -> pl.DataFrame:
    dtype = df.schema["ts"]
    if dtype == pl.String:
        try:
            parsed = df["ts"].str.to_datetime(time_unit="us", time_zone="UTC", strict=True)
        except Exception as exc:  # polars raises several error types for unparsable strings
            raise DataError(
                "column 'ts': expected ISO-8601 timestamps, could not parse the strings",
                column="ts",
                rows=df.select("ts").head(SHOW_ROWS),
                fix="pass timestamps as 'YYYY-MM-DD HH:MM:SS[+00:00]' strings, "
                "epoch milliseconds or tz-aware datetimes",
            ) from exc
        return df.with_columns(parsed.alias("ts"))
    if dtype.is_integer():
        # epoch integers: the magnitude tells the unit (seconds < 1e11 <= ms < 1e14 <= us < 1e17)
        sample = df["ts"].drop_nulls()
        biggest = int(sample.abs().max()) if sample.len() else 0  # type: ignore[arg-type]
        unit: Literal["s", "ms", "us", "ns"] = (
            "s" if biggest < 10**11 else "ms" if biggest < 10**14
            else "us" if biggest < 10**17 else "ns"
        )
        expr = pl.from_epoch(pl.col("ts"), time_unit=unit)
        return df.with_columns(
            expr.dt.cast_time_unit("us").dt.replace_time_zone("UTC").alias("ts")
        )
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            raise DataError(
                "column 'ts': expected tz-aware UTC timestamps, got naive datetimes "
                f"({dtype}); a naive time is ambiguous",
                column="ts",
                rows=df.select("ts").head(SHOW_ROWS),
                fix="if the times are UTC, use df.with_columns(pl.col('ts')"
                ".dt.replace_time_zone('UTC')); otherwise replace_time_zone(<their zone>) "
                "then convert_time_zone('UTC')",
            )
        if dtype.time_zone != "UTC":
            raise DataError(
                f"column 'ts': expected UTC timestamps, got time zone {dtype.time_zone!r}",
                column="ts",
                rows=df.select("ts").head(SHOW_ROWS),
                fix="convert first: df.with_columns(pl.col('ts').dt.convert_time_zone('UTC'))",
            )
        return df.with_columns(pl.col("ts").dt.cast_time_unit("us"))
    if dtype == pl.Date:
        return df.with_columns(
            pl.col("ts").cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias("ts")
        )
    raise DataError(
        f"column 'ts': expected Datetime('us', 'UTC') (or epoch integers / ISO strings), "
        f"got dtype {dtype}",
        column="ts",
        fix="convert the bar open times to tz-aware UTC datetimes",
    )


def _coerce_numeric(df: pl.DataFrame, name: str, target: pl.DataType) -> pl.DataFrame:
    dtype = df.schema[name]
    if dtype == target:
        return df
    if dtype == pl.Null or (dtype == pl.String and df[name].null_count() == df.height):
        # no values at all (a CSV column left empty reads as String): a null column
        return df.with_columns(pl.col(name).cast(target))
    if not dtype.is_numeric() and dtype != pl.Boolean:
        raise DataError(
            f"column {name!r}: expected {target}, got dtype {dtype}",
            column=name,
            rows=df.select(name).head(SHOW_ROWS),
            fix=f"parse {name!r} to numbers before validating "
            f"(e.g. pl.col({name!r}).cast(pl.{target}))",
        )
    if target == pl.Int64 and dtype.is_float():
        frac = df.filter(pl.col(name).is_not_null() & (pl.col(name) != pl.col(name).round(0)))
        if frac.height:
            raise DataError(
                f"column {name!r}: expected whole numbers (Int64), got fractional values",
                column=name,
                rows=frac.select(name).head(SHOW_ROWS),
                fix=f"check that {name!r} is a count",
            )
    return df.with_columns(pl.col(name).cast(target))


def _coerce(df: Any) -> pl.DataFrame:
    if isinstance(df, pl.LazyFrame):
        df = df.collect()
    if not isinstance(df, pl.DataFrame):
        module = type(df).__module__
        if module.startswith("pandas"):
            df = pl.from_pandas(df.reset_index() if _has_named_index(df) else df)
        else:
            raise DataError(
                f"expected a polars or pandas DataFrame, got {type(df).__name__}",
                fix="build a DataFrame with the canonical columns first",
            )
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(
            f"missing required column(s) {missing}; expected {list(REQUIRED_COLUMNS)}, "
            f"got {df.columns}",
            column=missing[0],
            fix="rename your columns (e.g. df.rename({'date': 'ts', 'coin': 'symbol'})) or read "
            "the file with coinfactor.data.read_bars, which maps common names",
        )
    df = _coerce_symbol(_coerce_ts(df))
    for name, target in PANEL_SCHEMA.items():
        if name in ("ts", "symbol"):
            continue
        if name not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=target).alias(name))
        else:
            df = _coerce_numeric(df, name, target)
    if FILLED_COLUMN in df.columns and df.schema[FILLED_COLUMN] != pl.Boolean:
        raise DataError(
            f"column 'filled': expected Boolean, got {df.schema[FILLED_COLUMN]}",
            column=FILLED_COLUMN,
            fix="'filled' is reserved for bars added by coinfactor.data.regularize",
        )
    extras = [c for c in df.columns if c not in PANEL_SCHEMA]
    return df.select([*PANEL_SCHEMA, *extras])


def _coerce_symbol(df: pl.DataFrame) -> pl.DataFrame:
    if df.schema["symbol"] != pl.String:
        if df.schema["symbol"] in (pl.Categorical, pl.Enum) or isinstance(
            df.schema["symbol"], pl.Categorical | pl.Enum
        ):
            return df.with_columns(pl.col("symbol").cast(pl.String))
        raise DataError(
            f"column 'symbol': expected String, got dtype {df.schema['symbol']}",
            column="symbol",
            fix="cast the instrument ids to strings",
        )
    return df


def _has_named_index(pdf: Any) -> bool:
    names = [n for n in getattr(pdf.index, "names", []) if n is not None]
    return bool(names)


def validate_panel(df: Any, *, freq: str | None = None) -> pl.DataFrame:
    """Validate and coerce a bar panel into the canonical schema.

    Parameters
    ----------
    df : pl.DataFrame, pl.LazyFrame or pandas.DataFrame
        Long bars with at least ``ts, symbol, open, high, low, close, volume``. Coercible input
        is converted: epoch integers (unit from magnitude), ISO strings (naive strings are read
        as UTC), ``Date`` columns, integer prices, categorical symbols, pandas frames.
    freq : str, optional
        Expected bar frequency; inferred (modal step) when omitted.

    Returns
    -------
    pl.DataFrame
        The panel with the columns of :data:`PANEL_SCHEMA` in order (missing optional columns
        added as null), then any extra columns unchanged.

    Raises
    ------
    DataError
        On a missing required column, a wrong dtype, naive or non-UTC datetimes, null
        ``ts``/``symbol``, duplicate (symbol, ts), unsorted rows, NaN or non-positive prices,
        ``high < low`` or open/close outside [low, high], negative or NaN volume, negative
        optional quantities, +inf or -inf in any numeric column (prices, volumes, funding,
        open interest), or mixed bar frequency. The message names the column, the first
        offending rows and the fix.

    Examples
    --------
    >>> import polars as pl
    >>> raw = pl.DataFrame({"ts": [1704067200000, 1704070800000], "symbol": ["BTC", "BTC"],
    ...     "open": [1.0, 2.0], "high": [2.0, 2.0], "low": [1.0, 1.5], "close": [2.0, 1.5],
    ...     "volume": [10.0, 5.0]})
    >>> validate_panel(raw)["ts"].dtype
    Datetime(time_unit='us', time_zone='UTC')
    """
    out = _coerce(df)
    check_nulls(out)
    check_rows(out, freq)
    return out


def validate_keys(keys: pl.DataFrame, *, freq: str | None = None) -> pl.DataFrame:
    """Check the ``symbol, ts`` keys of a panel: the rules that span rows and symbols.

    The part of :func:`validate_panel` that cannot be checked piece by piece (one row per
    (symbol, ts), one bar frequency for every symbol); the row rules (prices, volumes, ...)
    can then be checked on any split of the panel by symbols, at ``freq``.

    Parameters
    ----------
    keys : pl.DataFrame
        ``symbol`` and ``ts`` columns of a panel, in any order (coerced as by
        :func:`validate_panel`).
    freq : str, optional
        Expected bar frequency; inferred when omitted.

    Returns
    -------
    pl.DataFrame
        ``symbol, ts`` coerced and sorted by (symbol, ts).

    Raises
    ------
    DataError
        As :func:`validate_panel` for null, duplicated or off-grid keys and mixed frequency;
        and when a declared ``freq`` is not the data's (``4h`` bars declared ``1h`` would be
        sparse 1h bars, ``1h`` bars declared ``4h`` overlapping ones).
    """
    missing = [c for c in ("symbol", "ts") if c not in keys.columns]
    if missing:
        raise DataError(
            f"missing required column(s) {missing}; expected {list(REQUIRED_COLUMNS)}, "
            f"got {keys.columns}",
            column=missing[0],
            fix="rename your columns (e.g. df.rename({'date': 'ts', 'coin': 'symbol'}))",
        )
    out = _coerce_symbol(_coerce_ts(keys.select("symbol", "ts")))
    check_nulls(out)
    out = out.sort("symbol", "ts")
    check_order(out)
    if freq is not None:
        check_declared(out, freq)
    check_frequency(out, freq)
    return out


