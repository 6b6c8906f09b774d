"""Per-venue adapters of :class:`~coinfactor.data.sources.CcxtSource`.

What differs between ccxt venues lives here, in one small class per venue, chosen once by
exchange id (:func:`venue_for`); the source delegates to it and holds no venue branch:

* :class:`VenueAdapter` -- any ccxt id: ccxt's unified methods (tickers, OHLCV, funding
  history, open interest), ccxt's per-call default limit.
* :class:`_BinanceUsdm` / :class:`_BinanceUsdmNative` -- Binance USDⓈ-M's documented caps,
  8-hourly funding, 30 days of open-interest history; the native one calls the raw ``fapi``
  endpoints (keeping quote volume and trade counts).
* :class:`_Hyperliquid` / :class:`_HyperliquidNative` -- coins named by their base, the
  snapshot from ``metaAndAssetCtxs``, hourly funding; the native one calls ``/info``
  (``candleSnapshot``, ``fundingHistory``, keeping trade counts).

Raw endpoints are still called through the ccxt client, so its rate limiter and error mapping
apply.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from ccxt.base.decimal_to_precision import DECIMAL_PLACES, SIGNIFICANT_DIGITS, TICK_SIZE

from coinfactor.data.sources._clean import fnum, tnum
from coinfactor.data.sources._retry import TransientError

log = logging.getLogger("coinfactor.data.sources")

# (max candles per call, max funding rows per call) as the venues document them
VENUE_LIMITS: dict[str, tuple[int, int]] = {
    "binanceusdm": (1500, 1000),
    "hyperliquid": (5000, 500),
}
DEFAULT_LIMITS = (500, 500)

BarRow = tuple[int | None, float | None, float | None, float | None, float | None, float | None,
               float | None, float | None]
"""``(open time ms, open, high, low, close, volume, quote volume, trades)`` as the venue sent
them: ``None`` missing, ``NaN`` not a number (the ingest loop's page checks judge them)."""
FundingRow = tuple[int | None, float | None, float | None]
"""``(time ms, rate, mark price)``, read like :data:`BarRow`."""
Call = Callable[[str, Callable[[], Any]], Any]
"""The source's retrying call: ``call(what, request)`` returns ``request()``'s result."""


PRECISION_MODES: dict[int, str] = {DECIMAL_PLACES: "decimal_places",
                                   SIGNIFICANT_DIGITS: "significant_digits",
                                   TICK_SIZE: "tick_size"}
"""ccxt's precision modes (``exchange.precisionMode``) by their constant, and the name a
market snapshot stores (names, not ccxt's numbers: those have changed between versions)."""


def market_rules(market: dict[str, Any], precision_mode: int) -> dict[str, Any]:
    """Read the order rules of one ccxt market structure (a value of ``load_markets()``).

    Parameters
    ----------
    market : dict
        ccxt's market structure.
    precision_mode : int
        The exchange's ``precisionMode`` (how ``precision`` is to be read).

    Returns
    -------
    dict
        ``contract_size`` (``contractSize``; null when ccxt has none), ``precision_mode``
        (its name in :data:`PRECISION_MODES`; null for a mode ccxt added later),
        ``amount_precision`` / ``price_precision`` (``precision.amount`` / ``.price``),
        ``min_amount`` (``limits.amount.min``, contracts) and ``min_cost``
        (``limits.cost.min``, quote notional); a value ccxt leaves out is null.
    """
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    return {"contract_size": num(market.get("contractSize")),
            "precision_mode": PRECISION_MODES.get(precision_mode),
            "amount_precision": num(precision.get("amount")),
            "price_precision": num(precision.get("price")),
            "min_amount": num((limits.get("amount") or {}).get("min")),
            "min_cost": num((limits.get("cost") or {}).get("min"))}


def num(value: Any) -> float | None:
    """Return ``value`` as a finite float; ``None`` when missing, not a number or not finite.

    A non-finite value (``"1e400"``, ``"inf"``, ``"nan"``) is logged as a warning.
    """
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(out):
        log.warning("venue value %.40r is not finite; taken as missing", value)
        return None
    return out


def bar_row(t: Any, o: Any, h: Any, lo: Any, c: Any, v: Any, qv: Any = None,
            n: Any = None) -> BarRow:
    """Build a :data:`BarRow` from raw venue fields; never raises on a bad value."""
    return (tnum(t), fnum(o), fnum(h), fnum(lo), fnum(c), fnum(v), fnum(qv), fnum(n))


def funding_row(t: Any, rate: Any, mark: Any = None) -> FundingRow:
    """Build a :data:`FundingRow` from raw venue fields; never raises on a bad value."""
    return (tnum(t), fnum(rate), fnum(mark))


def _by_time(rows: list[Any]) -> list[Any]:
    """Rows sorted by time, rows without one last (in their order)."""
    return sorted(rows, key=lambda r: (r[0] is None, r[0] or 0))


def checked_json(client: Any, response: Any) -> Any:
    """Return ``response``; raise a transient fault when the client's last body was not JSON."""
    raw = client.last_http_response
    if response is None or (isinstance(raw, str) and raw and _bad_json(raw)):
        raise TransientError("malformed JSON page")
    return response


def _bad_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


class VenueAdapter:
    """A ccxt venue reached through ccxt's unified methods (the default for any ccxt id).

    Parameters
    ----------
    exchange : str
        The ccxt exchange id.
    client : ccxt.Exchange
        The source's client (already configured: rate limit, timeout, base URL).
    call : callable
        The source's retrying call, ``call(what, request)``.

    Attributes
    ----------
    limits : (int, int)
        Maximum candles and funding rows per call.
    funding_gap_ms : int
        Longest gap between two funding settlements, ms (an empty page before it is normal).
    oi_history_days : int or None
        Days of open-interest history the venue keeps; ``None`` when not limited.
    short_page_ends : bool
        Whether a page shorter than the rows asked is the end of the data (the venue's cap is
        known).
    quote_volume : bool
        Whether bars carry the venue's quote volume.
    snapshot_open_interest : bool
        Whether :meth:`snapshot_row` already holds open interest (no per-market request).
    default_quote : str or None
        Settlement currency of the default symbol universe (``None``: every quote).
    """

    limits: tuple[int, int] = DEFAULT_LIMITS
    funding_gap_ms: int = 8 * 3_600_000
    oi_history_days: int | None = None
    short_page_ends: bool = False
    quote_volume: bool = False
    snapshot_open_interest: bool = False
    default_quote: str | None = None

    def __init__(self, exchange: str, client: Any, call: Call) -> None:
        self.exchange = exchange
        self.client = client
        self._call = call

    @property
    def funding_history(self) -> bool:
        """Whether the venue serves funding-rate history."""
        return bool(self.client.has.get("fetchFundingRateHistory"))

    @property
    def open_interest_history(self) -> bool:
        """Whether the venue serves open-interest history through ccxt."""
        return bool(self.client.has.get("fetchOpenInterestHistory"))

    def _json(self, response: Any) -> Any:
        return checked_json(self.client, response)

    # ------------------------------------------------------------------ markets
    def store_symbol(self, market: dict[str, Any]) -> str | None:
        """Return the store symbol of a ccxt market: its venue id (``BTCUSDT``)."""
        mid = market.get("id")
        return None if mid is None else str(mid)

    def tickers(self, markets: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
        """Store symbol -> ``{"volume": 24h quote volume, "mid": mid or last price}``."""
        if not self.client.has.get("fetchTickers"):
            return {}
        raw = self._call(f"{self.exchange} tickers", lambda: self.client.fetch_tickers())
        by_unified = {m["symbol"]: s for s, m in markets.items()}
        out: dict[str, dict[str, float | None]] = {}
        for unified, t in raw.items():
            name = by_unified.get(unified)
            if name is None:
                continue
            bid, ask, last = num(t.get("bid")), num(t.get("ask")), num(t.get("last"))
            mid = (bid + ask) / 2 if bid and ask else last
            vol, base = num(t.get("quoteVolume")), num(t.get("baseVolume"))
            if vol is None and base is not None and last:
                vol = num(base * last)
            out[name] = {"volume": vol, "mid": mid}
        return out

    def snapshot_row(self, name: str, market: dict[str, Any],
                     tickers: dict[str, dict[str, float | None]]) -> dict[str, Any]:
        """Volume (USD), mid, open interest (USD) and max leverage of one market."""
        t = tickers.get(name, {})
        lev = ((market.get("limits") or {}).get("leverage") or {}).get("max")
        return {"volume_24h_usd": t.get("volume"), "mid": t.get("mid"),
                "open_interest_usd": None, "max_leverage": num(lev)}

    def open_interest_usd(self, name: str, market: dict[str, Any],
                          mid: float | None) -> float | None:
        """Return the open interest of one market in USD (``None`` if the venue has none)."""
        if not self.client.has.get("fetchOpenInterest"):
            return None
        oi = self._call(f"open interest {name}",
                        lambda: self.client.fetch_open_interest(market["symbol"]))
        value, coins = num(oi.get("openInterestValue")), num(oi.get("openInterestAmount"))
        if value is None and coins and mid:
            value = num(coins * mid)
        return value

    # ------------------------------------------------------------------ history
    def bars_page(self, market: dict[str, Any], tf: str, cursor: int, until_ms: int | None,
                  limit: int) -> list[BarRow]:
        """One page of candles from ``cursor`` (ms), at most ``limit``, before ``until_ms``."""
        params = {} if until_ms is None else {"until": until_ms - 1}
        raw = self._json(self.client.fetch_ohlcv(market["symbol"], tf, since=cursor,
                                                 limit=limit, params=params))
        return [bar_row(r[0], r[1], r[2], r[3], r[4], 0.0 if r[5] is None else r[5])
                for r in raw]

    def funding_page(self, market: dict[str, Any], cursor: int, until_ms: int | None,
                     limit: int) -> list[FundingRow]:
        """One page of funding events from ``cursor`` (ms), at most ``limit``, to ``until_ms``."""
        params = {} if until_ms is None else {"until": until_ms}
        raw = self._json(self.client.fetch_funding_rate_history(
            market["symbol"], since=cursor, limit=limit, params=params))
        return [funding_row(r.get("timestamp"), r.get("fundingRate")) for r in raw]


class _BinanceUsdm(VenueAdapter):
    """Binance USDⓈ-M through ccxt's unified methods: its caps and history windows."""

    limits = VENUE_LIMITS["binanceusdm"]
    funding_gap_ms = 8 * 3_600_000
    oi_history_days = 30
    default_quote = "USDT"


class _BinanceUsdmNative(_BinanceUsdm):
    """Binance USDⓈ-M's raw ``fapi`` endpoints: quote volume and trade counts kept."""

    short_page_ends = True
    quote_volume = True

    @property
    def funding_history(self) -> bool:
        """``fapi/v1/fundingRate``: always served."""
        return True

    def tickers(self, markets: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
        """``fapi/v1/ticker/24hr``: quote volume and last price (no mid without the book)."""
        raw = self._call("binanceusdm ticker/24hr",
                         lambda: self._json(self.client.fapiPublicGetTicker24hr()))
        return {str(t["symbol"]): {"volume": num(t.get("quoteVolume")),
                                   "mid": num(t.get("lastPrice"))} for t in raw}

    def open_interest_usd(self, name: str, market: dict[str, Any],
                          mid: float | None) -> float | None:
        """``fapi/v1/openInterest`` (coins) times ``mid``."""
        raw = self._call(f"openInterest {name}", lambda: self._json(
            self.client.fapiPublicGetOpenInterest({"symbol": market["id"]})))
        coins = num(raw.get("openInterest"))
        return None if coins is None or mid is None else num(coins * mid)

    def bars_page(self, market: dict[str, Any], tf: str, cursor: int, until_ms: int | None,
                  limit: int) -> list[BarRow]:
        """``fapi/v1/klines``: quote volume (column 7) and trade count (column 8) kept."""
        params: dict[str, Any] = {"symbol": market["id"], "interval": tf,
                                  "startTime": cursor, "limit": limit}
        if until_ms is not None:
            params["endTime"] = until_ms - 1
        raw = self._json(self.client.fapiPublicGetKlines(params))
        return [bar_row(r[0], r[1], r[2], r[3], r[4], r[5], r[7], r[8]) for r in raw]

    def funding_page(self, market: dict[str, Any], cursor: int, until_ms: int | None,
                     limit: int) -> list[FundingRow]:
        """``fapi/v1/fundingRate``: rate and mark price per settlement."""
        params: dict[str, Any] = {"symbol": market["id"], "startTime": cursor, "limit": limit}
        if until_ms is not None:
            params["endTime"] = until_ms
        raw = self._json(self.client.fapiPublicGetFundingRate(params))
        return [funding_row(r.get("fundingTime"), r.get("fundingRate"), r.get("markPrice"))
                for r in raw]


class _Hyperliquid(VenueAdapter):
    """Hyperliquid through ccxt's unified methods: perps named by coin, asset-context snapshot.

    Only swap markets are loaded (``fetchMarkets`` types), and the snapshot's volume, mid, open
    interest and max leverage come from ``metaAndAssetCtxs`` (kept in each market's ``info``).
    """

    limits = VENUE_LIMITS["hyperliquid"]
    funding_gap_ms = 3_600_000
    snapshot_open_interest = True
    default_quote = "USDC"

    def __init__(self, exchange: str, client: Any, call: Call) -> None:
        super().__init__(exchange, client, call)
        client.options["fetchMarkets"] = {"types": ["swap"]}

    def store_symbol(self, market: dict[str, Any]) -> str | None:
        """Return the coin name (``BTC``, HIP-3 ``dex:COIN``)."""
        name = market.get("baseName") or (market.get("info") or {}).get("name")
        return None if name is None else str(name)

    def tickers(self, markets: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
        """None needed: the markets' asset contexts hold volume and mid."""
        return {}

    def snapshot_row(self, name: str, market: dict[str, Any],
                     tickers: dict[str, dict[str, float | None]]) -> dict[str, Any]:
        """``dayNtlVlm``, ``midPx`` (else ``markPx``), ``openInterest`` x mid, ``maxLeverage``."""
        info = market.get("info") or {}
        mid = num(info.get("midPx")) or num(info.get("markPx"))
        coins = num(info.get("openInterest"))
        return {"volume_24h_usd": num(info.get("dayNtlVlm")), "mid": mid,
                "open_interest_usd": None if coins is None or mid is None else num(coins * mid),
                "max_leverage": num(info.get("maxLeverage"))}


class _HyperliquidNative(_Hyperliquid):
    """Hyperliquid's raw ``/info`` requests: trade counts kept."""

    short_page_ends = True

    @property
    def funding_history(self) -> bool:
        """``fundingHistory``: always served."""
        return True

    def bars_page(self, market: dict[str, Any], tf: str, cursor: int, until_ms: int | None,
                  limit: int) -> list[BarRow]:
        """``candleSnapshot`` from ``cursor`` to the end, sorted, the first ``limit`` kept.

        Hyperliquid keeps only the most recent 5000 candles of an interval, so one call from
        the cursor to the end returns all there is (at most 5000); older ranges come back
        starting at the oldest candle kept.
        """
        end = until_ms - 1 if until_ms is not None else int(time.time() * 1000) + 86_400_000
        raw = self._json(self.client.publicPostInfo({
            "type": "candleSnapshot",
            "req": {"coin": self.store_symbol(market), "interval": tf,
                    "startTime": cursor, "endTime": end},
        }))
        rows = [bar_row(r.get("t"), r.get("o"), r.get("h"), r.get("l"), r.get("c"),
                        r.get("v"), None, r.get("n")) for r in raw]
        return _by_time(rows)[:limit]

    def funding_page(self, market: dict[str, Any], cursor: int, until_ms: int | None,
                     limit: int) -> list[FundingRow]:
        """``fundingHistory`` from ``cursor``, sorted, the first ``limit`` kept."""
        req: dict[str, Any] = {"type": "fundingHistory", "coin": self.store_symbol(market),
                               "startTime": cursor}
        if until_ms is not None:
            req["endTime"] = until_ms
        raw = self._json(self.client.publicPostInfo(req))
        rows = [funding_row(r.get("time"), r.get("fundingRate")) for r in raw]
        return _by_time(rows)[:limit]


# exchange id -> (adapter through ccxt's unified methods, adapter on the raw endpoints)
_ADAPTERS: dict[str, tuple[type[VenueAdapter], type[VenueAdapter]]] = {
    "binanceusdm": (_BinanceUsdm, _BinanceUsdmNative),
    "hyperliquid": (_Hyperliquid, _HyperliquidNative),
}


def venue_for(exchange: str, client: Any, call: Call, *, native: bool = True) -> VenueAdapter:
    """Return the adapter of ``exchange`` (the generic one for an id without its own).

    Parameters
    ----------
    exchange : str
        The ccxt exchange id.
    client : ccxt.Exchange
        The source's configured client.
    call : callable
        The source's retrying call.
    native : bool, default True
        Use the venue's raw endpoints where it has an adapter for them.
    """
    unified, raw = _ADAPTERS.get(exchange, (VenueAdapter, VenueAdapter))
    return (raw if native else unified)(exchange, client, call)
