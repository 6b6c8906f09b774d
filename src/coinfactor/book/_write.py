"""Book directories and positions files.

A book directory holds ``targets.parquet``, ``orders.csv``, ``book.json`` and ``book.html``;
positions are read from a CSV file of ``symbol, quantity``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import polars as pl

from coinfactor.book._book import Book
from coinfactor.core.errors import ConfigError, DataError
from coinfactor.report import book_html

BOOK_FILES = ("targets.parquet", "orders.csv", "book.json", "book.html")
"""The files of a book directory (``book.json`` marks it as one)."""


def write_book(book: Book, out: str | Path, *, overwrite: bool = False,
               changes: pl.DataFrame | None = None) -> Path:
    """Write ``book`` to the directory ``out``, all files or none.

    The files are written to a temporary directory beside ``out`` and renamed into place. An
    existing ``out`` is replaced only if it is a book directory (holds ``book.json`` and no
    file but those of :data:`BOOK_FILES`) and ``overwrite`` is set.

    Parameters
    ----------
    book : Book
        The book.
    out : str or Path
        Target directory.
    overwrite : bool, default False
        Replace an existing book directory.
    changes : pl.DataFrame, optional
        Changes since the previous book, for ``book.html``.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ConfigError
        If ``out`` exists and is not a book directory, or is one and ``overwrite`` is not set.
    """
    target = Path(out)
    check_book_dir(target, overwrite=overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        book.targets.write_parquet(tmp / "targets.parquet")
        book.orders.write_csv(tmp / "orders.csv")
        summary = book.summary()
        (tmp / "book.json").write_text(json.dumps(summary, indent=2, default=str), "utf-8")
        (tmp / "book.html").write_text(book_html(summary, book.targets, book.orders, changes),
                                       "utf-8")
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def check_book_dir(target: Path, *, overwrite: bool) -> None:
    """Refuse an ``--out`` that is not a book directory, or one without ``overwrite``."""
    if str(target) in ("", "."):
        raise ConfigError("book: --out must name a new directory, got the current directory",
                          )
    if not target.exists():
        return
    if not target.is_dir():
        raise ConfigError(f"book: --out {str(target)!r} is a file; expected a directory")
    names = {p.name for p in target.iterdir()}
    if not names:
        return
    if "book.json" not in names or names - set(BOOK_FILES):
        raise ConfigError(f"book: {str(target)!r} exists and is not a book directory (it holds "
                          f"{sorted(names)[:5]}); nothing was written",
                          )
    if not overwrite:
        raise ConfigError(f"book: {str(target)!r} holds a book; pass --overwrite to replace it")


def read_positions(path: str | Path) -> dict[str, float]:
    """Read current positions from a CSV file with columns ``symbol, quantity`` (contracts).

    Raises
    ------
    DataError
        On a missing file or column, a duplicated symbol, or a non-finite quantity.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"positions file {str(p)!r} does not exist",
                        fix="write a CSV with columns symbol, quantity (contracts)")
    try:
        frame = pl.read_csv(p, schema_overrides={"symbol": pl.String, "quantity": pl.Float64})
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataError(f"positions file {str(p)!r}: cannot be read as CSV ({exc})",
                        fix="write a CSV with columns symbol, quantity (contracts)") from exc
    missing = [c for c in ("symbol", "quantity") if c not in frame.columns]
    if missing:
        raise DataError(f"positions file {str(p)!r}: missing column(s) {missing}, got "
                        f"{frame.columns}", fix="columns: symbol, quantity (contracts)")
    dup = frame.filter(pl.col("symbol").is_duplicated())
    if dup.height:
        raise DataError(f"positions file {str(p)!r}: symbol(s) listed twice",
                        rows=dup.head(5), fix="one row per symbol")
    out = dict(zip(frame["symbol"].to_list(), frame["quantity"].to_list(), strict=True))
    bad = {s: q for s, q in out.items() if q is None or not math.isfinite(q)}
    if bad:
        raise DataError(f"positions file {str(p)!r}: quantities must be finite numbers, got "
                        f"{dict(list(bad.items())[:5])}", fix="fix or drop those rows")
    return out
