"""The canonical bar panel: schema and validation.

A panel is a long polars DataFrame, one row per (symbol, ts), sorted by (symbol, ts), with the
columns of :data:`PANEL_SCHEMA` (DESIGN.md). It is validated once at the boundary (reader,
source, dataset loader) by :func:`validate_panel` and trusted afterwards.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal, cast

import numpy as np
import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.core.time import freq_to_timedelta, timedelta_to_freq

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
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
FILLED_COLUMN = "filled"
"""Boolean flag set on bars added by :func:`coinfactor.data.regularize`; never a price."""

_SHOW_ROWS = 5


_SLICE_ROWS = 1 << 21
"""Rows per slice of the row checks: a check's temporaries are bounded by a slice (about
2 M rows, tens of MB), not by the panel, so validating a 20 M-row panel stays within a
fraction of its own size."""

NUMERIC_COLUMNS: tuple[str, ...] = (
    "open", "high", "low", "close", "volume", "quote_volume", "funding_rate", "open_interest",
)
"""Float columns of the panel; every value must be finite (or null where nullable)."""


def _first_rows(df: pl.DataFrame, mask: pl.Expr, columns: list[str]) -> tuple[int, pl.DataFrame]:
    """Count the rows where ``mask`` holds; return the count and the first offending rows.

    ``mask`` is evaluated slice by slice with one row of context on each side, so masks that
    look at the previous or next row (``shift(1)``, ``shift(-1)``) see the same neighbours as
    on the whole frame; a null mask value counts as False.
    """
    cols = ["row"] + [c for c in ("symbol", "ts") if c in df.columns and c not in columns]
    total = 0
    shown: list[pl.DataFrame] = []
    n_shown = 0
    height = df.height
    for start in range(0, height, _SLICE_ROWS):
        length = min(_SLICE_ROWS, height - start)
        lo, hi = max(start - 1, 0), min(start + length + 1, height)
        sub = df.slice(lo, hi - lo)
        hit = sub.select(mask.fill_null(False).alias("m")).get_column("m")
        hit = hit.slice(start - lo, length)
        n = int(hit.sum())
        if not n:
            continue
        total += n
        if n_shown < _SHOW_ROWS:
            part = (sub.slice(start - lo, length).with_row_index("row", offset=start)
                    .filter(hit).select(cols + columns).head(_SHOW_ROWS - n_shown))
            shown.append(part)
            n_shown += part.height
    if not shown:
        return 0, df.head(0).with_row_index("row").select(cols + columns)
    return total, pl.concat(shown)


def _coerce_ts(df: pl.DataFrame) -> pl.DataFrame:
    dtype = df.schema["ts"]
    if dtype == pl.String:
        try:
            parsed = df["ts"].str.to_datetime(time_unit="us", time_zone="UTC", strict=True)
        except Exception as exc:  # polars raises several error types for unparsable strings
            raise DataError(
                "column 'ts': expected ISO-8601 timestamps, could not parse the strings",
                column="ts",
                rows=df.select("ts").head(_SHOW_ROWS),
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
                rows=df.select("ts").head(_SHOW_ROWS),
                fix="if the times are UTC, use df.with_columns(pl.col('ts')"
                ".dt.replace_time_zone('UTC')); otherwise replace_time_zone(<their zone>) "
                "then convert_time_zone('UTC')",
            )
        if dtype.time_zone != "UTC":
            raise DataError(
                f"column 'ts': expected UTC timestamps, got time zone {dtype.time_zone!r}",
                column="ts",
                rows=df.select("ts").head(_SHOW_ROWS),
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
            rows=df.select(name).head(_SHOW_ROWS),
            fix=f"parse {name!r} to numbers before validating "
            f"(e.g. pl.col({name!r}).cast(pl.{target}))",
        )
    if target == pl.Int64 and dtype.is_float():
        frac = df.filter(pl.col(name).is_not_null() & (pl.col(name) != pl.col(name).round(0)))
        if frac.height:
            raise DataError(
                f"column {name!r}: expected whole numbers (Int64), got fractional values",
                column=name,
                rows=frac.select(name).head(_SHOW_ROWS),
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


def _check_nulls(df: pl.DataFrame) -> None:
    for name in ("ts", "symbol"):
        if not df.get_column(name).null_count():
            continue
        n, rows = _first_rows(df, pl.col(name).is_null(), [name])
        raise DataError(
            f"column {name!r}: expected no missing values, found {n} null row(s)",
            column=name,
            rows=rows,
            fix="drop rows without a bar time or symbol",
        )


def _same_symbol() -> pl.Expr:
    """Mark the rows that continue the previous row's symbol (rows sorted by symbol)."""
    return pl.col("symbol") == pl.col("symbol").shift(1)


