"""``coinfactor report DIR``: rebuild a run directory's self-contained report.html."""

from __future__ import annotations

from pathlib import Path

import typer

from coinfactor.cli._app import app, console
from coinfactor.cli._errors import user_errors


@app.command("report")
def report_command(
    run_dir: Path = typer.Argument(..., help="A study run directory (config.toml, "
                                   "metrics.json, *.parquet)."),
) -> None:
    """Rebuild report.html of a run directory from its files."""
    from coinfactor.report import write_report

    with user_errors():
        path = write_report(run_dir)
    console.print(f"wrote {path}")
