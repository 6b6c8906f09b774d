"""``coinfactor demo``: a tour of coinfactor on the embedded data."""

from __future__ import annotations

import polars as pl
from rich.table import Table

from coinfactor import datasets
from coinfactor.cli._app import app, console
from coinfactor.core.time import periods_per_year


@app.command("demo")
def demo_command() -> None:
    """Load every embedded dataset and print a summary of each."""
    table = Table(title="coinfactor demo: embedded datasets")
    table.add_column("dataset", no_wrap=True)
    for col in ("freq", "symbols", "bars", "start", "end", "median funding/yr"):
        table.add_column(col)
    for entry in datasets.available().iter_rows(named=True):
        panel = datasets.load(entry["name"])
        per_year = periods_per_year(entry["freq"])
        funding = panel.select(
            (pl.col("funding_rate").mean().over("symbol") * per_year).median()
        ).item()
        table.add_row(
            entry["name"], entry["freq"], str(panel["symbol"].n_unique()), f"{panel.height:,}",
            str(panel["ts"].min())[:16], str(panel["ts"].max())[:16],
            "n/a" if funding is None else f"{funding:+.1%}",
        )
    console.print(table)
