"""Bar frequencies and annualisation.

Crypto trades 24/7, so a year is 365 days of bars: ``periods_per_year("1h") == 8760``.
Every metric, volatility forecast and report annualises through :func:`periods_per_year`.

Frequency strings follow polars durations restricted to fixed lengths: ``"1s"``, ``"1m"``,
``"5m"``, ``"15m"``, ``"1h"``, ``"4h"``, ``"8h"``, ``"1d"``, ``"1w"`` (``m`` is minutes).
"""

from __future__ import annotations

import re
from datetime import timedelta

from coinfactor.core.errors import ConfigError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_FREQ_RE = re.compile(r"^(\d+)([smhdw])$")
DAYS_PER_YEAR = 365


def freq_to_timedelta(freq: str | timedelta) -> timedelta:
    """Parse a bar frequency.

    Parameters
    ----------
    freq : str or timedelta
        ``"<n><unit>"`` with unit one of ``s, m, h, d, w`` (``m`` = minute), or a timedelta.

    Returns
    -------
    timedelta
        The bar length.

    Raises
    ------
    ConfigError
        If the string is not a fixed-length frequency.

    Examples
    --------
    >>> freq_to_timedelta("4h")
    datetime.timedelta(seconds=14400)
    """
    if isinstance(freq, timedelta):
        if freq <= timedelta(0):
            raise ConfigError(f"bar frequency must be positive, got {freq!r}")
        return freq
    m = _FREQ_RE.match(str(freq).strip())
    if not m or int(m.group(1)) == 0:
        raise ConfigError(
            f"expected a bar frequency like '1m', '5m', '1h', '4h' or '1d', got {freq!r}; "
            "months and years have no fixed length and are not bar frequencies"
        )
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def timedelta_to_freq(delta: timedelta) -> str:
    """Format a bar length as the shortest frequency string (inverse of :func:`freq_to_timedelta`).

    Examples
    --------
    >>> timedelta_to_freq(timedelta(hours=24))
    '1d'
    """
    seconds = int(delta.total_seconds())
    if seconds <= 0 or seconds != delta.total_seconds():
        raise ConfigError(f"bar length must be a positive whole number of seconds, got {delta}")
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def periods_per_year(freq: str | timedelta) -> float:
    """Bars per 365-day year.

    Examples
    --------
    >>> periods_per_year("1h")
    8760.0
    >>> periods_per_year("1d")
    365.0
    """
    return DAYS_PER_YEAR * 86400 / freq_to_timedelta(freq).total_seconds()


def bars_per_day(freq: str | timedelta) -> float:
    """Bars per day (``24`` for ``"1h"``)."""
    return 86400 / freq_to_timedelta(freq).total_seconds()
