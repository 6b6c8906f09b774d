"""Allow-lists for the names that reach the store and the venues.

Symbols, exchange ids, market types and bar frequencies are checked against strict regular
expressions before they are used anywhere (SQL parameters, request parameters, file names), so
no path or SQL injection can travel through a name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from coinfactor.core.errors import ConfigError
from coinfactor.core.time import freq_to_timedelta

SYMBOL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_:\-]{0,63}$")
"""A venue instrument id: letters, digits, ``_``, ``-`` and ``:`` (HIP-3 ``dex:COIN``)."""

UNIFIED_RE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,31}/[A-Za-z0-9_\-]{1,16}(:[A-Za-z0-9_\-]{1,16})?$"
)
"""A ccxt unified symbol (``BTC/USDT:USDT``): accepted as input, resolved to a venue id."""

EXCHANGE_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
"""An exchange id as ccxt spells them (``binanceusdm``, ``hyperliquid``) or ``tiingo``."""

MARKET_RE = re.compile(r"^[a-z][a-z0-9_]{0,15}$")
"""A market type (``swap``, ``spot``, ``future``)."""


def check_symbol(symbol: object) -> str:
    """Return ``symbol`` if it is a safe instrument id, else raise :class:`ConfigError`.

    Examples
    --------
    >>> check_symbol("BTCUSDT")
    'BTCUSDT'
    """
    if not isinstance(symbol, str) or not SYMBOL_RE.match(symbol):
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
        if isinstance(s, str) and UNIFIED_RE.match(s):
            checked = s
        else:
            checked = check_symbol(s)
        if checked not in out:
            out.append(checked)
    return out


def check_exchange(exchange: object) -> str:
    """Return ``exchange`` if it is a safe exchange id, else raise :class:`ConfigError`."""
    if not isinstance(exchange, str) or not EXCHANGE_RE.match(exchange):
        raise ConfigError(
            f"invalid exchange {exchange!r}: expected a lower-case id such as 'binanceusdm', "
            "'hyperliquid' or 'tiingo' (letters, digits, '_')"
        )
    return exchange


def check_market(market: object) -> str:
    """Return ``market`` if it is a safe market type, else raise :class:`ConfigError`."""
    if not isinstance(market, str) or not MARKET_RE.match(market):
        raise ConfigError(
            f"invalid market {market!r}: expected a lower-case market type such as 'swap' or "
            "'spot'"
        )
    return market


def check_freq(freq: object) -> str:
    """Return ``freq`` if it is a fixed bar frequency (``1m``, ``1h``, ``1d``, ...)."""
    if not isinstance(freq, str):
        raise ConfigError(f"invalid bar frequency {freq!r}: expected a string such as '1h'")
    freq_to_timedelta(freq)
    return freq
