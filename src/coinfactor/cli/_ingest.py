"""``coinfactor download`` and ``coinfactor update``: venue data into the local store.

Every table cell that carries venue or user text (symbols, reasons) is printed literally:
rich markup in it is escaped, so a venue's ``[/bold]`` or ``[link=...]`` is text, not markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from coinfactor.cli._app import app, console
from coinfactor.cli._errors import user_errors

# every option of both commands, declared once (the two differ in --symbols/--since/--snapshot)
Exchange = Annotated[str, typer.Option(
    "--exchange", help="ccxt exchange id (binanceusdm, hyperliquid, any ccxt id) or 'tiingo'.")]
MinVolume = Annotated[float | None, typer.Option(
    "--min-volume", help="Instead of --symbols: every active market with 24h USD volume >= this "
    "(finite, >= 0).")]
Quote = Annotated[str | None, typer.Option(
    "--quote", help="Settlement currency filter (default USDT on Binance, USDC on Hyperliquid).")]
Timeframe = Annotated[str, typer.Option(
    "--timeframe", help="Bar frequency (1m, 5m, 1h, 4h, 1d, ...).")]
Until = Annotated[str | None, typer.Option(
    "--until", help="Keep bars that close by this time (default: the venue's now).")]
Funding = Annotated[bool, typer.Option("--funding/--no-funding", help="Fetch funding events.")]
OpenInterest = Annotated[bool, typer.Option(
    "--open-interest/--no-open-interest",
    help="Fill the bars' open interest where the venue serves its history.")]
Db = Annotated[Path | None, typer.Option(
    "--db", help="Store file (default: $COINFACTOR_HOME/coinfactor.duckdb).")]
# the source settings (coinfactor.data.sources.SourceSettings): unset means its default
BaseUrl = Annotated[str | None, typer.Option(
    "--base-url", help="Stand-in for the venue's host (a proxy or a test server).")]
RateLimitMs = Annotated[float | None, typer.Option(
    "--rate-limit-ms", help="Milliseconds between requests of cost 1, finite, >= 0 (default: "
    "the venue's ccxt rateLimit; Tiingo: no wait).")]
TimeoutMs = Annotated[int | None, typer.Option(
    "--timeout-ms", help="Per-read timeout in milliseconds, > 0 (default 10000).")]
RequestDeadlineMs = Annotated[float | None, typer.Option(
    "--request-deadline-ms", help="Total milliseconds one request may take, a trickled answer "
    "included, > 0 (default max(60000, 2 x timeout)).")]
SymbolDeadlineMs = Annotated[float | None, typer.Option(
    "--symbol-deadline-ms", help="Total milliseconds one symbol may take, retries included, "
    "> 0; past it the symbol is reported incomplete (default: no limit).")]
Retries = Annotated[int | None, typer.Option(
    "--retries", help="Attempts per request before a symbol is reported failed, >= 1 "
    "(default 6).")]
Backoff = Annotated[float | None, typer.Option(
    "--backoff", help="Seconds before the first retry, doubled each retry, with jitter; "
    "finite, >= 0 (default 0.5).")]
SkipBadBars = Annotated[bool, typer.Option(
    "--skip-bad-bars/--no-skip-bad-bars", help="Set invalid bars from the venue aside (counted "
    "in the 'set aside' column) instead of failing the symbol.")]
TiingoExchange = Annotated[str | None, typer.Option(
    "--tiingo-exchange", help="Tiingo only: build bars from this exchange (e.g. BINANCE).")]

_SETTINGS = ("base_url", "rate_limit_ms", "timeout_ms", "request_deadline_ms",
             "symbol_deadline_ms", "retries", "backoff", "tiingo_exchange", "skip_bad_bars")


def _source_settings(options: dict[str, Any]) -> Any:  # a SourceSettings
    """Build the one :class:`SourceSettings` from the command's source options (popped)."""
    from coinfactor.data.sources import RetryPolicy, SourceSettings

    given = {k: v for k in _SETTINGS if (v := options.pop(k, None)) is not None}
    if given.get("skip_bad_bars") is False:
        del given["skip_bad_bars"]  # the default
    retry = {name: given.pop(opt) for opt, name in (("retries", "max_attempts"),
                                                    ("backoff", "base_delay")) if opt in given}
    if retry:
        given["retry"] = RetryPolicy(**retry)
    if "tiingo_exchange" in given:
        given["tiingo_exchanges"] = (given.pop("tiingo_exchange"),)
    return SourceSettings(**given)


