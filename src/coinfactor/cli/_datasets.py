"""``coinfactor datasets``: list the embedded datasets."""

from __future__ import annotations

from rich.table import Table

from coinfactor import datasets
from coinfactor.cli._app import app, console


@app.command("datasets")
def datasets_command() -> None:
    """List the embedded real-exchange datasets (symbols, range, frequency, source)."""
    table = Table(title="embedded datasets")
    table.add_column("name", no_wrap=True)
    for col in ("freq", "symbols", "rows", "start", "end"):
        table.add_column(col)
    table.add_column("source", overflow="fold")
    for row in datasets.available().iter_rows(named=True):
        table.add_row(
            row["name"], row["freq"], str(row["symbols"]), f"{row['rows']:,}",
            row["start"].strftime("%Y-%m-%d %H:%M"), row["end"].strftime("%Y-%m-%d %H:%M"),
            row["source"].split(";")[0],
        )
    console.print(table)
