"""Error hierarchy.

Every error says what was expected, what came and what to do. The classes derive from
builtins so that callers can catch them as ``ValueError`` or ``RuntimeError`` too. Warnings
(:class:`DataWarning`) say the same of a result computed on less data than asked for.
"""

from __future__ import annotations

from typing import Any


class CoinfactorError(Exception):
    """Base class of every coinfactor error."""


class DataError(CoinfactorError, ValueError):
    """Input data does not satisfy a contract (schema, values, ordering).

    Parameters
    ----------
    message : str
        What was expected and what came.
    column : str, optional
        The column at fault, if one.
    rows : Any, optional
        A small frame with the first offending rows.
    fix : str, optional
        What to do about it.
    """

    def __init__(
        self,
        message: str,
        *,
        column: str | None = None,
        rows: Any = None,
        fix: str | None = None,
    ) -> None:
        self.column = column
        self.rows = rows
        self.fix = fix
        parts = [message]
        if rows is not None:
            parts.append(f"first offending rows:\n{rows}")
        if fix:
            parts.append(f"fix: {fix}")
        super().__init__("\n".join(parts))


class ConfigError(CoinfactorError, ValueError):
    """A configuration value or option is invalid."""


class LookaheadError(CoinfactorError, ValueError):
    """A computation would read data from after the time it is evaluated at."""


class OptimizationError(CoinfactorError, RuntimeError):
    """An optimiser failed or returned an infeasible or unbounded status."""


class SourceError(CoinfactorError, RuntimeError):
    """A remote data source failed after retries, or answered with something unusable."""


class OutputError(CoinfactorError, OSError):
    """An output (a run directory) could not be written: disk full, permissions, a race.

    The message names the output and says that nothing was changed there.
    """


class DataWarning(UserWarning):
    """Data are incomplete in a way the result reports and a reader must know.

    E.g. held position-bars without funding (booked as zero), or tearsheet rows left out for
    missing funding; the message says how many, why, and what to do. Silence it with
    ``warnings.simplefilter("ignore", DataWarning)`` once understood, or make it an error with
    ``"error"``.
    """
