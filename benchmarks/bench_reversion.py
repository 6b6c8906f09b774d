"""Benchmark: the vectorised ``reversion`` study vs a seed-001-style pandas loop.

Run from the repository root::

    PYTHONPATH=src python benchmarks/bench_reversion.py [--coins 100] [--days 365]
        [--sample-dates 12]

Both run in this process on the same synthetic panel (random walks, 4h bars, funding every
other bar, ~0.5% of bars missing). The baseline reproduces the seed's way of working: per
ticker, a pandas reindex onto a full 4h grid with forward-filled OHLCV; then a loop over
dates that slices a +-3 day window, and inside it a loop over tickers that filters the
ticker's rows, computes the features with pandas rolling windows, the forward return, and
builds a one-row DataFrame; then a per-date basket loop. It is far too slow to run over every
date (221 s for 100 coins x 1 year in the original), so by default the per-date loop is timed
on ``--sample-dates`` dates spread over the year and extrapolated to all dates; the per-ticker
preparation and the basket loop are timed in full. The output says which parts were
extrapolated. ``--sample-dates 0`` runs the baseline over every date. The study is timed
between the baseline's dates, so both see the same machine load; the ratio uses the median.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl

from coinfactor.data import validate_panel
from coinfactor.studies.reversion import Config, run


def synthetic_panel(n_coins: int, days: int, seed: int = 0) -> pl.DataFrame:
    """Random-walk 4h panel: n_coins x days, funding every other bar, ~0.5% bars missing."""
    rng = np.random.default_rng(seed)
    n = days * 6
    start = datetime(2025, 1, 1, tzinfo=UTC)
    ts = pl.datetime_range(start, start + timedelta(hours=4 * (n - 1)), "4h", eager=True,
                           time_unit="us").to_numpy()
    frames = []
    for j in range(n_coins):
        close = 10.0 * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
        opn = np.concatenate([[close[0]], close[:-1]])
        hi = np.maximum(opn, close) * (1 + np.abs(rng.normal(0, 0.004, n)))
        lo = np.minimum(opn, close) * (1 - np.abs(rng.normal(0, 0.004, n)))
        vol = rng.lognormal(10, 0.5, n)
        keep = rng.uniform(size=n) > 0.005
        fund = np.where(np.arange(n) % 2 == 1, rng.normal(1e-4, 1e-4, n), np.nan)
        frames.append(pl.DataFrame({
            "ts": pl.Series(ts[keep]).dt.replace_time_zone("UTC"), "symbol": f"C{j:03d}USDT",
            "open": opn[keep], "high": hi[keep],
            "low": lo[keep], "close": close[keep], "volume": vol[keep],
            "quote_volume": (vol * (opn + close) / 2)[keep],
            "trades": np.full(keep.sum(), 100, dtype=np.int64),
            "funding_rate": fund[keep],
        }).with_columns(pl.col("funding_rate").fill_nan(None)))
    return validate_panel(pl.concat(frames).sort("symbol", "ts"), freq="4h")


# --------------------------------------------------------------------------------------------
# Seed-style baseline (the seed's algorithm, reimplemented; its defects kept on purpose, since
# this is the speed reference, not a correct study).
# --------------------------------------------------------------------------------------------

def seed_prepare(panel: pl.DataFrame) -> pd.DataFrame:
    """Per ticker: New York time, reindex onto the full 4h grid, forward-fill OHLCV."""
    pdf = panel.select("ts", "symbol", "open", "high", "low", "close", "volume").to_pandas()
    out = []
    for ticker, rows in pdf.groupby("symbol"):
        rows = rows.assign(dt=rows["ts"].dt.tz_convert("America/New_York")).set_index("dt")
        grid = pd.date_range(rows.index.min(), rows.index.max(), freq="4h")
        rows = rows.reindex(grid)
        cols = ["open", "high", "low", "close", "volume"]
        rows[cols] = rows[cols].ffill()
        rows = rows.reset_index().rename(columns={"index": "dt"})
        rows["date"] = rows["dt"].dt.strftime("%Y-%m-%d")
        rows["ticker"] = ticker
        out.append(rows.drop(columns=["ts", "symbol"]))
    return pd.concat(out).rename(columns={"close": "c"})


def seed_one_date(full: pd.DataFrame, calendar: np.ndarray, day: str,
                  hour: int = 20, window: int = 6) -> pd.DataFrame | None:
    """Features and forward returns of every ticker for one date, seed-style."""
    before = calendar[calendar < day][-3]
    after = calendar[calendar > day][3]
    span = full[(full["date"] >= before) & (full["date"] < after)].copy()
    span["hour"] = span["dt"].dt.hour
    today = span[span["date"] == day].drop_duplicates(subset=["ticker"])
    pit = (pd.Timestamp(day) + timedelta(hours=hour)).tz_localize("America/New_York")
    nxt = pit + timedelta(days=1)
    rows = []
    for ticker in today["ticker"].drop_duplicates().values:
        data = span[span["ticker"] == ticker].copy()
        hist = data[data["dt"] <= pit].sort_values("dt")
        if len(hist) < window:
            continue
        hist["pct"] = (hist["c"].pct_change() * 100).round(2)
        hist["lr"] = np.log(hist["c"] / hist["c"].shift(1))
        hist["var"] = (hist["lr"] ** 2).rolling(window).sum()
        hist["rv"] = (np.sqrt(hist["var"]) * np.sqrt(365) * 100).round(2)
        hist["drv"] = (hist["rv"] / np.sqrt(365)).round(2)
        hist["mid"] = hist[["open", "high", "low", "c"]].mean(axis=1)
        hist["vw"] = hist["mid"] * hist["volume"] / hist["volume"]
        hist["vwap"] = hist["vw"].rolling(window, min_periods=1).mean()
        hist["notional"] = (hist["vw"] * hist["volume"]).rolling(window, min_periods=1).mean()
        hist["dist"] = ((hist["c"] - hist["vwap"]) / hist["vwap"] * 100).round(2)
        hist["ret"] = ((hist["c"] - hist["c"].iloc[0]) / hist["c"].iloc[0] * 100).round(2)
        roll = hist["ret"].iloc[-1]
        sharpe = round(roll / (hist["pct"].std() * np.sqrt(len(hist))), 2)
        fwd = data[(data["dt"] >= pit) & (data["dt"] <= nxt)].sort_values("dt")
        if fwd.empty:  # the seed's per-ticker try/except: no forward data, skip the ticker
            continue
        fwd_ret = ((fwd["c"] - fwd["c"].iloc[0]) / fwd["c"].iloc[0] * 100).round(2)
        rows.append(pd.DataFrame([{
            "date": day, "ticker": ticker, "exp_vol": hist["drv"].iloc[-1], "sharpe": sharpe,
            "rolling_return": roll, "avg_notional": hist["notional"].iloc[-1],
            "dist_from_vwap": hist["dist"].iloc[-1], "forward_returns": fwd_ret.iloc[-1],
        }]))
    if not rows:
        return None
    day_xs = pd.concat(rows).dropna()
    day_xs["ranked_dist"] = day_xs["dist_from_vwap"].rank(pct=True)
    return day_xs


def seed_baskets(xs: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """Per date: top-n by rank, basket return, equity curve (seed's short-the-top sign)."""
    out = []
    for day in xs["date"].drop_duplicates().values:
        day_xs = xs[xs["date"] == day]
        top = day_xs.sort_values("ranked_dist", ascending=False).head(n)
        out.append(pd.DataFrame([{"date": day, "basket": top["forward_returns"].mean()}]))
    trades = pd.concat(out)
    trades["pnl"] = 10_000 * trades["basket"] / -100
    trades["capital"] = 10_000 + trades["pnl"].cumsum()
    return trades


def time_both(panel: pl.DataFrame, sample_dates: int,
              study: Callable[[], object]) -> tuple[float, str, list[float]]:
    """Time the baseline and, interleaved with it, the study (same machine load for both).

    After every sampled date of the baseline's date loop, the study runs once and is timed.
    Returns the baseline's total (extrapolated when sampled), how it was obtained, and the
    study's run times.
    """
    study_times: list[float] = []

    def one_study() -> None:
        t = time.perf_counter()
        study()
        study_times.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    full = seed_prepare(panel)
    t_prep = time.perf_counter() - t0
    one_study()
    dates = np.sort(full["date"].drop_duplicates().values)
    calendar = pd.date_range("2000-01-01", "2030-12-31").strftime("%Y-%m-%d").values
    model_dates = dates[10:]
    if sample_dates and sample_dates < len(model_dates):
        pick = np.unique(np.linspace(0, len(model_dates) - 1, sample_dates).round().astype(int))
        chosen = model_dates[pick]
    else:
        chosen = model_dates
    t_loop = 0.0
    per_date = []
    for k, day in enumerate(chosen):
        t0 = time.perf_counter()
        per_date.append(seed_one_date(full, calendar, day))
        t_loop += time.perf_counter() - t0
        if k < 50 or k % 10 == 0:
            one_study()
    xs = pd.concat([x for x in per_date if x is not None])
    # The basket loop: timed on the dates we have, scaled per date.
    t0 = time.perf_counter()
    seed_baskets(xs)
    t_basket = time.perf_counter() - t0
    scale = len(model_dates) / len(chosen)
    total = t_prep + (t_loop + t_basket) * scale
    how = (f"prep {t_prep:.2f}s (full) + date loop {t_loop:.2f}s on {len(chosen)} of "
           f"{len(model_dates)} dates"
           + (f", extrapolated x{scale:.1f}" if scale > 1 else " (all dates)")
           + f" + basket loop {t_basket * scale:.3f}s")
    return total, how, study_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coins", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--sample-dates", type=int, default=12)
    args = parser.parse_args()

    panel = synthetic_panel(args.coins, args.days)
    print(f"synthetic panel: {args.coins} coins x {args.days} days of 4h bars, "
          f"{panel.height:,} rows")
    config = Config()
    result = run(config, panel)  # warm-up (imports, polars thread pool)
    t_base, how, times = time_both(panel, args.sample_dates, lambda: run(config, panel))
    t_study = statistics.median(times)
    print(f"reversion study (vectorised, run() end to end incl. signals and backtest): median "
          f"{t_study * 1e3:.1f} ms, min {min(times) * 1e3:.1f} ms over {len(times)} runs "
          f"interleaved with the baseline; {result.metrics['n_decisions']} decisions")
    print(f"seed-style pandas loop: {t_base:.1f} s  [{how}]")
    print(f"speed-up: {t_base / t_study:,.0f}x on the median study time "
          f"({t_base / min(times):,.0f}x on the fastest)  (target >= 1,000x; the original seed "
          "took 221 s for 100 coins x 1 year)")


if __name__ == "__main__":
    main()
