"""``coinfactor sweep CONFIG --out DIR``: run the trials of a config's ``[sweep]`` table.

Trials run in this process by default, on a new LocalCluster (127.0.0.1) with
``--workers N``, or on an existing Dask cluster with ``--scheduler tcp://host:port``. A
progress bar with the time remaining is drawn on standard error when it is a terminal. Ctrl-C
stops cleanly: the trials finished so far stay in DIR's ledger and the same command (or
``--resume``) continues from there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from coinfactor.cli import _app
from coinfactor.cli._app import app, console
from coinfactor.cli._errors import user_errors

SweepProgress = Callable[[int, int], None]  # coinfactor.sweeps.SweepProgress, imported on use


@contextmanager
def trial_bar() -> Iterator[SweepProgress | None]:
    """Yield a ``progress(done, total)`` callback drawing a bar with ETA, or None if piped."""
    if not _app.err_console.is_terminal:
        yield None
        return
    with Progress(TextColumn("trials"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                  console=_app.err_console, transient=False) as bars:
        task = bars.add_task("trials", total=None)

        def progress(done: int, total: int) -> None:
            bars.update(task, completed=done, total=total)

        yield progress


@app.command("sweep")
def sweep_command(
    config: Path = typer.Argument(..., help="Study config with a [sweep] table, e.g. "
                                  "studies/carry_sweep.toml."),
    out: str = typer.Option(..., "--out", help="Sweep directory: new, empty, or a sweep "
                            "directory to continue (finished trials are not recomputed)."),
    workers: int | None = typer.Option(None, "--workers", help="Start a LocalCluster of N "
                                       "worker processes on 127.0.0.1."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Address of an existing "
                                         "Dask scheduler, e.g. tcp://10.0.0.5:8786."),
    resume: bool = typer.Option(False, "--resume", help="Continue the sweep in --out (it "
                                "must exist)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start afresh, replacing the "
                                   "sweep directory at --out."),
    sets: list[str] = typer.Option([], "--set", help="Override a base parameter, key=value "
                                   "(repeatable)."),
    walk_forward: str | None = typer.Option(None, "--walk-forward", help="Walk-forward "
                                            "selection, e.g. train=365d,test=90d[,step=90d]."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Run again the trials "
                                      "recorded as failed."),
) -> None:
    """Run a parameter sweep: ledger, trials, returns, overfitting statistics, report."""
    from coinfactor.sweeps import run_sweep

    with user_errors(), trial_bar() as progress:
        try:
            result = run_sweep(config, out, workers=workers, scheduler=scheduler,
                               resume=resume, overwrite=overwrite, sets=sets,
                               walk_forward_spec=walk_forward, progress=progress,
                               retry_failed=retry_failed)
        except KeyboardInterrupt:
            _app.err_console.print(f"interrupted: the finished trials are kept in {out}; run "
                                   "the same command (or add --resume) to continue",
                                   markup=False, highlight=False)
            raise typer.Exit(code=130) from None
    console.print(result.summary(), markup=False, highlight=False)
    console.print(f"wrote {out}", markup=False, highlight=False)
