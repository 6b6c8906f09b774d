"""Every study that trades, on its embedded data: DESIGN.md's accounting identities hold, the
booked costs equal costs recomputed from the reported trades with the study's own cost model,
and the carry study's capacity table and figure are in its report.

References: the identities recomputed from the run's tables (nav, trades, weights), the cost
model evaluated trade by trade, and a direct read of the written report.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from coinfactor.backtest import MarketData
from coinfactor.core.errors import DataWarning
from coinfactor.data import Grid
from coinfactor.studies import carry, hedge_basket, load_study_data, reversion

STUDIES: dict[str, Any] = {"carry": carry, "reversion": reversion, "hedge_basket": hedge_basket}


def _run(name: str, **costs: Any) -> tuple[Any, pl.DataFrame, Any]:
    module = STUDIES[name]
    base = module.Config()
    config = dataclasses.replace(base, costs=dataclasses.replace(base.costs, **costs))
    panel, _ = load_study_data(module.DEFAULT_DATA)
    # binance-perp-4h has no funding before 2026-01-12: the reversion backtest says so
    with pytest.warns(DataWarning) if name == "reversion" else contextlib.nullcontext():
        result = module.run(config, panel)
    return config, panel, result


@pytest.mark.parametrize("name", ["carry", "reversion", "hedge_basket"])
def test_identities_and_costs_recomputed_from_trades(name: str) -> None:
    config, panel, result = _run(name, capacity_navs=())
    nav, trades, weights = (result.tables[k] for k in ("nav", "trades", "weights"))
    # price + funding + costs = the bar's return, exactly; NAV compounds it
    assert (nav["ret"] - (nav["ret_price"] + nav["ret_funding"] + nav["ret_cost"])).abs().max() \
        == 0.0
    level = nav["nav"].to_numpy()
    np.testing.assert_allclose(level[1:], level[:-1] * (1 + nav["ret"].to_numpy()[1:]),
                               rtol=1e-12)
    assert (level >= 0).all()
    # each trade moves the drifted weight to the held weight of that bar
    assert (trades["trade"] - (trades["weight_after"] - trades["weight_before"])).abs().max() \
        < 1e-15
    held = trades.join(weights, on=["ts", "symbol"], how="left")
    assert (held["weight_after"] - held["weight"].fill_null(0.0)).abs().max() == 0.0
    # the turnover of each bar is the sum of |trade| reported
    per_bar = trades.group_by("ts").agg(pl.col("trade").abs().sum().alias("t"))
    check = nav.join(per_bar, on="ts", how="left").with_columns(pl.col("t").fill_null(0.0))
    np.testing.assert_allclose(check["turnover"].to_numpy(), check["t"].to_numpy(),
                               rtol=1e-12, atol=1e-15)
    # costs: the study's model evaluated trade by trade, and charged over the next bar
    model = config.costs.model()
    grid = Grid.from_panel(panel, symbols=sorted(set(trades["symbol"].to_list())))
    market = MarketData.from_panel(panel, grid)
    i, j, ok = grid.locate(trades)
    assert ok.all()
    at_nav = dict(zip(nav["ts"].to_list(), nav["nav"].to_list(), strict=True))
    sizes = trades["trade"].to_numpy()
    recomputed = np.empty(trades.height)
    for k in range(trades.height):
        row = np.zeros(grid.shape[1])
        row[j[k]] = sizes[k]
        value = at_nav[trades["ts"][k]]
        recomputed[k] = model.cost(row, value, market, int(i[k]))[j[k]] * value
    np.testing.assert_allclose(trades["cost"].to_numpy(), recomputed, rtol=1e-9, atol=1e-9)
    booked = (trades.group_by("ts").agg(pl.col("cost").sum())
              .join(nav.select("ts", "nav", pl.col("ret_cost").shift(-1).alias("next")),
                    on="ts").drop_nulls().sort("ts"))
    np.testing.assert_allclose(-booked["next"].to_numpy(),
                               (booked["cost"] / booked["nav"]).to_numpy(), rtol=1e-9, atol=0)


def test_carry_capacity_rises_with_nav_and_is_in_the_report(tmp_path: Path) -> None:
    from coinfactor.report import write_report

    _, _, result = _run("carry", capacity_navs=(1e5, 1e6, 1e7, 1e8))
    table = result.tables["capacity"]
    assert table["initial_nav"].to_list() == [1e5, 1e6, 1e7, 1e8]
    drag = table["annual_cost_return"].to_numpy()
    assert (np.diff(drag) < 0).all(), drag  # costs grow with size
    assert (np.diff(table["annual_return"].to_numpy()) < 0).all()
    run_dir = result.write(tmp_path / "carry")
    html = write_report(run_dir).read_text("utf-8")
    assert "capacity: net return, cost drag and Sharpe ratio by NAV" in html
    assert "<img" in html.split("capacity: net return")[0][-3000:]  # its figure
