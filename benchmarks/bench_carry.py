"""Benchmark the carry pipeline against a seed-style per-day polars loop.

Run:  PYTHONPATH=src python benchmarks/bench_carry.py

Prints, in one run on the same synthetic 300 symbols x 1,500 days panel:
  * the seed-style loop: per day what seed 004's ``Backtester.run`` loop does (its
    ``rebalance_day`` / ``allocate_day`` polars steps, the P&L joins, the metric selects and
    the per-row holdings records; see ``seed_style_loop``);
  * coinfactor's allocation + backtest stage on the same inputs, and the ratio;
  * coinfactor's full carry pipeline (universe, carry, deciles, sigmoid, vol, sizing, allocator,
    backtest), and its ratio to the seed loop;
and the full pipeline time on 500 symbols x 2,000 days (target <= 1 s).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from coinfactor import signals, universe
from coinfactor.backtest import Fees, HalfSpread, backtest
from coinfactor.data import validate_panel
from coinfactor.portfolio import BufferedAllocator
from coinfactor.studies import carry

T0 = datetime(2020, 1, 1, tzinfo=UTC)


def synthetic_panel(n_s: int, n_t: int, seed: int = 0) -> pl.DataFrame:
    """Daily perp panel with staggered listings, random-walk prices and persistent funding."""
    rng = np.random.default_rng(seed)
    start = rng.integers(0, n_t // 4, n_s)
    start[: n_s // 2] = 0
    rets = rng.normal(0, 0.04, (n_t, n_s))
    close = 100 * np.exp(np.cumsum(rets, axis=0))
    level = rng.normal(1e-4, 3e-4, n_s)
    funding = level + rng.normal(0, 2e-4, (n_t, n_s))
    vol = np.exp(rng.normal(14, 1.5, n_s))[None, :] * np.exp(rng.normal(0, 0.3, (n_t, n_s)))
    ts = pl.datetime_range(T0, T0 + (n_t - 1) * timedelta(days=1), "1d", eager=True,
                           time_zone="UTC", time_unit="us")
    mask = np.arange(n_t)[:, None] >= start[None, :]
    ii, jj = np.nonzero(mask.T)  # symbol-major: sorted by (symbol, ts)
    c = close.T[ii, jj]
    frame = pl.DataFrame({
        "ts": ts.gather(pl.Series(jj, dtype=pl.UInt32)),
        "symbol": pl.Series([f"C{j:04d}" for j in range(n_s)]).gather(
            pl.Series(ii, dtype=pl.UInt32)),
        "open": c, "high": c * 1.01, "low": c * 0.99, "close": c,
        "volume": vol.T[ii, jj], "funding_rate": funding.T[ii, jj],
    })
    return validate_panel(frame)


def seed_style_loop(data: pl.DataFrame, prices: pl.DataFrame, *, lam: float, gamma: float,
                    max_pos: float, gross_cap: float, tcap: float, cost: float,
                    vol_target: float = 0.2) -> float:
    """Per-day polars loop doing what seed 004's ``Backtester.run`` loop does; final NAV.

    Per day, as the seed (``rebalance_day`` -> ``allocate_day``, then the backtester's P&L,
    metrics and holdings rows): filter the day's rows, join yesterday's positions, filter the
    day again for the desired weights (inverse vol, unit gross, vol target) and join them,
    buffer, per-asset cap, gross cap, turnover cap, dollar and coin sizes; then turnover cost,
    the two price filters and joins for the P&L, gross/net/forecast-vol selects and one
    holdings dict per row. Two seed defects are not reproduced because they cost the same
    time either way: the turnover cap moves positions (the seed scaled the reported trades
    only) and the dates are sorted (the seed iterated ``unique()`` dates in hash order).
    The tables built once after the loop (metrics and holdings frames) are left out.

    ``data``: ts, symbol, target_position, spread, vol_fcst, close (universe rows);
    ``prices``: the universe rows of the panel (the seed's ``universe_only``).
    """
    dates = data.get_column("ts").unique().sort().to_list()
    positions: dict[str, float] = {}
    nav = 1.0
    metrics: list[dict[str, object]] = []
    holdings: list[dict[str, object]] = []
    for today, tomorrow in itertools.pairwise(dates):
        prev_nav = nav
        # --- allocator.rebalance_day(today, nav)
        df0 = data.filter(pl.col("ts") == today)
        prev = pl.DataFrame({"symbol": list(positions), "x_prev": list(positions.values())},
                            schema={"symbol": pl.String, "x_prev": pl.Float64})
        df = df0.join(prev, on="symbol", how="left").with_columns(
            pl.col("x_prev").fill_null(0.0), pl.col("x_prev").is_null().alias("is_new"))
        # allocate_day(today, nav): the seed filters the day again
        day = data.filter(pl.col("ts") == today)
        day = day.with_columns((pl.col("target_position") / pl.col("vol_fcst")).alias("w_raw"))
        day = day.with_columns(pl.col("w_raw").abs().sum().over("ts").alias("abs_sum"))
        day = day.with_columns((pl.col("w_raw") / pl.col("abs_sum")).alias("w_desired"))
        day = day.with_columns((pl.col("w_desired") ** 2 * pl.col("vol_fcst") ** 2)
                               .alias("var_i"))
        var = day.select(pl.col("var_i").sum()).item()
        scale = (vol_target / math.sqrt(365)) / math.sqrt(var) if var > 0 else 0.0
        day = day.with_columns(pl.col("w_desired") * scale)
        day = day.with_columns((pl.col("w_desired") * nav).alias("dollar_size"),
                               (pl.col("w_desired") * nav / pl.col("close")).alias("coin_qty"))
        alloc = day.select("symbol", "w_desired", "dollar_size", "coin_qty").select(
            "symbol", "w_desired")
        df = df.join(alloc, on="symbol", how="left").with_columns(
            pl.col("w_desired").fill_null(0.0))
        df = df.with_columns(
            (gamma * pl.col("spread") / (lam * pl.col("vol_fcst") ** 2)).alias("buffer"),
            (pl.col("w_desired") - pl.col("x_prev")).alias("delta"))
        df = df.with_columns(
            pl.when(pl.col("is_new")).then(pl.col("w_desired"))
            .when(pl.col("delta").abs() <= pl.col("buffer")).then(0.0)
            .otherwise(pl.col("delta").sign() * (pl.col("delta").abs() - pl.col("buffer")))
            .alias("trade"))
        df = df.with_columns((pl.col("x_prev") + pl.col("trade")).alias("x_new_pre"))
        df = df.with_columns(pl.col("x_new_pre").clip(-max_pos, max_pos).alias("x_cap"))
        gross = df.select(pl.col("x_cap").abs().sum()).item()
        g = gross_cap / gross if gross > gross_cap else 1.0
        df = df.with_columns((pl.col("x_cap") * g).alias("x_new"))
        df = df.with_columns((pl.col("x_new") - pl.col("x_prev")).alias("trade_final"))
        turn = df.select(pl.col("trade_final").abs().sum()).item()
        if turn > tcap:
            s = tcap / turn
            df = df.with_columns((pl.col("trade_final") * s).alias("trade_final"),
                                 (pl.col("x_prev") + pl.col("trade_final") * s).alias("x_new"))
        df = df.with_columns((pl.col("x_new") * nav).alias("dollar_pos"),
                             (pl.col("x_new") * nav / pl.col("close")).alias("coin_qty"))
        positions = dict(zip(df["symbol"], df["x_new"], strict=True))
        book = df.select("symbol", "x_prev", "w_desired", "buffer", "delta", "trade", "x_new",
                         "trade_final", "dollar_pos", "coin_qty", "vol_fcst")
        # --- Backtester.run body
        turnover_pct = book.select(pl.col("trade_final").abs().sum()).item()
        nav -= turnover_pct * nav * cost
        p0 = prices.filter(pl.col("ts") == today).select("symbol", "close").rename(
            {"close": "p0"})
        p1 = prices.filter(pl.col("ts") == tomorrow).select("symbol", "close").rename(
            {"close": "p1"})
        pnl_df = (book.join(p0, on="symbol").join(p1, on="symbol")
                  .with_columns((pl.col("coin_qty") * (pl.col("p1") - pl.col("p0")))
                                .alias("pnl")))
        total_pnl = pnl_df.select(pl.col("pnl").sum()).item()
        nav += total_pnl
        gross_exp = book.select(pl.col("x_new").abs().sum()).item()
        net_exp = book.select(pl.col("x_new").sum()).item()
        daily_var = book.select((pl.col("x_new") ** 2 * pl.col("vol_fcst") ** 2).sum()).item()
        daily_vol = math.sqrt(daily_var)
        metrics.append({"date": today, "nav": nav, "daily_return": (nav - prev_nav) / prev_nav,
                        "pnl": total_pnl, "turnover_pct": turnover_pct,
                        "turnover_$": turnover_pct * prev_nav, "gross_exposure": gross_exp,
                        "net_exposure": net_exp, "vol_forecast_d": daily_vol,
                        "vol_forecast_a": daily_vol * math.sqrt(365)})
        for row in book.select("symbol", "x_new", "dollar_pos", "coin_qty").iter_rows(
                named=True):
            holdings.append({"date": today, "symbol": row["symbol"], "weight": row["x_new"],
                             "dollar": row["dollar_pos"], "coin_qty": row["coin_qty"]})
    return nav


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = math.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    # the study's defaults (fees, spread, square-root impact, drift accounting) without the
    # capacity table, which the seed loop does not compute (it is timed separately below)
    base = carry.Config()
    cfg = dataclasses.replace(base, costs=dataclasses.replace(base.costs, capacity_navs=()))
    panel = synthetic_panel(300, 1500)
    res = carry.run(cfg, panel)  # warm-up + inputs for the stage comparison
    sig = res.tables["signal"]
    # Stage inputs shared by both: target, vol forecast, spread, close for universe rows.
    from coinfactor.risk import ema_blend_vol
    vol = ema_blend_vol(panel, short_span=21, long_span=90)
    stage = (sig.select("ts", "symbol", "target")
             .join(vol.rename({"vol": "vol_fcst"}), on=["ts", "symbol"])
             .join(panel.select("ts", "symbol", "close"), on=["ts", "symbol"])
             .with_columns(pl.lit(5e-4).alias("spread"))
             .rename({"target": "target_position"}).sort("ts", "symbol"))
    prices = panel.join(stage.select("ts", "symbol"), on=["ts", "symbol"], how="semi")
    print(f"panel 300 x 1,500: {panel.height:,} rows; universe rows {stage.height:,}")

    t_seed, _ = timed(lambda: seed_style_loop(stage, prices, lam=2.0, gamma=10.0,
                                              max_pos=0.2, gross_cap=2.0, tcap=0.3,
                                              cost=9.5e-4), repeat=2)
    print(f"seed-style per-day polars loop (allocator + backtest): {t_seed:6.3f} s")

    frame = (panel.select("ts", "symbol")
             .join(stage.select("ts", "symbol",
                                (pl.col("target_position") / pl.col("vol_fcst")).alias("desired"),
                                (pl.col("vol_fcst") * math.sqrt(365)).alias("vol"),
                                pl.col("spread").alias("half_spread")),
                   on=["ts", "symbol"], how="left"))
    allocator = BufferedAllocator(cost_aversion=10.0, turnover_cap=0.3)
    t_alloc, alloc = timed(lambda: allocator.fit(frame))
    costs = Fees(4.5) + HalfSpread(5e-4)
    t_bt, _ = timed(lambda: backtest(panel, alloc.weights, costs=costs))
    t_stage = t_alloc + t_bt
    print(f"coinfactor BufferedAllocator.fit + backtest (same inputs): {t_stage:6.3f} s "
          f"({t_alloc:.3f} + {t_bt:.3f})  -> {t_seed / t_stage:6.1f}x faster")
    t_full, _ = timed(lambda: carry.run(cfg, panel), repeat=7)
    print(f"coinfactor full carry pipeline (universe..backtest): {t_full:8.3f} s  "
          f"-> {t_seed / t_full:6.1f}x faster than the seed loop (target >= 100x)")
    print(f"  (drift accounting on: holdings drift between decisions, rebalance='decisions'; "
          f"costs {cfg.costs.model(None)!r})")
    t_cap, _ = timed(lambda: carry.run(base, panel))
    print(f"  with the capacity table ({len(base.costs.capacity_navs)} NAVs): {t_cap:8.3f} s")
    big = synthetic_panel(500, 2000, seed=1)
    carry.run(cfg, big)
    t_big, _ = timed(lambda: carry.run(cfg, big))
    print(f"full carry pipeline, 500 x 2,000 ({big.height:,} rows): {t_big:6.3f} s  "
          f"(target <= 1 s)")
    t_uni, _ = timed(lambda: universe.volume_decile(big, freq="1d"))
    t_car, _ = timed(lambda: signals.funding_carry(big, window=7, freq="1d"))
    t_sig, _ = timed(lambda: carry.signal_frame(cfg, big, freq="1d"))
    print(f"  of which signal stage {t_sig:.3f} s (universe.volume_decile {t_uni:.3f} s, "
          f"signals.funding_carry {t_car:.3f} s, rest = xs winsorize/zscore/buckets + maps)")


if __name__ == "__main__":
    main()
