"""Input files of a minute import, found and read in bounded batches.

A source is one file (CSV, CSV.gz or Parquet; long, or one symbol per file), a folder of
per-symbol files of ONE format (seed 000's layout: ``<SYMBOL>.csv.gz`` with the bar open in
``origin_time``), or a hive-partitioned Parquet folder (``symbol=BTCUSDT/year=2024/...``).
Columns are mapped to the canonical panel by the readers' aliases
(:data:`coinfactor.data._readers.ALIASES`); the symbol comes from the ``symbol`` column, else
a ``symbol=`` hive key, else the file's name. Naive times are UTC (as in
:func:`coinfactor.data.read_bars`).

Nothing reads a whole file: Parquet is read in runs of whole row groups of up to
:data:`PARQUET_BATCH_ROWS` rows (a larger row group alone; writers cap them, polars' default
is 512 x 512 rows), CSV (plain or gzip) in text blocks of :data:`CSV_BLOCK_BYTES` cut at a
line end and parsed by polars with the column types of the first block, so a batch holds at
most about a million rows whatever the file. One read of a million rows costs less than
eight reads of a row group each (measured on seed 000's layout, issue 19).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import polars as pl
import pyarrow.parquet as pq

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.data._readers import _rename
from coinfactor.data.store._names import check_symbol

CSV_BLOCK_BYTES = 64 << 20
"""Decompressed CSV text parsed at a time (about 500,000 one-minute rows)."""
PARQUET_BATCH_ROWS = 1 << 20
"""Rows of consecutive whole Parquet row groups read at a time (about 100 MB of bars)."""
_GZIP_READ = 1 << 20
"""Compressed bytes handed to the decompressor at a time."""
_FORMATS = {".csv": "csv", ".csv.gz": "csv.gz", ".parquet": "parquet", ".pq": "parquet"}
_SYMBOL_KEYS = ("symbol", "ticker", "coin", "pair")


@dataclass(frozen=True)
class SourceFile:
    """One input file: its path, format, hive keys and the symbol its name tells."""

    path: Path
    kind: str
    """``"csv"`` (plain or gzip) or ``"parquet"``."""
    hive: dict[str, str] = field(default_factory=dict)
    name_symbol: str | None = None


def _format(path: Path) -> str | None:
    name = path.name.lower()
    for ext in (".csv.gz", ".csv", ".parquet", ".pq"):
        if name.endswith(ext):
            return _FORMATS[ext]
    return None


def _stem(path: Path) -> str:
    name = path.name
    for ext in (".csv.gz", ".csv", ".parquet", ".pq"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return path.stem


def _ignored(path: Path) -> bool:
    """Hidden files and writer markers (``.DS_Store``, ``_SUCCESS``) are not data."""
    return path.name.startswith((".", "_"))


def discover(path: str | Path) -> tuple[list[SourceFile], str]:
    """Find the input files of ``path``; return them (sorted) and the layout's name.

    Returns
    -------
    (list of SourceFile, str)
        The files and ``"file"``, ``"folder of <fmt> files"`` or ``"hive-partitioned
        Parquet"``.

    Raises
    ------
    DataError
        When ``path`` does not exist, holds no data file, mixes formats (CSV beside Parquet,
        files beside hive partitions) or holds files of an unknown format.
    """
    root = Path(path)
    if not root.exists():
        raise DataError(f"import: {str(root)!r} does not exist",
                        fix="pass a CSV/CSV.gz/Parquet file or a folder of them")
    if root.is_file():
        fmt = _format(root)
        if fmt is None:
            raise DataError(f"import: expected a .csv, .csv.gz or .parquet file, got "
                            f"{root.name!r}", fix="convert the file, or pass a folder")
        return [SourceFile(root, "parquet" if fmt == "parquet" else "csv",
                           name_symbol=_stem(root))], "file"
    entries = sorted(p for p in root.iterdir() if not _ignored(p))
    dirs = [p for p in entries if p.is_dir()]
    files = [p for p in entries if p.is_file()]
    if dirs and all("=" in d.name for d in dirs):
        if files:
            raise DataError(
                f"import: {str(root)!r} mixes hive partitions ({dirs[0].name}/ ...) with "
                f"{len(files)} plain file(s) ({files[0].name}, ...); expected one or the other",
                fix="move the plain files out, or import them separately")
        return _hive(root), "hive-partitioned Parquet"
    if dirs:
        raise DataError(
            f"import: {str(root)!r} holds sub-folders that are not hive partitions "
            f"({', '.join(d.name for d in dirs[:3])}); expected per-symbol files or "
            "key=value partition folders", fix="import each folder on its own")
    by_format: dict[str, list[Path]] = {}
    unknown = []
    for f in files:
        fmt = _format(f)
        (unknown.append(f) if fmt is None else by_format.setdefault(fmt, []).append(f))
    if unknown:
        raise DataError(
            f"import: {str(root)!r} holds {len(unknown)} file(s) of no supported format "
            f"({', '.join(u.name for u in unknown[:3])}); expected only .csv, .csv.gz or "
            ".parquet files", fix="move the other files out of the folder")
    if not by_format:
        raise DataError(f"import: the folder {str(root)!r} holds no data files",
                        fix="pass a folder of per-symbol .csv, .csv.gz or .parquet files")
    if len(by_format) > 1:
        counts = ", ".join(f"{len(v)} {k}" for k, v in sorted(by_format.items()))
        raise DataError(
            f"import: {str(root)!r} mixes file formats ({counts}); expected files of one "
            "format (one file per symbol)",
            fix="keep one format per folder (the same symbol twice in two formats would be "
            "imported twice) and import the others from their own folder")
    (fmt, paths), = by_format.items()
    kind = "parquet" if fmt == "parquet" else "csv"
    return [SourceFile(p, kind, name_symbol=_stem(p)) for p in paths], f"folder of {fmt} files"


def _hive(root: Path) -> list[SourceFile]:
    out: list[SourceFile] = []
    for p in sorted(root.rglob("*")):
        if not p.is_file() or any(_ignored(Path(part)) for part in p.relative_to(root).parts):
            continue
        if _format(p) != "parquet":
            raise DataError(
                f"import: the hive-partitioned folder {str(root)!r} holds {str(p)!r}, not a "
                ".parquet file; expected only Parquet files under key=value folders",
                fix="move the other files out of the dataset")
        keys: dict[str, str] = {}
        for part in p.relative_to(root).parts[:-1]:
            if "=" not in part:
                raise DataError(f"import: {str(p)!r} sits in the folder {part!r}, which is no "
                                "key=value hive partition", fix="use key=value folder names")
            k, v = part.split("=", 1)
            keys[k.lower()] = v
        out.append(SourceFile(p, "parquet", hive=keys))
    if not out:
        raise DataError(f"import: the hive-partitioned folder {str(root)!r} holds no "
                        ".parquet files", fix="check the path")
    return out


def _gunzip(path: Path, fh: IO[bytes], block: int) -> Iterator[bytes]:
    """Yield the decompressed bytes of the gzip file ``fh`` as zlib gives them.

    The members of the file follow one another; each piece is at most ``block`` bytes.
    :mod:`zlib` directly: :mod:`gzip`'s buffered reader costs 1.6x the CPU for the same
    bytes (measured on seed 000's files), and nothing is copied to join pieces here.

    Raises
    ------
    DataError
        When the file is not gzip data or ends inside a member (a truncated download).
    """
    inflate = zlib.decompressobj(wbits=31)
    fed = False  # the current member has input
    try:
        while data := fh.read(min(_GZIP_READ, block)):
            while data:
                piece = inflate.decompress(data, block)
                fed = True
                if piece:
                    yield piece
                data = inflate.unconsumed_tail
                if inflate.eof:  # a member ends: the next one (if any) is in unused_data
                    data = inflate.unused_data
                    inflate, fed = zlib.decompressobj(wbits=31), False
    except zlib.error as exc:
        raise DataError(f"import {str(path)!r}: not readable gzip data ({exc})",
                        fix="re-export or re-download the file") from exc
    if fed and not inflate.eof:
        raise DataError(f"import {str(path)!r}: the gzip data ends before its end marker "
                        "(a truncated file)", fix="re-export or re-download the file")


def _text(path: Path, block: int) -> Iterator[bytes]:
    """Yield the file's bytes (decompressed if gzip) in pieces of about ``block`` bytes."""
    with path.open("rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
        fh.seek(0)
        if gz:
            yield from _gunzip(path, fh, block)
            return
        while chunk := fh.read(block):
            yield chunk


def _csv_blocks(path: Path, block: int) -> Iterator[bytes]:
    """Yield the file's text (gzip read as a stream) as whole lines of about ``block`` bytes.

    The first block starts with the header; the blocks joined are the text (a last line
    without a line end gets one). A block ends at the last line end within ``block`` bytes
    (at the first after them, for a longer line); its bytes are copied once.
    """
    pieces: list[bytes] = []
    size = 0
    for piece in _text(path, block):
        pieces.append(piece)
        size += len(piece)
        while size >= block and (out := _take_lines(pieces, block)) is not None:
            size -= len(out)
            yield out
    if size:
        rest = b"".join(pieces)
        yield rest if rest.endswith(b"\n") else rest + b"\n"


def _take_lines(pieces: list[bytes], block: int) -> bytes | None:
    """Remove the first whole lines of about ``block`` bytes from ``pieces`` and return them.

    None (``pieces`` unchanged) when the text holds no line end yet.
    """
    total, j = 0, 0
    while total + len(pieces[j]) < block:  # pieces[j] holds byte ``block`` of the text
        total += len(pieces[j])
        j += 1
    cut = pieces[j].rfind(b"\n", 0, block - total)
    i = j
    while cut < 0 and i > 0:  # the last line end before byte ``block`` is in an earlier piece
        i -= 1
        cut = pieces[i].rfind(b"\n")
    if cut < 0:  # a line longer than ``block``: up to its end
        i, cut = j, pieces[j].find(b"\n", block - total)
        while cut < 0 and i + 1 < len(pieces):
            i += 1
            cut = pieces[i].find(b"\n")
        if cut < 0:
            return None
    out = b"".join([*pieces[:i], pieces[i][: cut + 1]])
    rest = pieces[i][cut + 1:]
    pieces[: i + 1] = [rest] if rest else []
    return out


def _csv_batches(src: SourceFile, block: int) -> Iterator[pl.DataFrame]:
    schema: dict[str, pl.DataType] | None = None
    line = 1
    for text in _csv_blocks(src.path, block):
        try:
            if schema is None:  # the first block: the header and the column types
                frame = pl.read_csv(text, infer_schema_length=10_000, try_parse_dates=False)
                schema = dict(frame.schema)
            else:
                frame = pl.read_csv(text, has_header=False, schema=schema,
                                    try_parse_dates=False)
        except Exception as exc:  # polars raises several error types on bad text
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(
                f"import {str(src.path)!r}: could not parse the CSV lines from line {line + 1} "
                f"on with the column types of its first lines {_types(schema)} ({first})",
                fix="repair or drop the offending line (a value of another type, a stray "
                "separator, binary data)") from exc
        line += frame.height
        yield frame


def _types(schema: dict[str, pl.DataType] | None) -> str:
    return "(not known yet)" if schema is None else str({k: str(v) for k, v in schema.items()})


def _runs(sizes: list[int], rows: int) -> Iterator[tuple[int, int, int]]:
    """Consecutive row groups of about ``rows`` rows: ``(first group, offset, rows)``."""
    first, offset, n = 0, 0, 0
    for i, size in enumerate(sizes):
        if n and n + size > rows:
            yield first, offset, n
            first, offset, n = i, offset + n, 0
        n += size
    if n:
        yield first, offset, n


def _parquet_batches(src: SourceFile) -> Iterator[pl.DataFrame]:
    """Yield runs of whole row groups (polars reads only the row groups a slice covers)."""
    try:
        meta = pq.ParquetFile(src.path).metadata
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        if not sizes:
            yield pl.read_parquet(src.path)
            return
    except Exception as exc:  # pyarrow raises several types on a damaged file
        raise DataError(f"import {str(src.path)!r}: not a readable Parquet file "
                        f"({type(exc).__name__}: {exc})",
                        fix="re-export or re-download it") from exc
    for i, offset, n in _runs(sizes, PARQUET_BATCH_ROWS):
        try:
            out = pl.scan_parquet(src.path).slice(offset, n).collect()
        except Exception as exc:  # polars raises several types on damaged data
            raise DataError(f"import {str(src.path)!r}: the row group(s) from {i} on, rows "
                            f"{offset + 1:,} to {offset + n:,}, are not readable "
                            f"({type(exc).__name__}: {exc})",
                            fix="re-export or re-download the file") from exc
        yield out


def read_batches(src: SourceFile, *, csv_block: int | None = None
                 ) -> Iterator[pl.DataFrame]:
    """Yield the rows of ``src`` in batches, columns mapped, symbol and UTC ``ts`` set.

    The frames are not validated yet (:func:`coinfactor.data.validate_panel` does that); a
    naive ``ts`` is read as UTC; extra columns are kept (the panel check drops them).

    Raises
    ------
    DataError
        On an unreadable file, CSV text that does not parse with the types of the file's first
        lines, or a file with neither a symbol column nor a symbol in its name or hive keys.
    """
    block = CSV_BLOCK_BYTES if csv_block is None else csv_block
    batches = _parquet_batches(src) if src.kind == "parquet" else _csv_batches(src, block)
    for raw in batches:
        yield _map_columns(raw, src)


def _map_columns(raw: pl.DataFrame, src: SourceFile) -> pl.DataFrame:
    df = _rename(raw, None)
    if "symbol" not in df.columns:
        sym = next((src.hive[k] for k in _SYMBOL_KEYS if k in src.hive), src.name_symbol)
        try:
            sym = check_symbol(sym)
        except ConfigError as exc:
            raise DataError(
                f"import {str(src.path)!r}: no symbol column (got {raw.columns}) and the file "
                f"name or partition does not tell a valid symbol ({sym!r})",
                column="symbol",
                fix="add a 'symbol' column, or name each file after its symbol "
                "(BTCUSDT.csv.gz), or partition by symbol=...") from exc
        df = df.with_columns(pl.lit(sym, dtype=pl.String).alias("symbol"))
    if "ts" in df.columns:
        dtype = df.schema["ts"]
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
            df = df.with_columns(pl.col("ts").dt.replace_time_zone("UTC"))
    return df
