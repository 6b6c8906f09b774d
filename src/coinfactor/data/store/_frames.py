"""Conversions between coinfactor frames and the store's tables.

The store keeps ``ts`` as a naive UTC ``TIMESTAMP``; frames leaving it get their UTC zone back.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.data._schema import FILLED_COLUMN, PANEL_SCHEMA
from coinfactor.data.store._names import check_freq, check_symbol
from coinfactor.data.store._schema import (
    BAR_VALUES,
    BOOK_KEY,
    BOOK_SCHEMA,
    SNAPSHOT_SCHEMA,
    SNAPSHOT_VALUES,
)

TimeLike = datetime | date | str


def to_utc(value: TimeLike | None, name: str) -> datetime | None:
    """Parse a time bound to a naive UTC datetime (the store's TIMESTAMP convention)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise DataError(
                f"{name}: expected an ISO date or datetime such as '2025-01-01', got {value!r}"
            ) from exc
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value
    return datetime(value.year, value.month, value.day)


def naive(frame: pl.DataFrame) -> pl.DataFrame:
    """Drop the UTC zone of ``ts`` (the store's naive-UTC ``TIMESTAMP``)."""
    return frame.with_columns(pl.col("ts").dt.convert_time_zone("UTC").dt.replace_time_zone(None))


def check_frame_symbols(frame: pl.DataFrame) -> None:
    """Check every distinct ``symbol`` against the allow-list."""
    for s in frame["symbol"].unique().to_list():
        check_symbol(s)


def check_finite(frame: pl.DataFrame, what: str) -> None:
    """Refuse NaN or +-inf in any float column of ``frame`` (null is allowed).

    The store keeps numbers a panel, a funding series or a snapshot can use; an overflowed
    venue value (``"1e400"``) or a NaN is an error here, named with its rows, never stored.
    """
    for name, dtype in frame.schema.items():
        if not dtype.is_float():
            continue
        col = pl.col(name)
        bad = frame.filter((col.is_nan() | col.is_infinite()).fill_null(False))
        if bad.height:
            keys = [c for c in ("symbol", "ts") if c in frame.columns and c != name]
            raise DataError(
                f"{what}: column {name!r}: expected finite numbers or null, found "
                f"{bad.height} row(s) with NaN or +inf/-inf",
                column=name,
                rows=bad.select(*keys, name).head(5),
                fix="set unknown values to null, or repair or drop those rows",
            )


def check_unique_keys(frame: pl.DataFrame, what: str) -> None:
    """Refuse a frame with a (symbol, ts) key twice (the store keeps one row per key)."""
    dup = frame.filter(pl.struct("symbol", "ts").is_duplicated())
    if dup.height:
        raise DataError(
            f"{what}: expected one row per (symbol, ts), found {dup.height} duplicated row(s)",
            column="ts",
            rows=dup.select("symbol", "ts").head(5),
            fix="drop the duplicates (df.unique(['symbol', 'ts'], keep='last')) after "
            "checking which copy is right",
        )


def bar_frame(panel: pl.DataFrame, ids: dict[str, str], freq: str) -> pl.DataFrame:
    """Key a canonical panel's rows for ``bars``: ids, ``freq``, values and the filled flag.

    A panel without a ``filled`` column has real bars only; null ``filled`` reads as False.
    """
    filled = (pl.col(FILLED_COLUMN).cast(pl.Boolean).fill_null(False)
              if FILLED_COLUMN in panel.columns else pl.lit(False))
    return naive(panel.select(
        *[pl.lit(v).alias(k) for k, v in ids.items()], pl.lit(freq).alias("freq"), "symbol",
        "ts", *[c for c in BAR_VALUES if c != FILLED_COLUMN], filled.alias(FILLED_COLUMN),
    ))


