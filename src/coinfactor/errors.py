"""Public error classes (re-exported from :mod:`coinfactor.core.errors`)."""

from coinfactor.core.errors import (
    CoinfactorError,
    ConfigError,
    DataError,
    DataWarning,
    LookaheadError,
    OptimizationError,
    OutputError,
    SourceError,
)

__all__ = [
    "CoinfactorError",
    "ConfigError",
    "DataError",
    "DataWarning",
    "LookaheadError",
    "OptimizationError",
    "OutputError",
    "SourceError",
]
