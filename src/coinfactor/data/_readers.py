"""Readers for bar and funding files: CSV (plain or gzip), Parquet, Feather.

Column names are mapped to the canonical panel from a table of common aliases (seed and
exchange shapes: ``origin_time``, ``ticker``, ``coin``/``date``, Binance ``open_time`` in
epoch ms, freqtrade feather files whose symbol is in the file name); an explicit ``mapping``
overrides them.

Every error a reader raises is a :class:`~coinfactor.core.errors.DataError` that names the
file, the row where it is known (a CSV value that does not parse, past the rows the column
types are inferred from included; a line with too many fields; a local time that is ambiguous
or does not exist in ``tz``) and the fix; the underlying polars or OS error is its cause.
"""

from __future__ import annotations

import csv
import gzip
import re
import zoneinfo
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.data._funding import attach_funding, validate_funding_events
from coinfactor.data._schema import PANEL_SCHEMA, infer_freq, validate_panel

ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "open_time", "origin_time", "timestamp", "time", "date", "datetime",
           "funding_time", "fundingtime"),
    "symbol": ("symbol", "ticker", "coin", "pair", "instrument"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "v", "base_volume"),
    "quote_volume": ("quote_volume", "quote_asset_volume", "dollar_volume", "notional",
                     "volume_notional", "quotevolume"),
    "trades": ("trades", "number_of_trades", "trade_count", "count", "num_trades"),
    "funding_rate": ("funding_rate", "fundingrate", "rate"),
    "open_interest": ("open_interest", "sum_open_interest_value", "oi_usd"),
}
"""Canonical column -> accepted source names (case-insensitive), first match wins."""

_FREQTRADE_NAME = re.compile(r"^(?P<base>[A-Za-z0-9]+)_(?P<quote>[A-Za-z]+)(?:_[A-Za-z]+)?-")


_INFER_ROWS = 10_000
_SHOW = 5
_KINDS = {"f64": "a number", "f32": "a number", "i64": "a whole number",
          "i32": "a whole number", "bool": "true or false"}
_PARSE = re.compile(r"could not parse `(?P<value>.*?)` as dtype `(?P<dtype>[^`]+)` at column "
                    r"'(?P<column>[^']+)'")


def _read_any(path: Path) -> pl.DataFrame:
    """Read a file by its extension; any failure is a DataError naming the file."""
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        kind = "Parquet"
    elif name.endswith((".feather", ".arrow", ".ipc")):
        kind = "Feather/Arrow IPC"
    elif name.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
        kind = "CSV"
    else:
        raise DataError(
            f"read: expected a .csv, .csv.gz, .parquet or .feather file, got {path.name!r}",
            fix="convert the file or pass one of the supported formats",
        )
    if path.is_dir():
        raise DataError(f"read {str(path)!r}: expected a {kind} file, got a directory",
                        fix="pass the path of a file")
    sep = "\t" if name.endswith(".tsv") else ","
    if kind == "CSV" and _not_utf8_text(path):
        raise DataError(f"read {str(path)!r}: expected UTF-8 text, the file holds NUL bytes "
                        "(UTF-16, binary data, or another format)",
                        fix="save it as UTF-8 CSV; a Parquet or Feather file must end in "
                        ".parquet or .feather")
    try:
        if kind == "Parquet":
            return pl.read_parquet(path)
        if kind == "Feather/Arrow IPC":
            return pl.read_ipc(path)
        return pl.read_csv(path, separator=sep, try_parse_dates=False,
                           infer_schema_length=_INFER_ROWS)
    except Exception as exc:  # polars, OS and decompression errors of a damaged file
        raise _file_error(path, kind, sep, exc) from exc


