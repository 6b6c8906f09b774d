"""The typer application object that every command module registers on, and global options.

Global options (before the command): ``-h``/``--help`` (on every command too), ``--version``,
``-v``/``--verbose`` (repeatable: INFO, then DEBUG) and ``-q``/``--quiet`` (errors only) set
the level of the ``coinfactor`` logger, whose records the CLI prints to standard error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import typer
from rich.console import Console
from rich.logging import RichHandler

app = typer.Typer(
    name="coinfactor",
    help="Systematic research on crypto spot and perpetual futures.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console()
err_console = Console(stderr=True)

_HANDLER_NAME = "coinfactor-cli"


def log_level(verbose: int, quiet: bool) -> int:
    """Return the ``coinfactor`` logger level for ``-v`` (count) and ``-q``.

    Parameters
    ----------
    verbose : int
        How many times ``-v`` was given.
    quiet : bool
        Whether ``-q`` was given.

    Returns
    -------
    int
        ``ERROR`` with ``-q``, ``WARNING`` by default, ``INFO`` with ``-v``, ``DEBUG`` with
        ``-vv``.

    Raises
    ------
    typer.BadParameter
        If both are given.
    """
    if quiet and verbose:
        raise typer.BadParameter("-q/--quiet and -v/--verbose contradict each other: pass "
                                 "one of them")
    if quiet:
        return logging.ERROR
    return {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)


def configure_logging(level: int) -> Callable[[], None]:
    """Print the ``coinfactor`` logger's records at ``level`` and above to standard error.

    Parameters
    ----------
    level : int
        A :mod:`logging` level.

    Returns
    -------
    callable
        Undoes the configuration (removes the handler, restores the logger's level); the
        CLI calls it when the command ends, so an embedding program keeps its own set-up.
    """
    logger = logging.getLogger("coinfactor")
    for h in list(logger.handlers):
        if h.get_name() == _HANDLER_NAME:
            logger.removeHandler(h)
    handler = RichHandler(console=err_console, show_time=False, show_path=False, markup=False,
                          rich_tracebacks=False)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)

    def undo() -> None:
        logger.removeHandler(handler)
        logger.setLevel(previous)

    return undo


def _version(value: bool) -> None:
    if value:
        import coinfactor

        console.print(f"coinfactor {coinfactor.__version__}", markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    verbose: int = typer.Option(0, "--verbose", "-v", count=True,
                                help="More log output (-v: info, -vv: debug)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors in the log output."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print coinfactor's version and exit."),
) -> None:
    """Systematic research on crypto spot and perpetual futures."""
    ctx.call_on_close(configure_logging(log_level(verbose, quiet)))
