"""Turn coinfactor errors into a clean message and exit code 2 at the CLI boundary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer

from coinfactor.cli._app import err_console
from coinfactor.core.errors import CoinfactorError

F = TypeVar("F", bound=Callable[..., object])


@contextmanager
def user_errors() -> Iterator[None]:
    """Print a :class:`CoinfactorError` as ``error: ...`` and exit with code 2."""
    try:
        yield
    except CoinfactorError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
        raise typer.Exit(code=2) from exc