def _check_order(df: pl.DataFrame) -> None:
    """One row per (symbol, ts), sorted by (symbol, ts).

    On sorted rows a duplicate is the previous row again, so the check needs no hash of the
    keys; the hash is only built to report duplicates of unsorted rows.
    """
    prev_sym = pl.col("symbol").shift(1)
    unsorted = (pl.col("symbol") < prev_sym) | (
        (pl.col("symbol") == prev_sym) & (pl.col("ts") < pl.col("ts").shift(1))
    )
    n_unsorted, unsorted_rows = _first_rows(df, unsorted, ["symbol", "ts"])
    if n_unsorted:
        dup = df.select(pl.struct("symbol", "ts").is_duplicated().alias("d"))["d"]
        n_dup = int(dup.sum())
        dup_rows = (df.with_row_index("row").filter(dup).select("row", "symbol", "ts")
                    .head(_SHOW_ROWS))
    else:
        again = _same_symbol() & (pl.col("ts") == pl.col("ts").shift(1))
        n_dup, dup_rows = _first_rows(df, again | again.shift(-1), ["symbol", "ts"])
    if n_dup:
        raise DataError(
            f"expected one row per (symbol, ts), found {n_dup} duplicated row(s)",
            column="ts",
            rows=dup_rows,
            fix="drop duplicates, e.g. df.unique(['symbol', 'ts'], keep='last', "
            "maintain_order=True), after checking which copy is right",
        )
    if n_unsorted:
        raise DataError(
            f"expected rows sorted by (symbol, ts), found {n_unsorted} row(s) out of order",
            column="ts",
            rows=unsorted_rows,
            fix="sort first: df.sort('symbol', 'ts')",
        )


def _check_finite(df: pl.DataFrame) -> None:
    for name in NUMERIC_COLUMNS:
        n, rows = _first_rows(df, pl.col(name).is_infinite(), [name])
        if n:
            raise DataError(
                f"column {name!r}: expected finite numbers, found {n} row(s) with +inf/-inf",
                column=name,
                rows=rows,
                fix="repair or drop those bars (an overflowed or unparsed venue value?); "
                "use null for an unknown optional value",
            )


