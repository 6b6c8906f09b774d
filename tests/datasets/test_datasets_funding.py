"""Embedded datasets: funding coverage in the catalog, the CLI table, the hourly Hyperliquid
universe chosen before the hedge study's first decision, and funding at settlement times.

References: direct polars computations on each loaded dataset; a plain-Python ranking (dicts
and ``statistics.median``) of the raw hourly Hyperliquid file; raw funding stamps looked up by
hand.
"""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import coinfactor as cf
from coinfactor.cli import app
from coinfactor.cli._app import console

NAMES = cf.datasets.available()["name"].to_list()
SELECTED_BEFORE = datetime(2025, 3, 3, tzinfo=UTC)


@pytest.mark.parametrize("name", NAMES)
def test_catalog_funding_coverage_matches_the_data(name: str) -> None:
    panel = cf.datasets.load(name)
    entry = cf.datasets.info(name)
    known = panel.filter(pl.col("funding_rate").is_not_null())
    assert entry["funding_first"] == known["ts"].min().isoformat()  # type: ignore[union-attr]
    assert entry["funding_last"] == known["ts"].max().isoformat()  # type: ignore[union-attr]
    assert entry["funding_share"] == pytest.approx(
        panel["funding_rate"].is_not_null().sum() / panel.height, rel=1e-15)
    row = cf.datasets.available().filter(pl.col("name") == name).row(0, named=True)
    assert row["funding_first"] == known["ts"].min()
    assert row["funding_last"] == known["ts"].max()
    assert row["funding_share"] == entry["funding_share"]
    assert cf.datasets.funding_coverage(panel) == {
        k: entry[k] for k in ("funding_first", "funding_last", "funding_share")}


def test_funding_coverage_of_a_panel_without_funding() -> None:
    panel = cf.datasets.load("binance-perp-4h").head(3).with_columns(
        pl.lit(None, pl.Float64).alias("funding_rate"))
    assert cf.datasets.funding_coverage(panel) == {
        "funding_first": None, "funding_last": None, "funding_share": 0.0}


def test_cli_shows_funding_coverage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "width", 200)  # no wrapping of table cells
    res = CliRunner().invoke(app, ["datasets"])
    assert res.exit_code == 0, res.output
    assert "funding" in res.output and "funded" in res.output
    lines = res.output.splitlines()
    for name in NAMES:
        entry = cf.datasets.info(name)
        at = next(i for i, ln in enumerate(lines) if name in ln)
        first, last = (datetime.fromisoformat(entry[k]).strftime("%Y-%m-%d %H:%M")
                       for k in ("funding_first", "funding_last"))
        assert first in lines[at] and f"{entry['funding_share']:.1%}" in lines[at]
        assert last in lines[at + 1]


def test_hyperliquid_hourly_coins_were_listed_before_the_first_decision() -> None:
    panel = cf.datasets.load("hyperliquid-perp-1h")
    first = panel.group_by("symbol").agg(pl.col("ts").min())
    assert first.height == 40 and "BERA" in first["symbol"].to_list()
    assert (first["ts"] < SELECTED_BEFORE).all()
    assert panel["ts"].max() == datetime(2025, 7, 25, 23, tzinfo=UTC)


def _raw_dir() -> Path | None:
    here = Path(__file__).resolve().parents[2]
    env = os.environ.get("COINFACTOR_RAW")
    for cand in ([Path(env)] if env else []) + [here.parent / "shared" / "data" / "raw",
                                                 here.parents[1] / "shared" / "data" / "raw"]:
        if cand.is_dir():
            return cand
    return None


RAW = _raw_dir()


@pytest.mark.skipif(RAW is None, reason="the raw exchange files (shared/data/raw) are absent")
def test_hyperliquid_hourly_universe_is_the_pre_decision_top_40() -> None:
    """Rank every coin by the median over UTC days of its daily notional (volume x close) on
    the bars from its first trade, 2025-01-01 to 2025-03-02; BERA is forced in."""
    assert RAW is not None
    raw = pl.read_parquet(RAW / "hyperliquid_freqtrade" / "ohlcv_1h.parquet").filter(
        pl.col("date") < SELECTED_BEFORE)
    daily: dict[str, dict[object, float]] = defaultdict(lambda: defaultdict(float))
    traded: set[str] = set()
    for coin, ts, close, volume in raw.select("coin", "date", "close", "volume").iter_rows():
        traded |= {coin} if volume > 0 else set()
        if coin in traded and ts >= datetime(2025, 1, 1, tzinfo=UTC):  # rows sorted by time
            daily[coin][ts.date()] += volume * close
    med = {c: statistics.median(days.values()) for c, days in daily.items()}
    top = sorted(med, key=lambda c: (-med[c], c))[:40]
    expected = set(top) if "BERA" in top else {"BERA", *top[:39]}
    panel = cf.datasets.load("hyperliquid-perp-1h")
    assert set(panel["symbol"].unique()) == expected


@pytest.mark.skipif(RAW is None, reason="the raw exchange files (shared/data/raw) are absent")
def test_hyperliquid_hourly_funding_at_settlement_times() -> None:
    """Stamps 2025-06-08 10:00:01.094 and 2025-07-19 10:14:47.645 settle at 10:00: each is
    the 09:00 bar's funding (09:00, 10:00]; the 10:00 bar holds the 11:00 settlement only."""
    assert RAW is not None
    ev = pl.read_parquet(RAW / "hyperliquid_freqtrade" / "funding_rate_1h.parquet").filter(
        pl.col("coin") == "BTC")
    panel = cf.datasets.load("hyperliquid-perp-1h").filter(pl.col("symbol") == "BTC")
    for day, late in ((8, "10:00:01.094"), (19, "10:14:47.645")):
        month = 6 if day == 8 else 7
        stamps = ev.filter(pl.col("date").dt.date() == datetime(2025, month, day).date())
        rate_late = stamps.filter(
            pl.col("date").dt.strftime("%H:%M:%S%.3f") == late)["funding_rate"].item()
        rate_11 = stamps.filter(pl.col("date").dt.hour() == 11)["funding_rate"].item()
        bars = panel.filter(pl.col("ts").dt.date() == datetime(2025, month, day).date())
        by_hour = dict(zip(bars["ts"].dt.hour(), bars["funding_rate"], strict=True))
        assert by_hour[9] == rate_late
        assert by_hour[10] == rate_11
