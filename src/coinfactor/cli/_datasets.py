"""``coinfactor datasets``: list the embedded datasets."""

from __future__ import annotations

from datetime import datetime

from rich.table import Table

from coinfactor import datasets
from coinfactor.cli._app import app, console


def _when(ts: datetime | None) -> str:
    return "-" if ts is None else ts.strftime("%Y-%m-%d %H:%M")


@app.command("datasets")
def datasets_command() -> None:
    """List the embedded real-exchange datasets (symbols, bars, funding coverage, source).

    ``bars`` shows the first and the last bar, ``funding`` the first and the last bar with a
    known ``funding_rate`` (UTC), and ``funded`` the share of bars with one.
    """
    table = Table(title="embedded datasets (times UTC)")
    table.add_column("name", no_wrap=True)
    for col in ("freq", "symbols", "rows"):
        table.add_column(col)
    for col in ("bars", "funding"):
        table.add_column(col, no_wrap=True)
    table.add_column("funded", justify="right")
    table.add_column("source", overflow="fold")
    for row in datasets.available().iter_rows(named=True):
        share = row["funding_share"]
        table.add_row(
            row["name"], row["freq"], str(row["symbols"]), f"{row['rows']:,}",
            f"{_when(row['start'])}\n{_when(row['end'])}",
            f"{_when(row['funding_first'])}\n{_when(row['funding_last'])}",
            "-" if share is None else f"{share:.1%}",
            row["source"].split(";")[0],
        )
    console.print(table)
