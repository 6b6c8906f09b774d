"""The hedge_basket study: config file, constraints on every rebalance, out-of-sample stats."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from coinfactor import datasets
from coinfactor.cli import app
from coinfactor.core.errors import ConfigError
from coinfactor.studies import STUDIES, config_from_dict
from coinfactor.studies import hedge_basket as hbs
from support import ROOT
from support.hedge import SMALL
from support.hedge import hedge_panel as _panel


def test_toml_mirrors_defaults() -> None:
    raw = tomllib.loads((ROOT / "studies" / "hedge_basket.toml").read_text("utf-8"))
    assert raw["study"] == "hedge_basket"
    assert STUDIES["hedge_basket"] == "coinfactor.studies.hedge_basket"
    assert raw["data"] == hbs.DEFAULT_DATA
    assert config_from_dict(hbs.Config, raw["params"]) == hbs.Config()


def _check_constraints(basket: pl.DataFrame, max_share: float) -> None:
    for _, g in basket.group_by("ts", maintain_order=True):
        w = g["weight"].to_numpy()
        assert abs(w.sum() - 1.0) < 1e-8
        assert (w >= -1e-9).all()
        assert (w <= g["cap"].to_numpy() + 1e-9).all()
        assert (g["volume_share"].to_numpy() <= max_share + 1e-9).all()


def test_study_on_real_data_constraints_every_rebalance() -> None:
    """Default baskets on hyperliquid-perp-1h (small bootstrap to keep the test fast)."""
    cfg = replace(hbs.Config(), bootstrap_sims=50, bootstrap_horizon="30d",
                  pca_diagnostic_components=2)
    panel = datasets.load("hyperliquid-perp-1h")
    res = hbs.run(cfg, panel)
    basket = res.tables["basket"]
    assert basket["ts"].n_unique() == res.metrics["n_rebalances"] == 21
    _check_constraints(basket, cfg.max_volume_share)
    diag = res.tables["diagnostics"]
    assert (diag["action"] == "optimal").all()
    # issue 15: nav gains the traded turnover
    assert res.tables["nav"].columns == ["ts", "nav", "ret", "ret_price", "ret_funding",
                                         "ret_cost", "turnover"]
    # issue 15: ``targets`` is the rebalance book (long 1, basket short 1 at every decision);
    # ``weights`` are the held weights, which drift with prices between the decisions
    w = res.tables["targets"]
    assert w.columns == ["ts", "symbol", "weight"]
    assert w["ts"].n_unique() == 21
    book = w.group_by("ts").agg(
        pl.col("weight").filter(pl.col("symbol") == "BERA").sum().alias("long"),
        pl.col("weight").filter(pl.col("symbol") != "BERA").sum().alias("short"))
    np.testing.assert_allclose(book["long"].to_numpy(), 1.0)
    np.testing.assert_allclose(book["short"].to_numpy(), -1.0, atol=1e-8)
    held = res.tables["weights"]
    assert held.columns == ["ts", "symbol", "weight"]
    # at each decision close the book is traded to the targets (every name has a price)
    at = w.join(held, on=["ts", "symbol"], how="left")
    np.testing.assert_allclose(at["weight_right"].fill_null(0.0).to_numpy(),
                               at["weight"].to_numpy(), atol=1e-15)
    drift = held.filter(~pl.col("ts").is_in(w["ts"].unique().implode()))
    assert drift.height > 0 and (drift.filter(pl.col("symbol") == "BERA")["weight"] - 1.0
                                 ).abs().max() > 0.01
    assert 0 < res.metrics["vol_reduction"] < 1
    assert np.isfinite(res.metrics["oos_correlation"])


def test_oos_stats_match_hand_computation() -> None:
    """Per-period out-of-sample correlation and volatility rebuilt from closes and weights.

    issue 15: between rebalances the book is held (it drifts), so the basket's out-of-sample
    return is that of a buy-and-hold basket, V(t) = Σ w_i close_i(t) / close_i(t0), not of
    constant weights.
    """
    panel = _panel()
    res = hbs.run(SMALL, panel)
    _check_constraints(res.tables["basket"], SMALL.max_volume_share)
    close = panel.pivot(on="symbol", index="ts", values="close").sort("ts")
    rets = close.with_columns(pl.exclude("ts").pct_change()).tail(-1)
    diag = res.tables["diagnostics"]
    basket = res.tables["basket"]
    times = diag["ts"].to_list()
    for i, t0 in enumerate(times):
        t1 = times[i + 1] if i + 1 < len(times) else close["ts"].max()
        sub = rets.filter((pl.col("ts") > t0) & (pl.col("ts") <= t1))
        wk = basket.filter(pl.col("ts") == t0)
        path = close.filter((pl.col("ts") >= t0) & (pl.col("ts") <= t1))
        value = sum(path[s].to_numpy() / path[s][0] * w
                    for s, w in zip(wk["symbol"], wk["weight"], strict=True))
        b = value[1:] / value[:-1] - 1.0
        tgt = sub["T"].to_numpy()
        assert diag["oos_correlation"][i] == pytest.approx(np.corrcoef(tgt, b)[0, 1], rel=1e-9)
        # constant weights (rebalanced every bar) would give another number
        static = sum(sub[s].to_numpy() * w
                     for s, w in zip(wk["symbol"], wk["weight"], strict=True))
        assert abs(np.corrcoef(tgt, static)[0, 1] - diag["oos_correlation"][i]) > 1e-6
        assert diag["oos_vol_unhedged"][i] == pytest.approx(
            np.std(tgt, ddof=1) * np.sqrt(8760), rel=1e-9)
    table = res.tables["bootstrap"]
    assert table["percentile"].to_list()[:9] == [99, 95, 90, 75, 50, 25, 10, 5, 1]
    assert set(table["series"].unique()) == {"hedged", "unhedged"}


def test_study_truncation() -> None:
    """Baskets decided at t are unchanged when data after t is removed."""
    panel = _panel()
    full = hbs.run(SMALL, panel).tables["basket"]
    cut_at = datetime(2025, 1, 29, 13, tzinfo=UTC)
    part = hbs.run(SMALL, panel.filter(pl.col("ts") <= cut_at)).tables["basket"]
    assert part.equals(full.filter(pl.col("ts") <= part["ts"].max()))


def test_bad_config() -> None:
    panel = _panel(n_bars=24 * 12)
    with pytest.raises(ConfigError, match=r"target: 1 name\(s\) not in the hedge_basket panel"):
        hbs.run(replace(SMALL, target="ZZZ"), panel)
    with pytest.raises(ConfigError, match="no decision time"):
        hbs.run(replace(SMALL, start="2026-01-01T00:00:00"), panel)
    with pytest.raises(ConfigError, match="start: expected an ISO date or time"):
        hbs.run(replace(SMALL, start="next monday"), panel)


def test_cli_run_writes_run_directory(tmp_path: Path) -> None:
    data = tmp_path / "panel.parquet"
    _panel().write_parquet(data)
    cfg = tmp_path / "hb.toml"
    cfg.write_text(
        'study = "hedge_basket"\n[data]\nparquet = "panel.parquet"\n[params]\n'
        'target = "T"\nstart = "2025-01-15T12:00:00"\nlookback = "10d"\n'
        'min_daily_volume_usd = 0.0\nbasket_usd = 1000000.0\nbootstrap_sims = 20\n'
        'bootstrap_horizon = "30d"\nbootstrap_block = "1d"\n', "utf-8")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(cfg), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for name in ("config.toml", "metrics.json", "nav.parquet", "weights.parquet",
                 "basket.parquet", "diagnostics.parquet", "bootstrap.parquet",
                 "bootstrap_samples.parquet", "rolling_correlation.parquet", "pca.parquet",
                 "candidates.parquet", "nav_unhedged.parquet"):
        assert (out / name).exists(), name
    assert pl.read_parquet(out / "weights.parquet").columns == ["ts", "symbol", "weight"]


def test_pca1_cleaning_concentrates_in_high_funding_names() -> None:
    """Seed-002 defect, shown on the seed's first basket: tracking PCA(1)-cleaned returns
    leaves the split across names to the funding term, so the basket concentrates in
    high-funding coins; the default (no cleaning) spreads it by tracking quality."""
    panel = datasets.load("hyperliquid-perp-1h")
    at = datetime(2025, 3, 3, 12, tzinfo=UTC)
    cfg = hbs.Config()
    raw = cfg.estimator().fit(panel, at)
    cleaned = replace(cfg, pca_clean="top_k", pca_components=1).estimator().fit(panel, at)
    hhi = lambda r: float((r.weights ** 2).sum())  # noqa: E731  (Herfindahl index)
    assert hhi(cleaned) > 2 * hhi(raw)
    assert cleaned.expected_funding > 2 * raw.expected_funding
    assert cleaned.correlation < raw.correlation  # and it tracks worse on raw returns
