"""``coinfactor run CONFIG --out DIR``: run a study from its TOML config.

``--out`` is checked before anything else (it must be a new path, an empty directory, or with
``--overwrite`` a previous run directory). On a terminal a progress bar per stage (load the
data, run the study, write the run directory) is drawn on standard error; when the output is
piped, none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from coinfactor.cli import _app
from coinfactor.cli._app import app, console
from coinfactor.cli._errors import user_errors
from coinfactor.studies import Progress as StudyProgress

STAGE_LABELS = {"load": "load data", "run": "run study", "write": "write run dir"}
"""Progress bar label of each stage of :data:`coinfactor.studies.STAGES`."""


@contextmanager
def stage_bars() -> Iterator[StudyProgress | None]:
    """Yield a ``progress(stage, fraction)`` callback drawing one bar per stage, or None.

    The bars are drawn on the standard-error console only when it is a terminal
    (:attr:`rich.console.Console.is_terminal`); piped or redirected output gets no bar and
    no control characters.
    """
    if not _app.err_console.is_terminal:
        yield None
        return
    with Progress(TextColumn("{task.description:<14}"), BarColumn(),
                  TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                  TextColumn("eta"), TimeRemainingColumn(),
                  console=_app.err_console, transient=False) as bars:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, fraction: float) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(STAGE_LABELS.get(stage, stage), total=1.0)
            bars.update(tasks[stage], completed=min(max(fraction, 0.0), 1.0))

        yield progress


@app.command("run")
def run_command(
    config: Path = typer.Argument(..., help="Study config (TOML), e.g. studies/carry.toml."),
    out: str = typer.Option(..., "--out", help="Run directory to write: a new path, an "
                             "empty directory, or a previous run directory (--overwrite)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the run directory "
                                   "already at --out (only a coinfactor run directory)."),
    sets: list[str] = typer.Option([], "--set", help="Override a parameter, key=value "
                                   "(repeatable; typed by the study's Config)."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Dask scheduler address "
                                         "(tcp://host:8786): run the study's block tasks "
                                         "on that cluster (risk_model)."),
) -> None:
    """Run a study and write its run directory (config, metrics, tables, report)."""
    from coinfactor.studies import run_config_file

    with user_errors(), stage_bars() as progress:
        result = run_config_file(config, out, overwrite=overwrite, progress=progress,
                                 sets=sets, scheduler=scheduler)
    console.print(result.summary(), markup=False, highlight=False)
    console.print(f"wrote {out}", markup=False, highlight=False)
