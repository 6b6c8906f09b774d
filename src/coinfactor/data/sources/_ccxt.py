"""ccxt source: market snapshots, OHLCV, funding history for any ccxt venue.

Binance USDⓈ-M (``binanceusdm``) and Hyperliquid (``hyperliquid``) are first class: their raw
endpoints are called through ccxt (so ccxt's rate limiter and error mapping apply) to keep
fields ccxt's unified OHLCV drops (Binance quote volume and trade count, Hyperliquid trade
count). Any other ccxt exchange id works through ccxt's unified methods. What differs between
venues is in their adapters (:mod:`coinfactor.data.sources._venues`); this module pages,
retries and frames for all of them.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import ccxt
import polars as pl

from coinfactor.core.errors import ConfigError
from coinfactor.core.time import freq_to_timedelta
from coinfactor.data._schema import PANEL_SCHEMA
from coinfactor.data.sources._account import credential_names, fetch_positions
from coinfactor.data.sources._clean import fnum, tnum, unparsed
from coinfactor.data.sources._deadline import call_within, requests_session
from coinfactor.data.sources._protocol import Capabilities
from coinfactor.data.sources._retry import (
    RetryPolicy,
    TransientError,
    budget,
    call_with_retry,
    check_number,
    check_symbol_deadline,
)
from coinfactor.data.sources._secrets import clip, register_url_credentials, scrub
from coinfactor.data.sources._venues import (
    BarRow,
    FundingRow,
    checked_json,
    market_rules,
    venue_for,
)
from coinfactor.data.sources._venues import num as _num
from coinfactor.data.store import SNAPSHOT_SCHEMA, SYMBOL_RE, check_exchange, check_freq

log = logging.getLogger("coinfactor.data.sources")


def rewrite_urls(client: Any, base_url: str) -> None:
    """Point every entry of a ccxt client's ``urls['api']`` at ``base_url``.

    The scheme and host of each URL are replaced by ``base_url``'s (its path is prefixed), the
    endpoint path is kept: Binance's ``https://fapi.binance.com/fapi/v1`` becomes
    ``<base_url>/fapi/v1``; Hyperliquid's ``https://api.{hostname}`` becomes ``<base_url>``.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"base_url must be an http(s) URL such as http://127.0.0.1:8080, "
                          f"got {base_url!r}")
    root = base_url.rstrip("/")

    def swap(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, str):
            return root + urlsplit(value).path
        return value

    client.urls["api"] = swap(client.urls["api"])


