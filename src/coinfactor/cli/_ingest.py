"""``coinfactor download`` and ``coinfactor update``: venue data into the local store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
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
    "--min-volume", help="Instead of --symbols: every active market with 24h USD volume >= this.")]
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
    "--rate-limit-ms", help="Milliseconds between requests of cost 1 (default: the venue's "
    "ccxt rateLimit; Tiingo: no wait).")]
TimeoutMs = Annotated[int | None, typer.Option(
    "--timeout-ms", help="Per-request timeout in milliseconds (default 10000).")]
Retries = Annotated[int | None, typer.Option(
    "--retries", help="Attempts per request before a symbol is reported failed (default 6).")]
Backoff = Annotated[float | None, typer.Option(
    "--backoff", help="Seconds before the first retry, doubled each retry, with jitter "
    "(default 0.5).")]
TiingoExchange = Annotated[str | None, typer.Option(
    "--tiingo-exchange", help="Tiingo only: build bars from this exchange (e.g. BINANCE).")]

_SETTINGS = ("base_url", "rate_limit_ms", "timeout_ms", "retries", "backoff", "tiingo_exchange")


def _source_settings(options: dict[str, Any]) -> Any:  # a SourceSettings
    """Build the one :class:`SourceSettings` from the command's source options (popped)."""
    from coinfactor.data.sources import RetryPolicy, SourceSettings

    given = {k: v for k in _SETTINGS if (v := options.pop(k)) is not None}
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
    with user_errors(), Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(f"{fn_name} {options['exchange']}", total=None, rows=0)
        rows: dict[str, int] = {}

        def on_progress(event: sources.Progress) -> None:
            rows[event.symbol] = event.rows
            bar.update(task, total=event.total, completed=event.done,
                       description=f"{fn_name} {event.symbol}", rows=sum(rows.values()))

        with Store(db) as store:
            report = fn(
                options.pop("exchange"),
                symbols=[s.strip() for s in symbols.split(",") if s.strip()]
                if symbols else None,
                settings=settings, store=store, progress=on_progress, **options,
            )
        bar.update(task, description=f"{fn_name} done")
    table = Table(title=f"{fn_name}: {report.exchange} {report.market} {report.timeframe}")
    for col in ("symbol", "status", "bars", "new bars", "funding", "new funding",
                "open interest", "reason"):
        table.add_column(col, overflow="fold")
    for s in report.symbols:
        style = {"failed": "red", "skipped": "yellow"}.get(s.status, "")
        table.add_row(s.symbol, f"[{style}]{s.status}[/]" if style else s.status,
                      f"{s.bars:,}", f"{s.bars_new:,}", f"{s.funding:,}", f"{s.funding_new:,}",
                      f"{s.open_interest:,}", s.reason)
    console.print(table)
    console.print(report.summary().splitlines()[0], markup=False, highlight=False)
    if report.failed:
        raise typer.Exit(code=1)


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
    retries: Retries = None,
    backoff: Backoff = None,
    tiingo_exchange: TiingoExchange = None,
) -> None:
    """Download bars, funding and a market snapshot into the store (exit 1 if a symbol failed)."""
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
    retries: Retries = None,
    backoff: Backoff = None,
    tiingo_exchange: TiingoExchange = None,
) -> None:
    """Fetch only what is missing after each symbol's last stored bar and funding event."""
    _ingest("update", locals())
