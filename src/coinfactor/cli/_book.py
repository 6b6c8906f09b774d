"""``coinfactor book FILE --nav USD --out DIR``: today's book of a study, as checked orders."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from coinfactor.cli._app import app, console
from coinfactor.cli._errors import user_errors
from coinfactor.core.errors import ConfigError


def _parse_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"--as-of: expected an ISO time such as 2025-07-01T12:00:00Z, got "
                          f"{text!r}") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@app.command("book")
def book_command(
    config: Path = typer.Argument(..., help="Study config (TOML) of a study that holds a book."),
    nav: float = typer.Option(..., "--nav", help="Account equity in USD (quote currency)."),
    out: Path = typer.Option(..., "--out", help="Book directory to write."),
    positions: Path | None = typer.Option(None, "--positions", help="CSV of current "
                                          "positions: symbol, quantity (contracts)."),
    markets: Path | None = typer.Option(None, "--markets", help="JSON of the venue's markets "
                                        "(ccxt load_markets output, keyed by the book's "
                                        "symbols) with 'precisionMode' and 'timestamp'."),
    as_of: str | None = typer.Option(None, "--as-of", help="Clock of the book (ISO time, UTC; "
                                     "default now): the last complete bar and staleness."),
    allow_stale: bool = typer.Option(False, "--allow-stale", help="Report stale data "
                                     "without blocking."),
    max_gross: float = typer.Option(3.0, "--max-gross", help="Largest target gross."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing book "
                                   "directory."),
) -> None:
    """Compute a study's book at the last complete bar and write exchange-valid orders.

    No order is sent to any venue. Exits 3 when a blocking check fails (stale data or
    markets, NAV not positive, gross above the maximum, unknown markets).
    """
    from coinfactor.book import BookSettings, MarketRules, build_book, read_positions, write_book
    from coinfactor.core.rundir import check_out_dir

    with user_errors():
        check_out_dir(out, overwrite=overwrite)
        if not config.is_file():
            raise ConfigError(f"config file {str(config)!r} does not exist")
        try:
            raw = tomllib.loads(config.read_text("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config}: not valid TOML: {exc}") from exc
        rules = None
        taken = None
        if markets is not None:
            spec = json.loads(markets.read_text("utf-8"))
            mode = int(spec.get("precisionMode", 4))
            taken = datetime.fromtimestamp(spec["timestamp"] / 1000, UTC) \
                if "timestamp" in spec else None
            rules = {s: MarketRules.from_ccxt(s, m, mode)
                     for s, m in (spec.get("markets") or {}).items()}
        book = build_book(
            raw, nav=nav, positions=read_positions(positions) if positions else None,
            markets=rules, markets_as_of=taken, as_of=_parse_time(as_of),
            settings=BookSettings(allow_stale=allow_stale, max_gross=max_gross),
            base_dir=config.parent)
        write_book(book, out, overwrite=overwrite)
    table = Table(title=f"{book.study} book at {book.decided_at} (as of {book.as_of})")
    for col in ("symbol", "side", "quantity", "notional", "reduce_only", "status", "reason"):
        table.add_column(col, justify="right" if col in ("quantity", "notional") else "left")
    for row in book.orders.iter_rows(named=True):
        table.add_row(escape(str(row["symbol"])), row["side"], f"{row['quantity']:.6g}",
                      f"{row['notional']:,.2f}", str(row["reduce_only"]), row["status"],
                      escape(str(row["reason"])))
    console.print(table)
    for check in book.checks:
        if not check.ok:
            kind = "blocked" if check.blocking else "warning"
            console.print(f"{kind}: {check.code}: {check.detail}", markup=False,
                          highlight=False)
    console.print(f"wrote {out} (no order is sent)", markup=False)
    if book.blocked:
        raise typer.Exit(code=3)
