"""Downloads under hostile venues: trickled answers, malformed and non-finite fields, 5xx with a
JSON body, symbols without bars, empty pages at the live edge, invalid candles.

Every test drives the real ccxt client against the local fake venue (tests/support/
fakevenue.py); deadlines are a second or two so the suite stays fast. A download that would
hang runs in a thread with a bound, so a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from coinfactor.data.sources import (
    CcxtSource,
    IngestReport,
    RetryPolicy,
    download,
    update,
)
from coinfactor.data.store import Store
from support.fakevenue import FakeVenue, Raw, ms, serve

pytestmark = pytest.mark.network  # a local 127.0.0.1 server, never the internet

FAST = RetryPolicy(max_attempts=3, base_delay=0.005, max_delay=0.02, jitter=0.5)
BN = ["BTCUSDT", "ETHUSDT", "HYPEUSDT", "1000PEPEUSDT"]
BN_SINCE = datetime(2026, 3, 1, tzinfo=UTC)
BN_NOW = ms(2026, 3, 2, 12, 30)
HL = ["BTC", "ETH", "BERA"]
HL_SINCE = datetime(2025, 7, 1, tzinfo=UTC)
HL_NOW = ms(2025, 7, 2, 12, 30)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeVenue]:
    yield from serve(FakeVenue(now_ms=BN_NOW, hl_candle_cap=24, hl_funding_cap=20))


@pytest.fixture
def venue(server: FakeVenue) -> FakeVenue:
    server.clear()
    server.now_ms = BN_NOW
    return server


def bounded(fn: Callable[[], Any], seconds: float) -> tuple[Any, float]:
    """Run ``fn`` in a thread; fail the test (instead of hanging) if it takes longer."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    t0 = time.monotonic()
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(seconds)
    took = time.monotonic() - t0
    assert not thread.is_alive(), f"still running after {seconds}s: the download hangs"
    if "error" in box:
        raise box["error"]
    return box["value"], took


def bn(fn: Callable[..., IngestReport], venue: FakeVenue, store: Store,
       **kw: Any) -> IngestReport:
    kw.setdefault("symbols", BN)
    kw.setdefault("retry", FAST)
    kw.setdefault("snapshot", False)
    return fn("binanceusdm", timeframe="1h", base_url=venue.url, store=store, rate_limit_ms=0,
              page_limit=24, funding_page_limit=20, open_interest=False, timeout_ms=2000,
              **kw)


def hl(fn: Callable[..., IngestReport], venue: FakeVenue, store: Store,
       **kw: Any) -> IngestReport:
    kw.setdefault("symbols", HL)
    kw.setdefault("retry", FAST)
    return fn("hyperliquid", timeframe="1h", base_url=venue.url, store=store, rate_limit_ms=0,
              page_limit=24, funding_page_limit=20, snapshot=False, timeout_ms=2000, **kw)


def status(rep: IngestReport) -> dict[str, str]:
    return {s.symbol: s.status for s in rep.symbols}


def bars_of(store: Store, exchange: str) -> pl.DataFrame:
    return store.query_bars(exchange=exchange, funding=False)


_CLEAN: dict[tuple[str, int], pl.DataFrame] = {}


def clean(venue: FakeVenue, exchange: str, tmp: Path) -> pl.DataFrame:
    """The bars of a fault-free download at the venue's current clock (cached)."""
    key = (exchange, venue.now_ms)
    if key not in _CLEAN:
        store = Store(tmp / f"clean-{exchange}.duckdb")
        run = bn if exchange == "binanceusdm" else hl
        since = BN_SINCE if exchange == "binanceusdm" else HL_SINCE
        rep = run(download, venue, store, since=since)
        assert not rep.failed and not getattr(rep, "incomplete", []), rep.summary()
        _CLEAN[key] = bars_of(store, exchange)
        store.close()
        venue.requests.clear()
    return _CLEAN[key]


