"""Venue values into numbers, and the checks every page passes on its way to the store.

Sources fetch and type; the ingest loop checks. A venue field is read with :func:`fnum` /
:func:`tnum`, which never raise: a missing value is ``None``, one that is not a number is
``NaN``, ``"1e400"`` is ``inf``. The ingest loop then passes each page through
:func:`clean_bars`, :func:`clean_funding` or :func:`clean_open_interest`:

* an optional value that is not finite (quote volume, trade count, open interest, mark price;
  a trade count beyond 64-bit integers) is set to null and counted (``nulled``);
* a row whose required values are unusable (no time, a price or volume missing, not finite or
  out of range, ``high < low``, open or close outside ``[low, high]``, a negative quantity; a
  funding event without a finite rate) is *invalid*: the page is rejected with a
  :class:`~coinfactor.core.errors.DataError` naming the rows, or, with ``skip_bad=True``,
  the rows are set aside and counted (``bad``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.data._schema import PANEL_SCHEMA, validate_panel

_INT64_MAX = float(2**63)
_MAX_MS = 253_402_300_800_000  # 10000-01-01: later epoch times are not times
_SHOW = 5
_OPTIONAL_FLOATS = ("quote_volume", "funding_rate", "open_interest")
SKIP_FIX = ("pass skip_bad_bars=True (coinfactor download/update --skip-bad-bars) to set "
            "invalid rows aside with a count and keep the rest of the history")


def fnum(value: Any) -> float | None:
    """Return a venue value as a float: ``None`` if missing, ``NaN`` if not a number.

    Never raises; ``inf`` and ``NaN`` come through (the page checks count or reject them).

    Examples
    --------
    >>> fnum("1.5"), fnum(None), fnum(""), fnum("abc"), fnum("1e400")
    (1.5, None, None, nan, inf)
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


def tnum(value: Any) -> int | None:
    """Return a venue time (epoch ms) as an int; ``None`` when missing or not a whole number.

    Examples
    --------
    >>> tnum(1709251200000), tnum("1709251200000"), tnum(1.5), tnum("x"), tnum(10**20)
    (1709251200000, 1709251200000, None, None, None)
    """
    if value is None or isinstance(value, bool):
        return None
    number: int | float
    if isinstance(value, int):
        number = value
    else:
        try:
            number = int(value.strip()) if isinstance(value, str) else float(value)
        except (TypeError, ValueError, OverflowError):
            try:
                number = float(value)
            except (TypeError, ValueError, OverflowError):
                return None
    if isinstance(number, float):
        if not math.isfinite(number) or not number.is_integer():
            return None
        number = int(number)
    return number if 0 <= number < _MAX_MS else None


def unparsed(row: tuple[Any, ...] | list[Any], required: int) -> bool:
    """Tell whether a parsed venue row holds a value that was not a number (``NaN``).

    Or misses one of its first ``required`` values (the time first).

    A page with such a row is taken as malformed and asked again; a number that is merely
    unusable (``inf``, out of range) is not: asking again would return it again.
    """
    for i, value in enumerate(row):
        if value is None:
            if i < required:
                return True
        elif isinstance(value, float) and math.isnan(value):
            return True
    return False


@dataclass(frozen=True)
class Checked:
    """A checked page: the rows to store, values nulled, rows set aside."""

    frame: pl.DataFrame
    nulled: int = 0
    bad: int = 0


def _not_finite(name: str) -> pl.Expr:
    return pl.col(name).is_not_null() & ~pl.col(name).is_finite()


def _null_where(frame: pl.DataFrame, name: str, mask: pl.Expr) -> tuple[pl.DataFrame, int]:
    n = int(frame.select(mask.sum()).item() or 0)
    if n:
        frame = frame.with_columns(pl.when(mask).then(None).otherwise(pl.col(name)).alias(name))
    return frame, n


def _set_aside(frame: pl.DataFrame, bad: pl.Expr, *, skip_bad: bool, what: str,
               kind: str, show: list[str]) -> tuple[pl.DataFrame, int]:
    marked = frame.with_columns(bad.fill_null(True).alias("_bad"))
    n = int(marked["_bad"].sum())
    if n and not skip_bad:
        rows = marked.with_row_index("row").filter(pl.col("_bad")).select(
            ["row", *[c for c in show if c in frame.columns]]).head(_SHOW)
        raise DataError(f"{what}: expected valid {kind}, the venue sent {n} invalid "
                        f"row(s) (a missing, non-finite or out-of-range value)",
                        rows=rows, fix=SKIP_FIX)
    return marked.filter(~pl.col("_bad")).drop("_bad"), n


