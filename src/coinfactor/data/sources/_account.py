"""Reading an account through ccxt: current positions, with keys from the environment.

Credentials are read from environment variables only (``COINFACTOR_<EXCHANGE>_<CREDENTIAL>``,
:func:`credential_names`), set on the ccxt client of the one source that needs them,
registered with the scrubber (:func:`~coinfactor.data.sources._secrets.register_secret`) so no
message, log record or report carries them, and never written anywhere. Nothing here places or
cancels an order.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ccxt

from coinfactor.core.errors import ConfigError, SourceError
from coinfactor.data.sources._secrets import clip, register_secret
from coinfactor.data.sources._venues import num

if TYPE_CHECKING:
    from coinfactor.data.sources._ccxt import CcxtSource

_READ = ("apiKey", "secret", "walletAddress")
"""Credentials that reading an account may take, whether or not ccxt requires them to trade."""


def credential_names(exchange: str, client: Any) -> dict[str, str]:
    """Ccxt credential -> the environment variable it is read from.

    ``COINFACTOR_<EXCHANGE>_<CREDENTIAL>`` for each credential ccxt lists for the venue
    (``requiredCredentials``), in upper snake case: ``COINFACTOR_BINANCEUSDM_API_KEY`` and
    ``COINFACTOR_BINANCEUSDM_SECRET``; ``COINFACTOR_HYPERLIQUID_WALLET_ADDRESS`` (the
    account's public address; positions need no private key there).

    Parameters
    ----------
    exchange : str
        The ccxt exchange id.
    client : ccxt.Exchange
        The source's client.

    Returns
    -------
    dict of str to str
    """
    required = dict(client.requiredCredentials or {})
    names = [k for k, need in required.items() if need and k != "privateKey"]
    names += [k for k in _READ if k in required and k not in names]
    prefix = f"COINFACTOR_{exchange.upper()}_"
    return {k: prefix + re.sub(r"(?<!^)(?=[A-Z])", "_", k).upper() for k in names}


def fetch_positions(source: CcxtSource, env: Mapping[str, str] | None = None
                    ) -> dict[str, float]:
    """Read current positions in contracts through ccxt's ``fetch_positions`` (short < 0).

    Parameters
    ----------
    source : CcxtSource
        The venue (its retrying call, markets and client).
    env : mapping, optional
        Stands in for ``os.environ``.

    Returns
    -------
    dict of str to float
        Store symbol -> signed quantity in contracts (hedge-mode legs summed; zero positions
        and markets of other types left out), sorted by symbol.

    Raises
    ------
    ConfigError
        When no credential is set in the environment (naming the variables).
    SourceError
        When the venue refuses the request (bad keys, missing address, ...).
    """
    environ = os.environ if env is None else env
    names = credential_names(source.exchange, source.client)
    given = {k: environ[v] for k, v in names.items() if environ.get(v)}
    if not given:
        raise ConfigError(f"--from-venue: no {source.exchange} credentials in the environment; "
                          f"set {', '.join(names.values())} (read from the environment only, "
                          "never logged or stored)")
    for key, value in given.items():
        register_secret(value)
        setattr(source.client, key, value)
    source.client.options["fetchCurrencies"] = False  # a private call coinfactor never needs
    markets = source.markets()
    by_unified = {m["symbol"]: name for name, m in markets.items()}
    try:
        raw = source._call(f"{source.exchange} positions",
                           lambda: source.client.fetch_positions())
    except ccxt.BaseError as exc:
        raise SourceError(f"{source.exchange} refused fetch_positions: {type(exc).__name__}: "
                          f"{clip(exc, 300)}; check {', '.join(names.values())}") from None
    out: dict[str, float] = {}
    for p in raw or []:
        name = by_unified.get(p.get("symbol"))
        contracts = num(p.get("contracts"))
        if name is None or not contracts:
            continue
        sign = -1.0 if p.get("side") == "short" else 1.0
        out[name] = out.get(name, 0.0) + sign * abs(contracts)
    return {k: v for k, v in sorted(out.items()) if v != 0.0}