def _file_error(path: Path, kind: str, sep: str, exc: Exception) -> DataError:
    """Describe why a file could not be read: what, where (the row if known), the fix."""
    where = f"read {str(path)!r}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, PermissionError):
        return DataError(f"{where}: permission denied", fix="check the file's permissions")
    if isinstance(exc, pl.exceptions.NoDataError) or (path.exists()
                                                      and path.stat().st_size == 0):
        return DataError(f"{where}: the file is empty", fix="re-export or re-download it")
    if _is_gzip_error(path, exc):
        return DataError(f"{where}: the gzip data is damaged or truncated ({text})",
                         fix="re-download or re-compress the file (`gzip -t` checks one)")
    if kind != "CSV":
        return DataError(
            f"{where}: not a readable {kind} file: truncated, damaged or not {kind} ({text})",
            fix=f"re-export or re-download it; a CSV file must end in .csv, a {kind} file "
            f"in .{'parquet' if kind == 'Parquet' else 'feather'}")
    if "utf-8" in text.lower() or isinstance(exc, UnicodeDecodeError):
        return DataError(f"{where}: expected UTF-8 text, the file holds other bytes "
                         f"(binary, or another encoding)",
                         fix="save it as UTF-8 CSV (e.g. iconv -f latin1 -t utf-8); a Parquet "
                         "or Feather file must end in .parquet or .feather")
    m = _PARSE.search(text)
    if m:
        row = _find_value_row(path, sep, m.group("column"), m.group("value"))
        at = f"row {row} (line {row + 1})" if row is not None else "a row"
        return DataError(
            f"{where}: {at}, column {m.group('column')!r}: {m.group('value')!r} is not "
            f"{_KINDS.get(m.group('dtype'), 'a ' + m.group('dtype'))} like the column's first "
            f"{_INFER_ROWS:,} rows",
            column=m.group("column"),
            fix="repair or drop that row (or quote the whole column as text and map it)")
    ragged = _find_ragged_row(path, sep)
    if ragged is not None:
        return DataError(f"{where}: line {ragged[0]} has {ragged[1]} field(s), the header "
                         f"{ragged[2]}", fix="repair or drop that line (a stray separator or "
                         "an unquoted value)")
    return DataError(f"{where}: could not parse the CSV ({type(exc).__name__}: {text})",
                     fix="check that it is a comma-separated file with a header line")