def _check_values(df: pl.DataFrame) -> None:
    for name in PRICE_COLUMNS:
        bad = pl.col(name).is_null() | pl.col(name).is_nan() | (pl.col(name) <= 0)
        n, rows = _first_rows(df, bad, [name])
        if n:
            raise DataError(
                f"column {name!r}: expected prices > 0 and not NaN/null, found {n} bad row(s)",
                column=name,
                rows=rows,
                fix="drop or repair those bars; a missing bar should be absent, not NaN "
                "(use coinfactor.data.regularize to add flagged filler bars when needed)",
            )
    n, rows = _first_rows(df, pl.col("high") < pl.col("low"), ["low", "high"])
    if n:
        raise DataError(
            f"columns 'high'/'low': expected high >= low, found {n} bar(s) with high < low",
            column="high",
            rows=rows,
            fix="check the column mapping (high and low swapped?) or drop those bars",
        )
    for name in ("open", "close"):
        outside = (pl.col(name) < pl.col("low")) | (pl.col(name) > pl.col("high"))
        n, rows = _first_rows(df, outside, ["low", name, "high"])
        if n:
            raise DataError(
                f"column {name!r}: expected low <= {name} <= high, found {n} bar(s) outside "
                "the range",
                column=name,
                rows=rows,
                fix="drop or repair those bars (check the column mapping)",
            )
    bad_vol = pl.col("volume").is_null() | pl.col("volume").is_nan() | (pl.col("volume") < 0)
    n, rows = _first_rows(df, bad_vol, ["volume"])
    if n:
        raise DataError(
            f"column 'volume': expected base volume >= 0 and not NaN/null, found {n} bad row(s)",
            column="volume",
            rows=rows,
            fix="drop or repair those bars",
        )
    for name in ("quote_volume", "trades", "open_interest"):
        neg = pl.col(name) < 0
        if name != "trades":
            neg = neg | pl.col(name).is_nan()
        n, rows = _first_rows(df, neg.fill_null(False), [name])
        if n:
            raise DataError(
                f"column {name!r}: expected values >= 0 (or null), found {n} bad row(s)",
                column=name,
                rows=rows,
                fix="set unknown values to null; negative values are errors",
            )
    n, rows = _first_rows(df, pl.col("funding_rate").is_nan().fill_null(False), ["funding_rate"])
    if n:
        raise DataError(
            f"column 'funding_rate': expected a rate or null, found {n} NaN row(s)",
            column="funding_rate",
            rows=rows,
            fix="use null for unknown funding",
        )


def _step_counts(df: pl.DataFrame, by_symbol: bool) -> pl.DataFrame:
    """Count the positive steps between consecutive bars of one symbol.

    Rows are sorted by (symbol, ts). Returns ``[symbol,] step, len`` (``step`` a Duration),
    accumulated slice by slice so that no panel-sized column of steps is built.
    """
    keys = ["symbol", "step"] if by_symbol else ["step"]
    step = pl.col("ts") - pl.col("ts").shift(1)
    parts = []
    height = df.height
    for start in range(0, height, _SLICE_ROWS):
        lo = max(start - 1, 0)
        sub = df.slice(lo, min(start + _SLICE_ROWS, height) - lo).select("symbol", "ts")
        steps = sub.select(
            "symbol", step.alias("step"), (_same_symbol() & (step > timedelta(0))).alias("ok")
        ).filter(pl.col("ok"))
        parts.append(steps.group_by(keys).len())
    schema: dict[str, pl.DataType] = {"symbol": pl.String(), "step": pl.Duration("us"),
                                      "len": pl.UInt32()}
    if not parts:
        return pl.DataFrame(schema={k: schema[k] for k in [*keys, "len"]})
    return pl.concat(parts).group_by(keys).agg(pl.col("len").sum())


def _symbol_steps(df: pl.DataFrame) -> pl.DataFrame:
    """Per symbol: the modal step between consecutive bars (the smallest on a tie)."""
    counts = _step_counts(df, by_symbol=True)
    if counts.height == 0:
        return pl.DataFrame(schema={"symbol": pl.String, "step": pl.Duration("us")})
    return (
        counts.sort(["symbol", "len", "step"], descending=[False, True, False])
        .group_by("symbol", maintain_order=True)
        .first()
        .select("symbol", "step")
    )


def infer_freq(panel: pl.DataFrame) -> str:
    """Infer a panel's bar frequency: the most common step between consecutive bars.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel, sorted by (symbol, ts).

    Returns
    -------
    str
        Frequency string such as ``"1h"``.

    Raises
    ------
    DataError
        If no symbol has two bars, so no step can be seen.
    """
    # rows are sorted by (symbol, ts): a step is a diff between neighbours of one symbol
    counts = _step_counts(panel, by_symbol=False)
    if counts.height == 0:
        raise DataError(
            "cannot infer the bar frequency: no symbol has two bars",
            fix="pass freq= explicitly",
        )
    mode = counts.sort(["len", "step"], descending=[True, False])
    return timedelta_to_freq(cast(timedelta, mode["step"][0]))


