"""``coinfactor download`` and ``coinfactor update``: venue data into the local store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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

_HELP = {
    "exchange": "ccxt exchange id (binanceusdm, hyperliquid, any ccxt id) or 'tiingo'.",
    "symbols": "Comma-separated venue ids (BTCUSDT / BTC) or ccxt symbols.",
    "min_volume": "Instead of --symbols: every active market with 24h USD volume >= this.",
    "quote": "Settlement currency filter (default USDT on Binance, USDC on Hyperliquid).",
    "timeframe": "Bar frequency (1m, 5m, 1h, 4h, 1d, ...).",
    "since": "First bar time (ISO date/time, UTC).",
    "until": "Keep bars that close by this time (default: the venue's now).",
    "base_url": "Stand-in for the venue's host (a proxy or a test server).",
    "rate_limit_ms": "ccxt rateLimit: milliseconds between requests of cost 1.",
    "tiingo_exchange": "Tiingo only: build bars from this exchange (e.g. BINANCE).",
    "db": "Store file (default: $COINFACTOR_HOME/coinfactor.duckdb).",
    "retries": "Attempts per request before a symbol is reported failed.",
    "backoff": "Seconds before the first retry (doubled each retry, with jitter).",
    "timeout_ms": "Per-request timeout in milliseconds.",
    "open_interest": "Fill the bars' open interest where the venue serves its history.",
}


def _ingest(fn_name: str, **kw: Any) -> None:
    from coinfactor.data import sources
    from coinfactor.data.store import Store

    symbols = kw.pop("symbols")
    tiingo_exchange = kw.pop("tiingo_exchange")
    db = kw.pop("db")
    with user_errors():
        kw["retry"] = sources.RetryPolicy(max_attempts=kw.pop("retries"),
                                          base_delay=kw.pop("backoff"))
    fn = getattr(sources, fn_name)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rows]:>8,} bars"), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with user_errors(), Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(f"{fn_name} {kw['exchange']}", total=None, rows=0)
        rows: dict[str, int] = {}

        def on_progress(event: sources.Progress) -> None:
            rows[event.symbol] = event.rows
            bar.update(task, total=event.total, completed=event.done,
                       description=f"{fn_name} {event.symbol}", rows=sum(rows.values()))

        with Store(db) as store:
            report = fn(
                kw.pop("exchange"),
                symbols=[s.strip() for s in symbols.split(",") if s.strip()]
                if symbols else None,
                tiingo_exchanges=[tiingo_exchange] if tiingo_exchange else None,
                store=store, progress=on_progress, **kw,
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
    exchange: str = typer.Option("binanceusdm", "--exchange", help=_HELP["exchange"]),
    symbols: str | None = typer.Option(None, "--symbols", help=_HELP["symbols"]),
    min_volume: float | None = typer.Option(None, "--min-volume", help=_HELP["min_volume"]),
    quote: str | None = typer.Option(None, "--quote", help=_HELP["quote"]),
    timeframe: str = typer.Option("1h", "--timeframe", help=_HELP["timeframe"]),
    since: str = typer.Option(..., "--since", help=_HELP["since"]),
    until: str | None = typer.Option(None, "--until", help=_HELP["until"]),
    funding: bool = typer.Option(True, "--funding/--no-funding", help="Fetch funding events."),
    snapshot: bool = typer.Option(True, "--snapshot/--no-snapshot",
                                  help="Store a market snapshot (volume, OI, mid, leverage)."),
    open_interest: bool = typer.Option(True, "--open-interest/--no-open-interest",
                                       help=_HELP["open_interest"]),
    base_url: str | None = typer.Option(None, "--base-url", help=_HELP["base_url"]),
    rate_limit_ms: float | None = typer.Option(None, "--rate-limit-ms",
                                               help=_HELP["rate_limit_ms"]),
    tiingo_exchange: str | None = typer.Option(None, "--tiingo-exchange",
                                               help=_HELP["tiingo_exchange"]),
    db: Path | None = typer.Option(None, "--db", help=_HELP["db"]),
    retries: int = typer.Option(6, "--retries", help=_HELP["retries"]),
    backoff: float = typer.Option(0.5, "--backoff", help=_HELP["backoff"]),
    timeout_ms: int = typer.Option(10_000, "--timeout-ms", help=_HELP["timeout_ms"]),
) -> None:
    """Download bars, funding and a market snapshot into the store (exit 1 if a symbol failed)."""
    _ingest("download", exchange=exchange, symbols=symbols, min_volume=min_volume, quote=quote,
            timeframe=timeframe, since=since, until=until, funding=funding, snapshot=snapshot,
            open_interest=open_interest, base_url=base_url, rate_limit_ms=rate_limit_ms,
            tiingo_exchange=tiingo_exchange, db=db, retries=retries, backoff=backoff,
            timeout_ms=timeout_ms)


@app.command("update")
def update_command(
    exchange: str = typer.Option("binanceusdm", "--exchange", help=_HELP["exchange"]),
    symbols: str | None = typer.Option(
        None, "--symbols", help=_HELP["symbols"] + " Default: the symbols already stored."),
    min_volume: float | None = typer.Option(None, "--min-volume", help=_HELP["min_volume"]),
    quote: str | None = typer.Option(None, "--quote", help=_HELP["quote"]),
    timeframe: str = typer.Option("1h", "--timeframe", help=_HELP["timeframe"]),
    since: str | None = typer.Option(None, "--since",
                                     help="Start of symbols the store does not hold yet."),
    until: str | None = typer.Option(None, "--until", help=_HELP["until"]),
    funding: bool = typer.Option(True, "--funding/--no-funding", help="Fetch funding events."),
    snapshot: bool = typer.Option(False, "--snapshot/--no-snapshot",
                                  help="Also store a market snapshot."),
    open_interest: bool = typer.Option(True, "--open-interest/--no-open-interest",
                                       help=_HELP["open_interest"]),
    base_url: str | None = typer.Option(None, "--base-url", help=_HELP["base_url"]),
    rate_limit_ms: float | None = typer.Option(None, "--rate-limit-ms",
                                               help=_HELP["rate_limit_ms"]),
    tiingo_exchange: str | None = typer.Option(None, "--tiingo-exchange",
                                               help=_HELP["tiingo_exchange"]),
    db: Path | None = typer.Option(None, "--db", help=_HELP["db"]),
    retries: int = typer.Option(6, "--retries", help=_HELP["retries"]),
    backoff: float = typer.Option(0.5, "--backoff", help=_HELP["backoff"]),
    timeout_ms: int = typer.Option(10_000, "--timeout-ms", help=_HELP["timeout_ms"]),
) -> None:
    """Fetch only what is missing after each symbol's last stored bar and funding event."""
    _ingest("update", exchange=exchange, symbols=symbols, min_volume=min_volume, quote=quote,
            timeframe=timeframe, since=since, until=until, funding=funding, snapshot=snapshot,
            open_interest=open_interest, base_url=base_url, rate_limit_ms=rate_limit_ms,
            tiingo_exchange=tiingo_exchange, db=db, retries=retries, backoff=backoff,
            timeout_ms=timeout_ms)
