"""``coinfactor store info|export|import``: inspect and move data in the local DuckDB store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from coinfactor.data.store import Store, WriteCounts

store_app = typer.Typer(help="Inspect, export and import the local DuckDB store "
                        "($COINFACTOR_HOME/coinfactor.duckdb).", no_args_is_help=True)
app.add_typer(store_app, name="store")


def _symbols(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    return [s.strip() for s in raw.split(",") if s.strip()]


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    return str(value)[:16]


@store_app.command("info")
def info_command(
    exchange: str | None = typer.Option(None, "--exchange", help="Only this exchange."),
    freq: str | None = typer.Option(None, "--freq", help="Only this bar frequency."),
    symbols: str | None = typer.Option(None, "--symbols", help="Comma-separated symbols."),
    db: Path | None = typer.Option(None, "--db", help="Store file (default: COINFACTOR_HOME)."),
) -> None:
    """Per-symbol coverage: first and last bar, bars, missing bars, funding events.

    Reads the store read-only: it creates nothing, and a damaged, locked or foreign file is
    an error, not an empty table.
    """
    from coinfactor.data.store import Store

    with user_errors(), Store(db) as store:
        if not store.path.exists():
            console.print(f"there is no store at {store.path} yet (nothing was created): use "
                          "`coinfactor download` or `coinfactor store import`",
                          markup=False, highlight=False)
            return
        cov = store.coverage(exchange=exchange, freq=freq, symbols=_symbols(symbols))
    table = Table(title=escape(f"store {store.path}"))
    for col in ("exchange", "market", "freq", "symbol", "first", "last", "bars", "gaps",
                "funding events", "funding last"):
        table.add_column(col)
    for row in cov.iter_rows(named=True):
        table.add_row(
            row["exchange"], row["market"], row["freq"], row["symbol"], _fmt(row["first"]),
            _fmt(row["last"]), f"{row['bars']:,}", f"{row['gaps']:,}",
            "-" if row["funding_events"] is None else f"{row['funding_events']:,}",
            _fmt(row["funding_last"]),
        )
    console.print(table)
    if cov.height == 0:
        console.print("the store holds no bars yet: use `coinfactor download` or "
                      "`coinfactor store import`")


@store_app.command("export")
def export_command(
    out: Path = typer.Option(..., "--out", help="File to write: .parquet (a canonical panel) "
                             "or .csv; the format follows the extension."),
    exchange: str | None = typer.Option(None, "--exchange", help="Exchange to export."),
    freq: str | None = typer.Option(None, "--freq", help="Bar frequency to export."),
    symbols: str | None = typer.Option(None, "--symbols", help="Comma-separated symbols."),
    market: str | None = typer.Option(None, "--market", help="Market type (swap, spot)."),
    db: Path | None = typer.Option(None, "--db", help="Store file (default: COINFACTOR_HOME)."),
) -> None:
    """Export bars (with funding attached) to a Parquet or CSV file (from its extension)."""
    from coinfactor.data.store import Store

    with user_errors(), Store(db) as store:
        panel = store.export(out, exchange=exchange, market=market, freq=freq,
                             symbols=_symbols(symbols))
    console.print(f"wrote {panel.height:,} bars of {panel['symbol'].n_unique()} symbol(s) "
                  f"to {out}", markup=False, highlight=False)


@store_app.command("import")
def import_command(
    path: Path = typer.Argument(..., help="A canonical panel Parquet file, or one-minute bars: "
                                "a CSV/CSV.gz/Parquet file, a folder of per-symbol files of one "
                                "format (BTCUSDT.csv.gz, time in origin_time/ts/open_time), or "
                                "a hive-partitioned Parquet folder."),
    exchange: str = typer.Option(..., "--exchange", help="Exchange the bars belong to."),
    market: str = typer.Option("swap", "--market", help="Market type (swap, spot)."),
    freq: str | None = typer.Option(None, "--freq", help="Bar frequency of a panel file "
                                    "(inferred if omitted); a folder holds 1m bars."),
    db: Path | None = typer.Option(None, "--db", help="Store file (default: COINFACTOR_HOME)."),
) -> None:
    """Import bars (validated; importing twice adds nothing; all or none).

    A folder, a CSV file and a file given with --freq 1m are read as one-minute bars and
    streamed into the minute store (Parquet partitions; 1h and 1d rollups kept exact), with a
    progress bar over the files. Any other Parquet file is a canonical panel at its own
    frequency (one-minute panels go to the minute store too).
    """
    from coinfactor.data.store import Store

    minutes = (path.is_dir() or not path.name.lower().endswith((".parquet", ".pq"))
               or (freq is not None and freq.strip() == "1m"))
    with user_errors(), Store(db) as store:
        if not minutes:
            counts = store.import_parquet(path, exchange=exchange, market=market, freq=freq)
        else:
            counts = _import_minutes(store, path, exchange=exchange, market=market)
    console.print(f"imported {counts.bars_rows:,} bars ({counts.bars_new:,} new) from {path}",
                  markup=False, highlight=False)


def _import_minutes(store: Store, path: Path, *, exchange: str, market: str) -> WriteCounts:
    """``Store.import_minutes`` with a rich progress bar over the files (on stderr's console)."""
    from coinfactor.data.store import find_minute_files

    files, layout = find_minute_files(path)  # the count for the bar; bad folders fail here, early
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rows]} rows"), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(f"importing {len(files)} file(s) ({layout})", total=len(files),
                            rows="0")
        total = 0

        def step(file: Path, rows: int) -> None:
            nonlocal total
            total += rows
            bar.update(task, advance=1, rows=f"{total:,}")

        counts = store.import_minutes(path, exchange=exchange, market=market, progress=step)
        bar.update(task, description="committing")
    return counts