# --------------------------------------------------------------------- the must-show test
def test_trickle_malformed_field_and_503_json_then_update_completes(
        venue: FakeVenue, tmp_path: Path) -> None:
    """ETHUSDT trickles one byte every 0.2 s (a per-read timeout never fires), HYPEUSDT's
    first page holds a trade count of 10**20 (today a TypeError that stops every symbol),
    1000PEPEUSDT answers 503 with a JSON body (today fatal at once). The download ends within
    its deadline, BTCUSDT completes, and `update` completes the others once the venue
    behaves."""
    ref = clean(venue, "binanceusdm", tmp_path)
    venue.inject("trickle", path="klines", symbol="ETHUSDT", times=None, interval=0.2)
    venue.inject("field", path="klines", symbol="HYPEUSDT", field=8, value=10**20)
    venue.inject("503_json", path="klines", symbol="1000PEPEUSDT", times=None)
    store = Store(tmp_path / "db.duckdb")
    # ETHUSDT: 0.4 s per request, 1.0 s in all
    rep, took = bounded(lambda: bn(download, venue, store, since=BN_SINCE,
                                   request_deadline_ms=400, symbol_deadline_ms=1000), 20)
    assert took < 1.0 + 4.0, took  # the trickled symbol's deadline, and the others' work
    got = {s.symbol: s for s in rep.symbols}
    assert got["BTCUSDT"].status == "ok"
    assert got["HYPEUSDT"].status == "ok" and got["HYPEUSDT"].nulled == 1  # the trade count
    assert got["ETHUSDT"].status in ("incomplete", "failed")
    assert "deadline" in got["ETHUSDT"].reason
    assert got["1000PEPEUSDT"].status == "failed"
    assert "gave up after 3 attempts" in got["1000PEPEUSDT"].reason  # retried, then reported
    assert "HTTP 503" in got["1000PEPEUSDT"].reason
    pepe = [r for r in venue.requests
            if r.path.endswith("klines") and r.params.get("symbol") == "1000PEPEUSDT"]
    assert len(pepe) == 3
    bars = bars_of(store, "binanceusdm")
    assert bars.filter(pl.col("symbol") == "BTCUSDT").equals(
        ref.filter(pl.col("symbol") == "BTCUSDT"))
    hype = bars.filter(pl.col("symbol") == "HYPEUSDT")
    want = ref.filter(pl.col("symbol") == "HYPEUSDT")
    assert hype["trades"].null_count() == 1 and hype["trades"][0] is None
    assert hype.drop("trades").equals(want.drop("trades"))
    assert hype["trades"][1:].equals(want["trades"][1:])
    # the venue behaves again: update (no --symbols) completes the failed ones
    venue.clear()
    again, _ = bounded(lambda: bn(update, venue, store, symbols=None), 20)
    assert status(again) == dict.fromkeys(BN, "ok"), again.summary()
    done = bars_of(store, "binanceusdm")
    assert done.drop("trades").equals(ref.drop("trades"))
    assert done.filter(pl.col("symbol") != "HYPEUSDT").equals(
        ref.filter(pl.col("symbol") != "HYPEUSDT"))


# --------------------------------------------------------------------- 3. deadlines
def test_a_trickling_request_is_abandoned_at_its_deadline(venue: FakeVenue,
                                                          tmp_path: Path) -> None:
    """Without a symbol deadline each request still ends at the request deadline: the
    trickled symbol fails after its attempts, its connection is shut, the others complete."""
    venue.inject("trickle", path="klines", symbol="ETHUSDT", times=None, interval=0.2)
    store = Store(tmp_path / "db.duckdb")
    rep, took = bounded(lambda: bn(download, venue, store, since=BN_SINCE,
                                   symbols=["BTCUSDT", "ETHUSDT"], request_deadline_ms=300),
                        20)
    assert status(rep) == {"BTCUSDT": "ok", "ETHUSDT": "failed"}
    assert "gave up after 3 attempts" in rep.symbols[1].reason
    assert "0.3s deadline" in rep.symbols[1].reason
    assert took < 3 * 0.3 + 3.0, took
    assert bars_of(store, "binanceusdm")["symbol"].unique().to_list() == ["BTCUSDT"]
    assert not _abandoned_requests()  # each abandoned request's socket was shut: none lingers


def _abandoned_requests() -> list[threading.Thread]:
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        alive = [t for t in threading.enumerate()
                 if t.name == "coinfactor-request" and t.is_alive()]
        if not alive:
            return []
        time.sleep(0.05)
    return alive


