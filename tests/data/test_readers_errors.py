"""Every damaged file is a DataError naming the file, the row where it is known, and the fix.

Each case writes a file the way it gets damaged in practice (a cut download, a wrong
extension, another encoding, a bad value past the rows polars infers column types from, a
local time that daylight saving makes ambiguous or skips) and reads it with ``read_bars`` or
``read_funding``. Nothing else may escape: no bare polars, OS or gzip error.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from coinfactor.data import read_bars, read_funding
from coinfactor.errors import DataError

N_BIG = 12_000  # past the 10,000 rows polars infers column types from


def _bars(n: int = 24, *, ts: list[Any] | None = None) -> pl.DataFrame:
    return pl.DataFrame({
        "ts": ts if ts is not None else [datetime(2024, 1, 1) + timedelta(hours=i)
                                         for i in range(n)],
        "symbol": ["BTCUSDT"] * (len(ts) if ts is not None else n),
        "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 3.0, "trades": 7,
    })


def _csv_text(df: pl.DataFrame) -> str:
    return df.with_columns(pl.col("ts").cast(pl.String) if df.schema["ts"] != pl.String
                           else pl.col("ts")).write_csv()


def _parquet_bytes(df: pl.DataFrame | None = None) -> bytes:
    import io

    buf = io.BytesIO()
    (df if df is not None else _bars()).write_parquet(buf)
    return buf.getvalue()


def _feather_bytes() -> bytes:
    import io

    buf = io.BytesIO()
    _bars().write_ipc(buf)
    return buf.getvalue()


def _big_csv(edit: Callable[[list[str]], None]) -> str:
    lines = _csv_text(_bars(N_BIG)).splitlines()
    edit(lines)
    return "\n".join(lines) + "\n"


def _set_field(lines: list[str], line: int, column: int, value: str) -> None:
    fields = lines[line].split(",")
    fields[column] = value
    lines[line] = ",".join(fields)


def _flip_footer(data: bytes) -> bytes:
    cut = len(data) - 40
    return data[:cut] + bytes(b ^ 0xFF for b in data[cut:cut + 20]) + data[cut + 20:]


def _gzip_corrupt_middle() -> bytes:
    raw = gzip.compress(_csv_text(_bars(400)).encode())
    mid = len(raw) // 2
    return raw[:mid] + bytes(b ^ 0x55 for b in raw[mid:mid + 16]) + raw[mid + 16:]


LOCAL = ["2024-11-03 00:30:00", "2024-11-03 01:30:00", "2024-11-03 02:30:00"]  # NY falls back
SPRING = ["2024-03-10 01:00:00", "2024-03-10 02:30:00", "2024-03-10 03:00:00"]  # NY skips 2:xx
BERLIN = ["2024-10-27 01:00:00", "2024-10-27 02:30:00", "2024-10-27 03:30:00"]

# (id, file name, content (bytes or str), reader kwargs, text the message must hold)
CASES: list[tuple[str, str, Any, dict[str, Any], str]] = [
    # Parquet
    ("parquet-cut-half", "a.parquet", lambda: _parquet_bytes()[: len(_parquet_bytes()) // 2],
     {}, "not a readable Parquet file"),
    ("parquet-cut-tail", "a.parquet", lambda: _parquet_bytes()[:-3], {}, "Parquet"),
    ("parquet-cut-8-bytes", "a.parquet", lambda: _parquet_bytes()[:8], {}, "Parquet"),
    ("parquet-empty", "a.parquet", b"", {}, "empty"),
    ("parquet-text", "a.parquet", "hello, world\n" * 20, {}, "Parquet"),
    ("parquet-is-csv", "a.parquet", lambda: _csv_text(_bars()), {}, "Parquet"),
    ("parquet-is-gzip", "a.parquet", lambda: gzip.compress(b"x" * 100), {}, "Parquet"),
    ("parquet-footer-flipped", "a.parquet", lambda: _flip_footer(_parquet_bytes()), {},
     "Parquet"),
    ("parquet-no-ts-column", "a.parquet", lambda: _parquet_bytes(_bars().drop("ts")), {},
     "missing required column"),
    ("parquet-ambiguous-local", "a.parquet",
     lambda: _parquet_bytes(_bars(ts=[datetime.fromisoformat(t) for t in LOCAL])),
     {"tz": "America/New_York"}, "ambiguous"),
    ("parquet-nonexistent-local", "a.parquet",
     lambda: _parquet_bytes(_bars(ts=[datetime.fromisoformat(t) for t in SPRING])),
     {"tz": "America/New_York"}, "do not exist"),
    ("parquet-unknown-tz", "a.parquet", lambda: _parquet_bytes(), {"tz": "Mars/Olympus"},
     "not a time zone"),
    # Feather
    ("feather-cut", "a.feather", lambda: _feather_bytes()[: len(_feather_bytes()) // 2], {},
     "Feather"),
    ("feather-empty", "a.feather", b"", {}, "empty"),
    ("feather-text", "a.feather", "not arrow at all\n" * 10, {}, "Feather"),
    ("feather-is-parquet", "a.feather", lambda: _parquet_bytes(), {}, "Feather"),
    # CSV
    ("csv-empty", "a.csv", b"", {}, "empty"),
    ("csv-binary", "a.csv", bytes(range(256)) * 8, {}, "UTF-8"),
    ("csv-latin1", "a.csv", lambda: _csv_text(_bars()).replace("BTCUSDT", "BTCÜSDT")
     .encode("latin-1"), {}, "UTF-8"),
    ("csv-utf16", "a.csv", lambda: _csv_text(_bars()).encode("utf-16"), {}, "UTF-8"),
    ("csv-is-parquet", "a.csv", lambda: _parquet_bytes(), {}, "UTF-8"),
    ("csv-bad-close-row-11000", "a.csv",
     lambda: _big_csv(lambda ls: _set_field(ls, 11_000, 5, "abc")), {},
     "row 11000 (line 11001), column 'close': 'abc'"),
    ("csv-bad-volume-row-10500", "a.csv",
     lambda: _big_csv(lambda ls: _set_field(ls, 10_500, 6, "n/a")), {},
     "row 10500 (line 10501), column 'volume': 'n/a'"),
    ("csv-bad-trades-row-11999", "a.csv",
     lambda: _big_csv(lambda ls: _set_field(ls, 11_999, 7, "7.5")), {},
     "row 11999 (line 12000), column 'trades': '7.5'"),
    ("csv-extra-field-row-10200", "a.csv",
     lambda: _big_csv(lambda ls: ls.__setitem__(10_200, ls[10_200] + ",9,9")), {},
     "line 10201 has 10 field(s), the header has 8"),
    ("csv-extra-field-row-3", "a.csv",
     lambda: _big_csv(lambda ls: ls.__setitem__(3, ls[3] + ",1")), {},
     "line 4 has 9 field(s)"),
    ("csv-unclosed-quote", "a.csv",
     lambda: _big_csv(lambda ls: _set_field(ls, 10_400, 1, '"BTCUSDT')), {}, "a.csv"),
    ("csv-bad-timestamp", "a.csv", lambda: _csv_text(_bars()).replace(
        "2024-01-01 05:00:00", "yesterday"), {}, "ISO-8601"),
    ("csv-bad-timestamp-local", "a.csv", lambda: _csv_text(_bars()).replace(
        "2024-01-01 05:00:00", "yesterday"), {"tz": "Europe/Berlin"}, "not date-times"),
    ("csv-ambiguous-local", "a.csv", lambda: _csv_text(_bars(ts=LOCAL)),
     {"tz": "America/New_York"}, "2024-11-03 01:30:00 ┆ ambiguous"),
    ("csv-nonexistent-local", "a.csv", lambda: _csv_text(_bars(ts=SPRING)),
     {"tz": "America/New_York"}, "does not exist"),
    ("csv-ambiguous-berlin", "a.csv", lambda: _csv_text(_bars(ts=BERLIN)),
     {"tz": "Europe/Berlin"}, "ambiguous"),
    ("csv-unknown-tz", "a.csv", lambda: _csv_text(_bars()), {"tz": "Mars/Olympus"},
     "not a time zone"),
    ("csv-empty-tz", "a.csv", lambda: _csv_text(_bars()), {"tz": ""}, "not a time zone"),
    ("csv-nul-bytes", "a.csv", lambda: b"\x00" * 64, {}, "NUL bytes"),
    ("csv-high-below-low", "a.csv", lambda: _csv_text(_bars()).replace(
        ",2.0,0.5,", ",0.1,0.5,", 1), {}, "high >= low"),
    # gzip CSV
    ("gz-cut", "a.csv.gz", lambda: gzip.compress(_csv_text(_bars(400)).encode())[:300], {},
     "gzip"),
    ("gz-corrupt-middle", "a.csv.gz", _gzip_corrupt_middle, {}, "a.csv.gz"),
    ("gz-binary-garbage", "a.csv.gz", lambda: gzip.compress(bytes(range(256)) * 8), {},
     "UTF-8"),
    ("gz-empty-file", "a.csv.gz", b"", {}, "empty"),
    ("gz-of-empty", "a.csv.gz", lambda: gzip.compress(b""), {}, "empty"),
    ("gz-bad-close-row-11000", "a.csv.gz",
     lambda: gzip.compress(_big_csv(lambda ls: _set_field(ls, 11_000, 5, "x")).encode()), {},
     "row 11000 (line 11001), column 'close': 'x'"),
    # paths
    ("dir-named-csv", "d.csv", None, {}, "directory"),
    ("dir-named-parquet", "d.parquet", None, {}, "directory"),
]

FUNDING = [
    ("funding-parquet-cut", "f.parquet", lambda: _parquet_bytes()[:100], "Parquet"),
    ("funding-csv-empty", "f.csv", b"", "empty"),
    ("funding-csv-bad-rate-row-10800", "f.csv", lambda: "\n".join(
        ["symbol,ts,funding_rate"] + [f"BTC,{1704067200000 + i * 28_800_000},"
                                      f"{'oops' if i == 10_799 else '0.0001'}"
                                      for i in range(N_BIG)]) + "\n",
     "row 10800 (line 10801), column 'funding_rate': 'oops'"),
    ("funding-csv-null-rate", "f.csv", "symbol,ts,funding_rate\nBTC,1704067200000,\n",
     "expected a rate"),
]


def _write(tmp: Path, name: str, content: Any) -> Path:
    path = tmp / name
    if content is None:
        path.mkdir()
        return path
    data = content() if callable(content) else content
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _check(exc: DataError, path: Path, want: str) -> None:
    text = str(exc)
    assert str(path) in text.splitlines()[0], text  # the file, first
    assert want in text, text
    assert "fix:" in text, text


@pytest.mark.parametrize(("name", "content", "kwargs", "want"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_damaged_bar_file_is_a_clear_error(tmp_path: Path, name: str, content: Any,
                                             kwargs: dict[str, Any], want: str) -> None:
    path = _write(tmp_path, name, content)
    with pytest.raises(DataError) as info:
        read_bars(path, **kwargs)
    _check(info.value, path, want)


@pytest.mark.parametrize(("name", "content", "want"), [c[1:] for c in FUNDING],
                         ids=[c[0] for c in FUNDING])
def test_a_damaged_funding_file_is_a_clear_error(tmp_path: Path, name: str, content: Any,
                                                 want: str) -> None:
    path = _write(tmp_path, name, content)
    with pytest.raises(DataError) as info:
        read_funding(path, symbol="BTC")
    _check(info.value, path, want)


def test_the_local_time_rows_are_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "ny.csv", _csv_text(_bars(ts=[*LOCAL, *SPRING])))
    with pytest.raises(DataError) as info:
        read_bars(path, tz="America/New_York")
    rows = info.value.rows
    assert rows["row"].to_list() == [2, 5]  # 1-based data rows: 01:30 repeats, 02:30 skipped
    assert rows["local time"].to_list() == ["ambiguous", "does not exist"]
    assert info.value.column == "ts"


def test_a_good_file_still_reads(tmp_path: Path) -> None:
    path = _write(tmp_path, "big.csv", _big_csv(lambda ls: None))
    assert read_bars(path).height == N_BIG
    path = _write(tmp_path, "ny.csv", _csv_text(_bars(ts=["2024-11-03 00:30:00",
                                                          "2024-11-03 03:30:00"])))
    assert read_bars(path, tz="America/New_York").height == 2
