"""``coinfactor book``: today's book of a study as checked orders, its ledger and its replay.

``coinfactor book FILE --nav USD --out DIR`` (the same as ``coinfactor book run FILE ...``)
computes the book; ``coinfactor book history`` lists the recorded books; ``coinfactor book
replay FILE`` marks them to later bars next to the study's backtest. No order is sent to any
venue.
"""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from coinfactor.cli._app import app, console
from coinfactor.cli._errors import user_errors
from coinfactor.core.errors import ConfigError


class _BookGroup(TyperGroup):
    """A group where ``book FILE ...`` is ``book run FILE ...``.

    A first argument that names no subcommand (nor asks for help) is the study config of
    ``run``.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


book_app = typer.Typer(cls=_BookGroup, no_args_is_help=True, help=(
    "Today's book of a study (orders, never sent), its paper ledger and replay. "
    "`coinfactor book FILE ...` is `coinfactor book run FILE ...`."))
app.add_typer(book_app, name="book")


def _parse_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"--as-of: expected an ISO time such as 2025-07-01T12:00:00Z, got "
                          f"{text!r}") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _read_config(config: Path) -> dict[str, Any]:
    if not config.is_file():
        raise ConfigError(f"config file {str(config)!r} does not exist")
    try:
        return tomllib.loads(config.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config}: not valid TOML: {exc}") from exc


def _markets_file(path: Path) -> tuple[dict[str, Any], datetime | None]:
    from coinfactor.book import MarketRules

    try:
        spec = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--markets {str(path)!r}: expected a JSON file of ccxt markets "
                          f"({{\"precisionMode\": 4, \"timestamp\": ms, \"markets\": {{...}}}}), "
                          f"could not read it: {exc}") from exc
    mode = int(spec.get("precisionMode", 4))
    taken = datetime.fromtimestamp(spec["timestamp"] / 1000, UTC) if "timestamp" in spec \
        else None
    return {s: MarketRules.from_ccxt(s, m, mode)
            for s, m in (spec.get("markets") or {}).items()}, taken


def _ledger_store(raw: dict[str, Any], base_dir: Path, db: Path | None) -> Any:  # a Store
    """``--db``, else the store ``[data]`` selects, else ``$COINFACTOR_HOME``'s."""
    from coinfactor.book import store_selection
    from coinfactor.data.store import Store

    if db is not None:
        return Store(db)
    selection = store_selection(raw, base_dir)
    return selection.store() if selection is not None else Store()


def _source_settings(base_url: str | None, rate_limit_ms: float | None) -> Any:
    from coinfactor.data.sources import SourceSettings

    defaults = SourceSettings()
    return SourceSettings(base_url=base_url,
                          rate_limit_ms=defaults.rate_limit_ms if rate_limit_ms is None
                          else rate_limit_ms)


