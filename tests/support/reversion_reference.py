"""Independent references for the reversion study tests: test panels and naive per-date loops.

Nothing here imports the study's helpers: decision instants come from ``zoneinfo`` datetimes,
anchor bars from a scan of the bar grid, forward returns from per-bar walks in plain Python.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from coinfactor.data import validate_panel

SPRING = datetime(2025, 3, 3, tzinfo=UTC)  # New York springs forward on 2025-03-09
AUTUMN = datetime(2025, 10, 27, tzinfo=UTC)  # ... and falls back on 2025-11-02


def dst_panel(
    start: datetime,
    days: int,
    *,
    symbols: tuple[str, ...] = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF"),
    step: timedelta = timedelta(hours=4),
    seed: int = 7,
    holes: bool = True,
) -> pl.DataFrame:
    """Random-walk panel with funding every other bar, missing bars and a filled bar.

    Holes: random single missing bars, one multi-bar gap, a late listing, an early delisting,
    one bar flagged ``filled`` (present but not a real price).
    """
    rng = np.random.default_rng(seed)
    n = int(days * timedelta(days=1) / step)
    rows = []
    for j, sym in enumerate(symbols):
        close = 10.0 * (j + 1) * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
        opn = np.concatenate([[close[0]], close[:-1]]) * np.exp(rng.normal(0, 0.002, n))
        vol = rng.uniform(50, 150, n)
        keep = np.ones(n, dtype=bool)
        if holes:
            keep &= rng.uniform(size=n) > 0.04
            if j == 1:
                keep[n // 3 : n // 3 + 9] = False
            if j == 2:
                keep[: n // 4] = False  # late listing
            if j == 3:
                keep[3 * n // 4 :] = False  # delisting
        for i in range(n):
            if not keep[i]:
                continue
            hi = max(opn[i], close[i]) * (1 + abs(rng.normal(0, 0.005)))
            lo = min(opn[i], close[i]) * (1 - abs(rng.normal(0, 0.005)))
            rows.append({
                "ts": start + i * step, "symbol": sym, "open": float(opn[i]), "high": float(hi),
                "low": float(lo), "close": float(close[i]), "volume": float(vol[i]),
                "quote_volume": float(vol[i] * close[i] * rng.uniform(0.99, 1.01)),
                "trades": 10,
                "funding_rate": float(rng.normal(1e-4, 2e-4)) if i % 2 == 1 else None,
                "filled": bool(holes and j == 4 and i == n // 2),
            })
    return validate_panel(pl.DataFrame(rows).sort("symbol", "ts"))


def naive_decisions(first: date, last: date, hour: int, tz: str) -> list[datetime]:
    """One UTC decision per local date, via zoneinfo (fold=0 for gap and fold times)."""
    out = []
    d = first
    while d <= last:
        local = datetime(d.year, d.month, d.day, hour, tzinfo=ZoneInfo(tz))
        out.append(local.astimezone(UTC))
        d += timedelta(days=1)
    return out


def naive_anchor(grid: list[datetime], decision: datetime, step: timedelta) -> datetime | None:
    """The last grid bar whose close (open + step) is at or before the decision."""
    best = None
    for g in grid:
        if g + step <= decision:
            best = g
    return best


def naive_cross_section(
    panel: pl.DataFrame, *, hour: int, tz: str, step: timedelta, feature_fn
) -> list[dict]:
    """Per-date, per-symbol loop: anchor, entry close, features, forward returns.

    ``feature_fn(history, anchor)`` gets the symbol's real bars with ts <= anchor (list of row
    dicts in time order) and returns a dict of features.
    """
    rows = panel.to_dicts()
    by_sym: dict[str, dict[datetime, dict]] = {}
    for r in rows:
        by_sym.setdefault(r["symbol"], {})[r["ts"]] = r
    t0 = min(r["ts"] for r in rows)
    t1 = max(r["ts"] for r in rows)
    # The bar grid continues past the data: a decision whose last closed bar lies beyond the
    # last bar of the panel is not made (its anchor bar is not known yet).
    grid = []
    g = t0
    while g <= t1 + timedelta(days=3):
        grid.append(g)
        g += step
    first = t0.astimezone(ZoneInfo(tz)).date()
    last = (t1 + step).astimezone(ZoneInfo(tz)).date()
    decisions = []
    for d in naive_decisions(first, last, hour, tz):
        a = naive_anchor(grid, d, step)
        if a is None or a > t1 or (decisions and decisions[-1][1] == a):
            continue
        decisions.append((d, a))
    out = []
    for k, (d, a) in enumerate(decisions):
        nxt = decisions[k + 1][1] if k + 1 < len(decisions) else None
        for sym in sorted(by_sym):
            bars = by_sym[sym]
            real = {t: r for t, r in bars.items() if not r.get("filled")}
            if a not in real:
                continue
            history = [real[t] for t in sorted(real) if t <= a]
            rec = {"decision": d, "anchor": a, "symbol": sym, "close": real[a]["close"]}
            rec.update(feature_fn(history, a))
            price = funding = None
            if nxt is not None:
                t = a
                ok = True
                fsum = 0.0
                while t <= nxt:
                    if t not in real:
                        ok = False
                        break
                    if t > a and real[t]["funding_rate"] is not None:
                        fsum += real[t]["funding_rate"]
                    t += step
                if ok:
                    price = real[nxt]["close"] / real[a]["close"] - 1.0
                    funding = fsum
            rec["fwd_price_return"] = price
            rec["fwd_funding"] = funding
            out.append(rec)
    return out


def close_equal(a: float | None, b: float | None, rel: float = 1e-12) -> bool:
    """Both missing, or both finite and equal to ``rel`` (float summation order differs)."""
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        return (a is None or math.isnan(a)) and (b is None or math.isnan(b))
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-15)


def naive_features(history: list[dict], anchor: datetime, step: timedelta,
                   window: int) -> dict[str, float | None]:
    """Seed-001 features done right, straight from their definitions, on one coin's history.

    ``history``: the coin's real bars with ts <= anchor, in time order. Bar-based features
    (VWAP distance, average notional) need the ``window`` bars ending at the anchor; return-based
    ones (rolling return, realized vol, Sharpe proxy) need the ``window`` bar returns ending at
    the anchor, i.e. ``window + 1`` consecutive bars. A missing bar in the window voids it.
    """
    by_ts = {r["ts"]: r for r in history}
    bars = [by_ts.get(anchor - i * step) for i in range(window, -1, -1)]  # window + 1 bars
    ppy = timedelta(days=365) / step
    out: dict[str, float | None] = dict.fromkeys(
        ("vwap_distance", "avg_notional", "rolling_return", "realized_vol", "sharpe_proxy"))
    last = bars[1:]
    if all(b is not None for b in last):
        vol = sum(b["volume"] for b in last)
        pv = sum((b["high"] + b["low"] + b["close"]) / 3.0 * b["volume"] for b in last)
        out["vwap_distance"] = last[-1]["close"] / (pv / vol) - 1.0 if vol > 0 else None
        notional = [b["quote_volume"] if b["quote_volume"] is not None
                    else b["volume"] * b["close"] for b in last]
        out["avg_notional"] = sum(notional) / window
    if all(b is not None for b in bars):
        closes = [b["close"] for b in bars]
        logs = [math.log(closes[i] / closes[i - 1]) for i in range(1, len(closes))]
        simple = [closes[i] / closes[i - 1] - 1.0 for i in range(1, len(closes))]
        out["rolling_return"] = closes[-1] / closes[0] - 1.0
        out["realized_vol"] = math.sqrt(sum(x * x for x in logs) / window * ppy)
        mean = sum(simple) / window
        var = sum((x - mean) ** 2 for x in simple) / (window - 1)
        flat = var <= 1e-12 * sum(x * x for x in simple) / window
        out["sharpe_proxy"] = None if flat else mean / math.sqrt(var) * math.sqrt(ppy)
    return out
