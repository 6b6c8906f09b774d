"""Embedded datasets: each loads as a validated canonical panel matching its catalog entry."""

from __future__ import annotations

import polars as pl
import pytest

import coinfactor as cf
from coinfactor.data import PANEL_SCHEMA, infer_freq

NAMES = cf.datasets.available()["name"].to_list()


def test_required_datasets_present() -> None:
    assert {"hyperliquid-perp-1d", "hyperliquid-perp-1h", "binance-perp-4h",
            "binance-perp-1h"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_dataset_loads_validated(name: str) -> None:
    panel = cf.datasets.load(name)
    entry = cf.datasets.info(name)
    assert dict(panel.schema) == PANEL_SCHEMA
    assert panel.height == entry["rows"]
    assert panel["symbol"].n_unique() == entry["symbols"]
    assert infer_freq(panel) == entry["freq"]
    assert panel.equals(panel.sort("symbol", "ts"))


def test_hyperliquid_daily_drops_prelisting_and_keeps_delisted() -> None:
    panel = cf.datasets.load("hyperliquid-perp-1d")
    first = panel.group_by("symbol").agg(pl.col("volume").first())
    assert (first["volume"] > 0).all(), "each coin starts at its first traded bar"
    last = panel.group_by("symbol").agg(pl.col("ts").max())
    assert (last["ts"] < panel["ts"].max()).sum() >= 10, "delisted coins end early"


def test_hyperliquid_hourly_has_bera() -> None:
    panel = cf.datasets.load("hyperliquid-perp-1h")
    assert "BERA" in panel["symbol"].unique().to_list()
    assert panel.filter(pl.col("symbol") == "BERA")["funding_rate"].is_not_null().all()


def test_unknown_dataset_message() -> None:
    with pytest.raises(cf.DataError, match="unknown dataset 'nope'; expected one of"):
        cf.datasets.load("nope")


def test_total_size_under_25mb() -> None:
    total = sum(cf.datasets.info(n)["bytes"] for n in NAMES)
    assert total <= 25_000_000