@book_app.command("run")
def book_command(
    config: Path = typer.Argument(..., help="Study config (TOML) of a study that holds a book."),
    nav: float = typer.Option(..., "--nav", help="Account equity in USD (quote currency)."),
    out: Path = typer.Option(..., "--out", help="Book directory to write."),
    positions: Path | None = typer.Option(None, "--positions", help="CSV of current "
                                          "positions: symbol, quantity (contracts)."),
    from_venue: bool = typer.Option(False, "--from-venue", help="Read current positions from "
                                    "the venue through ccxt (keys from "
                                    "COINFACTOR_<EXCHANGE>_* environment variables)."),
    update: bool = typer.Option(False, "--update", help="Run the store's incremental update "
                                "for the config's [data] store selection first (and take a "
                                "market snapshot with the order rules)."),
    markets: Path | None = typer.Option(None, "--markets", help="JSON of the venue's markets "
                                        "(ccxt load_markets output, keyed by the book's "
                                        "symbols) with 'precisionMode' and 'timestamp'. "
                                        "Default: the store's latest market snapshot."),
    as_of: str | None = typer.Option(None, "--as-of", help="Clock of the book (ISO time, UTC; "
                                     "default now): the last complete bar and staleness."),
    allow_stale: bool = typer.Option(False, "--allow-stale", help="Report stale data "
                                     "without blocking."),
    max_gross: float = typer.Option(3.0, "--max-gross", help="Largest target gross."),
    record: bool = typer.Option(True, "--record/--no-record", help="Append the book to the "
                                "store's paper ledger (books table)."),
    db: Path | None = typer.Option(None, "--db", help="Store of the paper ledger (default: "
                                   "the [data] store, else $COINFACTOR_HOME)."),
    base_url: str | None = typer.Option(None, "--base-url", help="Stand-in for the venue's "
                                        "host (--update, --from-venue)."),
    rate_limit_ms: float | None = typer.Option(None, "--rate-limit-ms", help="Milliseconds "
                                               "between venue requests of cost 1."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing book "
                                   "directory."),
) -> None:
    """Compute a study's book at the last complete bar and write exchange-valid orders.

    No order is sent to any venue. Exits 3 when a blocking check fails (stale data or
    markets, NAV not positive, gross above the maximum, unknown markets), 1 when --update
    left a symbol failed or incomplete, 2 on a bad option.
    """
    from coinfactor import book as bk
    from coinfactor.core.rundir import check_out_dir

    with user_errors():
        check_out_dir(out, overwrite=overwrite)
        if positions is not None and from_venue:
            raise ConfigError("--positions and --from-venue both give current positions: "
                              "pass one of them")
        raw = _read_config(config)
        clock = _parse_time(as_of)
        bk.resolve_config(raw)  # a study without a book, or a bad parameter: before any work
        selection = bk.store_selection(raw, config.parent)
        settings = _source_settings(base_url, rate_limit_ms)
        if update:
            done = bk.update_selection(selection, settings=settings, until=clock)
            console.print(done.report.summary().splitlines()[0] +
                          f"; snapshot of {done.snapshot_rows} market(s)", markup=False,
                          highlight=False)
            if done.report.failed or done.report.incomplete:
                raise typer.Exit(code=1)
        held = bk.read_positions(positions) if positions else None
        if from_venue:
            held = bk.venue_positions(selection, settings=settings)
        rules, taken = _markets_file(markets) if markets is not None else (None, None)
        book = bk.build_book(
            raw, nav=nav, positions=held, markets=rules, markets_as_of=taken, as_of=clock,
            settings=bk.BookSettings(allow_stale=allow_stale, max_gross=max_gross),
            base_dir=config.parent)
        with _ledger_store(raw, config.parent, db) as ledger:
            last = bk.previous(ledger, book)
            changes = bk.changes(None if last is None else bk.targets_of(last), book.targets)
            bk.write_book(book, out, overwrite=overwrite, changes=changes,
                          previous=None if last is None else last["as_of"])
            if record:
                bk.record(book, ledger)
    _print_book(book, changes, last)
    console.print(f"wrote {out} (no order is sent)", markup=False)
    if book.blocked:
        raise typer.Exit(code=3)


def _print_book(book: Any, changes: Any, last: dict[str, Any] | None) -> None:
    table = Table(title=escape(f"{book.study} book at {book.decided_at} (as of {book.as_of})"))
    for col in ("symbol", "side", "quantity", "notional", "reduce_only", "status", "reason"):
        table.add_column(col, justify="right" if col in ("quantity", "notional") else "left")
    for row in book.orders.iter_rows(named=True):
        table.add_row(escape(str(row["symbol"])), row["side"], f"{row['quantity']:.6g}",
                      f"{row['notional']:,.2f}", str(row["reduce_only"]), row["status"],
                      escape(str(row["reason"])))
    console.print(table)
    summary = book.summary()
    since = "no earlier book" if last is None else f"{changes.height} change(s) since the " \
        f"book of {last['as_of']}"
    console.print(f"gross {summary['gross']:.4f}, net {summary['net']:.4f}; {since}",
                  markup=False, highlight=False)
    for check in book.checks:
        if not check.ok:
            kind = "blocked" if check.blocking else "warning"
            console.print(f"{kind}: {check.code}: {check.detail}", markup=False,
                          highlight=False)


