"""``build_book`` on the embedded data: targets from the study, checks, orders, the directory.

References: the study's own ``target`` (parity), a hand computation of contracts from weight,
NAV and the last close, and the order rules checked in ``test_orders.py``.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from ccxt.base.decimal_to_precision import TICK_SIZE

from coinfactor import datasets
from coinfactor.book import BookSettings, MarketRules, build_book, read_positions, write_book
from coinfactor.core.errors import ConfigError, DataError
from coinfactor.studies import carry, config_from_dict
from support import ROOT

RAW = tomllib.loads((ROOT / "studies" / "carry.toml").read_text("utf-8"))
RAW["params"]["costs"]["capacity_navs"] = []


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    return datasets.load("hyperliquid-perp-1d")


def _markets(panel: pl.DataFrame, **over: object) -> dict[str, MarketRules]:
    return {s: MarketRules(s, TICK_SIZE, 0.001, 0.0001, 0.001, 10.0, **over)
            for s in panel["symbol"].unique().to_list()}


def _last(panel: pl.DataFrame):
    return panel["ts"].max()


def test_book_targets_are_the_study_target_in_contracts(panel: pl.DataFrame) -> None:
    as_of = _last(panel) + timedelta(days=1, minutes=3)
    book = build_book(RAW, nav=250_000.0, markets=_markets(panel), panel=panel,
                      markets_as_of=as_of - timedelta(hours=2), as_of=as_of)
    assert not book.blocked, book.checks
    cfg = config_from_dict(carry.Config, RAW["params"])
    ref = carry.target(cfg, panel, as_of=as_of)
    assert book.decided_at == ref.decided_at == _last(panel)
    assert book.targets.select("symbol", "weight").equals(ref.weights)
    close = panel.filter(pl.col("ts") == _last(panel)).select("symbol", "close")
    t = book.targets.join(close, on="symbol")
    assert (t["quantity"] - t["weight"] * 250_000.0 / t["close"]).abs().max() < 1e-9
    placed = book.orders.filter(pl.col("status") == "order")
    assert placed.height > 0 and set(placed["symbol"]) <= set(t["symbol"])
    assert (placed["notional"] >= 10.0).all()


def test_checks_block_with_reason_codes(panel: pl.DataFrame) -> None:
    as_of = _last(panel) + timedelta(days=1)
    fresh = as_of - timedelta(hours=1)

    def codes(book) -> set[str]:
        return {c.code for c in book.checks if not c.ok}
    stale = build_book(RAW, nav=1e5, markets=_markets(panel), markets_as_of=fresh,
                       panel=panel, as_of=as_of + timedelta(days=3))
    assert stale.blocked and "stale_data" in codes(stale) and stale.orders.height == 0
    allowed = build_book(RAW, nav=1e5, markets=_markets(panel), markets_as_of=fresh,
                         panel=panel, as_of=as_of + timedelta(days=3),
                         settings=BookSettings(allow_stale=True))
    # the last complete bar is then 3 days older than the clock: still computed, not blocked
    assert not allowed.blocked and "stale_data" in codes(allowed)
    none = build_book(RAW, nav=1e5, panel=panel, as_of=as_of)
    assert none.blocked and "markets_unknown" in codes(none)
    old = build_book(RAW, nav=1e5, markets=_markets(panel), panel=panel, as_of=as_of,
                     markets_as_of=as_of - timedelta(days=30))
    assert old.blocked and codes(old) == {"stale_markets"}
    broke = build_book(RAW, nav=-5.0, markets=_markets(panel), markets_as_of=fresh,
                       panel=panel, as_of=as_of)
    assert broke.blocked and "nav_not_positive" in codes(broke)
    capped = build_book(RAW, nav=1e5, markets=_markets(panel), markets_as_of=fresh,
                        panel=panel, as_of=as_of, settings=BookSettings(max_gross=0.01))
    assert capped.blocked and codes(capped) == {"gross_above_max"}


def test_inactive_market_is_closed_reduce_only(panel: pl.DataFrame) -> None:
    as_of = _last(panel) + timedelta(days=1)
    markets = _markets(panel)
    markets["BTC"] = dataclasses.replace(markets["BTC"], active=False)
    book = build_book(RAW, nav=1e6, markets=markets, markets_as_of=as_of, panel=panel,
                      as_of=as_of, positions={"BTC": 0.75})
    assert not book.blocked
    btc = book.orders.filter(pl.col("symbol") == "BTC").to_dicts()
    assert [(o["side"], o["quantity"], o["reduce_only"], o["reason"]) for o in btc] == [
        ("sell", 0.75, True, "market_inactive")]
    assert {c.code for c in book.checks if not c.ok} == {"inactive_market"}


def test_book_directory_is_written_whole_and_owned(panel: pl.DataFrame, tmp_path: Path) -> None:
    as_of = _last(panel) + timedelta(days=1)
    book = build_book(RAW, nav=1e6, markets=_markets(panel), markets_as_of=as_of,
                      panel=panel, as_of=as_of)
    out = write_book(book, tmp_path / "today")
    assert sorted(p.name for p in out.iterdir()) == ["book.html", "book.json",
                                                     "manifest.json", "orders.csv",
                                                     "targets.parquet"]
    summary = json.loads((out / "book.json").read_text("utf-8"))
    assert summary["study"] == "carry" and summary["blocked"] is False
    assert pl.read_csv(out / "orders.csv").height == book.orders.height
    assert "no order is sent" in (out / "book.html").read_text("utf-8")
    with pytest.raises(ConfigError, match="--overwrite"):
        write_book(book, out)
    write_book(book, out, overwrite=True)
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not a coinfactor"):
        write_book(book, other, overwrite=True)
    assert (other / "mine.txt").read_text() == "keep me"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left


def test_positions_file_errors(tmp_path: Path) -> None:
    good = tmp_path / "pos.csv"
    good.write_text("symbol,quantity\nBTC,0.5\nETH,-2\n")
    assert read_positions(good) == {"BTC": 0.5, "ETH": -2.0}
    dup = tmp_path / "dup.csv"
    dup.write_text("symbol,quantity\nBTC,1\nBTC,2\n")
    with pytest.raises(DataError, match="listed twice"):
        read_positions(dup)
    cols = tmp_path / "cols.csv"
    cols.write_text("coin,qty\nBTC,1\n")
    with pytest.raises(DataError, match="missing column"):
        read_positions(cols)
    with pytest.raises(DataError, match="does not exist"):
        read_positions(tmp_path / "nope.csv")
    with pytest.raises(ConfigError, match="holds no book"):
        build_book({"study": "risk_model"}, nav=1.0)
