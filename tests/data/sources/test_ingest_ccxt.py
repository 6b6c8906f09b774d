"""Ingestion from Binance USDⓈ-M and Hyperliquid through the real ccxt client, pointed at the
local fake venue (tests/support/fakevenue.py) that serves their wire formats from real
fixture data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import ccxt
import polars as pl
import pytest

from coinfactor.core.errors import ConfigError, SourceError
from coinfactor.data.sources import CcxtSource, RetryPolicy, download, rewrite_urls, update
from coinfactor.data.store import Store
from support import FIXTURES
from support.fakevenue import FakeVenue, ms, serve

pytestmark = pytest.mark.network  # a local 127.0.0.1 server, never the internet

FAST = RetryPolicy(max_attempts=4, base_delay=0.005, max_delay=0.05, jitter=0.5)
VENUES = {
    # exchange: (symbols, since, first now, later now)
    "binanceusdm": (["BTCUSDT", "ETHUSDT", "HYPEUSDT"], datetime(2026, 3, 1, tzinfo=UTC),
                    ms(2026, 3, 2, 12, 30), ms(2026, 3, 4, 18, 30)),
    "hyperliquid": (["BTC", "ETH", "BERA"], datetime(2025, 7, 1, tzinfo=UTC),
                    ms(2025, 7, 2, 12, 30), ms(2025, 7, 4, 20, 10)),
}
PATHS = {"binanceusdm": "klines", "hyperliquid": "candleSnapshot"}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeVenue]:
    # small per-call caps so that the 4-day fixtures span several pages, like 5000-row pages
    yield from serve(FakeVenue(now_ms=ms(2026, 3, 2, 12, 30), hl_candle_cap=24,
                               hl_funding_cap=20, hang_s=1.0))


@pytest.fixture
def venue(server: FakeVenue) -> FakeVenue:
    server.clear()
    return server


def _run(fn, venue: FakeVenue, exchange: str, store: Store, **kw):  # type: ignore[no-untyped-def]
    symbols, since, _, _ = VENUES[exchange]
    kw.setdefault("symbols", symbols)
    kw.setdefault("since", since)
    kw.setdefault("timeout_ms", 5000)  # generous: a loaded CI box must not time out by itself
    return fn(exchange, timeframe="1h", base_url=venue.url, store=store, rate_limit_ms=0,
              retry=FAST, page_limit=24, funding_page_limit=20, **kw)


_CLEAN: dict[tuple[str, int, tuple[str, ...]], tuple[pl.DataFrame, pl.DataFrame]] = {}


def _clean(venue: FakeVenue, exchange: str, symbols: list[str], tmp: Path,
           ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Reference: an uninterrupted, fault-free download at the venue's current clock."""
    key = (exchange, venue.now_ms, tuple(symbols))
    if key not in _CLEAN:
        store = Store(tmp / f"clean-{exchange}-{venue.now_ms}.duckdb")
        rep = _run(download, venue, exchange, store, symbols=symbols)
        assert not rep.failed
        _CLEAN[key] = _dump(store, exchange)
        venue.clear()
    return _CLEAN[key]


