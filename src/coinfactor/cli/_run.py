"""``coinfactor run CONFIG --out DIR``: run a study from its TOML config."""

from __future__ import annotations

from pathlib import Path

import typer

from coinfactor.cli._app import app, console
from coinfactor.cli._errors import user_errors


@app.command("run")
def run_command(
    config: Path = typer.Argument(..., help="Study config (TOML), e.g. studies/carry.toml."),
    out: Path = typer.Option(..., "--out", help="Run directory to write."),
) -> None:
    """Run a study and write its run directory (config, metrics, tables)."""
    from coinfactor.studies import run_config_file

    with user_errors():
        result = run_config_file(config, out)
    console.print(result.summary(), markup=False, highlight=False)
    console.print(f"wrote {out}")