def clean_bars(page: pl.DataFrame, freq: str, *, skip_bad: bool = False,
               what: str = "bars") -> Checked:
    """Check one page of bars (any numeric dtypes) and return it as a validated panel.

    Parameters
    ----------
    page : pl.DataFrame
        ``ts`` (aware UTC datetimes), ``symbol``, prices and volumes; optional columns of
        :data:`~coinfactor.data.PANEL_SCHEMA` may be missing, ``trades`` may be float.
    freq : str
        The bar frequency.
    skip_bad : bool, default False
        Set invalid bars aside (counted) instead of rejecting the page.
    what : str, default "bars"
        Names the page in messages (``"bars BTCUSDT"``).

    Returns
    -------
    Checked
        The valid bars (sorted, one per ``(symbol, ts)``, the last copy kept) and the counts.

    Raises
    ------
    DataError
        On an invalid bar (unless ``skip_bad``), or when the page fails
        :func:`~coinfactor.data.validate_panel` otherwise (another frequency).
    """
    frame = page
    for name, dtype in PANEL_SCHEMA.items():
        if name not in frame.columns and name not in ("ts", "symbol", "open", "high", "low",
                                                      "close", "volume"):
            frame = frame.with_columns(pl.lit(None, dtype).alias(name))
    if not {"ts", "symbol", "open", "high", "low", "close", "volume"} <= set(frame.columns):
        return Checked(validate_panel(frame, freq=freq))  # raises its missing-column error
    floats = [c for c in PANEL_SCHEMA if c not in ("ts", "symbol", "trades")]
    frame = frame.with_columns(pl.col(c).cast(pl.Float64, strict=False) for c in floats)
    nulled = 0
    for name in _OPTIONAL_FLOATS:
        frame, n = _null_where(frame, name, _not_finite(name))
        nulled += n
    if frame.schema["trades"].is_float():
        t = pl.col("trades")
        unusable = t.is_not_null() & (~t.is_finite() | (t.abs() >= _INT64_MAX)
                                      | (t != t.round(0)))
        frame, n = _null_where(frame, "trades", unusable)
        nulled += n
    frame = frame.with_columns(pl.col("trades").cast(pl.Int64, strict=False))
    o, h, lo, c, v = (pl.col(x) for x in ("open", "high", "low", "close", "volume"))
    bad = pl.col("ts").is_null() | pl.col("symbol").is_null()
    for price in (o, h, lo, c):
        bad = bad | price.is_null() | ~price.is_finite() | (price <= 0)
    bad = bad | v.is_null() | ~v.is_finite() | (v < 0) | (h < lo)
    bad = bad | (o < lo) | (o > h) | (c < lo) | (c > h)
    for name in ("quote_volume", "trades", "open_interest"):
        bad = bad | (pl.col(name) < 0).fill_null(False)
    frame, n_bad = _set_aside(frame, bad, skip_bad=skip_bad, what=what, kind="bars",
                              show=["ts", "symbol", "open", "high", "low", "close", "volume"])
    frame = frame.unique(["symbol", "ts"], keep="last", maintain_order=True).sort("symbol", "ts")
    extras = [col for col in frame.columns if col not in PANEL_SCHEMA]
    frame = frame.select([*PANEL_SCHEMA, *extras])
    return Checked(validate_panel(frame, freq=freq), nulled=nulled, bad=n_bad)


def clean_funding(page: pl.DataFrame, *, skip_bad: bool = False,
                  what: str = "funding") -> Checked:
    """Check one page of funding events (``symbol, ts, funding_rate`` [, ``mark_price``]).

    A non-finite mark price is nulled and counted; an event without a time or a finite rate is
    invalid (rejected, or set aside with ``skip_bad``).
    """
    frame = page.with_columns(pl.col("funding_rate").cast(pl.Float64, strict=False))
    nulled = 0
    if "mark_price" in frame.columns:
        frame = frame.with_columns(pl.col("mark_price").cast(pl.Float64, strict=False))
        mp = pl.col("mark_price")
        frame, nulled = _null_where(frame, "mark_price", _not_finite("mark_price")
                                    | (mp <= 0).fill_null(False))
    r = pl.col("funding_rate")
    bad = pl.col("ts").is_null() | pl.col("symbol").is_null() | r.is_null() | ~r.is_finite()
    frame, n_bad = _set_aside(frame, bad, skip_bad=skip_bad, what=what,
                              kind="funding events", show=["ts", "symbol", "funding_rate"])
    return Checked(frame, nulled=nulled, bad=n_bad)


def clean_open_interest(page: pl.DataFrame) -> Checked:
    """Drop open-interest values that are missing, not finite or negative.

    They are counted as nulled: open interest is optional, the bars keep a null.
    """
    frame = page.with_columns(pl.col("open_interest").cast(pl.Float64, strict=False))
    oi = pl.col("open_interest")
    unusable = pl.col("ts").is_null() | oi.is_null() | ~oi.is_finite() | (oi < 0)
    n = int(frame.select(unusable.fill_null(True).sum()).item() or 0)
    return Checked(frame.filter(~unusable.fill_null(True)), nulled=n)
