"""Parquet import and Parquet/CSV export of the store's bars, in bounded memory.

An import checks the file's keys as a whole (one row per (symbol, ts), one bar frequency, the
declared frequency equal to the data's), then validates it by groups of symbols of about
:data:`IMPORT_CHUNK_ROWS` rows, each written as a keyed Parquet part into a temporary
directory beside the store; only when every part is valid does one transaction upsert them
all, DuckDB reading the parts itself. Memory is set by a group, not by the file: nothing is
written when any part is invalid, and a failure in the transaction rolls everything back.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.data._schema import (
    PANEL_SCHEMA,
    REQUIRED_COLUMNS,
    infer_freq,
    validate_keys,
    validate_panel,
)
from coinfactor.data.store._frames import bar_frame, check_frame_symbols
from coinfactor.data.store._names import check_freq

IMPORT_CHUNK_ROWS = 2_000_000
"""Rows validated and written at a time by an import (a group holds whole symbols)."""

EXPORT_FORMATS = (".parquet", ".csv")
"""File name extensions :func:`export_frame` writes (the format follows the extension)."""


def _read_error(path: Path, exc: BaseException) -> DataError:
    return DataError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})",
                     fix="check that the file is a complete Parquet file (a canonical panel)")


def symbol_groups(counts: pl.DataFrame, rows: int) -> list[list[str]]:
    """Split ``symbol, len`` rows into consecutive groups of about ``rows`` rows (>= 1 symbol)."""
    groups: list[list[str]] = []
    current: list[str] = []
    size = 0
    for symbol, n in counts.select("symbol", "len").iter_rows():
        if current and size + n > rows:
            groups.append(current)
            current, size = [], 0
        current.append(symbol)
        size += n
    if current:
        groups.append(current)
    return groups


def nearest_dir(path: Path) -> Path:
    """Return the store's directory, or its nearest existing ancestor (nothing is created)."""
    parent = path.parent.resolve()
    while not parent.is_dir():
        parent = parent.parent
    return parent


@contextmanager
def staged_import(
    path: Path, store_path: Path, *, exchange: str, market: str, freq: str | None,
    chunk_rows: int | None = None,
) -> Iterator[tuple[list[Path], str, int, datetime, datetime]]:
    """Validate the panel file ``path`` into keyed Parquet parts; yield them and their range.

    Yields ``(parts, freq, rows, first ts, last ts)``; the parts are deleted on exit.

    Raises
    ------
    DataError
        When the file is missing or unreadable, a key rule or a row rule fails, or the
        declared ``freq`` differs from the data's; nothing has been written then.
    """
    if not path.is_file():
        raise DataError(f"parquet file {str(path)!r} does not exist", fix="check the path")
    try:
        schema = pl.read_parquet_schema(path)
        keys = pl.read_parquet(path, columns=[str(c) for c in ("symbol", "ts") if c in schema])
    except Exception as exc:  # polars raises several types for unreadable files
        raise _read_error(path, exc) from exc
    if not set(REQUIRED_COLUMNS) <= set(schema):
        validate_panel(pl.DataFrame(schema=schema))  # names the missing column(s)
    keys = validate_keys(keys, freq=check_freq(freq) if freq is not None else None)
    fq = check_freq(freq) if freq is not None else infer_freq(keys)
    per_symbol = keys.group_by("symbol").len().sort("symbol")
    n_rows = keys.height
    first, last = keys["ts"].min(), keys["ts"].max()
    del keys
    groups = symbol_groups(per_symbol, chunk_rows or IMPORT_CHUNK_ROWS)
    ids = {"exchange": exchange, "market": market}
    with tempfile.TemporaryDirectory(prefix=".coinfactor-import-",
                                     dir=nearest_dir(store_path)) as tmp:
        parts: list[Path] = []
        for i, group in enumerate(groups):
            try:
                raw = pl.scan_parquet(path).filter(pl.col("symbol").is_in(group)).collect()
            except Exception as exc:  # polars raises several types
                raise _read_error(path, exc) from exc
            panel = validate_panel(raw.sort("symbol", "ts"), freq=fq)
            del raw
            check_frame_symbols(panel)
            part = Path(tmp) / f"part-{i:05d}.parquet"
            extras = [c for c in panel.columns if c not in PANEL_SCHEMA]
            bar_frame(panel.select([*PANEL_SCHEMA, *extras]), ids, fq).write_parquet(part)
            parts.append(part)
            del panel
        assert isinstance(first, datetime) and isinstance(last, datetime)
        yield parts, fq, n_rows, first.replace(tzinfo=None), last.replace(tzinfo=None)


def check_export_target(out: str | Path) -> Path:
    """Return ``out`` as a path if its extension names an export format, else raise.

    Raises
    ------
    DataError
        When the extension is neither ``.parquet`` nor ``.csv``, or ``out`` is a directory.
    """
    target = Path(out)
    suffix = target.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise DataError(
            f"export: cannot tell the format of {str(target)!r} from its extension "
            f"{suffix or '(none)'!r}; expected one of {list(EXPORT_FORMATS)}",
            fix="name the file panel.parquet (a canonical panel) or panel.csv",
        )
    if target.is_dir():
        raise DataError(f"export: {str(target)!r} is a directory; expected a file name",
                        fix="pass a file path such as panel.parquet")
    return target


def export_frame(panel: pl.DataFrame, out: str | Path) -> Path:
    """Write ``panel`` to ``out`` as Parquet or CSV (from the extension), atomically.

    The file is written beside the target under a temporary name and renamed into place, so
    a failure leaves no partial file and an existing file is replaced only when complete.

    Raises
    ------
    DataError
        When the extension names no format (:func:`check_export_target`) or the file cannot
        be written; nothing is left behind then.
    """
    target = check_export_target(out)
    suffix = target.suffix.lower()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                        dir=target.parent)
    except OSError as exc:
        raise DataError(f"export: could not write {str(target)!r}: {exc}",
                        fix="check the directory is writable") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if suffix == ".parquet":
            panel.write_parquet(tmp)
        else:
            panel.write_csv(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"export: could not write {str(target)!r}: {exc}",
                        fix="check the directory exists, is writable and has free space; "
                        "nothing was written") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
