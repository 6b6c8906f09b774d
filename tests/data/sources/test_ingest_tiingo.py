"""Tiingo crypto through httpx against the local fake venue; the token never leaks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from coinfactor.core.errors import ConfigError, SourceError
from coinfactor.data.sources import RetryPolicy, TiingoSource, download
from coinfactor.data.store import Store
from support import FIXTURES
from support.fakevenue import FakeVenue, ms, serve

pytestmark = pytest.mark.network  # a local 127.0.0.1 server, never the internet

FAST = RetryPolicy(max_attempts=4, base_delay=0.005, max_delay=0.05)
NOW = ms(2026, 3, 3, 13, 30)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeVenue]:
    yield from serve(FakeVenue(now_ms=NOW, hang_s=1.0))


@pytest.fixture
def venue(server: FakeVenue, monkeypatch: pytest.MonkeyPatch) -> FakeVenue:
    server.clear()
    monkeypatch.setenv("TIINGO_API_KEY", server.token)
    return server


def _download(venue: FakeVenue, store: Store, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("symbols", ["btcusdt"])
    kw.setdefault("timeout_ms", 5000)
    return download("tiingo", timeframe="4h", since="2026-03-01", base_url=venue.url,
                    store=store, retry=FAST, page_limit=6, tiingo_exchanges=["BINANCE"], **kw)


def _hand_4h(ticker: str) -> list[tuple]:
    """Reference: a plain loop aggregating the fixture's 1h rows into 4h bars that closed."""
    raw = pl.read_parquet(FIXTURES / "tiingo_binance_1h.parquet").filter(
        pl.col("ticker") == ticker).sort("open_time")
    groups: dict[int, list[dict]] = {}
    for r in raw.iter_rows(named=True):
        if r["open_time"] <= NOW:
            groups.setdefault(r["open_time"] // 14_400_000 * 14_400_000, []).append(r)
    out = []
    for start, rows in sorted(groups.items()):
        if start + 14_400_000 > NOW:
            continue
        out.append((start, rows[0]["open"], max(r["high"] for r in rows),
                    min(r["low"] for r in rows), rows[-1]["close"],
                    sum(r["volume"] for r in rows), sum(r["quote_volume"] for r in rows),
                    sum(r["trades"] for r in rows)))
    return out


def test_resampled_bars_for_one_exchange(venue: FakeVenue, tmp_path: Path) -> None:
    store = Store(tmp_path / "db.duckdb")
    rep = _download(venue, store, symbols=["btcusdt", "ETHUSDT"])
    assert not rep.failed and rep.exchange == "tiingo_binance"
    panel = store.query_bars(exchange="tiingo_binance", freq="4h")
    for ticker in ("btcusdt", "ethusdt"):
        got = panel.filter(pl.col("symbol") == ticker)
        ref = _hand_4h(ticker)
        assert got.height == len(ref) == 15  # 03-01 00:00 .. 03-03 08:00: closed by 13:30
        rows = [(int(r[0].timestamp() * 1000), *r[2:9]) for r in got.iter_rows()]
        for mine, theirs in zip(rows, ref, strict=True):
            assert mine[:5] == theirs[:5]
            # sums of floats: the server and the loop add in the same order, but allow 1 ulp
            assert mine[5:7] == pytest.approx(theirs[5:7], rel=1e-12)
            assert mine[7] == theirs[7]
    prices = [r for r in venue.requests if r.path == "/tiingo/crypto/prices"]
    assert all(r.params["exchanges"] == "BINANCE" and r.params["resampleFreq"] == "4hour"
               for r in prices)
    assert len(prices) >= 2 * 3  # page_limit 6 bars of 4h = 1 day per request


def test_metadata_and_exchange_availability(venue: FakeVenue) -> None:
    src = TiingoSource(base_url=venue.url, retry=FAST)
    meta = src.tickers()
    assert meta["ticker"].to_list() == ["btcusdt", "ethusdt"]
    assert meta.row(0, named=True)["quote"] == "usdt"
    assert src.exchanges("btcusdt") == ["BINANCE", "GDAX"]


@pytest.mark.parametrize("kind", ["timeout", "429", "500", "502", "503", "reset", "malformed"])
def test_faults_are_survived(venue: FakeVenue, tmp_path: Path, kind: str) -> None:
    clean = Store(tmp_path / "clean.duckdb")
    _download(venue, clean)
    venue.inject(kind, path="/tiingo/crypto/prices", retry_after="0")
    faulty = Store(tmp_path / "faulty.duckdb")
    rep = _download(venue, faulty, timeout_ms=500)  # below the venue's 1 s hang
    assert not rep.failed and not venue.faults
    assert faulty.query_bars().equals(clean.query_bars())


def test_empty_page_after_data_is_retried(venue: FakeVenue, tmp_path: Path) -> None:
    clean = Store(tmp_path / "clean.duckdb")
    _download(venue, clean)
    n = len(venue.requests)
    venue.requests.clear()

    state = {"n": 0}
    real = venue.take_fault

    def second_page_empty(path: str, symbol: str | None):  # type: ignore[no-untyped-def]
        if path == "/tiingo/crypto/prices":
            state["n"] += 1
            if state["n"] == 2:
                venue.faults.append(__import__("fakevenue").Fault("empty"))
        return real(path, symbol)

    venue.take_fault = second_page_empty  # type: ignore[method-assign]
    try:
        faulty = Store(tmp_path / "faulty.duckdb")
        _download(venue, faulty)
    finally:
        del venue.take_fault
    assert len(venue.requests) == n + 1
    assert faulty.query_bars().equals(clean.query_bars())


def test_token_never_leaks(venue: FakeVenue, tmp_path: Path,
                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    token = venue.token
    # the venue echoes the Authorization header (and so the token) into its error bodies
    venue.inject("echo_token", path="/tiingo/crypto/prices", symbol="ethusdt", times=None)
    store = Store(tmp_path / "db.duckdb")
    rep = _download(venue, store, symbols=["btcusdt", "ethusdt"])
    status = {s.symbol: s for s in rep.symbols}
    assert status["btcusdt"].status == "ok" and status["ethusdt"].status == "failed"
    assert "HTTP 500" in status["ethusdt"].reason and "***" in status["ethusdt"].reason
    src = TiingoSource(base_url=venue.url, retry=FAST)
    venue.inject("echo_token", path="/tiingo/crypto", times=None)
    with pytest.raises(SourceError) as info:
        src.tickers()
    chain: list[BaseException] = []
    exc: BaseException | None = info.value
    while exc is not None:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    texts = [str(e) + repr(e) for e in chain] + [rep.summary(), repr(src), str(rep.table())]
    texts += [r.getMessage() + str(r.args) for r in caplog.records]
    assert any("retry" in t for t in texts)  # the logs were captured
    assert not [t for t in texts if token in t]
    store.close()
    assert token.encode() not in Path(store.path).read_bytes()
    # the token travels only in the header, never in a URL
    assert all("token" not in r.params for r in venue.requests)


def test_missing_or_wrong_token(venue: FakeVenue, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIINGO_API_KEY")
    with pytest.raises(ConfigError, match="TIINGO_API_KEY"):
        TiingoSource(base_url=venue.url)
    rep = download("tiingo", symbols=["btcusdt"], since="2026-03-01", base_url=venue.url,
                   store=Store(tmp_path / "db.duckdb"), retry=FAST,
                   source=TiingoSource(token="wrong-token", base_url=venue.url, retry=FAST))
    assert rep.failed[0].reason.endswith('HTTP 401: {"detail": "Invalid token."}')


def test_until_and_unsupported_timeframe(venue: FakeVenue, tmp_path: Path) -> None:
    store = Store(tmp_path / "db.duckdb")
    until = datetime(2026, 3, 2, tzinfo=UTC)
    _download(venue, store, until=until)
    assert store.query_bars()["ts"].max() == until - timedelta(hours=4)
    rep = download("tiingo", symbols=["btcusdt"], since="2026-03-01", timeframe="3h",
                   base_url=venue.url, store=store, retry=FAST)
    assert "Tiingo resamples to" in rep.failed[0].reason
