"""Command-line interface (typer + rich). It parses, calls a study or data command, prints."""

from coinfactor.cli import (  # noqa: F401  (register commands)
    _book,
    _datasets,
    _demo,
    _ingest,
    _report,
    _run,
    _store,
    _sweep,
)
from coinfactor.cli._app import app


def main() -> None:
    """Entry point of the ``coinfactor`` command."""
    app()


__all__ = ["app", "main"]
