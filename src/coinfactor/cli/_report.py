"""``coinfactor report DIR``: rebuild a run directory's self-contained report.html."""

from __future__ import annotations

from pathlib import Path

import typer

from coinfactor.cli._app import app, console
from coinfactor.cli._errors import user_errors


@app.command("report")
def report_command(
    run_dir: Path = typer.Argument(..., help="A study run directory (manifest.json, "
                                   "config.toml, metrics.json, tables)."),
) -> None:
    """Rebuild report.html of a run directory from the files its manifest lists."""
    from coinfactor.report import write_report

    with user_errors():
        path = write_report(run_dir)
    console.print(f"wrote {path}")
