"""The paper ledger: books appended to the store, listed, compared and read back for replay.

Each book is one row of the store's ``books`` table, keyed by study, configuration hash and
as-of time (writing the same book again replaces its row: appending is idempotent). A row
holds the book's times, NAV, outcome (blocked or not), data fingerprint, and its targets,
orders and ``book.json`` summary as JSON text.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import polars as pl

from coinfactor.book._book import Book
from coinfactor.core.errors import DataError
from coinfactor.data.store import BOOK_SCHEMA, Store

CHANGE_COLUMNS = ("symbol", "weight_before", "weight_after", "change", "quantity_before",
                  "quantity_after")
"""Columns of :func:`changes`."""
_TARGET_SCHEMA = {"symbol": pl.String, "weight": pl.Float64, "notional": pl.Float64,
                  "quantity": pl.Float64, "price": pl.Float64}


def ledger_row(book: Book) -> pl.DataFrame:
    """Return the book as one row of the store's ``books`` table (:data:`BOOK_SCHEMA`)."""
    row = {"study": book.study, "config_hash": book.config_hash, "as_of": book.as_of,
           "decided_at": book.decided_at, "last_bar": book.last_bar, "nav": book.nav,
           "blocked": book.blocked, "data_fingerprint": book.data_fingerprint,
           "targets": book.targets.write_json(), "orders": book.orders.write_json(),
           "summary": json.dumps(book.summary(), default=str, sort_keys=True)}
    return pl.DataFrame([row], schema=BOOK_SCHEMA)


def record(book: Book, store: Store) -> bool:
    """Append ``book`` to the store's paper ledger; True if it is new (not a rewrite).

    Raises
    ------
    DataError
        If the store cannot be written (named by the store).
    """
    return store.write_books(ledger_row(book)) > 0


def history(store: Store, *, study: str | None = None,
            config_hash: str | None = None) -> pl.DataFrame:
    """List the recorded books, oldest first.

    Returns
    -------
    pl.DataFrame
        ``study, config_hash, as_of, decided_at, last_bar, nav, blocked, n_targets,
        n_orders, gross, net, data_fingerprint``.
    """
    rows = store.query_books(study=study, config_hash=config_hash)
    out = []
    for r in rows.iter_rows(named=True):
        s = json.loads(r["summary"])
        out.append({k: r[k] for k in ("study", "config_hash", "as_of", "decided_at",
                                      "last_bar", "nav", "blocked")}
                   | {"n_targets": int(s.get("n_targets", 0)),
                      "n_orders": int(s.get("n_orders", 0)),
                      "gross": float(s.get("gross", 0.0)), "net": float(s.get("net", 0.0)),
                      "data_fingerprint": r["data_fingerprint"]})
    schema = {k: BOOK_SCHEMA[k] for k in ("study", "config_hash", "as_of", "decided_at",
                                          "last_bar", "nav", "blocked")}
    schema |= {"n_targets": pl.Int64(), "n_orders": pl.Int64(), "gross": pl.Float64(),
               "net": pl.Float64(), "data_fingerprint": pl.String()}
    return (pl.DataFrame(out, schema=schema) if out else pl.DataFrame(schema=schema)).sort(
        "as_of", "study", "config_hash")


def targets_of(row: dict[str, Any]) -> pl.DataFrame:
    """Return the targets of one ``books`` row: ``symbol, weight, notional, quantity, price``."""
    frame = pl.read_json(row["targets"].encode(), schema=_TARGET_SCHEMA) \
        if row["targets"] not in ("", "[]") else pl.DataFrame(schema=_TARGET_SCHEMA)
    return frame.select(list(_TARGET_SCHEMA))


def previous(store: Store, book: Book) -> dict[str, Any] | None:
    """Return the last recorded book of the same study and config before ``book.as_of``."""
    rows = store.query_books(study=book.study, config_hash=book.config_hash).filter(
        pl.col("as_of") < book.as_of)
    return rows.row(rows.height - 1, named=True) if rows.height else None


def changes(before: pl.DataFrame | None, after: pl.DataFrame) -> pl.DataFrame:
    """Compare two books' targets per symbol (a symbol absent is flat).

    Parameters
    ----------
    before, after : pl.DataFrame
        ``symbol, weight, quantity`` of the previous (None: none) and the new book.

    Returns
    -------
    pl.DataFrame
        :data:`CHANGE_COLUMNS`, the symbols whose weight changed, largest change first
        (ties by symbol).
    """
    empty = pl.DataFrame(schema={"symbol": pl.String, "weight": pl.Float64,
                                 "quantity": pl.Float64})
    old = (before if before is not None else empty).select("symbol", "weight", "quantity")
    new = after.select("symbol", "weight", "quantity")
    joined = old.join(new, on="symbol", how="full", coalesce=True, suffix="_after").select(
        "symbol", pl.col("weight").fill_null(0.0).alias("weight_before"),
        pl.col("weight_after").fill_null(0.0), pl.col("quantity").fill_null(0.0)
        .alias("quantity_before"), pl.col("quantity_after").fill_null(0.0))
    out = joined.with_columns((pl.col("weight_after") - pl.col("weight_before"))
                              .alias("change")).filter(pl.col("change") != 0.0)
    return out.select(CHANGE_COLUMNS).sort([pl.col("change").abs(), pl.col("symbol")],
                                           descending=[True, False])


def ledger_weights(rows: pl.DataFrame) -> pl.DataFrame:
    """``decided_at, symbol, weight`` of recorded books, for :func:`coinfactor.book.replay`.

    Blocked books are left out (no order was emitted: the paper account did not trade).
    When several books share a decision bar, the one with the latest as-of time counts. A
    book with no target is a decision to be flat: it is written as zero weights on the
    previous book's symbols.

    Raises
    ------
    DataError
        If no unblocked book is left.
    """
    live = rows.filter(~pl.col("blocked")).sort("as_of").unique(
        "decided_at", keep="last", maintain_order=True).sort("decided_at")
    if live.height == 0:
        raise DataError(f"replay: none of the {rows.height} recorded book(s) emitted orders "
                        "(each was blocked or none was recorded)",
                        fix="record books with `coinfactor book FILE ...` first")
    parts: list[pl.DataFrame] = []
    last: list[str] = []
    for r in live.iter_rows(named=True):
        t = targets_of(r).select("symbol", "weight")
        if t.height == 0 and last:
            t = pl.DataFrame({"symbol": last, "weight": [0.0] * len(last)})
        last = t["symbol"].to_list() or last
        decided: datetime = r["decided_at"]
        parts.append(t.select(pl.lit(decided).cast(BOOK_SCHEMA["decided_at"])
                              .alias("decided_at"), "symbol", "weight"))
    return pl.concat(parts)
