"""``coinfactor book`` against the local test venue: ``--update``, ``--from-venue``, staleness,
a delisted market, the order rules read from ccxt's market structures.

References: the venue's own published rules as the test server serves them
(``support.fakevenue.BN_RULES`` / ``HL_SETTINGS``: tick size, step size, minimum notional,
``szDecimals``), checked against every emitted order with exact decimal arithmetic; the
positions the server holds; the exit code and reason of a blocking check.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from coinfactor.cli import app
from coinfactor.cli._app import console
from coinfactor.data.sources import CcxtSource
from coinfactor.data.store import Store
from support.fakevenue import BN_RULES, HL_SETTINGS, FakeVenue, ms, serve

pytestmark = pytest.mark.network  # a local 127.0.0.1 server, never the internet

runner = CliRunner()
KEY, SECRET = "q7Rt2LmX9vKp4ZsW", "Hj3kP8sD1fG6aQ0zXc5V"
CONFIG = """study = "reversion"
[data]
store = {{ exchange = "binanceusdm", freq = "1h", path = "{db}" }}
[params]
hour = 20
timezone = "America/New_York"
lookback = "1d"
basket = "long_short"
n = 1
initial_nav = 100000.0
[params.costs]
venue = "binance-usdm"
"""


@pytest.fixture
def venue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVenue]:
    monkeypatch.setattr(console, "width", 200)
    yield from serve(FakeVenue(now_ms=ms(2026, 3, 3, 0, 30)))


def _iso(when_ms: int) -> str:
    return datetime.fromtimestamp(when_ms / 1000, UTC).isoformat()


def _download(venue: FakeVenue, db: Path, symbols: str, *extra: str) -> None:
    res = runner.invoke(app, ["download", "--exchange", "binanceusdm", "--symbols", symbols,
                              "--since", "2026-03-01", "--db", str(db), "--no-open-interest",
                              "--base-url", venue.url, "--rate-limit-ms", "0", *extra])
    assert res.exit_code == 0, res.output


def _on_grid(x: float, step: str) -> bool:
    return (Decimal(repr(x)) % Decimal(step)) == 0


def test_update_then_book_is_valid_stale_refused_delisted_closed(
        venue: FakeVenue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "db.duckdb"
    config = tmp_path / "reversion.toml"
    config.write_text(CONFIG.format(db=db), "utf-8")
    common = ["--base-url", venue.url, "--rate-limit-ms", "0"]
    _download(venue, db, "BTCUSDT,ETHUSDT,1000PEPEUSDT,HYPEUSDT")
    # a day later: HYPEUSDT is settling (delisted), the account holds it and a BTC short
    venue.now_ms = ms(2026, 3, 4, 2, 5)
    venue.delisted = {"HYPEUSDT"}
    venue.positions = {"HYPEUSDT": 12.5, "BTCUSDT": -0.01}
    monkeypatch.setenv("COINFACTOR_BINANCEUSDM_API_KEY", KEY)
    monkeypatch.setenv("COINFACTOR_BINANCEUSDM_SECRET", SECRET)
    out = tmp_path / "today"
    res = runner.invoke(app, ["book", str(config), "--nav", "100000", "--out", str(out),
                              "--update", "--from-venue", "--as-of", _iso(venue.now_ms),
                              *common])
    assert res.exit_code == 0, res.output
    assert "no order is sent" in res.output and "inactive_market" in res.output
    # the update stored the day's bars: the last complete bar closed at 02:00
    summary = json.loads((out / "book.json").read_text("utf-8"))
    assert summary["last_bar"] == "2026-03-04T01:00:00+00:00" and not summary["blocked"]
    # the snapshot holds what ccxt read from exchangeInfo's filters, per market
    with Store(db) as store:
        snap = store.query_snapshots(exchange="binanceusdm").sort("symbol")
    rules = {r["symbol"]: r for r in snap.iter_rows(named=True)}
    assert set(rules) >= {"BTCUSDT", "ETHUSDT", "1000PEPEUSDT", "HYPEUSDT", "OLDUSDT"}
    for sym, (tick, step, notional, _, _) in BN_RULES.items():
        r = rules[sym]
        assert (r["precision_mode"], r["amount_precision"], r["price_precision"],
                r["min_amount"], r["min_cost"], r["contract_size"]) == (
            "tick_size", float(step), float(tick), float(step), float(notional), 1.0)
    assert rules["HYPEUSDT"]["active"] is False and rules["BTCUSDT"]["active"] is True
    orders = pl.read_csv(out / "orders.csv", schema_overrides={"quantity": pl.Float64})
    placed = orders.filter(pl.col("status") == "order")
    assert placed.height >= 2
    for o in placed.iter_rows(named=True):  # every order on its market's grid and limits
        tick, step, notional, _, _ = BN_RULES[o["symbol"]]
        assert _on_grid(o["quantity"], step) and _on_grid(o["price_ref"], tick), o
        assert o["quantity"] >= float(step) and o["notional"] >= float(notional), o
    hype = orders.filter(pl.col("symbol") == "HYPEUSDT").to_dicts()
    assert [(o["side"], o["quantity"], o["reduce_only"], o["reason"]) for o in hype] == [
        ("sell", 12.5, True, "market_inactive")]
    # BTC: from the venue's -0.01 to the target, rounded toward zero on the 0.001 lot
    targets = pl.read_parquet(out / "targets.parquet")
    want = Decimal(repr(targets.filter(pl.col("symbol") == "BTCUSDT")["quantity"][0]))
    delta = want - Decimal("-0.01")
    lots = (abs(delta) / Decimal("0.001")).to_integral_value(rounding="ROUND_DOWN")
    btc = placed.filter(pl.col("symbol") == "BTCUSDT").to_dicts()
    assert [(o["side"], Decimal(repr(o["quantity"]))) for o in btc] == [
        ("sell" if delta < 0 else "buy", lots * Decimal("0.001"))]
    # the keys came from the environment: they are in no output, file or store
    files = [p.read_bytes() for p in out.iterdir()] + [db.read_bytes()]
    for secret in (KEY, SECRET):
        assert secret not in res.output and not any(secret.encode() in f for f in files)
    # the venue's clock moves on, the store is not updated: the data is stale, no order
    late = venue.now_ms + 3 * 3_600_000
    venue.now_ms = late
    res = runner.invoke(app, ["book", str(config), "--nav", "100000", "--out",
                              str(tmp_path / "late"), "--from-venue", "--as-of", _iso(late),
                              *common])
    assert res.exit_code == 3, res.output
    assert "blocked: stale_data" in res.output
    assert pl.read_csv(tmp_path / "late" / "orders.csv").height == 0
    # both books are in the paper ledger, the blocked one marked
    res = runner.invoke(app, ["book", "history", "--db", str(db)])
    assert res.exit_code == 0, res.output
    assert "2 book(s)" in res.output and "yes" in res.output and "reversion" in res.output


def test_hyperliquid_markets_and_positions_through_ccxt(venue: FakeVenue) -> None:
    venue.positions = {"ETH": -1.2345, "BERA": 40.0}
    venue.delisted = {"BERA"}
    src = CcxtSource("hyperliquid", base_url=venue.url, rate_limit_ms=0)
    try:
        snap = src.snapshot(active_only=False, open_interest=False)
        rows = {r["symbol"]: r for r in snap.iter_rows(named=True)}
        for coin, (sz_decimals, max_leverage) in HL_SETTINGS.items():
            r = rows[coin]  # szDecimals -> an amount step of 10^-szDecimals; $10 minimum
            assert r["amount_precision"] == pytest.approx(10.0 ** -sz_decimals, rel=1e-12)
            assert (r["precision_mode"], r["min_cost"], r["max_leverage"]) == (
                "tick_size", 10.0, float(max_leverage))
            # Hyperliquid's docs: prices to 5 significant figures, at most 6 - szDecimals
            # decimals, integer prices always allowed (ccxt derives the tick from markPx)
            sig5 = Decimal(10) ** (Decimal(repr(r["mid"])).adjusted() - 4)
            tick = min(Decimal(1), max(sig5, Decimal(10) ** -(6 - sz_decimals)))
            assert Decimal(repr(r["price_precision"])) == tick, coin
        assert rows["BERA"]["active"] is False and rows["BTC"]["active"] is True
        with pytest.raises(Exception, match="COINFACTOR_HYPERLIQUID_WALLET_ADDRESS"):
            src.positions(env={})
        held = src.positions(env={"COINFACTOR_HYPERLIQUID_WALLET_ADDRESS": "0x" + "ab" * 20})
    finally:
        src.close()
    assert held == {"BERA": 40.0, "ETH": -1.2345}
    assert any(r.params.get("type") == "clearinghouseState" for r in venue.requests)


def test_stale_markets_and_unknown_rules_block(venue: FakeVenue, tmp_path: Path) -> None:
    """A snapshot older than the allowed age blocks; a store without a snapshot too."""
    db = tmp_path / "db.duckdb"
    config = tmp_path / "reversion.toml"
    config.write_text(CONFIG.format(db=db), "utf-8")
    common = ["--base-url", venue.url, "--rate-limit-ms", "0"]
    _download(venue, db, "BTCUSDT,ETHUSDT,1000PEPEUSDT", "--no-snapshot")
    as_of = _iso(venue.now_ms)
    res = runner.invoke(app, ["book", str(config), "--nav", "1e5", "--out",
                              str(tmp_path / "a"), "--as-of", as_of])
    assert res.exit_code == 3 and "markets_unknown" in res.output, res.output
    res = runner.invoke(app, ["book", str(config), "--nav", "1e5", "--out",
                              str(tmp_path / "b"), "--update", "--as-of", as_of, *common])
    assert res.exit_code == 0, res.output
    later = datetime.fromisoformat(as_of) + timedelta(days=8)
    res = runner.invoke(app, ["book", str(config), "--nav", "1e5", "--out",
                              str(tmp_path / "c"), "--as-of", later.isoformat(),
                              "--allow-stale"])
    assert res.exit_code == 3 and "blocked: stale_markets" in res.output, res.output