def _ingest(fn_name: str, options: dict[str, Any]) -> None:
    """Run ``sources.<fn_name>`` with the command's options (its parameters, by name)."""
    from coinfactor.data import sources
    from coinfactor.data.store import Store

    options = dict(options)
    symbols = options.pop("symbols")
    db = options.pop("db")
    with user_errors():
        settings = _source_settings(options)
    fn = getattr(sources, fn_name)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rows]:>8,} bars"), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    # the bar appears with the first progress event: an option refused before any work
    # prints its error alone
    bar = Progress(*columns, console=console, transient=False)
    task = bar.add_task(escape(f"{fn_name} {options['exchange']}"), total=None, rows=0)
    rows: dict[str, int] = {}

    def on_progress(event: sources.Progress) -> None:
        if not bar.live.is_started:
            bar.start()
        rows[event.symbol] = event.rows
        bar.update(task, total=event.total, completed=event.done,
                   description=escape(f"{fn_name} {event.symbol}"), rows=sum(rows.values()))

    try:
        with user_errors(), Store(db) as store:
            report = fn(
                options.pop("exchange"),
                symbols=[s.strip() for s in symbols.split(",") if s.strip()]
                if symbols else None,
                settings=settings, store=store, progress=on_progress, **options,
            )
        bar.update(task, description=f"{fn_name} done")
    finally:
        if bar.live.is_started:
            bar.stop()
    console.print(_table(fn_name, report))
    console.print(report.summary().splitlines()[0], markup=False, highlight=False)
    if report.failed or report.incomplete:
        raise typer.Exit(code=1)


def _table(fn_name: str, report: Any) -> Table:  # an IngestReport
    """Build the per-symbol table; venue and user text escaped (printed literally)."""
    table = Table(title=escape(f"{fn_name}: {report.exchange} {report.market} "
                               f"{report.timeframe}"))
    for col in ("symbol", "status", "bars", "new bars", "funding", "new funding",
                "open interest", "nulled", "set aside", "reason"):
        table.add_column(col, overflow="fold")
    for s in report.symbols:
        style = {"failed": "red", "skipped": "yellow", "incomplete": "yellow"}.get(s.status, "")
        status = escape(s.status)
        table.add_row(escape(s.symbol), f"[{style}]{status}[/]" if style else status,
                      f"{s.bars:,}", f"{s.bars_new:,}", f"{s.funding:,}", f"{s.funding_new:,}",
                      f"{s.open_interest:,}", f"{s.nulled:,}", f"{s.bad:,}", escape(s.reason))
    return table


@app.command("download")
def download_command(
    since: Annotated[str, typer.Option("--since", help="First bar time (ISO date/time, UTC).")],
    exchange: Exchange = "binanceusdm",
    symbols: Annotated[str | None, typer.Option(
        "--symbols", help="Comma-separated venue ids (BTCUSDT / BTC) or ccxt symbols.")] = None,
    min_volume: MinVolume = None,
    quote: Quote = None,
    timeframe: Timeframe = "1h",
    until: Until = None,
    funding: Funding = True,
    snapshot: Annotated[bool, typer.Option(
        "--snapshot/--no-snapshot",
        help="Store a market snapshot (volume, OI, mid, leverage).")] = True,
    open_interest: OpenInterest = True,
    db: Db = None,
    base_url: BaseUrl = None,
    rate_limit_ms: RateLimitMs = None,
    timeout_ms: TimeoutMs = None,
    request_deadline_ms: RequestDeadlineMs = None,
    symbol_deadline_ms: SymbolDeadlineMs = None,
    retries: Retries = None,
    backoff: Backoff = None,
    tiingo_exchange: TiingoExchange = None,
    skip_bad_bars: SkipBadBars = False,
) -> None:
    """Download bars, funding and a market snapshot into the store.

    Exits with 1 if a symbol failed or is incomplete (``update`` continues it), 2 on a bad
    option.
    """
    _ingest("download", locals())


@app.command("update")
def update_command(
    exchange: Exchange = "binanceusdm",
    symbols: Annotated[str | None, typer.Option(
        "--symbols", help="Comma-separated venue ids (BTCUSDT / BTC) or ccxt symbols. "
        "Default: the symbols already stored.")] = None,
    min_volume: MinVolume = None,
    quote: Quote = None,
    timeframe: Timeframe = "1h",
    since: Annotated[str | None, typer.Option(
        "--since", help="Start of symbols the store does not hold yet.")] = None,
    until: Until = None,
    funding: Funding = True,
    snapshot: Annotated[bool, typer.Option(
        "--snapshot/--no-snapshot", help="Also store a market snapshot.")] = False,
    open_interest: OpenInterest = True,
    db: Db = None,
    base_url: BaseUrl = None,
    rate_limit_ms: RateLimitMs = None,
    timeout_ms: TimeoutMs = None,
    request_deadline_ms: RequestDeadlineMs = None,
    symbol_deadline_ms: SymbolDeadlineMs = None,
    retries: Retries = None,
    backoff: Backoff = None,
    tiingo_exchange: TiingoExchange = None,
    skip_bad_bars: SkipBadBars = False,
) -> None:
    """Fetch only what is missing after each symbol's last stored bar and funding event.

    Without --symbols: the stored symbols, and those an earlier download asked for that have
    no bars yet. Exits with 1 if a symbol failed or is incomplete, 2 on a bad option.
    """
    _ingest("update", locals())