def snapshot_frame(snapshots: pl.DataFrame, ids: dict[str, str]) -> pl.DataFrame:
    """Check snapshot rows, fill absent columns with nulls and key them for ``snapshots``."""
    missing = [c for c in ("symbol", "ts") if c not in snapshots.columns]
    if missing:
        raise DataError(
            f"snapshots: missing column(s) {missing}; expected {list(SNAPSHOT_SCHEMA)}",
            fix="add the snapshot time as 'ts' and the venue id as 'symbol'",
        )
    cols = []
    for name, dtype in SNAPSHOT_SCHEMA.items():
        if name in snapshots.columns:
            cols.append(pl.col(name).cast(dtype))
        else:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
    snap = snapshots.select(cols).unique(["symbol", "ts"], keep="last", maintain_order=True)
    if snap["ts"].null_count():
        raise DataError("snapshots: expected a time on every row, found null 'ts'",
                        column="ts")
    check_frame_symbols(snap)
    check_finite(snap, "snapshots")
    modes = ("decimal_places", "significant_digits", "tick_size")
    bad = snap.filter(pl.col("precision_mode").is_not_null()
                      & ~pl.col("precision_mode").is_in(modes))
    if bad.height:
        raise DataError(f"snapshots: precision_mode must be one of {list(modes)} (ccxt's "
                        f"precisionMode by name) or null, got "
                        f"{sorted(set(bad['precision_mode'].to_list()))}",
                        column="precision_mode", rows=bad.select("symbol", "ts").head(5),
                        fix="map ccxt's DECIMAL_PLACES / SIGNIFICANT_DIGITS / TICK_SIZE to "
                        "those names")
    return snap.select(*[pl.lit(v).alias(k) for k, v in ids.items()], "symbol", "ts",
                       *SNAPSHOT_VALUES)


def book_frame(books: pl.DataFrame) -> pl.DataFrame:
    """Check paper-ledger rows (:data:`BOOK_SCHEMA`) and make their times naive UTC."""
    missing = [c for c in BOOK_SCHEMA if c not in books.columns]
    if missing:
        raise DataError(f"books: missing column(s) {missing}; expected {list(BOOK_SCHEMA)}",
                        fix="build the rows with coinfactor.book (Book.ledger_row)")
    frame = books.select(pl.col(c).cast(t) for c, t in BOOK_SCHEMA.items())
    nulls = [c for c in BOOK_SCHEMA if frame[c].null_count()]
    if nulls:
        raise DataError(f"books: expected a value in every column, found nulls in {nulls}")
    dup = frame.filter(pl.struct(*BOOK_KEY).is_duplicated())
    if dup.height:
        raise DataError(f"books: expected one row per {list(BOOK_KEY)}, found "
                        f"{dup.height} duplicated row(s)", rows=dup.select(*BOOK_KEY).head(5))
    check_finite(frame, "books")
    return frame.with_columns(
        pl.col(c).dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        for c in ("as_of", "decided_at", "last_bar"))


def open_interest_frame(open_interest: pl.DataFrame, ids: dict[str, str],
                        freq: str) -> pl.DataFrame:
    """Check ``symbol, ts, open_interest`` rows and key them for an update of ``bars``."""
    freq = check_freq(freq)
    missing = [c for c in ("symbol", "ts", "open_interest") if c not in open_interest.columns]
    if missing:
        raise DataError(f"open interest: missing column(s) {missing}; expected "
                        "symbol, ts, open_interest")
    oi = open_interest.select(
        *[pl.lit(v).alias(k) for k, v in ids.items()], pl.lit(freq).alias("freq"),
        pl.col("symbol").cast(pl.String), pl.col("ts").cast(pl.Datetime("us", "UTC")),
        pl.col("open_interest").cast(pl.Float64),
    ).unique(["symbol", "ts"], keep="last", maintain_order=True)
    check_finite(oi, "open interest")
    bad = oi.filter(pl.col("open_interest") < 0)
    if bad.height:
        raise DataError("open interest: expected values >= 0", column="open_interest",
                        rows=bad.head(5))
    check_frame_symbols(oi)
    return naive(oi)


def from_store(raw: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Cast a DuckDB result back to coinfactor dtypes (``ts`` naive UTC -> UTC-aware)."""
    exprs = []
    for c in columns:
        if c == "ts":
            exprs.append(pl.col("ts").cast(pl.Datetime("us")).dt.replace_time_zone("UTC"))
        elif c in PANEL_SCHEMA:
            exprs.append(pl.col(c).cast(PANEL_SCHEMA[c]))
        elif c in SNAPSHOT_SCHEMA:
            exprs.append(pl.col(c).cast(SNAPSHOT_SCHEMA[c]))
        elif c == "mark_price":
            exprs.append(pl.col(c).cast(pl.Float64))
        elif c == FILLED_COLUMN:
            exprs.append(pl.col(c).cast(pl.Boolean))
        else:
            exprs.append(pl.col(c))
    if raw.height == 0 and not raw.columns:
        raw = pl.DataFrame(schema=dict.fromkeys(columns, pl.Null))
    return raw.select(exprs)