class CcxtSource:
    """Pull bars, funding events and market snapshots from one ccxt exchange.

    Parameters
    ----------
    exchange : str, default "binanceusdm"
        A ccxt exchange id.
    base_url : str, optional
        Replace the venue's host everywhere (a proxy or a test server).
    rate_limit_ms : float, optional
        ccxt ``rateLimit``: milliseconds between requests of cost 1 (ccxt weights endpoints;
        a request of cost c waits ``c * rate_limit_ms`` after the previous one). Default: the
        venue's ccxt setting.
    timeout_ms : int, default 10000
        Per-read timeout (ccxt's ``timeout``).
    request_deadline_ms : float, optional
        Total time one request may take, retries not included; default
        ``max(60000, 2 * timeout_ms)``.
    retry : RetryPolicy, optional
        Backoff for transient faults.
    page_limit, funding_page_limit : int, optional
        Rows asked per call; capped at the venue's maximum (Binance 1500 klines / 1000
        funding rows, Hyperliquid 5000 / 500).
    seed : int, optional
        Seed of the backoff jitter.
    sleep : callable, default time.sleep
        Used between retries.
    native : bool, default True
        On Binance USDⓈ-M and Hyperliquid, call the raw endpoints (keeping quote volume and
        trade counts); ``False`` uses ccxt's unified methods as for any other venue.

    Notes
    -----
    Implements the :class:`~coinfactor.data.sources.Source` protocol. What differs between
    venues (page caps, symbol names, snapshot fields, raw endpoints, history windows) is in
    the venue adapter chosen once from ``exchange`` and ``native``; :attr:`capabilities`
    reports what it serves (open-interest and, on other venues, funding history as ccxt
    declares them).
    """

    market_type = "swap"

    def __init__(
        self,
        exchange: str = "binanceusdm",
        *,
        base_url: str | None = None,
        rate_limit_ms: float | None = None,
        timeout_ms: int = 10_000,
        request_deadline_ms: float | None = None,
        retry: RetryPolicy | None = None,
        page_limit: int | None = None,
        funding_page_limit: int | None = None,
        seed: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
        native: bool = True,
    ) -> None:
        check_exchange(exchange)
        if exchange not in ccxt.exchanges:
            raise ConfigError(f"unknown ccxt exchange {exchange!r}; see ccxt.exchanges for ids "
                              "(e.g. 'binanceusdm', 'hyperliquid', 'bybit', 'okx')")
        check_number("timeout_ms", timeout_ms, strict=True, option="--timeout-ms")
        if request_deadline_ms is not None:
            check_number("request_deadline_ms", request_deadline_ms, strict=True,
                         option="--request-deadline-ms")
        self.exchange = exchange
        register_url_credentials(base_url)
        config: dict[str, Any] = {"enableRateLimit": True, "timeout": int(timeout_ms)}
        if rate_limit_ms is not None:
            check_number("rate_limit_ms", rate_limit_ms, option="--rate-limit-ms")
            config["rateLimit"] = rate_limit_ms
        self.client = getattr(ccxt, exchange)(config)
        # connections known to the deadline watchdog; the HTTP status of every answer kept
        session = self.client.session
        self.client.session = requests_session()
        self.client.session.trust_env = getattr(session, "trust_env", True)
        if session is not None:
            session.close()
        self._status = threading.local()
        answer = self.client.on_rest_response

        def on_rest_response(code: Any, *args: Any, **kwargs: Any) -> Any:
            self._status.code = code
            return answer(code, *args, **kwargs)

        self.client.on_rest_response = on_rest_response
        self.request_deadline_s = (request_deadline_ms if request_deadline_ms is not None
                                   else max(60_000.0, 2.0 * timeout_ms)) / 1000
        self._venue = venue_for(exchange, self.client, self._call, native=native)
        if base_url is not None:
            rewrite_urls(self.client, base_url)
        self.base_url = base_url
        max_bars, max_funding = self._venue.limits
        self.page_limit = max(1, min(page_limit or max_bars, max_bars))
        self.funding_page_limit = max(1, min(funding_page_limit or max_funding, max_funding))
        self.retry = retry or RetryPolicy()
        self._rng = random.Random(seed)
        self._sleep = sleep
        self._markets: dict[str, dict[str, Any]] | None = None

    def __repr__(self) -> str:
        return scrub(f"CcxtSource(exchange={self.exchange!r}, base_url={self.base_url!r}, "
                     f"rate_limit_ms={self.client.rateLimit!r})")

    @property
    def capabilities(self) -> Capabilities:
        """Funding and open-interest history as the venue serves them; snapshot; quote volume."""
        return Capabilities(funding=self._venue.funding_history,
                            open_interest=self._venue.open_interest_history, snapshot=True,
                            quote_volume=self._venue.quote_volume)

    @property
    def default_quote(self) -> str | None:
        """Settlement currency of the default universe: USDT on Binance, USDC on Hyperliquid."""
        return self._venue.default_quote

    def close(self) -> None:
        """Close the client's HTTP session."""
        session = getattr(self.client, "session", None)
        if session is not None:
            session.close()

    # ------------------------------------------------------------------ plumbing
    def _retry_after(self) -> float | None:
        headers = self.client.last_response_headers or {}
        return _num(headers.get("Retry-After") or headers.get("retry-after"))

    def _classify(self, exc: Exception, status: int | None = None) -> TransientError | None:
        """Return a transient fault for what is worth retrying (``status``: the HTTP code)."""
        if isinstance(exc, ccxt.RequestTimeout):
            return TransientError("timeout")
        if status == 429 or isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
            return TransientError("HTTP 429 rate limited", retry_after=self._retry_after())
        if status is not None and status >= 500:  # whatever the body, JSON included
            return TransientError(f"HTTP {status}: {clip(exc, 160)}")
        if isinstance(exc, ccxt.ExchangeNotAvailable):
            return TransientError(f"venue unavailable (5xx): {clip(exc, 160)}")
        if isinstance(exc, ccxt.NetworkError):
            return TransientError(f"network error: {type(exc).__name__} {clip(exc, 160)}")
        if isinstance(exc, ccxt.BadResponse):
            return TransientError("malformed response")
        retry_after = self._retry_after()
        if isinstance(exc, ccxt.ExchangeError) and retry_after is not None:
            # some venues (bybit) parse a 429 body into a plain ExchangeError
            return TransientError("rate limited (Retry-After)", retry_after=retry_after)
        if isinstance(exc, ValueError | TypeError | KeyError | IndexError | AttributeError):
            return TransientError(f"malformed page ({type(exc).__name__})")
        return None

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        def attempt() -> Any:  # runs in the deadline's worker thread
            self._status.code = None
            try:
                return fn()
            except TransientError:
                raise
            except Exception as exc:
                fault = self._classify(exc, _status_code(getattr(self._status, "code", None)))
                if fault is None:
                    raise
            raise fault  # outside the except block: no context keeps the request alive

        return call_with_retry(
            lambda: call_within(attempt, budget(self.request_deadline_s), what=what),
            policy=self.retry, classify=self._classify, what=what, rng=self._rng,
            sleep=self._sleep)

    def server_now_ms(self) -> int:
        """Return the venue clock (ms) from the last ``Date`` header; the local clock if none."""
        headers = self.client.last_response_headers or {}
        date = headers.get("Date") or headers.get("date")
        if date:
            try:
                return int(parsedate_to_datetime(date).timestamp() * 1000)
            except (TypeError, ValueError):
                pass
        return int(time.time() * 1000)

    # ------------------------------------------------------------------ markets
    def markets(self, *, reload: bool = False) -> dict[str, dict[str, Any]]:
        """Store symbol -> ccxt market of the venue's markets of :attr:`market_type`.

        The store symbol is the venue id (``BTCUSDT``) or, on Hyperliquid, the coin name
        (``BTC``). Markets whose id fails the symbol allow-list are skipped.
        """
        if self._markets is None or reload:
            raw = self._call(f"{self.exchange} markets",
                             lambda: self.client.load_markets(reload=True))
            out: dict[str, dict[str, Any]] = {}
            for market in raw.values():
                if market.get("type") != self.market_type:
                    continue
                name = self._venue.store_symbol(market)
                if name is None or not SYMBOL_RE.match(name):
                    log.debug("skipping market %r: id fails the symbol allow-list", name)
                    continue
                out.setdefault(name, market)
            self._markets = out
        return self._markets

    def resolve(self, symbols: list[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """Map user symbols (venue ids or ccxt unified symbols) to markets.

        Returns
        -------
        (dict, list)
            Store symbol -> market for the known ones, and the unknown inputs.
        """
        markets = self.markets()
        by_unified = {m["symbol"]: s for s, m in markets.items()}
        found: dict[str, dict[str, Any]] = {}
        unknown: list[str] = []
        for s in symbols:
            key = s if s in markets else by_unified.get(s)
            if key is None:
                unknown.append(s)
            else:
                found[key] = markets[key]
        return found, unknown

    def store_symbol(self, symbol: str) -> str | None:
        """Return the store symbol of a venue id or ccxt symbol (None if not listed)."""
        found, _ = self.resolve([symbol])
        return next(iter(found), None)

    def snapshot(
        self,
        *,
        quote: str | None = None,
        active_only: bool = True,
        min_volume_usd: float | None = None,
        open_interest: bool = True,
    ) -> pl.DataFrame:
        """One row per market: 24h USD volume, USD open interest, mid, leverage, order rules.

        Parameters
        ----------
        quote : str, optional
            Keep markets settled in this quote currency (``"USDT"``, ``"USDC"``).
        active_only : bool, default True
            Keep only markets the venue reports active (trading).
        min_volume_usd : float, optional
            Keep markets with 24h notional volume >= this (USD).
        open_interest : bool, default True
            Fetch open interest (Binance: one request per kept market).

        Returns
        -------
        pl.DataFrame
            :data:`coinfactor.data.store.SNAPSHOT_SCHEMA`, sorted by descending volume then
            symbol. ``ts`` is the venue's clock. Binance's public API has no mid without the
            order book, so ``mid`` is its last price there; its max leverage needs an API key
            and is null. Hyperliquid values come from ``metaAndAssetCtxs`` (``dayNtlVlm``,
            ``openInterest`` x ``midPx``, ``maxLeverage``). The order rules (contract size,
            precision and its mode, minimum amount and cost) are ccxt's market structure
            as ``load_markets`` reports it (:func:`market_rules`), on every venue.
        """
        markets = self.markets(reload=True)
        now = self.server_now_ms()
        rows: list[dict[str, Any]] = []
        tickers = self._venue.tickers(markets)
        for name, m in sorted(markets.items()):
            if active_only and m.get("active") is False:
                continue
            if quote is not None and (m.get("settle") or m.get("quote")) != quote:
                continue
            row = self._venue.snapshot_row(name, m, tickers)
            row |= {"symbol": name, "base": m.get("base"), "quote": m.get("settle") or
                    m.get("quote"), "active": m.get("active") is not False}
            row |= market_rules(m, self.client.precisionMode)
            if min_volume_usd is not None and (row["volume_24h_usd"] or 0.0) < min_volume_usd:
                continue
            rows.append(row)
        if open_interest and not self._venue.snapshot_open_interest:
            for row in rows:
                row["open_interest_usd"] = self._open_interest_usd(row["symbol"], row["mid"])
        ts = datetime.fromtimestamp(now // 1000, tz=UTC)
        frame = pl.DataFrame([{**r, "ts": ts} for r in rows], schema=SNAPSHOT_SCHEMA,
                             orient="row") if rows else pl.DataFrame(schema=SNAPSHOT_SCHEMA)
        return frame.select(list(SNAPSHOT_SCHEMA)).sort(
            ["volume_24h_usd", "symbol"], descending=[True, False], nulls_last=True)

    def _open_interest_usd(self, name: str, mid: float | None) -> float | None:
        market = self.markets()[name]
        try:
            return self._venue.open_interest_usd(name, market, mid)
        except Exception as exc:  # OI is optional: a venue that refuses it leaves it null
            log.warning("open interest of %s unavailable: %s", name, clip(exc, 200))
        return None

    # ------------------------------------------------------------------ account
    def credential_names(self) -> dict[str, str]:
        """Ccxt credential -> the environment variable :meth:`positions` reads it from.

        See :func:`~coinfactor.data.sources._account.credential_names`.
        """
        return credential_names(self.exchange, self.client)

    def positions(self, env: Mapping[str, str] | None = None) -> dict[str, float]:
        """Read current positions in contracts through ccxt's ``fetch_positions`` (short < 0).

        See :func:`~coinfactor.data.sources._account.fetch_positions` (credentials from the
        environment, never logged or stored).
        """
        return fetch_positions(self, env)

    # ------------------------------------------------------------------ history
    def iter_bars(
        self, symbol: str, timeframe: str, *, since: datetime, until: datetime | None = None
    ) -> Iterator[pl.DataFrame]:
        """Yield pages of ``symbol``'s bars with ``since <= ts`` that have closed.

        A bar is kept only if it has closed: ``ts + timeframe <= min(venue clock, until)``.
        Pages follow the venue's per-call limit. An empty page where a closed bar should exist
        is retried with backoff after data has been seen; on the first page it is asked once
        more (after ``retry.base_delay``, at most 1 s), and at the live edge (only the newest
        bar due) not at all, then taken as the end of the data.

        Pages are typed (``trades`` as float) but not checked: a value the venue sent that is
        not a number is ``NaN``; the ingest loop's page checks
        (:mod:`coinfactor.data.sources._clean`) null, reject or set such bars aside.
        """
        check_freq(timeframe)
        step = int(freq_to_timedelta(timeframe).total_seconds() * 1000)
        market = self._market(symbol)
        cursor = _ms(since)
        until_ms = None if until is None else _ms(until)
        horizon = until_ms if until_ms is not None else int(time.time() * 1000) + step
        seen = False
        while cursor + step <= horizon:
            check_symbol_deadline(f"bars {symbol}")

            def fetch_bars(c: int = cursor) -> list[BarRow]:
                return self._venue.bars_page(market, timeframe, c, until_ms, self.page_limit)

            rows, now = self._page(f"bars {symbol}", fetch_bars, cursor=cursor, step=step,
                                   seen=seen, required=6)
            horizon = now if until_ms is None else min(now, until_ms)
            keep = [r for r in rows if r[0] is None or cursor <= r[0] <= horizon - step]
            if keep:
                seen = True
                yield _bars_frame(symbol, keep)
            stamps = [r[0] for r in rows if r[0] is not None]
            if not stamps or (self._venue.short_page_ends and len(rows) < self.page_limit):
                break  # a short page from a venue whose cap we know is the end of the data
            if max(stamps) < cursor:
                break
            cursor = max(stamps) + step

    def iter_funding(
        self, symbol: str, *, since: datetime, until: datetime | None = None
    ) -> Iterator[pl.DataFrame]:
        """Yield pages of funding events (``symbol, ts, funding_rate, mark_price``).

        Events with ``since <= ts <= min(venue clock, until)`` are kept (rate per event, a
        fraction; positive means longs pay). Empty pages are retried as in :meth:`iter_bars`;
        values are typed, not checked.
        """
        market = self._market(symbol)
        cursor = _ms(since)
        until_ms = None if until is None else _ms(until)
        gap = self._venue.funding_gap_ms
        horizon = until_ms if until_ms is not None else int(time.time() * 1000) + gap
        seen = False
        while cursor <= horizon:
            check_symbol_deadline(f"funding {symbol}")

            def fetch_funding(c: int = cursor) -> list[FundingRow]:
                return self._venue.funding_page(market, c, until_ms, self.funding_page_limit)

            rows, now = self._page(f"funding {symbol}", fetch_funding, cursor=cursor,
                                   step=gap, seen=seen, required=2)
            horizon = now if until_ms is None else min(now, until_ms)
            keep = [r for r in rows if r[0] is None or cursor <= r[0] <= horizon]
            if keep:
                seen = True
                yield pl.DataFrame(
                    {"symbol": [symbol] * len(keep), "ts": [r[0] for r in keep],
                     "funding_rate": [r[1] for r in keep], "mark_price": [r[2] for r in keep]},
                    schema={"symbol": pl.String, "ts": pl.Int64, "funding_rate": pl.Float64,
                            "mark_price": pl.Float64},
                ).with_columns(_epoch("ts"))
            stamps = [r[0] for r in rows if r[0] is not None]
            if not stamps or (self._venue.short_page_ends
                              and len(rows) < self.funding_page_limit):
                break
            if max(stamps) < cursor:
                break
            cursor = max(stamps) + 1

    @property
    def has_open_interest_history(self) -> bool:
        """Whether the venue serves open-interest history through ccxt."""
        return self._venue.open_interest_history

    def iter_open_interest(
        self, symbol: str, timeframe: str, *, since: datetime, until: datetime | None = None
    ) -> Iterator[pl.DataFrame]:
        """Yield pages of ``symbol, ts, open_interest`` (quote units) for bars at ``timeframe``.

        The venue's open interest at time tau is the value at the close of the bar opening at
        ``tau - timeframe``, so it is returned with ``ts = tau - timeframe``. Binance keeps
        30 days of history (older requests start 30 days back); Hyperliquid serves none.
        """
        if not self.has_open_interest_history:
            return
        step = int(freq_to_timedelta(timeframe).total_seconds() * 1000)
        market = self._market(symbol)
        cursor = _ms(since) + step  # the first value is at the close of the first bar
        until_ms = None if until is None else _ms(until)
        if self._venue.oi_history_days is not None:  # older requests start that far back
            cursor = max(cursor, self.server_now_ms() - self._venue.oi_history_days * 86_400_000
                         + step)
        limit = 500
        while True:
            check_symbol_deadline(f"open interest {symbol}")
            horizon = self.server_now_ms() if until_ms is None else until_ms
            if cursor > horizon:
                break
            end = min(cursor + (limit - 1) * step, horizon)

            def fetch(c: int = cursor, e: int = end) -> list[Any]:
                return list(checked_json(self.client, self.client.fetch_open_interest_history(
                    market["symbol"], timeframe, since=c, limit=limit, params={"until": e})))

            rows = self._call(f"open interest {symbol}", fetch)
            keep = [(tnum(r.get("timestamp")), fnum(r.get("openInterestValue"))) for r in rows]
            kept = [(t, v) for t, v in keep if t is not None and v is not None
                    and cursor <= t <= end]
            if kept:
                yield pl.DataFrame(
                    {"symbol": [symbol] * len(kept), "ts": [t - step for t, _ in kept],
                     "open_interest": [v for _, v in kept]},
                    schema={"symbol": pl.String, "ts": pl.Int64, "open_interest": pl.Float64},
                ).with_columns(_epoch("ts"))
            cursor = end + 1

    def _market(self, symbol: str) -> dict[str, Any]:
        found, unknown = self.resolve([symbol])
        if unknown:
            raise ConfigError(f"{self.exchange} has no {self.market_type} market {symbol!r}")
        return next(iter(found.values()))

    def _page(self, what: str, fetch: Callable[[], list[Any]], *, cursor: int, step: int,
              seen: bool, required: int) -> tuple[list[Any], int]:  # BarRow or FundingRow
        """Fetch one page (faults retried); retry an empty page as :meth:`iter_bars` says.

        A page with a value that is not a number (or a required one missing) is malformed:
        asked again like a fault; on the last attempt it is returned as it is, for the
        ingest loop's checks to null the value or reject (or set aside) the row.
        """
        calls = {"n": 0}

        def checked() -> list[Any]:
            calls["n"] += 1
            rows = fetch()
            if calls["n"] < self.retry.max_attempts and any(unparsed(r, required)
                                                            for r in rows):
                raise TransientError("malformed page (a field that is not a number)")
            return rows

        rows = self._call(what, checked)
        now = self.server_now_ms()
        if rows or cursor + step > now:  # data, or nothing due yet
            return rows, now
        if cursor + 2 * step > now:  # the live edge: the newest bar may not be out yet
            return rows, now
        tries = self.retry.max_attempts if seen else min(2, self.retry.max_attempts)
        for attempt in range(tries - 1):
            wait = (self.retry.delay(attempt, self._rng) if seen
                    else min(self.retry.base_delay, 1.0))
            log.info("%s: empty page; retry %d in %.2fs", what, attempt + 1, wait)
            check_symbol_deadline(what)
            self._sleep(wait)
            calls["n"] = 0
            rows = self._call(what, checked)
            now = self.server_now_ms()
            if rows:
                return rows, now
        if seen:
            log.warning("%s: still empty after %d attempts; taking it as the end of the data",
                        what, tries)
        return rows, now


def _status_code(value: Any) -> int | None:
    try:
        code = int(value)
    except (TypeError, ValueError):
        return None
    return code if 100 <= code <= 999 else None


def _ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _epoch(name: str) -> pl.Expr:
    return pl.from_epoch(name, time_unit="ms").dt.cast_time_unit("us") \
        .dt.replace_time_zone("UTC")


def _bars_frame(symbol: str, rows: list[BarRow]) -> pl.DataFrame:
    """Rows as a typed (unchecked) page: ``trades`` float, unusable values ``NaN``/null."""
    cols = list(zip(*rows, strict=True))
    floats = ("open", "high", "low", "close", "volume", "quote_volume", "trades")
    frame = pl.DataFrame(
        {"ts": cols[0], "symbol": [symbol] * len(rows),
         **{name: cols[i + 1] for i, name in enumerate(floats)}},
        schema={"ts": pl.Int64, "symbol": pl.String, **dict.fromkeys(floats, pl.Float64)})
    return frame.with_columns(
        _epoch("ts"),
        pl.lit(None, pl.Float64).alias("funding_rate"),
        pl.lit(None, pl.Float64).alias("open_interest"),
    ).select(list(PANEL_SCHEMA))
