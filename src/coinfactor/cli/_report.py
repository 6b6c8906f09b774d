"""``coinfactor report DIR``: rebuild the self-contained report.html of a run or sweep directory."""

from __future__ import annotations

from pathlib import Path

import typer

from coinfactor.cli._app import app, console
from coinfactor.cli._errors import user_errors


@app.command("report")
def report_command(
    run_dir: Path = typer.Argument(..., help="A study run directory (manifest.json, "
                                   "config.toml, metrics.json, tables) or a sweep directory "
                                   "(written by `coinfactor sweep`)."),
) -> None:
    """Rebuild report.html of a run or sweep directory from the files its manifest lists."""
    from coinfactor.report import write_report, write_sweep_report
    from coinfactor.sweeps import is_sweep_dir

    with user_errors():
        path = write_sweep_report(run_dir) if is_sweep_dir(run_dir) else write_report(run_dir)
    console.print(f"wrote {path}")
