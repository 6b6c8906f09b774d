"""Book directories and positions files.

A book directory holds ``targets.parquet``, ``orders.csv``, ``book.json`` and ``book.html``;
positions are read from a CSV file of ``symbol, quantity``.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import polars as pl

from coinfactor.book._book import Book
from coinfactor.core.errors import DataError
from coinfactor.report import book_html
from coinfactor.studies import write_run_dir

BOOK_FILES = ("targets.parquet", "orders.csv", "book.json", "book.html")
"""The files of a book directory (besides its manifest)."""


def write_book(book: Book, out: str | Path, *, overwrite: bool = False,
               changes: pl.DataFrame | None = None,
               previous: datetime | None = None) -> Path:
    """Write ``book`` to the directory ``out``, all files or none.

    The same writer as a study's run directory (:func:`coinfactor.studies.write_run_dir`):
    the files go to a temporary directory beside ``out``, a manifest lists them, and the
    directory is renamed into place. An existing ``out`` is replaced only if it is a
    coinfactor output directory and ``overwrite`` is set; anything else is refused before
    anything is written.

    Parameters
    ----------
    book : Book
        The book.
    out : str or Path
        Target directory.
    overwrite : bool, default False
        Replace an existing book directory.
    changes : pl.DataFrame, optional
        Changes since the previous book (:func:`coinfactor.book.changes`), for
        ``book.html``.
    previous : datetime, optional
        As-of time of that previous book (None: there is none).

    Returns
    -------
    Path
        The book directory.

    Raises
    ------
    ConfigError
        If ``out`` may not be written; nothing is written.
    """
    summary = book.summary()

    def fill(tmp: Path) -> None:
        book.targets.write_parquet(tmp / "targets.parquet")
        book.orders.write_csv(tmp / "orders.csv")
        (tmp / "book.json").write_text(json.dumps(summary, indent=2, default=str), "utf-8")
        (tmp / "book.html").write_text(
            book_html(summary, book.targets, book.orders, changes, previous=previous), "utf-8")
    return write_run_dir(out, fill, study=f"book:{book.study}", overwrite=overwrite)


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