def _not_utf8_text(path: Path) -> bool:
    """Whether the first 4 KiB of a (possibly gzip) text file hold NUL bytes (UTF-16, binary)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as gz:
                head = gz.read(4096)
    except (OSError, EOFError):
        return False  # a damaged gzip: the reader says so
    return b"\x00" in head


def _is_gzip_error(path: Path, exc: Exception) -> bool:
    if isinstance(exc, gzip.BadGzipFile | EOFError):
        return True
    try:
        with path.open("rb") as fh:
            gz = fh.read(2) == b"\x1f\x8b"
    except OSError:
        return False
    return gz and (isinstance(exc, OSError) or "decompress" in str(exc).lower()
                   or "end of file" in str(exc).lower())


def _text_lines(path: Path) -> Iterator[str]:
    with path.open("rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
    fh: IO[Any] = gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="") if gz \
        else path.open("r", encoding="utf-8", errors="replace", newline="")
    with fh:
        yield from fh


def _find_value_row(path: Path, sep: str, column: str, value: str) -> int | None:
    """1-based data row of the first ``value`` in ``column`` (the header is line 1)."""
    try:
        text = pl.read_csv(path, separator=sep, infer_schema=False, columns=[column])
        hits = text.with_row_index("row").filter(pl.col(column) == value)["row"]
    except Exception:
        return None
    return int(hits[0]) + 1 if hits.len() else None


def _find_ragged_row(path: Path, sep: str) -> tuple[int, int, str] | None:
    """(line, fields, what the header has) of the first line with more fields than it."""
    try:
        reader = csv.reader(_text_lines(path), delimiter=sep)
        header = next(reader, None)
        if header is None:
            return None
        for line, fields in enumerate(reader, start=2):
            if len(fields) > len(header):
                return line, len(fields), f"has {len(header)}"
    except (OSError, csv.Error, EOFError, gzip.BadGzipFile):
        return None
    return None


def _in_file(path: Path, exc: DataError) -> DataError:
    """``exc`` with the file named first (its column, rows and fix kept)."""
    text = str(exc)
    for marker in ("\nfirst offending rows:", "\nfix: "):
        if marker in text:
            text = text[: text.index(marker)]
    if text.startswith(f"read {str(path)!r}"):
        return exc
    return DataError(f"read {str(path)!r}: {text}", column=exc.column, rows=exc.rows,
                     fix=exc.fix)


def _localize(df: pl.DataFrame, tz: str, path: Path) -> pl.DataFrame:
    """Read naive ``ts`` as local times of ``tz`` and convert them to UTC.

    Raises a DataError naming the rows when a time is ambiguous (clocks going back) or does
    not exist (clocks going forward), or when ``tz`` is not a time zone.
    """
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise DataError(f"read {str(path)!r}: tz={tz!r} is not a time zone",
                        fix="pass an IANA name such as 'UTC', 'Europe/Berlin' or "
                        "'America/New_York'") from exc
    ts = df["ts"]
    if ts.dtype == pl.String:
        try:
            ts = ts.str.to_datetime(time_unit="us", strict=False)
        except Exception as exc:
            raise DataError(f"read {str(path)!r}: column 'ts': expected local date-times "
                            f"('YYYY-MM-DD HH:MM:SS'), could not parse them", column="ts",
                            fix="write the times as 'YYYY-MM-DD HH:MM:SS'") from exc
        unparsed = df.with_row_index("row").filter(ts.is_null() & df["ts"].is_not_null())
        if unparsed.height:
            raise DataError(f"read {str(path)!r}: column 'ts': {unparsed.height} value(s) are "
                            f"not date-times", column="ts",
                            rows=unparsed.select(pl.col("row") + 1, "ts").head(_SHOW),
                            fix="write the times as 'YYYY-MM-DD HH:MM:SS'")
    exists = ts.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    local = ts.dt.replace_time_zone(tz, ambiguous="null", non_existent="null")
    problem = local.is_null() & ts.is_not_null()
    if problem.any():
        missing = exists.is_null() & ts.is_not_null()
        rows = df.with_row_index("row").select(
            (pl.col("row") + 1).alias("row"), pl.Series("ts", ts),
            pl.when(pl.Series(missing)).then(pl.lit("does not exist"))
            .otherwise(pl.lit("ambiguous")).alias("local time")).filter(pl.Series(problem))
        raise DataError(
            f"read {str(path)!r}: {rows.height} local time(s) in {tz!r} are ambiguous (an hour "
            "repeated when clocks go back) or do not exist (skipped when clocks go forward)",
            column="ts", rows=rows.head(_SHOW),
            fix="write the times in UTC (tz='UTC') or with their offset "
            "('2024-11-03T01:30:00-04:00'), or drop those rows")
    return df.with_columns(local.dt.convert_time_zone("UTC").alias("ts"))


def _rename(df: pl.DataFrame, mapping: Mapping[str, str] | None) -> pl.DataFrame:
    if mapping:
        absent = [src for src in mapping if src not in df.columns]
        if absent:
            raise DataError(
                f"read: mapping names column(s) {absent} that the file lacks; got {df.columns}",
                fix="map from columns the file has: {source_name: canonical_name}",
            )
        df = df.rename(dict(mapping))
    lower = {c.lower(): c for c in df.columns}
    renames: dict[str, str] = {}
    for canonical, aliases in ALIASES.items():
        if canonical in df.columns:
            continue
        for alias in aliases:
            src = lower.get(alias)
            if src is not None and src not in renames and src not in PANEL_SCHEMA:
                renames[src] = canonical
                break
    return df.rename(renames)


def symbol_from_filename(path: str | Path) -> str | None:
    """Symbol of a per-symbol file (``BTC_USDT_USDT-1h-futures.feather`` -> ``BTCUSDT``).

    Returns None when the name does not follow the freqtrade pattern.
    """
    m = _FREQTRADE_NAME.match(Path(path).name)
    if not m:
        return None
    base, quote = m.group("base"), m.group("quote")
    return base if quote.upper() == "USDC" else f"{base}{quote}".upper()


def read_bars(
    path: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    symbol: str | None = None,
    tz: str = "UTC",
    freq: str | None = None,
) -> pl.DataFrame:
    """Read a bar file into a validated canonical panel.

    Parameters
    ----------
    path : str or Path
        CSV (``.csv`` or ``.csv.gz``), Parquet or Feather file, long (with a symbol column) or
        one symbol per file.
    mapping : mapping of str to str, optional
        ``{source column: canonical column}``; applied before the built-in aliases.
    symbol : str, optional
        Symbol for a single-symbol file without a symbol column (default: parsed from a
        freqtrade file name such as ``BTC_USDT_USDT-1h-futures.feather``).
    tz : str, default "UTC"
        Time zone of naive timestamps in the file; converted to UTC.
    freq : str, optional
        Expected bar frequency (inferred when omitted).

    Returns
    -------
    pl.DataFrame
        Canonical panel sorted by (symbol, ts); unmapped extra columns are dropped.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"read: no such file {str(p)!r}", fix="check the path")
    try:
        return _read_bars(p, mapping=mapping, symbol=symbol, tz=tz, freq=freq)
    except DataError as exc:
        raise _in_file(p, exc) from exc
    except Exception as exc:  # anything else polars raises on odd data: named, with the file
        raise DataError(f"read {str(p)!r}: could not read the bars ({type(exc).__name__}: "
                        f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})",
                        fix="check the file's columns and values") from exc