def mode_step(steps: pl.Series) -> timedelta:
    """Most common value of a non-empty Duration series; the smallest one on a tie.

    A value taking more than half of the entries is the mode (no other value can tie it):
    the most common value of a leading sample is checked for that with one comparison pass,
    and only when it fails are the values grouped and counted.
    """
    raw = steps.cast(pl.Int64).to_numpy()  # the duration in its own time unit
    values, counts = np.unique(raw[:1024], return_counts=True)
    candidate = values[np.argmax(counts)]
    if 2 * np.count_nonzero(raw == candidate) > raw.size:
        return cast(timedelta, pl.Series([candidate], dtype=pl.Int64).cast(steps.dtype)[0])
    frame = steps.alias("step").to_frame()
    mode = frame.group_by("step").len().sort(["len", "step"], descending=[True, False])
    return cast(timedelta, mode["step"][0])


def _check_frequency(df: pl.DataFrame, freq: str | None) -> None:
    steps = _symbol_steps(df)
    if steps.height == 0:
        return
    expected = freq_to_timedelta(freq) if freq is not None else None
    if expected is None:
        counts = steps.group_by("step").len().sort(["len", "step"], descending=[True, False])
        expected = counts["step"][0]
        # without a declared frequency, a symbol whose usual step differs is another frequency
        odd = steps.filter(pl.col("step") != expected)
    else:
        # a declared frequency: sparse symbols (mostly gaps) are fine; only the grid matters
        odd = steps.filter(pl.col("step") < expected)
    if odd.height:
        raise DataError(
            f"expected one bar frequency ({timedelta_to_freq(expected)}) for every symbol, "
            f"found {odd.height} symbol(s) at another frequency",
            column="ts",
            rows=odd.with_columns(
                pl.col("step").map_elements(timedelta_to_freq, return_dtype=pl.String)
            ).head(_SHOW_ROWS),
            fix="resample every symbol to one frequency (coinfactor.data.resample) or split "
            "the panel",
        )
    exp_us = int(expected.total_seconds() * 1_000_000)
    step_us = (pl.col("ts") - pl.col("ts").shift(1)).dt.total_microseconds()
    irregular = _same_symbol() & ((step_us % exp_us != 0) | (step_us <= 0))
    n, rows = _first_rows(df, irregular, ["symbol", "ts"])
    if n:
        raise DataError(
            f"mixed bar frequency: expected steps that are whole multiples of "
            f"{timedelta_to_freq(expected)} (gaps allowed), found {n} bar(s) off that grid",
            column="ts",
            rows=rows,
            fix="resample to one frequency (coinfactor.data.resample) or drop the stray bars",
        )


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
    _check_nulls(out)
    _check_order(out)
    _check_finite(out)
    _check_values(out)
    _check_frequency(out, freq)
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
    _check_nulls(out)
    out = out.sort("symbol", "ts")
    _check_order(out)
    if freq is not None:
        _check_declared(out, freq)
    _check_frequency(out, freq)
    return out


def _check_declared(df: pl.DataFrame, freq: str) -> None:
    """Refuse a declared frequency other than the data's (the most common step)."""
    counts = _step_counts(df, by_symbol=False)
    if counts.height == 0:
        return  # no symbol has two bars: nothing to compare with
    mode = cast(timedelta, counts.sort(["len", "step"], descending=[True, False])["step"][0])
    declared = freq_to_timedelta(freq)
    if mode != declared:
        data = timedelta_to_freq(mode)
        shape = ("bars with most of them missing" if mode > declared
                 else "bars shorter than they are")
        raise DataError(
            f"declared bar frequency {timedelta_to_freq(declared)!r}, but the data's bars are "
            f"{data} apart (the most common step between a symbol's bars): stored as "
            f"{timedelta_to_freq(declared)} they would read as {shape}",
            column="ts",
            fix=f"declare {data!r} (freq={data!r}, --freq {data}) or omit the frequency to use "
            "the data's; to store another frequency, resample first (coinfactor.data.resample)",
        )
