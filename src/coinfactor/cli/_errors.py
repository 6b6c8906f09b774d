"""Turn coinfactor errors into a clean message and exit code 2 at the CLI boundary.

Data warnings raised while a command runs (e.g. held position-bars without funding) are
collected and printed once each, as ``warning: ...``, after the command's work.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer
from rich.markup import escape

from coinfactor.cli._app import err_console
from coinfactor.core.errors import CoinfactorError, DataWarning

F = TypeVar("F", bound=Callable[..., object])


@contextmanager
def user_errors() -> Iterator[None]:
    """Print a :class:`CoinfactorError` as ``error: ...`` and exit with code 2.

    Messages are printed as text, never as rich markup (a ``[`` in a value stays a ``[``);
    :class:`DataWarning` s are printed once each as ``warning: ...`` when the block ends.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        try:
            yield
        except CoinfactorError as exc:
            _print_warnings(caught)
            err_console.print("[bold red]error:[/] " + escape(str(exc)), highlight=False)
            raise typer.Exit(code=2) from exc
    _print_warnings(caught)


def _print_warnings(caught: list[warnings.WarningMessage]) -> None:
    seen: set[str] = set()
    for w in caught:
        if not issubclass(w.category, DataWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            continue
        text = str(w.message)
        if text not in seen:
            seen.add(text)
            err_console.print("[yellow]warning:[/] " + escape(text), highlight=False)
