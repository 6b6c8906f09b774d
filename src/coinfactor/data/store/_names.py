r"""Allow-lists for the names that reach the store and the venues.

Symbols, exchange ids, market types and bar frequencies are checked against strict regular
expressions before they are used anywhere (SQL parameters, request parameters, file names), so
no path or SQL injection can travel through a name. Every check matches the whole string
(``\A...\Z``, ``re.fullmatch``): ``$`` would forgive a trailing newline, making ``"BTC\n"``
a twin of ``"BTC"``. Frequencies come back in one canonical spelling (``"60m"`` -> ``"1h"``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from coinfactor.core.errors import ConfigError
from coinfactor.core.time import freq_to_timedelta, timedelta_to_freq

SYMBOL_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_:\-]{0,63}\Z")
r"""A venue instrument id: letters, digits, ``_``, ``-`` and ``:`` (HIP-3 ``dex:COIN``). Anchored
with ``\A`` and ``\Z``, so ``match`` and ``fullmatch`` both test the whole string."""

UNIFIED_RE = re.compile(
    r"\A[A-Za-z0-9][A-Za-z0-9_\-]{0,31}/[A-Za-z0-9_\-]{1,16}(:[A-Za-z0-9_\-]{1,16})?\Z"
)
"""A ccxt unified symbol (``BTC/USDT:USDT``): accepted as input, resolved to a venue id."""

EXCHANGE_RE = re.compile(r"\A[a-z][a-z0-9_]{0,31}\Z")
"""An exchange id as ccxt spells them (``binanceusdm``, ``hyperliquid``) or ``tiingo``."""

MARKET_RE = re.compile(r"\A[a-z][a-z0-9_]{0,15}\Z")
"""A market type (``swap``, ``spot``, ``future``)."""


def check_symbol(symbol: object) -> str:
    """Return ``symbol`` if it is a safe instrument id, else raise :class:`ConfigError`.

    Examples
    --------
    >>> check_symbol("BTCUSDT")
    'BTCUSDT'
    """
    if not isinstance(symbol, str) or not SYMBOL_RE.fullmatch(symbol):
        raise ConfigError(
            f"invalid symbol {symbol!r}: expected 1-64 characters of letters, digits, '_', '-' "
            "or ':' starting with a letter or digit (a venue id such as 'BTCUSDT' or 'BTC')"
        )
    return symbol


def check_symbols(symbols: Iterable[object]) -> list[str]:
    """Check every symbol (see :func:`check_symbol`); keep order, drop repeats."""
    out: list[str] = []
    for s in symbols:
        checked = check_symbol(s)
        if checked not in out:
            out.append(checked)
    return out


def check_input_symbols(symbols: Iterable[object]) -> list[str]:
    """Check user-given symbols: venue ids (:func:`check_symbol`) or ccxt unified symbols.

    Unified symbols only serve to look a market up; what reaches the store is the venue id.
    """
    out: list[str] = []
    for s in symbols:
        if isinstance(s, str) and UNIFIED_RE.fullmatch(s):
            checked = s
        else:
            checked = check_symbol(s)
        if checked not in out:
            out.append(checked)
    return out


def check_exchange(exchange: object) -> str:
    """Return ``exchange`` if it is a safe exchange id, else raise :class:`ConfigError`."""
    if not isinstance(exchange, str) or not EXCHANGE_RE.fullmatch(exchange):
        raise ConfigError(
            f"invalid exchange {exchange!r}: expected a lower-case id such as 'binanceusdm', "
            "'hyperliquid' or 'tiingo' (letters, digits, '_')"
        )
    return exchange


def check_market(market: object) -> str:
    """Return ``market`` if it is a safe market type, else raise :class:`ConfigError`."""
    if not isinstance(market, str) or not MARKET_RE.fullmatch(market):
        raise ConfigError(
            f"invalid market {market!r}: expected a lower-case market type such as 'swap' or "
            "'spot'"
        )
    return market


FREQ_RE = re.compile(r"\A[0-9]{1,9}[smhdw]\Z")
"""A bar frequency as written: digits and one unit letter, nothing else."""


def check_freq(freq: object) -> str:
    """Return the canonical spelling of a fixed bar frequency (``1m``, ``1h``, ``1d``, ...).

    One bar length has one spelling, so it is one series in the store: ``"01h"`` and
    ``"60m"`` come back as ``"1h"``, ``"1440m"`` as ``"1d"``.

    Raises
    ------
    ConfigError
        When ``freq`` is not digits followed by one of ``s, m, h, d, w`` (spaces, signs,
        control characters and other units are refused, not trimmed).

    Examples
    --------
    >>> check_freq("60m")
    '1h'
    """
    if not isinstance(freq, str) or not FREQ_RE.fullmatch(freq):
        raise ConfigError(
            f"invalid bar frequency {freq!r}: expected a whole number and a unit (s, m, h, d "
            "or w; m is minutes) with nothing around them, such as '1m', '5m', '1h', '4h' or '1d'"
        )
    return timedelta_to_freq(freq_to_timedelta(freq))
