"""``book.html``: one self-contained page of today's book (orders, exposures, changes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from coinfactor.report._html import esc, frame_table, kv_table, page


def book_html(summary: Mapping[str, Any], targets: pl.DataFrame, orders: pl.DataFrame,
              changes: pl.DataFrame | None = None) -> str:
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
        ``symbol, weight_before, weight_after, change`` against the previous book.

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
    head = {k: summary[k] for k in ("study", "as_of", "decided_at", "last_bar", "nav", "gross",
                                     "net", "n_orders", "n_skipped", "config_hash",
                                     "data_fingerprint") if k in summary}
    exposure = targets.select("symbol", "weight", "notional").sort(
        pl.col("weight").abs(), descending=True)
    sections = [
        ("Book", notes + kv_table(head)),
        ("Checks", frame_table(pl.DataFrame(checks) if checks else pl.DataFrame())),
        ("Orders", frame_table(orders, max_rows=200) if orders.height
         else '<p class="note">no order</p>'),
        ("Exposures by coin", frame_table(exposure, max_rows=200)),
    ]
    if changes is not None:
        sections.append(("Changes since the last book", frame_table(changes, max_rows=200)))
    title = f"coinfactor book · {summary.get('study', '')}"
    return page(title, f"as of {summary.get('as_of', '')} · no order is sent", sections)