def _read_bars(p: Path, *, mapping: Mapping[str, str] | None, symbol: str | None, tz: str,
               freq: str | None) -> pl.DataFrame:
    df = _rename(_read_any(p), mapping)
    if "symbol" not in df.columns:
        sym = symbol or symbol_from_filename(p)
        if sym is None:
            raise DataError(
                f"read: {p.name!r} has no symbol column (got {df.columns}) and its name does "
                "not tell the symbol",
                column="symbol",
                fix="pass symbol='BTCUSDT' or mapping={'<your column>': 'symbol'}",
            )
        df = df.with_columns(pl.lit(sym).alias("symbol"))
    if "ts" in df.columns:
        dtype = df.schema["ts"]
        if (isinstance(dtype, pl.Datetime) and dtype.time_zone is None) or (
                dtype == pl.String and tz != "UTC"):
            df = _localize(df, tz, p)
    keep = [c for c in PANEL_SCHEMA if c in df.columns]
    df = df.select(keep)
    df = validate_panel(df.sort("symbol", "ts") if "ts" in df.columns else df, freq=freq)
    return df


def read_funding(
    path: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    symbol: str | None = None,
) -> pl.DataFrame:
    """Read a funding-event file into ``symbol, ts, funding_rate`` (one row per event).

    Accepts epoch-ms times (Binance ``fundingTime``), tz-aware datetimes and freqtrade funding
    feathers (rate in the ``open`` column, symbol in the file name).
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"read_funding: no such file {str(p)!r}", fix="check the path")
    try:
        return _read_funding(p, mapping=mapping, symbol=symbol)
    except DataError as exc:
        raise _in_file(p, exc) from exc
    except Exception as exc:
        raise DataError(f"read {str(p)!r}: could not read the funding events "
                        f"({type(exc).__name__}: "
                        f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})",
                        fix="check the file's columns and values") from exc


def _read_funding(p: Path, *, mapping: Mapping[str, str] | None,
                  symbol: str | None) -> pl.DataFrame:
    raw = _read_any(p)
    if "funding_rate" not in raw.columns and "open" in raw.columns and mapping is None:
        raw = raw.rename({"open": "funding_rate"})  # freqtrade stores the rate in 'open'
    df = _rename(raw, mapping)
    if "symbol" not in df.columns:
        sym = symbol or symbol_from_filename(p)
        if sym is None:
            raise DataError(
                f"read_funding: {p.name!r} has no symbol column and its name does not tell one",
                fix="pass symbol=...",
            )
        df = df.with_columns(pl.lit(sym).alias("symbol"))
    return validate_funding_events(df)


def read_panel_with_funding(
    bars_path: str | Path,
    funding_path: str | Path,
    *,
    freq: str | None = None,
) -> pl.DataFrame:
    """Read bars and funding events and join them into one panel (see :func:`attach_funding`)."""
    panel = read_bars(bars_path, freq=freq)
    events = read_funding(funding_path)
    return attach_funding(panel, events, freq or infer_freq(panel))
