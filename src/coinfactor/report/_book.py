"""``book.html``: one self-contained page of today's book (orders, exposures, changes)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import polars as pl

from coinfactor.report._html import esc, frame_table, kv_table, page


def book_exposures(targets: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, float]]:
    """Exposures by coin (largest first, ties by symbol) and the book's gross, net, long, short.

    Parameters
    ----------
    targets : pl.DataFrame
        ``symbol, weight, notional`` (weights as fractions of NAV, notional in quote).

    Returns
    -------
    (pl.DataFrame, dict)
        ``symbol, side, weight, notional`` and ``gross`` (Σ|w|), ``net`` (Σw), ``long``
        (Σ of positive w), ``short`` (Σ of negative w), with the same sums of notional
        (``*_notional``).
    """
    w, n = targets["weight"], targets["notional"]
    totals = {"gross": float(w.abs().sum()), "net": float(w.sum()),
              "long": float(w.filter(w > 0).sum()), "short": float(w.filter(w < 0).sum()),
              "gross_notional": float(n.abs().sum()), "net_notional": float(n.sum()),
              "long_notional": float(n.filter(n > 0).sum()),
              "short_notional": float(n.filter(n < 0).sum())}
    by_coin = targets.select(
        "symbol", pl.when(pl.col("weight") > 0).then(pl.lit("long")).otherwise(pl.lit("short"))
        .alias("side"), "weight", "notional").sort(
        [pl.col("weight").abs(), pl.col("symbol")], descending=[True, False])
    return by_coin, totals


def book_html(summary: Mapping[str, Any], targets: pl.DataFrame, orders: pl.DataFrame,
              changes: pl.DataFrame | None = None, *,
              previous: datetime | None = None) -> str:
    """Render a book as a self-contained HTML page.

    Parameters
    ----------
    summary : mapping
        ``book.json``'s content (study, times, NAV, checks, hashes).
    targets : pl.DataFrame
        ``symbol, weight, notional, quantity, price``.
    orders : pl.DataFrame
        The order list (``symbol, side, quantity, price_ref, notional, reduce_only, status,
        reason``).
    changes : pl.DataFrame, optional
        ``symbol, weight_before, weight_after, change, ...`` against the previous book of the
        paper ledger (:func:`coinfactor.book.changes`).
    previous : datetime, optional
        As-of time of that previous book (None: the ledger holds none).

    Returns
    -------
    str
        The HTML document.
    """
    checks = summary.get("checks", [])
    failed = [c for c in checks if not c["ok"]]
    notes = "".join(
        f'<p class="note"><b>{"blocked" if c["blocking"] else "warning"}: {esc(c["code"])}'
        f"</b> {esc(c['detail'])}</p>" for c in failed)
    head = {k: summary[k] for k in ("study", "as_of", "decided_at", "last_bar", "nav",
                                     "n_orders", "n_skipped", "config_hash",
                                     "data_fingerprint") if k in summary}
    by_coin, totals = book_exposures(targets)
    placed = orders.filter(pl.col("status") == "order") if orders.height else orders
    skipped = orders.filter(pl.col("status") != "order") if orders.height else orders
    sections = [
        ("Book", notes + kv_table(head)),
        ("Gross and net", kv_table(totals)),
        ("Orders", frame_table(placed, max_rows=500) if placed.height
         else '<p class="note">no order</p>'),
    ]
    if skipped.height:
        sections.append(("Skipped orders", frame_table(skipped, max_rows=500)))
    sections.append(("Exposures by coin", frame_table(by_coin, max_rows=500)
                     if by_coin.height else '<p class="note">flat book</p>'))
    if previous is None:
        since = '<p class="note">no earlier book of this study and configuration in the ' \
                "paper ledger</p>"
    elif changes is None or changes.height == 0:
        since = f'<p class="note">no change since the book of {esc(previous)}</p>'
    else:
        since = f'<p class="note">against the book of {esc(previous)}</p>' + \
            frame_table(changes, max_rows=500)
    sections.append(("What changed since the last book", since))
    sections.append(("Checks", frame_table(pl.DataFrame(checks) if checks
                                           else pl.DataFrame())))
    title = f"coinfactor book · {summary.get('study', '')}"
    return page(title, f"as of {summary.get('as_of', '')} · no order is sent", sections)