@book_app.command("history")
def history_command(
    study: str | None = typer.Option(None, "--study", help="Only this study's books."),
    db: Path | None = typer.Option(None, "--db", help="Store file (default: "
                                   "$COINFACTOR_HOME/coinfactor.duckdb)."),
) -> None:
    """List the paper ledger: every recorded book, oldest first."""
    from coinfactor.book import history
    from coinfactor.data.store import Store

    with user_errors(), Store(db) as store:
        rows = history(store, study=study)
    table = Table(title=f"paper ledger: {rows.height} book(s)")
    cols = ("study", "config_hash", "as_of", "decided_at", "nav", "gross", "net",
            "n_targets", "n_orders", "blocked")
    for col in cols:
        table.add_column(col, justify="right" if col in ("nav", "gross", "net", "n_targets",
                                                         "n_orders") else "left")
    for r in rows.iter_rows(named=True):
        table.add_row(escape(r["study"]), r["config_hash"], f"{r['as_of']:%Y-%m-%d %H:%M}",
                      f"{r['decided_at']:%Y-%m-%d %H:%M}", f"{r['nav']:,.2f}",
                      f"{r['gross']:.4f}", f"{r['net']:.4f}", str(r["n_targets"]),
                      str(r["n_orders"]), "yes" if r["blocked"] else "")
    console.print(table)


@book_app.command("replay")
def replay_command(
    config: Path = typer.Argument(..., help="Study config (TOML) whose books to replay."),
    db: Path | None = typer.Option(None, "--db", help="Store of the paper ledger (default: "
                                   "the [data] store, else $COINFACTOR_HOME)."),
    out: Path | None = typer.Option(None, "--out", help="Write the per-bar tracking table "
                                    "here (Parquet)."),
) -> None:
    """Mark the recorded books to later bars and compare with the study's backtest.

    Paper NAV (each book traded at its decision bar, with the config's fees, spread, impact
    and funding) next to the backtest of the study's own decisions over the same bars: the
    tracking difference and its price, funding and cost parts.
    """
    from coinfactor.book import config_hash, replay_study

    with user_errors():
        raw = _read_config(config)
        key = config_hash(raw)
        with _ledger_store(raw, config.parent, db) as ledger:
            books = ledger.query_books(study=str(raw.get("study")), config_hash=key)
        if books.height == 0:
            raise ConfigError(f"no recorded book of {config} (study {raw.get('study')!r}, "
                              f"config hash {key}) in the ledger; record some with "
                              f"`coinfactor book {config} --nav ... --out ...`")
        rep = replay_study(raw, books, base_dir=config.parent)
        assert rep.tracking is not None
        if out is not None:
            rep.tracking.write_parquet(out)
    t = rep.tracking
    s = rep.summary()
    table = Table(title=escape(f"replay of {books.height} book(s), {t.height} bar(s) from "
                               f"{t['ts'][0]:%Y-%m-%d %H:%M} to {t['ts'][-1]:%Y-%m-%d %H:%M}"))
    table.add_column("")
    table.add_column("value", justify="right")
    rows = [("paper NAV", f"{t['nav_paper'][-1]:,.2f}"),
            ("backtest NAV", f"{t['nav_backtest'][-1]:,.2f}"),
            ("tracking difference (NAV)", f"{s['final_nav_difference']:,.6g}"),
            ("largest |difference| (NAV)", f"{s['max_abs_nav_difference']:,.6g}"),
            ("price part (Σ returns)", f"{s['price_difference_total']:.6g}"),
            ("funding part (Σ returns)", f"{s['funding_difference_total']:.6g}"),
            ("cost part (Σ returns)", f"{s['cost_difference_total']:.6g}")]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
