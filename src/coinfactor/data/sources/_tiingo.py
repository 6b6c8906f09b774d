"""Tiingo crypto REST source (httpx): ticker metadata, exchange availability, resampled OHLCV.

The API token comes from ``TIINGO_API_KEY`` (or the ``token`` argument). It travels only in the
``Authorization`` header, never in a URL, and is registered with
:func:`~coinfactor.data.sources._secrets.register_secret`, so that it (and any piece of it of six
characters or more) is scrubbed from every message, log record and report before anything is
cut; exceptions are raised ``from None`` so no underlying request object rides along. Every
request runs within a total deadline (``request_deadline_s``; httpx's timeout is per read).
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import polars as pl

from coinfactor.core.errors import ConfigError
from coinfactor.core.time import freq_to_timedelta
from coinfactor.data._schema import PANEL_SCHEMA
from coinfactor.data.sources._clean import fnum, unparsed
from coinfactor.data.sources._deadline import call_within, httpx_transport
from coinfactor.data.sources._protocol import Capabilities
from coinfactor.data.sources._retry import (
    RetryPolicy,
    TransientError,
    budget,
    call_with_retry,
    check_number,
    check_symbol_deadline,
)
from coinfactor.data.sources._secrets import clip, register_secret, scrub
from coinfactor.data.store import SNAPSHOT_SCHEMA, check_symbol

log = logging.getLogger("coinfactor.data.sources")

DEFAULT_BASE_URL = "https://api.tiingo.com"
RESAMPLE: dict[str, str] = {
    "1m": "1min", "5m": "5min", "15m": "15min", "30m": "30min", "1h": "1hour",
    "2h": "2hour", "4h": "4hour", "1d": "1day",
}


class TiingoSource:
    """Tiingo's crypto API.

    Parameters
    ----------
    token : str, optional
        API token; default ``$TIINGO_API_KEY``. Never logged, stored or put in a message.
    base_url : str, default "https://api.tiingo.com"
        Root of the API (a proxy or a test server may stand in).
    exchanges : sequence of str, optional
        Build bars from these exchanges only (Tiingo's ``exchanges=`` filter, e.g.
        ``["BINANCE"]``); all of Tiingo's venues when omitted.
    timeout_s : float, default 30
        Per-read timeout.
    request_deadline_s : float, optional
        Total time one request may take (a trickled answer included), retries not included;
        default ``max(60, 2 * timeout_s)``.
    rate_limit_ms : float, default 0
        Minimum milliseconds between two requests.
    page_limit : int, default 5000
        Bars asked per request (whole days: ``max(1, page_limit // bars_per_day)`` days).
    retry : RetryPolicy, optional
        Backoff for transient faults.
    seed : int, optional
        Seed of the backoff jitter.
    sleep : callable, default time.sleep
        Used between retries and for rate limiting.
    """

    market_type = "spot"
    default_quote: str | None = None
    capabilities = Capabilities(quote_volume=True)
    """Spot bars with quote volume (``volumeNotional``): no funding, open interest or snapshot."""

    def __init__(
        self,
        *,
        token: str | None = None,
        base_url: str | None = None,
        exchanges: Sequence[str] | None = None,
        timeout_s: float = 30.0,
        request_deadline_s: float | None = None,
        rate_limit_ms: float = 0.0,
        page_limit: int = 5000,
        retry: RetryPolicy | None = None,
        seed: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        secret = token if token is not None else os.environ.get("TIINGO_API_KEY", "")
        if not secret:
            raise ConfigError("Tiingo needs an API token: set the TIINGO_API_KEY environment "
                              "variable (it is never logged or stored)")
        register_secret(secret)
        self._secret = secret
        check_number("timeout_s", timeout_s, strict=True)
        if request_deadline_s is not None:
            check_number("request_deadline_s", request_deadline_s, strict=True)
        check_number("rate_limit_ms", rate_limit_ms, option="--rate-limit-ms")
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must be an http(s) URL, got {self._scrub(base_url)!r}")
        self.venues = [v.upper() for v in exchanges] if exchanges else None
        for v in self.venues or []:
            if not v.replace("_", "").isalnum():
                raise ConfigError(f"invalid Tiingo exchange name {v!r}")
        self.exchange = "tiingo" if not self.venues else "tiingo_" + "_".join(
            v.lower() for v in self.venues)
        self.rate_limit_ms = rate_limit_ms
        self.page_limit = max(1, page_limit)
        self.retry = retry or RetryPolicy()
        self._rng = random.Random(seed)
        self._sleep = sleep
        self._last = 0.0
        self._now_ms: int | None = None
        self.request_deadline_s = (request_deadline_s if request_deadline_s is not None
                                   else max(60.0, 2.0 * timeout_s))
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout_s,
                                    transport=httpx_transport(),
                                    headers={"Authorization": f"Token {secret}",
                                             "Content-Type": "application/json"})

    def __repr__(self) -> str:
        return f"TiingoSource(base_url={self.base_url!r}, exchanges={self.venues!r})"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    # ------------------------------------------------------------------ plumbing
    def _scrub(self, text: object) -> str:
        return scrub(text, (self._secret,))

    def _get(self, path: str, params: dict[str, str], what: str,
             parse: Callable[[Any], Any] = lambda raw: raw) -> Any:
        def once() -> Any:
            wait = self.rate_limit_ms / 1000 - (time.monotonic() - self._last)
            if wait > 0:
                self._sleep(wait)
            self._last = time.monotonic()
            try:
                resp = call_within(lambda: self._client.get(path, params=params),
                                   budget(self.request_deadline_s), what=what)
            except httpx.TimeoutException:
                raise TransientError("timeout") from None
            except httpx.TransportError as exc:
                raise TransientError(
                    f"connection error ({type(exc).__name__})") from None
            date = resp.headers.get("Date")
            if date:
                try:
                    self._now_ms = int(parsedate_to_datetime(date).timestamp() * 1000)
                except (TypeError, ValueError):
                    self._now_ms = None
            if resp.status_code == 429:
                ra = resp.headers.get("Retry-After")
                try:
                    after = float(ra) if ra is not None else None
                except ValueError:
                    after = None
                raise TransientError("HTTP 429 rate limited", retry_after=after)
            # the whole body is scrubbed before it is cut: a cut secret is no longer whole
            if resp.status_code >= 500:
                raise TransientError(f"HTTP {resp.status_code}: {self._body(resp.text)}")
            if resp.status_code >= 400:
                raise _Fatal(f"HTTP {resp.status_code}: {self._body(resp.text)}")
            try:
                body = resp.json()
            except ValueError:
                raise TransientError("malformed JSON page") from None
            return parse(body)

        return call_with_retry(once, policy=self.retry, classify=_classify, what=what,
                               rng=self._rng, sleep=self._sleep, scrub=self._scrub)

    def _body(self, text: str) -> str:
        return clip(self._scrub(text), 200)

    def server_now_ms(self) -> int:
        """Return the API clock (ms) from the last ``Date`` header; the local clock if none."""
        return self._now_ms if self._now_ms is not None else int(time.time() * 1000)

    # ------------------------------------------------------------------ metadata
    def tickers(self, tickers: Sequence[str] | None = None) -> pl.DataFrame:
        """Crypto ticker metadata: ``ticker, base, quote, name`` (``/tiingo/crypto``)."""
        params = {"tickers": ",".join(check_symbol(t) for t in tickers)} if tickers else {}
        raw = self._get("/tiingo/crypto", params, "tiingo tickers")
        rows = [{"ticker": r.get("ticker"), "base": r.get("baseCurrency"),
                 "quote": r.get("quoteCurrency"), "name": r.get("name")} for r in raw]
        return pl.DataFrame(rows, schema={"ticker": pl.String, "base": pl.String,
                                          "quote": pl.String, "name": pl.String}).sort("ticker")

    def exchanges(self, ticker: str) -> list[str]:
        """Exchanges that quote ``ticker`` now (keys of Tiingo's raw exchange data)."""
        raw = self._get("/tiingo/crypto/prices",
                        {"tickers": check_symbol(ticker), "includeRawExchangeData": "true"},
                        f"tiingo exchanges {ticker}")
        for item in raw:
            if item.get("ticker") == ticker:
                return sorted((item.get("exchangeData") or {}).keys())
        return []

    def snapshot(
        self,
        *,
        quote: str | None = None,
        active_only: bool = True,
        min_volume_usd: float | None = None,
    ) -> pl.DataFrame:
        """Return an empty snapshot: Tiingo has no derivatives market snapshot."""
        return pl.DataFrame(schema=SNAPSHOT_SCHEMA)

    def store_symbol(self, symbol: str) -> str | None:
        """Return the lower-case Tiingo ticker (``btcusdt``), checked against the allow-list."""
        return check_symbol(symbol.lower())

    def resolve(self, symbols: list[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """Tickers are their own ids: each is checked against the allow-list and kept."""
        return {check_symbol(s.lower()): {} for s in symbols}, []

    # ------------------------------------------------------------------ history
    def iter_bars(
        self, symbol: str, timeframe: str, *, since: datetime, until: datetime | None = None
    ) -> Iterator[pl.DataFrame]:
        """Yield pages of resampled bars (only closed bars, ``since <= ts``).

        ``quote_volume`` is Tiingo's ``volumeNotional`` and ``trades`` its ``tradesDone``.
        Pages cover whole UTC days. An empty page after data has been seen is retried like
        a fault; an empty page before any data is the ticker not yet trading. Pages are typed
        (``trades`` as float, a value that is not a number as ``NaN``), not checked: the
        ingest loop's page checks judge them.
        """
        ticker = check_symbol(symbol)
        if timeframe not in RESAMPLE:
            raise ConfigError(f"Tiingo resamples to {sorted(RESAMPLE)}, got {timeframe!r}")
        step = freq_to_timedelta(timeframe)
        days = max(1, int(self.page_limit * step.total_seconds() // 86400))
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        until = None if until is None else (until if until.tzinfo else until.replace(tzinfo=UTC))
        day = since.date()
        seen = False
        horizon = until or datetime.now(UTC) + timedelta(days=1)
        while datetime(day.year, day.month, day.day, tzinfo=UTC) + step <= horizon:
            check_symbol_deadline(f"tiingo bars {ticker}")
            end_day = day + timedelta(days=days - 1)
            params = {"tickers": ticker, "startDate": day.isoformat(),
                      "endDate": end_day.isoformat(), "resampleFreq": RESAMPLE[timeframe]}
            if self.venues:
                params["exchanges"] = ",".join(self.venues)
            rows: list[dict[str, Any]] = []
            calls = {"n": 0}

            def parse(raw: Any, calls: dict[str, int] = calls) -> list[dict[str, Any]]:
                # a value that is not a number: the page is asked again, but the last time
                # it is kept for the ingest loop's checks
                calls["n"] += 1
                out = _price_rows(raw, ticker)
                if calls["n"] < self.retry.max_attempts and any(
                        unparsed(tuple(r.values()), 6) for r in out):
                    raise TransientError("malformed page (a field that is not a number)")
                return out

            for attempt in range(self.retry.max_attempts):
                calls["n"] = 0
                rows = self._get("/tiingo/crypto/prices", params, f"tiingo bars {ticker}",
                                 parse=parse)
                if rows or not seen or attempt + 1 == self.retry.max_attempts:
                    break
                self._sleep(self.retry.delay(attempt, self._rng))
            now = datetime.fromtimestamp(self.server_now_ms() / 1000, tz=UTC)
            horizon = now if until is None else min(now, until)
            keep = [r for r in rows
                    if r["ts"] is None or (r["ts"] >= since and r["ts"] + step <= horizon)]
            if keep:
                seen = True
                yield _frame(ticker, keep)
            day = end_day + timedelta(days=1)


    def iter_funding(
        self, symbol: str, *, since: datetime, until: datetime | None = None
    ) -> Iterator[pl.DataFrame]:
        """Yield nothing: Tiingo serves spot bars, no funding events."""
        yield from ()

    def iter_open_interest(
        self, symbol: str, timeframe: str, *, since: datetime, until: datetime | None = None
    ) -> Iterator[pl.DataFrame]:
        """Yield nothing: Tiingo serves no open interest."""
        yield from ()


class _Fatal(Exception):
    """A 4xx answer: not worth retrying."""


def _classify(exc: Exception) -> TransientError | None:
    if isinstance(exc, KeyError | TypeError | ValueError | AttributeError):
        return TransientError(f"malformed page ({type(exc).__name__})")
    return None


def _price_rows(raw: Any, ticker: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise TransientError("malformed page (expected a list)")
    out = []
    for item in raw:
        if not isinstance(item, dict) or item.get("ticker") != ticker:
            continue
        for r in item.get("priceData") or []:
            out.append({
                "ts": _when(r.get("date")),
                "open": fnum(r.get("open")), "high": fnum(r.get("high")),
                "low": fnum(r.get("low")), "close": fnum(r.get("close")),
                "volume": 0.0 if r.get("volume") is None else fnum(r.get("volume")),
                "quote_volume": fnum(r.get("volumeNotional")),
                "trades": fnum(r.get("tradesDone")),
            })
    return out


def _when(value: Any) -> datetime | None:
    """Parse a Tiingo ISO time to an aware UTC datetime; ``None`` when it is not one."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _frame(ticker: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows as a typed (unchecked) page of :data:`~coinfactor.data.PANEL_SCHEMA` columns."""
    floats = ("open", "high", "low", "close", "volume", "quote_volume", "trades")
    frame = pl.DataFrame(rows, schema={"ts": pl.Datetime("us", "UTC"),
                                       **dict.fromkeys(floats, pl.Float64)})
    return frame.with_columns(
        pl.lit(ticker).alias("symbol"),
        pl.lit(None, pl.Float64).alias("funding_rate"),
        pl.lit(None, pl.Float64).alias("open_interest"),
    ).select(list(PANEL_SCHEMA))
