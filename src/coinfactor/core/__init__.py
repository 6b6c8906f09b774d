"""Core layer: errors, time conventions and typing aliases shared by every module."""

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
from coinfactor.core.time import (
    bars_per_day,
    freq_to_timedelta,
    periods_per_year,
    timedelta_to_freq,
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
    "bars_per_day",
    "freq_to_timedelta",
    "periods_per_year",
    "timedelta_to_freq",
]