def _dump(store: Store, exchange: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    return (store.query_bars(exchange=exchange, funding=False),
            store.query_funding(exchange=exchange))


def _fixture_bars(exchange: str, symbols: list[str], now_ms: int) -> pl.DataFrame:
    """Independent reference: the raw fixture rows whose bar has closed by ``now_ms``."""
    if exchange == "binanceusdm":
        raw = pl.read_parquet(FIXTURES / "binance_klines_1h.parquet").rename(
            {"open_time": "t"})
    else:
        raw = pl.read_parquet(FIXTURES / "hyperliquid_ohlcv_1h.parquet").with_columns(
            pl.col("date").dt.epoch("ms").alias("t")).rename({"coin": "symbol"})
    return raw.filter(pl.col("symbol").is_in(symbols) & (pl.col("t") + 3_600_000 <= now_ms))


@pytest.mark.parametrize("exchange", sorted(VENUES))
def test_download_stores_the_venue_rows_exactly(venue: FakeVenue, tmp_path: Path,
                                                exchange: str) -> None:
    symbols, _, now1, _ = VENUES[exchange]
    venue.now_ms = now1
    store = Store(tmp_path / "db.duckdb")
    report = _run(download, venue, exchange, store)
    assert not report.failed, report.summary()
    bars, funding = _dump(store, exchange)
    ref = _fixture_bars(exchange, symbols, now1).sort("symbol", "t")
    assert bars.height == ref.height
    assert bars["ts"].dt.epoch("ms").to_list() == ref["t"].to_list()
    for col in ("open", "high", "low", "close", "volume"):
        assert bars[col].to_list() == ref[col].to_list(), col
    if exchange == "binanceusdm":
        assert bars["quote_volume"].to_list() == ref["quote_volume"].to_list()
        assert bars["trades"].to_list() == ref["trades"].to_list()
        fref = pl.read_parquet(FIXTURES / "binance_funding.parquet").rename(
            {"funding_time": "t"})
    else:
        assert bars["quote_volume"].null_count() == bars.height  # Hyperliquid has none
        fref = pl.read_parquet(FIXTURES / "hyperliquid_funding_1h.parquet").with_columns(
            pl.col("date").dt.epoch("ms").alias("t")).rename({"coin": "symbol"})
    fref = fref.filter(pl.col("symbol").is_in(symbols) & (pl.col("t") <= now1) &
                       (pl.col("t") >= ms(*VENUES[exchange][1].timetuple()[:4], 0)))\
        .sort("symbol", "t")
    assert funding["ts"].dt.epoch("ms").to_list() == fref["t"].to_list()
    assert funding["funding_rate"].to_list() == pytest.approx(fref["funding_rate"].to_list(),
                                                             rel=1e-12, abs=0)
    # the still-open bar (provisional values at the venue) is never stored
    assert (bars["ts"].dt.epoch("ms") + 3_600_000).max() <= now1
    # the panel query attaches funding from the events
    assert store.query_bars(exchange=exchange)["funding_rate"].drop_nulls().len() > 0


@pytest.mark.parametrize("exchange", sorted(VENUES))
def test_download_then_update_equals_one_download(venue: FakeVenue, tmp_path: Path,
                                                  exchange: str) -> None:
    _, _, now1, now2 = VENUES[exchange]
    venue.now_ms = now1
    inc = Store(tmp_path / "inc.duckdb")
    _run(download, venue, exchange, inc)
    venue.now_ms = now2  # new bars and funding events appear
    venue.requests.clear()
    rep = _run(update, venue, exchange, inc, symbols=None, since=None)
    assert not rep.failed and {s.symbol for s in rep.symbols} == set(VENUES[exchange][0])
    assert sum(s.bars_new for s in rep.symbols) == sum(s.bars for s in rep.symbols) > 0
    # update asks only for what is missing: the first bar request starts after the last bar
    starts = [int(r.params.get("startTime") or r.params["req"]["startTime"])
              for r in venue.requests if PATHS[exchange] in r.path + str(r.params.get("type"))]
    assert min(starts) > now1 - 2 * 3_600_000
    for a, b in zip(_dump(inc, exchange), _clean(venue, exchange, VENUES[exchange][0],
                                                  tmp_path), strict=True):
        assert a.equals(b)
    # and an update with nothing new writes nothing
    again = _run(update, venue, exchange, inc, symbols=None, since=None)
    assert sum(s.bars + s.funding for s in again.symbols) == 0


class Killed(BaseException):
    """Stands for a kill (like KeyboardInterrupt: not an Exception, so nothing catches it)."""


@pytest.mark.parametrize(("exchange", "after_writes"),
                         [("binanceusdm", 3), ("hyperliquid", 6)],
                         ids=["binanceusdm-after_3_writes", "hyperliquid-after_6_writes"])
def test_killed_run_resumes_identically(venue: FakeVenue, tmp_path: Path, exchange: str,
                                        after_writes: int,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The kill lands mid-symbol (after the snapshot and a few pages)."""
    venue.now_ms = VENUES[exchange][3]
    full = _clean(venue, exchange, VENUES[exchange][0], tmp_path)
    killed = Store(tmp_path / "killed.duckdb")
    real_write = Store.write
    calls = {"n": 0}

    def dying_write(self: Store, **kw):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > after_writes:
            raise Killed
        return real_write(self, **kw)

    monkeypatch.setattr(Store, "write", dying_write)
    with pytest.raises(Killed):
        _run(download, venue, exchange, killed)
    monkeypatch.setattr(Store, "write", real_write)
    partial = killed.query_bars(exchange=exchange).height
    assert 0 < partial < full[0].height
    # resume: the same command as `update` continues each symbol from its own end
    _run(update, venue, exchange, killed)
    for a, b in zip(_dump(killed, exchange), full, strict=True):
        assert a.equals(b)


def test_update_fills_funding_from_the_first_bar(venue: FakeVenue, tmp_path: Path) -> None:
    """A symbol with bars but no funding yet (e.g. killed in between) gets all its funding."""
    venue.now_ms = VENUES["binanceusdm"][3]
    full = _clean(venue, "binanceusdm", VENUES["binanceusdm"][0], tmp_path)
    store = Store(tmp_path / "db.duckdb")
    _run(download, venue, "binanceusdm", store, funding=False)
    assert store.query_funding(exchange="binanceusdm").height == 0
    _run(update, venue, "binanceusdm", store, symbols=None, since=None)
    # from the first bar (2026-03-01 00:00), as the full download from since=2026-03-01
    assert store.query_funding(exchange="binanceusdm").equals(full[1])


FAULT_KINDS = ["timeout", "429", "500", "502", "503", "reset", "malformed", "empty"]


@pytest.mark.parametrize("kind", FAULT_KINDS)
@pytest.mark.parametrize("exchange", sorted(VENUES))
def test_every_fault_is_survived(venue: FakeVenue, tmp_path: Path, kind: str,
                                 exchange: str) -> None:
    symbols, _, now1, _ = VENUES[exchange]
    venue.now_ms = now1
    clean = _clean(venue, exchange, symbols[:1], tmp_path)
    # a bar page fails once (the first one of the symbol)
    venue.inject(kind, path=PATHS[exchange], times=1, retry_after="0")
    faulty = Store(tmp_path / "faulty.duckdb")
    # the client timeout is set below the server's hang (1 s) for the timeout fault
    rep = _run(download, venue, exchange, faulty, symbols=symbols[:1], timeout_ms=500)
    assert not rep.failed, rep.summary()
    assert not venue.faults, "the fault was served"
    bar_requests = [r for r in venue.requests
                    if PATHS[exchange] in r.path + str(r.params.get("type"))]
    assert len(bar_requests) >= 3  # two pages, one of them asked twice
    for a, b in zip(_dump(faulty, exchange), clean, strict=True):
        assert a.equals(b)


def test_retry_after_is_honoured(venue: FakeVenue, tmp_path: Path) -> None:
    venue.now_ms = VENUES["binanceusdm"][2]
    venue.inject("429", path="klines", retry_after="1")
    rep = _run(download, venue, "binanceusdm", Store(tmp_path / "db.duckdb"),
               symbols=["BTCUSDT"], snapshot=False, funding=False)
    assert not rep.failed
    kl = [r.t for r in venue.requests if r.path.endswith("klines")]
    assert kl[1] - kl[0] >= 1.0  # waited the server's Retry-After, not the 5 ms backoff


def test_a_symbol_that_keeps_failing_is_reported(venue: FakeVenue, tmp_path: Path) -> None:
    venue.now_ms = VENUES["binanceusdm"][2]
    venue.inject("503", path="klines", symbol="ETHUSDT", times=None)
    store = Store(tmp_path / "db.duckdb")
    rep = _run(download, venue, "binanceusdm", store)
    status = {s.symbol: (s.status, s.reason) for s in rep.symbols}
    assert status["ETHUSDT"][0] == "failed"
    assert "gave up after 4 attempts" in status["ETHUSDT"][1]
    assert status["BTCUSDT"][0] == status["HYPEUSDT"][0] == "ok"
    cov = store.coverage(exchange="binanceusdm")
    assert sorted(cov["symbol"].to_list()) == ["BTCUSDT", "HYPEUSDT"]
    assert (cov["gaps"] == 0).all()
    assert "failed ETHUSDT" in rep.summary()


def test_request_rate_stays_within_the_limit(venue: FakeVenue, tmp_path: Path) -> None:
    """ccxt waits rateLimit * cost between requests; all requests here cost 1 (exchangeInfo,
    klines with limit <= 99, fundingRate), so the server must see gaps >= rate_limit_ms."""
    venue.now_ms = VENUES["binanceusdm"][3]
    limit_ms = 25.0
    download("binanceusdm", symbols=["BTCUSDT", "ETHUSDT"], since="2026-03-01",
             timeframe="1h", base_url=venue.url, store=Store(tmp_path / "db.duckdb"),
             rate_limit_ms=limit_ms, retry=FAST, page_limit=12, funding_page_limit=5,
             snapshot=False, open_interest=False)
    t = [r.t for r in venue.requests]
    assert len(t) >= 12
    # the span gets 5 ms of slack: the first arrival can lag its send by loopback jitter
    assert (len(t) - 1) / (t[-1] - t[0] + 0.005) <= 1000 / limit_ms
    # every run of 5 requests spans >= 4 limits; 15 ms of slack because arrival times at the
    # server jitter with connection set-up and thread wake-up on a shared CPU
    windows = [b - a for a, b in zip(t, t[4:], strict=False)]
    assert min(windows) >= 4 * limit_ms / 1000 - 0.015


def test_min_volume_filter_and_snapshot(venue: FakeVenue, tmp_path: Path) -> None:
    venue.now_ms = VENUES["binanceusdm"][2]
    store = Store(tmp_path / "db.duckdb")
    rep = _run(download, venue, "binanceusdm", store, symbols=None, min_volume=1e9,
               funding=False)
    # by hand from the fixture: only BTC and ETH trade > $1bn over the last 24 closed hours;
    # OLDUSDT (not trading) and BTCUSDC (USDC) never pass the active/quote filters
    assert sorted(s.symbol for s in rep.symbols) == ["BTCUSDT", "ETHUSDT"]
    snap = store.query_snapshots(exchange="binanceusdm")
    assert sorted(snap["symbol"].to_list()) == ["BTCUSDT", "ETHUSDT"]
    k = pl.read_parquet(FIXTURES / "binance_klines_1h.parquet").filter(
        (pl.col("symbol") == "BTCUSDT") & (pl.col("open_time") <= venue.now_ms)).tail(24)
    btc = snap.filter(pl.col("symbol") == "BTCUSDT").row(0, named=True)
    assert btc["volume_24h_usd"] == pytest.approx(k["quote_volume"].sum(), rel=1e-12)
    assert btc["mid"] == k["close"][-1]


def test_hyperliquid_snapshot_normalises_to_usd(venue: FakeVenue) -> None:
    venue.now_ms = VENUES["hyperliquid"][2]
    src = CcxtSource("hyperliquid", base_url=venue.url, rate_limit_ms=0, retry=FAST)
    snap = src.snapshot(quote="USDC")
    bars = pl.read_parquet(FIXTURES / "hyperliquid_ohlcv_1h.parquet").filter(
        (pl.col("coin") == "BTC") & (pl.col("date").dt.epoch("ms") <= venue.now_ms)).tail(24)
    oi = pl.read_parquet(FIXTURES / "hyperliquid_oi_usd.parquet").filter(
        pl.col("coin") == "BTC")["oi_usd"][0]
    btc = snap.filter(pl.col("symbol") == "BTC").row(0, named=True)
    # dayNtlVlm is the venue's USD notional; OI arrives in coins and is multiplied by mid
    assert btc["volume_24h_usd"] == pytest.approx((bars["volume"] * bars["close"]).sum(),
                                                  rel=1e-12)
    assert btc["open_interest_usd"] == pytest.approx(oi, rel=1e-12)
    assert (btc["max_leverage"], btc["mid"], btc["quote"]) == (40.0, bars["close"][-1], "USDC")
    assert snap["symbol"].to_list()[0] == "BTC"  # sorted by volume, largest first


def test_unknown_and_invalid_symbols(venue: FakeVenue, tmp_path: Path) -> None:
    venue.now_ms = VENUES["binanceusdm"][2]
    rep = _run(download, venue, "binanceusdm", Store(tmp_path / "db.duckdb"),
               symbols=["BTCUSDT", "NOPEUSDT", "BTC/USDT:USDT"], snapshot=False, funding=False)
    status = {s.symbol: s.status for s in rep.symbols}
    assert status == {"BTCUSDT": "ok", "NOPEUSDT": "failed"}  # BTC/USDT:USDT is BTCUSDT
    with pytest.raises(ConfigError, match="invalid symbol"):
        _run(download, venue, "binanceusdm", Store(tmp_path / "db.duckdb"),
             symbols=["../../etc/passwd"])
    with pytest.raises(ConfigError, match="needs since="):
        _run(download, venue, "binanceusdm", Store(tmp_path / "db.duckdb"), since=None)
    with pytest.raises(ConfigError, match="unknown ccxt exchange"):
        CcxtSource("notavenue")


def test_ccxt_unified_symbols_resolve(venue: FakeVenue) -> None:
    src = CcxtSource("binanceusdm", base_url=venue.url, rate_limit_ms=0, retry=FAST)
    found, unknown = src.resolve(["BTC/USDT:USDT", "ETHUSDT", "XYZ/USDT:USDT"])
    assert sorted(found) == ["BTCUSDT", "ETHUSDT"] and unknown == ["XYZ/USDT:USDT"]


@pytest.mark.parametrize("exchange", ["binanceusdm", "hyperliquid", "bybit", "okx"])
def test_rewrite_urls_points_every_api_at_the_base(exchange: str) -> None:
    client = getattr(ccxt, exchange)()
    rewrite_urls(client, "http://127.0.0.1:9/proxy")

    def leaves(v):  # type: ignore[no-untyped-def]
        return [x for w in v.values() for x in leaves(w)] if isinstance(v, dict) else [v]

    urls = leaves(client.urls["api"])
    assert urls and all(u.startswith("http://127.0.0.1:9/proxy") for u in urls)
    with pytest.raises(ConfigError, match="http"):
        rewrite_urls(client, "ftp://x")


def test_until_bounds_the_range(venue: FakeVenue, tmp_path: Path) -> None:
    venue.now_ms = VENUES["binanceusdm"][3]
    store = Store(tmp_path / "db.duckdb")
    until = datetime(2026, 3, 2, 6, tzinfo=UTC)
    _run(download, venue, "binanceusdm", store, symbols=["BTCUSDT"], until=until,
         snapshot=False)
    bars, funding = _dump(store, "binanceusdm")
    assert bars["ts"].max() == until - timedelta(hours=1)  # the last bar closing at until
    assert bars.height == 30
    assert funding["ts"].max() <= until


@pytest.mark.parametrize("exchange", sorted(VENUES))
def test_unified_ccxt_path_matches_native(venue: FakeVenue, tmp_path: Path,
                                          exchange: str) -> None:
    """The path any other ccxt venue takes (fetch_ohlcv, fetch_funding_rate_history,
    fetch_tickers, fetch_open_interest) gives the same prices, volumes and funding."""
    symbols, since, now1, _ = VENUES[exchange]
    venue.now_ms = now1
    native = _clean(venue, exchange, symbols[:1], tmp_path)
    src = CcxtSource(exchange, base_url=venue.url, rate_limit_ms=0, retry=FAST, page_limit=24,
                     funding_page_limit=20, native=False)
    store = Store(tmp_path / "unified.duckdb")
    rep = download(exchange, symbols=symbols[:1], since=since, source=src, store=store)
    assert not rep.failed, rep.summary()
    bars, funding = _dump(store, exchange)
    cols = ["ts", "symbol", "open", "high", "low", "close", "volume"]
    assert bars.select(cols).equals(native[0].select(cols))
    assert bars["quote_volume"].null_count() == bars.height  # unified OHLCV drops it
    assert funding.select("symbol", "ts", "funding_rate").equals(
        native[1].select("symbol", "ts", "funding_rate"))
    snap = src.snapshot(quote="USDT" if exchange == "binanceusdm" else "USDC")
    assert snap.height >= 3
    assert snap["volume_24h_usd"].null_count() == snap["open_interest_usd"].null_count() == 0


def test_binance_open_interest_history_fills_bars(venue: FakeVenue, tmp_path: Path) -> None:
    """Binance's 4h open-interest statistics land on the 4h bar that closes at their time."""
    venue.now_ms = ms(2026, 3, 3, 13, 0)
    store = Store(tmp_path / "db.duckdb")
    kw = {"symbols": ["BTCUSDT", "HYPEUSDT"], "funding": False, "snapshot": False}
    rep = download("binanceusdm", timeframe="4h", since="2026-03-01", base_url=venue.url,
                   store=store, rate_limit_ms=0, retry=FAST, **kw)
    assert not rep.failed and all(s.open_interest == s.bars for s in rep.symbols)
    bars = store.query_bars(exchange="binanceusdm", freq="4h")
    ref = pl.read_parquet(FIXTURES / "binance_open_interest_4h.parquet")
    for row in bars.iter_rows(named=True):
        close_ms = int(row["ts"].timestamp() * 1000) + 4 * 3_600_000
        want = ref.filter((pl.col("symbol") == row["symbol"])
                          & (pl.col("timestamp") == close_ms))["sum_open_interest_value"]
        assert row["open_interest"] == want[0]
    assert bars.height == 2 * 15  # 03-01 00:00 .. 03-03 08:00 closed by 13:00
    # an update later fills the new bars' open interest too, like one download
    venue.now_ms = ms(2026, 3, 4, 21, 0)
    update("binanceusdm", timeframe="4h", base_url=venue.url, store=store, rate_limit_ms=0,
           retry=FAST, symbols=None, funding=False)
    one = Store(tmp_path / "one.duckdb")
    download("binanceusdm", timeframe="4h", since="2026-03-01", base_url=venue.url,
             store=one, rate_limit_ms=0, retry=FAST, **kw)
    assert store.query_bars(exchange="binanceusdm").equals(one.query_bars(
        exchange="binanceusdm"))
    assert store.query_bars(exchange="binanceusdm")["open_interest"].null_count() == 0


def test_a_failing_snapshot_only_matters_when_it_picks_the_symbols(venue: FakeVenue,
                                                                     tmp_path: Path) -> None:
    venue.now_ms = VENUES["binanceusdm"][2]
    venue.inject("502", path="ticker/24hr", times=None)
    rep = _run(download, venue, "binanceusdm", Store(tmp_path / "a.duckdb"),
               symbols=["BTCUSDT"], funding=False)
    assert rep.snapshot_rows == 0 and not rep.failed and rep.symbols[0].bars > 0
    with pytest.raises(SourceError, match="gave up after 4 attempts"):
        _run(download, venue, "binanceusdm", Store(tmp_path / "b.duckdb"), symbols=None,
             min_volume=1e9)