def test_a_trickling_tiingo_answer_is_abandoned_too(venue: FakeVenue, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The same through httpx: the request ends at its deadline, its socket is shut."""
    monkeypatch.setenv("TIINGO_API_KEY", venue.token)
    venue.now_ms = ms(2026, 3, 3, 13, 30)
    venue.inject("trickle", path="/tiingo/crypto/prices", symbol="ethusdt", times=None,
                 interval=0.2)
    rep, took = bounded(lambda: download(
        "tiingo", symbols=["btcusdt", "ethusdt"], timeframe="4h", since="2026-03-01",
        base_url=venue.url, store=Store(tmp_path / "db.duckdb"), retry=FAST, page_limit=6,
        tiingo_exchanges=["BINANCE"], timeout_ms=2000, request_deadline_ms=300), 20)
    assert status(rep) == {"btcusdt": "ok", "ethusdt": "failed"}, rep.summary()
    assert "0.3s deadline" in rep.symbols[1].reason and took < 3 * 0.3 + 3.0
    assert not _abandoned_requests()


def test_a_symbol_deadline_keeps_what_was_fetched(venue: FakeVenue, tmp_path: Path) -> None:
    """The second page trickles: the first page is kept, the symbol is incomplete, and
    `update` continues it after its last bar."""
    ref = clean(venue, "binanceusdm", tmp_path)
    calls = {"n": 0}
    real = venue.take_fault

    def second_page_trickles(path: str, symbol: str | None):  # type: ignore[no-untyped-def]
        if path.endswith("klines"):
            calls["n"] += 1
            if calls["n"] == 2:
                venue.inject("trickle", path="klines", interval=0.2)
        return real(path, symbol)

    venue.take_fault = second_page_trickles  # type: ignore[method-assign]
    store = Store(tmp_path / "db.duckdb")
    try:
        rep, took = bounded(lambda: bn(download, venue, store, since=BN_SINCE,
                                       symbols=["BTCUSDT"], funding=False,
                                       symbol_deadline_ms=800), 20)
    finally:
        del venue.take_fault
    assert status(rep) == {"BTCUSDT": "incomplete"} and "deadline" in rep.symbols[0].reason
    assert rep.symbols[0].bars == 24 and took < 0.8 + 2.0
    venue.clear()
    rep = bn(update, venue, store, symbols=None, funding=False)
    assert status(rep) == {"BTCUSDT": "ok"}
    assert bars_of(store, "binanceusdm").equals(ref.filter(pl.col("symbol") == "BTCUSDT"))


# --------------------------------------------------------------------- 4. malformed fields
@pytest.mark.parametrize(("value", "times"), [(10**20, 1), ("1e400", 1), (2.5, 1),
                                              ("many", None), ([1, 2], None)])
def test_a_malformed_optional_field_is_nulled_and_counted(venue: FakeVenue, tmp_path: Path,
                                                          value: Any, times: int | None) -> None:
    """A trade count beyond 64 bits (today a TypeError that stops every symbol), not finite
    or not whole: null at once. One that is not a number at all: asked again (a garbled
    page), and null if the venue keeps sending it. (Binance klines: the count is column 8.)"""
    ref = clean(venue, "binanceusdm", tmp_path).filter(pl.col("symbol") == "ETHUSDT")
    venue.inject("field", path="klines", symbol="ETHUSDT", field=8, value=value, times=times)
    store = Store(tmp_path / "db.duckdb")
    rep = bn(download, venue, store, since=BN_SINCE)
    assert status(rep) == dict.fromkeys(BN, "ok"), rep.summary()
    eth = next(s for s in rep.symbols if s.symbol == "ETHUSDT")
    pages = 1 if times == 1 else 2  # a persistent fault hits the first row of both pages
    assert eth.nulled == pages and eth.bars == 36
    assert f"{pages} unusable venue value(s) stored as null" in rep.summary()
    got = bars_of(store, "binanceusdm").filter(pl.col("symbol") == "ETHUSDT")
    nulled = [0, 24][:pages]
    assert got["trades"].null_count() == pages
    assert all(got["trades"][i] is None for i in nulled)
    keep = ~pl.int_range(pl.len()).is_in(nulled)
    assert got.filter(keep).equals(ref.filter(keep)) and got.drop("trades").equals(
        ref.drop("trades"))


@pytest.mark.parametrize(("field", "value"), [("o", "abc"), ("c", None), ("t", "soon"),
                                              ("h", [1]), ("v", {"x": 1}), ("l", True)])
def test_a_malformed_required_field_fails_only_its_symbol(venue: FakeVenue, tmp_path: Path,
                                                          field: str, value: Any) -> None:
    """Sent every time: asked again, then the symbol fails with the row and the fix (or, with
    skip_bad_bars, the bar is set aside); the other symbols complete."""
    venue.now_ms = HL_NOW
    venue.inject("field", path="candleSnapshot", symbol="ETH", field=field, value=value,
                 times=None)
    store = Store(tmp_path / "db.duckdb")
    rep = hl(download, venue, store, since=HL_SINCE)
    assert status(rep) == {"BTC": "ok", "ETH": "failed", "BERA": "ok"}, rep.summary()
    reason = next(s.reason for s in rep.symbols if s.symbol == "ETH")
    assert "bars ETH: expected valid bars, the venue sent 1 invalid row(s)" in reason
    assert "--skip-bad-bars" in reason  # the fix
    assert sorted(bars_of(store, "hyperliquid")["symbol"].unique()) == ["BERA", "BTC"]
    rep = hl(download, venue, Store(tmp_path / "skip.duckdb"), since=HL_SINCE,
             skip_bad_bars=True)
    eth = next(s for s in rep.symbols if s.symbol == "ETH")
    assert (eth.status, eth.bad, eth.bars) == ("ok", 2, 34), rep.summary()  # 1 per page


def test_a_garbled_field_sent_once_is_asked_again(venue: FakeVenue, tmp_path: Path) -> None:
    venue.now_ms = HL_NOW
    ref = clean(venue, "hyperliquid", tmp_path)
    venue.inject("field", path="candleSnapshot", symbol="ETH", field="o", value="abc")
    store = Store(tmp_path / "db.duckdb")
    rep = hl(download, venue, store, since=HL_SINCE)
    assert not rep.failed and not venue.faults
    assert bars_of(store, "hyperliquid").equals(ref)


class _Exploding:
    """A source whose second symbol raises a bare TypeError mid-fetch."""

    def __init__(self, inner: CcxtSource) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def iter_bars(self, symbol: str, timeframe: str, **kw: Any) -> Iterator[pl.DataFrame]:
        for page in self.inner.iter_bars(symbol, timeframe, **kw):
            if symbol == "ETH":
                raise TypeError("unsupported operand type(s) for +: 'int' and 'NoneType'")
            yield page


def test_any_exception_in_a_symbol_is_caught_and_reported(venue: FakeVenue,
                                                          tmp_path: Path) -> None:
    venue.now_ms = HL_NOW
    src = _Exploding(CcxtSource("hyperliquid", base_url=venue.url, rate_limit_ms=0,
                                retry=FAST, page_limit=24, funding_page_limit=20))
    rep = download("hyperliquid", symbols=HL, since=HL_SINCE, source=src,  # type: ignore[arg-type]
                   store=Store(tmp_path / "db.duckdb"), snapshot=False)
    assert status(rep) == {"BTC": "ok", "ETH": "failed", "BERA": "ok"}
    reason = next(s.reason for s in rep.symbols if s.symbol == "ETH")
    assert reason.startswith("unexpected TypeError: unsupported operand")


# --------------------------------------------------------------------- 5. 5xx with JSON
@pytest.mark.parametrize("exchange", ["binanceusdm", "hyperliquid"])
def test_5xx_with_a_json_body_is_retried(venue: FakeVenue, tmp_path: Path,
                                         exchange: str) -> None:
    if exchange == "hyperliquid":
        venue.now_ms = HL_NOW
    ref = clean(venue, exchange, tmp_path)
    path, sym = ("klines", "ETHUSDT") if exchange == "binanceusdm" else ("candleSnapshot", "ETH")
    venue.inject("503_json", path=path, symbol=sym, times=2)
    store = Store(tmp_path / "db.duckdb")
    since = BN_SINCE if exchange == "binanceusdm" else HL_SINCE
    rep = (bn if exchange == "binanceusdm" else hl)(download, venue, store, since=since)
    assert not rep.failed, rep.summary()
    assert not venue.faults  # both 503s were served, and retried
    assert bars_of(store, exchange).equals(ref)


# --------------------------------------------------------------------- 6. no bars yet
def test_update_retries_symbols_that_have_no_bars(venue: FakeVenue, tmp_path: Path) -> None:
    ref = clean(venue, "binanceusdm", tmp_path)
    venue.inject("503", path="klines", symbol="ETHUSDT", times=None)
    venue.inject("empty", path="klines", symbol="HYPEUSDT", times=None)
    store = Store(tmp_path / "db.duckdb")
    rep = bn(download, venue, store, since=BN_SINCE)
    assert status(rep) == {"BTCUSDT": "ok", "ETHUSDT": "failed", "HYPEUSDT": "incomplete",
                           "1000PEPEUSDT": "ok"}, rep.summary()
    assert "no bars" in next(s.reason for s in rep.symbols if s.symbol == "HYPEUSDT")
    # still failing: update (no symbols) asks for them again and says they are not done
    rep = bn(update, venue, store, symbols=None)
    assert status(rep) == {"1000PEPEUSDT": "ok", "BTCUSDT": "ok", "ETHUSDT": "failed",
                           "HYPEUSDT": "incomplete"}
    venue.clear()
    rep = bn(update, venue, store, symbols=None)
    assert status(rep) == dict.fromkeys(BN, "ok"), rep.summary()
    assert bars_of(store, "binanceusdm").equals(ref)
    # and once they have bars they are plain stored symbols: nothing pending is left
    assert not list(tmp_path.glob("*.pending.json"))


def test_update_of_a_symbol_killed_before_its_first_bar(venue: FakeVenue, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A download killed before a symbol's first bar is written: update still knows it."""
    ref = clean(venue, "binanceusdm", tmp_path)

    class Killed(BaseException):
        pass

    real = Store.write
    seen: list[str] = []

    def dying(self: Store, **kw: Any) -> Any:
        bars = kw.get("bars")
        if bars is not None and bars["symbol"][0] == "ETHUSDT":
            raise Killed
        seen.append("w")
        return real(self, **kw)

    store = Store(tmp_path / "db.duckdb")
    monkeypatch.setattr(Store, "write", dying)
    with pytest.raises(Killed):
        bn(download, venue, store, since=BN_SINCE)
    monkeypatch.setattr(Store, "write", real)
    rep = bn(update, venue, store, symbols=None)
    assert status(rep) == dict.fromkeys(BN, "ok"), rep.summary()
    assert bars_of(store, "binanceusdm").equals(ref)


# --------------------------------------------------------------------- 7. live edge
def test_update_of_a_complete_store_does_not_back_off(venue: FakeVenue, tmp_path: Path) -> None:
    """The venue has nothing newer (its data end; the clock moved on): at most one short
    retry per stream, never the full backoff (0.5 + 1 + 2 + 4 + 8 s per stream by default)."""
    venue.now_ms = ms(2026, 3, 5, 0, 0)  # every fixture bar has closed
    store = Store(tmp_path / "db.duckdb")
    assert not bn(download, venue, store, since=BN_SINCE).failed
    waits: list[float] = []
    policy = RetryPolicy()  # the default: 6 attempts from 0.5 s
    venue.now_ms = ms(2026, 3, 9, 0, 0)  # four days later, no new data at the venue
    venue.requests.clear()
    src = CcxtSource("binanceusdm", base_url=venue.url, rate_limit_ms=0, retry=policy,
                     page_limit=24, funding_page_limit=20, sleep=waits.append)
    rep = update("binanceusdm", timeframe="1h", source=src, store=store, open_interest=False)
    assert not rep.failed
    assert sum(s.bars_new + s.funding_new for s in rep.symbols) == 0
    assert len(waits) <= 2 * len(BN) and sum(waits) <= 2 * len(BN) * policy.base_delay, waits
    klines = [r for r in venue.requests if r.path.endswith("klines")]
    assert len(klines) <= 2 * len(BN)
    # at the live edge (only the newest bar due, not out yet) no retry at all
    venue.now_ms = ms(2026, 3, 5, 0, 0)
    store2 = Store(tmp_path / "edge.duckdb")
    assert not bn(download, venue, store2, since=BN_SINCE, symbols=["BTCUSDT"],
                  funding=False).failed
    venue.now_ms = ms(2026, 3, 5, 1, 0, ) + 5_000  # the 00:00 bar has just closed
    venue.inject("empty", path="klines", times=None)
    waits.clear()
    rep = update("binanceusdm", timeframe="1h", source=src, store=store2, funding=False,
                 open_interest=False)
    assert rep.symbols[0].status == "ok" and waits == []


# --------------------------------------------------------------------- 9. non-finite
def _no_inf(bars: pl.DataFrame) -> bool:
    floats = [c for c, t in bars.schema.items() if t == pl.Float64]
    return not any(bars[c].is_infinite().any() or bars[c].is_nan().any() for c in floats)


@pytest.mark.parametrize("value", ["1e400", "-1e999", "inf", "NaN", "Infinity"])
def test_a_non_finite_volume_is_never_stored(venue: FakeVenue, tmp_path: Path,
                                             value: Any) -> None:
    venue.now_ms = HL_NOW
    venue.inject("field", path="candleSnapshot", symbol="ETH", field="v", value=value,
                 times=None)
    store = Store(tmp_path / "db.duckdb")
    rep = hl(download, venue, store, since=HL_SINCE)
    assert status(rep) == {"BTC": "ok", "ETH": "failed", "BERA": "ok"}
    assert "invalid row(s)" in next(s.reason for s in rep.symbols if s.symbol == "ETH")
    assert _no_inf(bars_of(store, "hyperliquid"))


def test_a_json_number_beyond_float_range_from_tiingo(venue: FakeVenue, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiingo sends numbers, not strings: a literal 1e400 parses as inf in Python's json."""
    monkeypatch.setenv("TIINGO_API_KEY", venue.token)
    venue.now_ms = ms(2026, 3, 3, 13, 30)

    def tiingo(store: Store, **kw: Any) -> IngestReport:
        return download("tiingo", symbols=["btcusdt"], timeframe="4h", since="2026-03-01",
                        base_url=venue.url, store=store, retry=FAST, page_limit=6,
                        tiingo_exchanges=["BINANCE"], **kw)

    venue.inject("field", path="/tiingo/crypto/prices", field="priceData",
                 value=[{"date": "2026-03-01T00:00:00+00:00", "open": 1.0, "high": 2.0,
                         "low": 0.5, "close": 1.5, "volume": Raw("1e400").text,
                         "volumeNotional": 3.0, "tradesDone": 4}])
    rep = tiingo(Store(tmp_path / "a.duckdb"))
    assert rep.symbols[0].status == "failed", rep.summary()
    assert "invalid row(s)" in rep.symbols[0].reason
    venue.inject("field", path="/tiingo/crypto/prices", field="priceData",
                 value=[{"date": "2026-03-01T00:00:00+00:00", "open": 1.0, "high": 2.0,
                         "low": 0.5, "close": 1.5, "volume": 7.0, "volumeNotional": 3.0,
                         "tradesDone": Raw("1e400")}])
    store = Store(tmp_path / "b.duckdb")
    rep = tiingo(store)
    assert rep.symbols[0].status == "ok" and rep.symbols[0].nulled == 1, rep.summary()
    assert store.query_bars(exchange="tiingo_binance", freq="4h")["trades"][0] is None


def test_non_finite_optional_values_are_nulled_and_counted(venue: FakeVenue,
                                                           tmp_path: Path) -> None:
    """Binance quote volume "1e400" and a funding mark price "inf": null, with a count."""
    ref = clean(venue, "binanceusdm", tmp_path)
    venue.inject("field", path="klines", symbol="BTCUSDT", field=7, value="1e400", row=3)
    venue.inject("field", path="fundingRate", symbol="BTCUSDT", field="markPrice", value="inf")
    store = Store(tmp_path / "db.duckdb")
    rep = bn(download, venue, store, since=BN_SINCE, symbols=["BTCUSDT"])
    assert status(rep) == {"BTCUSDT": "ok"} and rep.symbols[0].nulled == 2
    bars = bars_of(store, "binanceusdm")
    assert bars["quote_volume"].null_count() == 1 and bars["quote_volume"][3] is None
    assert bars.drop("quote_volume").equals(ref.filter(pl.col("symbol") == "BTCUSDT")
                                            .drop("quote_volume"))
    assert rep.table()["nulled"].to_list() == [2]


def test_a_non_finite_funding_rate_is_an_invalid_event(venue: FakeVenue,
                                                       tmp_path: Path) -> None:
    venue.inject("field", path="fundingRate", symbol="BTCUSDT", field="fundingRate",
                 value="1e400")
    store = Store(tmp_path / "db.duckdb")
    rep = bn(download, venue, store, since=BN_SINCE, symbols=["BTCUSDT"])
    assert status(rep) == {"BTCUSDT": "failed"}
    assert "expected valid funding events" in rep.symbols[0].reason
    rep = bn(download, venue, store, since=BN_SINCE, symbols=["BTCUSDT"], skip_bad_bars=True)
    # the fault was served once: the second download is clean
    assert status(rep) == {"BTCUSDT": "ok"} and rep.symbols[0].bad == 0
    venue.inject("field", path="fundingRate", symbol="BTCUSDT", field="fundingRate",
                 value="1e400")
    store3 = Store(tmp_path / "c.duckdb")
    rep = bn(download, venue, store3, since=BN_SINCE, symbols=["BTCUSDT"], skip_bad_bars=True)
    assert status(rep) == {"BTCUSDT": "ok"} and rep.symbols[0].bad == 1
    funding = store3.query_funding(exchange="binanceusdm")
    assert funding["funding_rate"].is_finite().all() and funding.height == 4


# --------------------------------------------------------------------- 10. --skip-bad-bars
def test_skip_bad_bars_sets_invalid_candles_aside(venue: FakeVenue, tmp_path: Path) -> None:
    venue.now_ms = HL_NOW
    ref = clean(venue, "hyperliquid", tmp_path)
    # a candle whose high is below its low, on ETH's second page
    venue.inject("field", path="candleSnapshot", symbol="ETH", field="h", value="0.0001",
                 row=5)
    strict = Store(tmp_path / "strict.duckdb")
    rep = hl(download, venue, strict, since=HL_SINCE)
    assert status(rep) == {"BTC": "ok", "ETH": "failed", "BERA": "ok"}
    assert "--skip-bad-bars" in next(s.reason for s in rep.symbols if s.symbol == "ETH")
    venue.inject("field", path="candleSnapshot", symbol="ETH", field="h", value="0.0001",
                 row=5)
    lenient = Store(tmp_path / "lenient.duckdb")
    rep = hl(download, venue, lenient, since=HL_SINCE, skip_bad_bars=True)
    assert status(rep) == dict.fromkeys(HL, "ok")
    eth = next(s for s in rep.symbols if s.symbol == "ETH")
    assert eth.bad == 1 and eth.bars == 35
    assert "1 invalid row(s) set aside" in rep.summary()
    got = bars_of(lenient, "hyperliquid")
    dropped = ref.filter(pl.col("symbol") == "ETH")["ts"][5]
    assert got.equals(ref.filter((pl.col("symbol") != "ETH") | (pl.col("ts") != dropped)))


def test_a_non_finite_snapshot_value_is_stored_as_null_and_logged(
        venue: FakeVenue, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    venue.inject("field", path="ticker/24hr", field="quoteVolume", value="1e400")
    store = Store(tmp_path / "db.duckdb")
    rep = bn(download, venue, store, since=BN_SINCE, symbols=["BTCUSDT"], snapshot=True,
             funding=False)
    assert rep.snapshot_rows >= 4 and not rep.failed
    snap = store.query_snapshots(exchange="binanceusdm")
    first = snap.filter(pl.col("symbol") == "1000PEPEUSDT")  # row 0 of the venue's answer
    assert first["volume_24h_usd"][0] is None
    assert snap["volume_24h_usd"].drop_nulls().is_finite().all()
    assert "'1e400' is not finite; taken as missing" in caplog.text
