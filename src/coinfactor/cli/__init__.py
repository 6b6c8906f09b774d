"""Command-line interface (typer + rich). It parses, calls a study or data command, prints."""

from coinfactor.cli import _datasets, _demo, _report, _run  # noqa: F401  (register commands)
from coinfactor.cli._app import app


def main() -> None:
    """Entry point of the ``coinfactor`` command."""
    app()


__all__ = ["app", "main"]
