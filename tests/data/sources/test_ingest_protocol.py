"""The Source protocol, its capabilities and SourceSettings.

``ToySource`` is written here, outside coinfactor, the way a user would add a data source: it
implements the protocol and is ingested by ``download(source=...)`` / ``update(source=...)``
with no edit to coinfactor. Its capabilities decide what the ingest loop asks of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from coinfactor.core.errors import ConfigError, SourceError
from coinfactor.data import PANEL_SCHEMA
from coinfactor.data.sources import (
    Capabilities,
    CcxtSource,
    RetryPolicy,
    Source,
    SourceSettings,
    TiingoSource,
    download,
    make_source,
    update,
)
from coinfactor.data.store import SNAPSHOT_SCHEMA, Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


class ToySource:
    """Hourly bars, 8-hourly funding and hourly open interest of made-up markets."""

    exchange = "toyvenue"
    market_type = "swap"
    default_quote = "USD"

    def __init__(self, capabilities: Capabilities, *, now: datetime = T0 + 30 * HOUR,
                 symbols: Sequence[str] = ("AAA", "BBB", "CCC"), page: int = 7,
                 failing: Sequence[str] = ()) -> None:
        self.capabilities = capabilities
        self.now = now
        self.symbols = list(symbols)
        self.page = page
        self.failing = set(failing)
        self.calls: list[tuple[str, ...]] = []
        self.closed = False

    def store_symbol(self, symbol: str) -> str | None:
        return symbol.upper() if symbol.upper() in self.symbols else None

    def snapshot(self, *, quote: str | None = None, active_only: bool = True,
                 min_volume_usd: float | None = None) -> pl.DataFrame:
        self.calls.append(("snapshot", str(quote)))
        volume = {s: 1e6 * (i + 1) for i, s in enumerate(self.symbols)}
        rows = [{"symbol": s, "ts": self.now, "base": s, "quote": "USD", "active": True,
                 "volume_24h_usd": v, "open_interest_usd": None, "mid": 1.0,
                 "max_leverage": None} for s, v in volume.items()
                if min_volume_usd is None or v >= min_volume_usd]
        return pl.DataFrame(rows, schema=SNAPSHOT_SCHEMA, orient="row")

    def _times(self, since: datetime, until: datetime | None, step: timedelta,
               closed: timedelta) -> list[datetime]:
        end = min(self.now, until) if until is not None else self.now
        first = T0 + step * max(0, -(-(since - T0) // step))  # first grid time >= since
        out, t = [], first
        while t + closed <= end:
            out.append(t)
            t += step
        return out

    def _pages(self, times: list[datetime]) -> Iterator[list[datetime]]:
        for i in range(0, len(times), self.page):
            yield times[i:i + self.page]

    def iter_bars(self, symbol: str, timeframe: str, *, since: datetime,
                  until: datetime | None = None) -> Iterator[pl.DataFrame]:
        assert timeframe == "1h"
        self.calls.append(("bars", symbol, since.isoformat()))
        if symbol in self.failing:
            raise SourceError(f"toyvenue bars {symbol}: HTTP 503, gave up")
        for ts in self._pages(self._times(since, until, HOUR, HOUR)):
            price = [100.0 + (t - T0) / HOUR for t in ts]
            yield pl.DataFrame({
                "ts": ts, "symbol": [symbol] * len(ts), "open": price, "high": price,
                "low": price, "close": price, "volume": [1.0] * len(ts),
                "quote_volume": price, "trades": [1] * len(ts),
                "funding_rate": [None] * len(ts), "open_interest": [None] * len(ts),
            }, schema=PANEL_SCHEMA)

    def iter_funding(self, symbol: str, *, since: datetime,
                     until: datetime | None = None) -> Iterator[pl.DataFrame]:
        self.calls.append(("funding", symbol, since.isoformat()))
        for ts in self._pages(self._times(since, until, 8 * HOUR, timedelta(0))):
            yield pl.DataFrame({"symbol": [symbol] * len(ts), "ts": ts,
                                "funding_rate": [1e-4] * len(ts),
                                "mark_price": [None] * len(ts)},
                               schema={"symbol": pl.String, "ts": pl.Datetime("us", "UTC"),
                                       "funding_rate": pl.Float64,
                                       "mark_price": pl.Float64})

    def iter_open_interest(self, symbol: str, timeframe: str, *, since: datetime,
                           until: datetime | None = None) -> Iterator[pl.DataFrame]:
        self.calls.append(("open_interest", symbol, since.isoformat()))
        for ts in self._pages(self._times(since, until, HOUR, HOUR)):
            yield pl.DataFrame({"symbol": [symbol] * len(ts), "ts": ts,
                                "open_interest": [5e5] * len(ts)},
                               schema={"symbol": pl.String, "ts": pl.Datetime("us", "UTC"),
                                       "open_interest": pl.Float64})

    def close(self) -> None:
        self.closed = True

    def asked(self, what: str) -> list[tuple[str, ...]]:
        return [c for c in self.calls if c[0] == what]


ALL = Capabilities(funding=True, open_interest=True, snapshot=True, quote_volume=True)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "db.duckdb") as s:
        yield s


def test_builtin_sources_and_a_toy_implement_the_protocol(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIINGO_API_KEY", "test-token")
    toy: Source = ToySource(ALL)  # checked statically too, were tests type-checked
    assert isinstance(toy, Source)
    for src in (CcxtSource("binanceusdm"), TiingoSource(), make_source("hyperliquid")):
        assert isinstance(src, Source)
        src.close()


def test_a_toy_source_is_ingested_without_editing_coinfactor(store: Store) -> None:
    toy = ToySource(ALL)
    rep = download("toyvenue", symbols=["aaa", "BBB"], timeframe="1h", since=T0, store=store,
                   source=toy)
    assert [s.status for s in rep.symbols] == ["ok", "ok"], rep.summary()
    assert not toy.closed  # the caller's source stays open
    bars = store.query_bars(exchange="toyvenue", market="swap", freq="1h")
    assert bars.height == 2 * 30  # 00:00 .. 05:00 the next day, closed by 06:00
    assert bars["open_interest"].null_count() == 0
    assert store.query_funding(exchange="toyvenue").height == 2 * 4  # 0h, 8h, 16h, 24h
    assert rep.snapshot_rows == 3 and toy.asked("snapshot") == [("snapshot", "USD")]
    # a day later update() continues each symbol after its last bar and funding event
    toy.now += 24 * HOUR
    toy.calls.clear()
    rep = update("toyvenue", timeframe="1h", store=store, source=toy)
    assert [s.symbol for s in rep.symbols] == ["AAA", "BBB"]
    assert sum(s.bars_new for s in rep.symbols) == 2 * 24
    assert toy.asked("bars")[0] == ("bars", "AAA", (T0 + 30 * HOUR).isoformat())
    assert toy.asked("funding")[0][2] == (T0 + 24 * HOUR + timedelta(milliseconds=1)).isoformat()
    assert toy.asked("snapshot") == []  # update() takes no snapshot by default


@pytest.mark.parametrize("field", ["funding", "open_interest", "snapshot"])
def test_capabilities_decide_what_is_asked(store: Store, field: str) -> None:
    toy = ToySource(dataclasses.replace(ALL, **{field: False}))
    rep = download("toyvenue", symbols=["AAA"], timeframe="1h", since=T0, store=store,
                   source=toy)
    assert not rep.failed, rep.summary()
    assert toy.asked(field) == []  # never asked for what it does not declare
    others = {"funding", "open_interest", "snapshot"} - {field}
    assert all(toy.asked(other) for other in others)
    bars = store.query_bars(exchange="toyvenue", market="swap", freq="1h")
    assert bars.height == 30
    if field == "open_interest":
        assert bars["open_interest"].null_count() == bars.height
    if field == "funding":
        assert store.query_funding(exchange="toyvenue").height == 0
    if field == "snapshot":
        assert rep.snapshot_rows == 0


def test_bars_only_source_and_the_symbol_universe(store: Store) -> None:
    bars_only = ToySource(Capabilities())
    rep = download("toyvenue", symbols=["AAA", "ZZZ"], timeframe="1h", since=T0, store=store,
                   source=bars_only)
    assert [s.status for s in rep.symbols] == ["ok", "failed"]
    assert "has no swap market 'ZZZ'" in rep.symbols[1].reason
    assert [c[0] for c in bars_only.calls] == ["bars"]
    with pytest.raises(ConfigError, match="no market snapshot"):  # no symbols: none to pick
        download("toyvenue", timeframe="1h", since=T0, store=store, source=bars_only)
    with pytest.raises(ConfigError, match="no market snapshot"):
        update("toyvenue", timeframe="1h", min_volume=1.0, store=store, source=bars_only)
    # a source with a snapshot supplies the universe, filtered on volume
    toy = ToySource(ALL)
    rep = download("toyvenue", timeframe="1h", since=T0, min_volume=2e6, store=store,
                   source=toy)
    assert sorted(s.symbol for s in rep.symbols) == ["BBB", "CCC"]


def test_a_failing_symbol_is_reported_and_the_others_complete(store: Store) -> None:
    toy = ToySource(ALL, failing=["BBB"])
    rep = download("toyvenue", symbols=["AAA", "BBB", "CCC"], timeframe="1h", since=T0,
                   store=store, source=toy)
    assert [s.status for s in rep.symbols] == ["ok", "failed", "ok"]
    assert "HTTP 503" in rep.symbols[1].reason


def test_ccxt_capabilities_come_from_the_venue_adapter() -> None:
    expected = {
        ("binanceusdm", True): (Capabilities(True, True, True, True), "USDT", (1500, 1000)),
        ("binanceusdm", False): (Capabilities(True, True, True, False), "USDT", (1500, 1000)),
        ("hyperliquid", True): (Capabilities(True, False, True, False), "USDC", (5000, 500)),
        ("bybit", True): (Capabilities(True, True, True, False), None, (500, 500)),
    }
    for (exchange, native), (caps, quote, limits) in expected.items():
        src = CcxtSource(exchange, native=native)
        assert src.capabilities == caps, exchange
        assert src.default_quote == quote
        assert (src.page_limit, src.funding_page_limit) == limits
        assert src.has_open_interest_history == caps.open_interest
        src.close()
    tiingo = TiingoSource(token="t")
    assert tiingo.capabilities == Capabilities(quote_volume=True)
    assert list(tiingo.iter_funding("btcusd", since=T0)) == []
    tiingo.close()


def test_source_settings_defaults_and_checks() -> None:
    s = SourceSettings()
    assert (s.base_url, s.timeout_ms, s.rate_limit_ms, s.retry, s.page_limit,
            s.funding_page_limit, s.tiingo_exchanges, s.seed) == (
        None, 10_000, None, RetryPolicy(), None, None, None, None)
    assert SourceSettings(tiingo_exchanges=["BINANCE"]).tiingo_exchanges == ("BINANCE",)
    assert SourceSettings(retry=None).retry == RetryPolicy()  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.timeout_ms = 1  # type: ignore[misc]
    for bad in ({"timeout_ms": 0}, {"rate_limit_ms": -1.0}, {"page_limit": 0},
                {"funding_page_limit": 0}, {"retry": 3}):
        with pytest.raises(ConfigError):
            SourceSettings(**bad)  # type: ignore[arg-type]
    assert s.with_options(timeout_ms=5).timeout_ms == 5 and s.timeout_ms == 10_000
    with pytest.raises(TypeError, match=r"unknown source setting.*'timeout'"):
        s.with_options(timeout=5)


def test_settings_reach_the_sources(monkeypatch: pytest.MonkeyPatch, store: Store) -> None:
    fast = RetryPolicy(max_attempts=2, base_delay=0.0)
    settings = SourceSettings(base_url="http://127.0.0.1:9", rate_limit_ms=0, timeout_ms=1234,
                              retry=fast, page_limit=99, funding_page_limit=7)
    src = make_source("binanceusdm", settings)
    assert isinstance(src, CcxtSource)
    assert (src.base_url, src.client.rateLimit, src.client.timeout, src.retry,
            src.page_limit, src.funding_page_limit) == (
        "http://127.0.0.1:9", 0, 1234, fast, 99, 7)
    src.close()
    # keyword overrides of the settings' fields, as download()/update() take them
    src = make_source("binanceusdm", settings, page_limit=5000, timeout_ms=10)
    assert isinstance(src, CcxtSource)
    assert (src.page_limit, src.client.timeout, src.retry) == (1500, 10, fast)
    src.close()
    monkeypatch.setenv("TIINGO_API_KEY", "test-token")
    tiingo = make_source("tiingo", settings, tiingo_exchanges=["binance"])
    assert isinstance(tiingo, TiingoSource)
    assert (tiingo.base_url, tiingo.venues, tiingo.exchange, tiingo.page_limit,
            tiingo.rate_limit_ms, tiingo.retry) == (
        "http://127.0.0.1:9", ["BINANCE"], "tiingo_binance", 99, 0, fast)
    tiingo.close()
    with pytest.raises(TypeError, match="unknown source setting"):
        download("toyvenue", symbols=["AAA"], since=T0, store=store, timeout=5)
