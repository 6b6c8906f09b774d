"""Signals against naive per-row loops on ragged panels with gaps, and hand-computed cases.

Every rolling signal is recomputed here by a plain Python loop over the panel's rows that looks
up the window's bars by (symbol, ts) and gives up when one is missing (the documented window
rule): an independent reference for the wide-array kernels.
"""

from __future__ import annotations

import itertools
import math
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy import stats

from coinfactor import signals
from coinfactor.core.errors import ConfigError, DataError
from coinfactor.core.time import periods_per_year
from coinfactor.data import Grid
from support.panels import make_panel
from support.random_panels import lookup, ragged_panel

STEP = timedelta(hours=1)
PPY = periods_per_year("1h")
Row = dict


def _window(lk: dict, sym: str, ts: datetime, w: int, *, pairs: bool = False) -> list | None:
    """Rows of bars ts-(w-1)..ts oldest first (plus the bar before when pairs); None on a gap."""
    n = w + 1 if pairs else w
    rows = [lk.get((sym, ts - j * STEP)) for j in range(n)][::-1]
    return None if any(r is None for r in rows) else rows


def _naive(panel: pl.DataFrame, name: str, fn) -> pl.DataFrame:
    lk = lookup(panel)
    vals = [fn(lk, r["symbol"], r["ts"]) for r in panel.iter_rows(named=True)]
    return panel.select("ts", "symbol").with_columns(pl.Series(name, vals, dtype=pl.Float64))


def _assert_matches(got: pl.DataFrame, want: pl.DataFrame, name: str, rtol: float = 1e-9) -> None:
    assert got.select("ts", "symbol").equals(want.select("ts", "symbol"))
    g = got.get_column(name).to_numpy().astype(float)
    e = want.get_column(name).to_numpy().astype(float)
    np.testing.assert_array_equal(np.isnan(g), np.isnan(e))
    # prefix-sum kernels vs direct sums: agreement to rounding (relative 1e-9, abs 1e-12)
    np.testing.assert_allclose(g, e, rtol=rtol, atol=1e-12)
    assert (~np.isnan(e)).sum() > 10  # the comparison covers real values


def _ret(a: Row, b: Row) -> float:
    return b["close"] / a["close"] - 1.0


def _log_ret(a: Row, b: Row) -> float:
    return math.log(b["close"] / a["close"])


def _ref_returns(lk, s, t):
    rows = _window(lk, s, t, 1, pairs=True)
    return None if rows is None else _ret(*rows)


def _ref_log_returns(lk, s, t):
    rows = _window(lk, s, t, 1, pairs=True)
    return None if rows is None else _log_ret(*rows)


def _ref_rolling_return(w):
    def f(lk, s, t):
        rows = _window(lk, s, t, w, pairs=True)
        return None if rows is None else rows[-1]["close"] / rows[0]["close"] - 1.0
    return f


def _ref_momentum(windows):
    def f(lk, s, t):
        total = 0.0
        for w in windows:
            rows = _window(lk, s, t, w, pairs=True)
            if rows is None:
                return None
            total += sum(_ret(a, b) for a, b in itertools.pairwise(rows))
        return total
    return f


def _ref_vwap(w):
    def f(lk, s, t):
        rows = _window(lk, s, t, w)
        if rows is None:
            return None
        pv = sum((r["high"] + r["low"] + r["close"]) / 3 * r["volume"] for r in rows)
        v = sum(r["volume"] for r in rows)
        return None if v == 0 else rows[-1]["close"] / (pv / v) - 1.0
    return f


def _ref_vol(w):
    def f(lk, s, t):
        rows = _window(lk, s, t, w, pairs=True)
        if rows is None:
            return None
        r = [_log_ret(a, b) for a, b in itertools.pairwise(rows)]
        return math.sqrt(sum(x * x for x in r) * PPY / w)
    return f


def _ref_sharpe(w):
    def f(lk, s, t):
        rows = _window(lk, s, t, w, pairs=True)
        if rows is None:
            return None
        r = np.array([_ret(a, b) for a, b in itertools.pairwise(rows)])
        return r.mean() / r.std(ddof=1) * math.sqrt(PPY)
    return f


def _notional(r: Row) -> float:
    return r["quote_volume"] if r["quote_volume"] is not None else r["volume"] * r["close"]


def _ref_mean_of(key, w):
    def f(lk, s, t):
        rows = _window(lk, s, t, w)
        return None if rows is None else float(np.mean([key(r) for r in rows]))
    return f


def _ref_carry(w):
    def f(lk, s, t):
        rows = _window(lk, s, t, w)
        if rows is None or any(r["funding_rate"] is None for r in rows):
            return None
        return -float(np.mean([r["funding_rate"] for r in rows])) * PPY
    return f


def _ref_beta(panel: pl.DataFrame, w: int):
    lk = lookup(panel)
    rets: dict[datetime, list[float]] = {}
    for r in panel.iter_rows(named=True):
        x = _ref_returns(lk, r["symbol"], r["ts"])
        if x is not None:
            rets.setdefault(r["ts"], []).append(x)
    market = {t: float(np.mean(v)) for t, v in rets.items()}

    def f(lk, s, t):
        rows = _window(lk, s, t, w, pairs=True)
        if rows is None:
            return None
        y = [_ret(a, b) for a, b in itertools.pairwise(rows)]
        x = [market[b["ts"]] for b in rows[1:]]
        return stats.linregress(x, y).slope  # scipy OLS slope of the coin on the market
    return f


def _ref_cs(w):
    k = 3 - 2 * math.sqrt(2)

    def f(lk, s, t):
        rows = _window(lk, s, t, w, pairs=True)
        if rows is None:
            return None
        est = []
        for a, b in itertools.pairwise(rows):
            beta = math.log(a["high"] / a["low"]) ** 2 + math.log(b["high"] / b["low"]) ** 2
            gamma = math.log(max(a["high"], b["high"]) / min(a["low"], b["low"])) ** 2
            alpha = (math.sqrt(2 * beta) - math.sqrt(beta)) / k - math.sqrt(gamma / k)
            est.append(max(0.0, 2 * (math.exp(alpha) - 1) / (1 + math.exp(alpha))))
        return float(np.mean(est))
    return f


def _ref_ar(w):
    def f(lk, s, t):
        rows = _window(lk, s, t, w, pairs=True)
        if rows is None:
            return None
        terms = []
        for a, b in itertools.pairwise(rows):
            c = math.log(a["close"])
            eta_a = (math.log(a["high"]) + math.log(a["low"])) / 2
            eta_b = (math.log(b["high"]) + math.log(b["low"])) / 2
            terms.append(4 * (c - eta_a) * (c - eta_b))
        return math.sqrt(max(float(np.mean(terms)), 0.0))
    return f


CASES = [
    ("returns", {}, lambda p: _ref_returns),
    ("returns", {"kind": "log"}, lambda p: _ref_log_returns),
    ("rolling_return", {"window": 4}, lambda p: _ref_rolling_return(4)),
    ("momentum", {"windows": (1, 3, 5)}, lambda p: _ref_momentum((1, 3, 5))),
    ("vwap_distance", {"window": 4}, lambda p: _ref_vwap(4)),
    ("realized_vol", {"window": 5}, lambda p: _ref_vol(5)),
    ("sharpe_proxy", {"window": 6}, lambda p: _ref_sharpe(6)),
    ("avg_notional", {"window": 4}, lambda p: _ref_mean_of(_notional, 4)),
    ("liquidity", {"window": 3}, lambda p: _ref_mean_of(lambda r: r["trades"], 3)),
    ("liquidity", {"window": 3, "measure": "notional"}, lambda p: _ref_mean_of(_notional, 3)),
    ("funding_carry", {"window": 4}, lambda p: _ref_carry(4)),
    ("rolling_beta", {"window": 6}, lambda p: _ref_beta(p, 6)),
    ("half_range_spread", {"window": 3},
     lambda p: _ref_mean_of(lambda r: (r["high"] - r["low"]) / (r["high"] + r["low"]), 3)),
    ("corwin_schultz", {"window": 3}, lambda p: _ref_cs(3)),
    ("abdi_ranaldo", {"window": 3}, lambda p: _ref_ar(3)),
]


@pytest.mark.parametrize(
    ("name", "params", "ref"), CASES,
    ids=["-".join([c[0], *(f"{k}={v}" for k, v in c[1].items())]) for c in CASES],
)
@pytest.mark.parametrize("seed", [3, 11], ids=lambda seed: f"seed{seed}")
def test_signal_matches_naive_loop(name, params, ref, seed) -> None:
    panel = ragged_panel(seed, n_bars=50, gap_prob=0.08)
    got = signals.compute(name, panel, **params)
    want = _naive(panel, name, ref(panel))
    _assert_matches(got, want, name)


def test_every_registered_signal_has_a_naive_reference() -> None:
    assert {c[0] for c in CASES} == set(signals.available())


@pytest.mark.parametrize(
    ("name", "params"), [c[:2] for c in CASES],
    ids=["-".join([c[0], *(f"{k}={v}" for k, v in c[1].items())]) for c in CASES],
)
def test_array_form_melts_into_the_long_form(name, params) -> None:
    # Reference: the long form (itself checked against the naive loops above); the array
    # form melted by Grid.long must give it bit for bit.
    panel = ragged_panel(5, n_bars=50, gap_prob=0.08)
    grid = Grid.from_panel(panel)
    values = signals.compute_array(name, panel, grid, **params)
    assert values.shape == grid.shape
    assert grid.long({name: values}).equals(signals.compute(name, panel, **params))


def test_compute_array_rejects_unknown_names_and_parameters() -> None:
    panel = ragged_panel(5, n_bars=20)
    grid = Grid.from_panel(panel)
    with pytest.raises(ConfigError, match="unknown signal"):
        signals.compute_array("nope", panel, grid)
    with pytest.raises(ConfigError, match="unknown parameter"):
        signals.compute_array("vwap_distance", panel, grid, freq="1h")


# ---------------------------------------------------------------- hand-computed small cases


def test_returns_hand_case_never_across_gap(small_panel) -> None:
    out = signals.returns(small_panel).filter(pl.col("symbol") == "B")
    vals = out.get_column("returns").to_list()
    # B closes 10, 10.5, (gap at 02:00), 10.2, 10.4, 10.1: the 03:00 bar has no return
    assert vals[0] is None and vals[2] is None
    assert vals[1] == pytest.approx(0.05)
    assert vals[3:] == pytest.approx([10.4 / 10.2 - 1, 10.1 / 10.4 - 1])


def test_funding_carry_sign_and_units() -> None:
    """Longs pay 0.01% per hour -> carry = -0.0001 * 8760 = -0.876 a year; shorts-pay is +."""
    panel = make_panel(
        {"PAY": [1.0] * 4, "RCV": [1.0] * 4},
        funding={"PAY": [1e-4] * 4, "RCV": [-2e-4] * 4},
    )
    out = signals.funding_carry(panel, window=2)
    pay = out.filter(pl.col("symbol") == "PAY").get_column("funding_carry").to_list()
    rcv = out.filter(pl.col("symbol") == "RCV").get_column("funding_carry").to_list()
    assert pay[0] is None and pay[1:] == pytest.approx([-0.876] * 3)
    assert rcv[1:] == pytest.approx([1.752] * 3)


def test_funding_carry_is_interval_normalised() -> None:
    """8h settlement of 0.03% on 1h bars and on 8h bars give the same annualised carry."""
    hourly = make_panel({"X": [1.0] * 16}, funding={"X": ([0.0] * 7 + [3e-4]) * 2})
    eight = make_panel({"X": [1.0] * 2}, step=timedelta(hours=8), funding={"X": [3e-4] * 2})
    c1 = signals.funding_carry(hourly, window=8).get_column("funding_carry").to_list()[-1]
    c8 = signals.funding_carry(eight, window=1).get_column("funding_carry").to_list()[-1]
    assert c1 == pytest.approx(-3e-4 * 3 * 365)
    assert c8 == pytest.approx(-3e-4 * 3 * 365)


def test_vwap_distance_hand_case() -> None:
    """Two bars: typical prices 10 and 13 with volumes 1 and 3 -> VWAP 12.25, close 13."""
    panel = pl.DataFrame({
        "ts": [datetime(2024, 1, 1, h) for h in (0, 1)], "symbol": ["A", "A"],
        "open": [10.0, 12.0], "high": [11.0, 14.0], "low": [9.0, 12.0], "close": [10.0, 13.0],
        "volume": [1.0, 3.0],
    }).with_columns(pl.col("ts").dt.replace_time_zone("UTC"))
    out = signals.vwap_distance(panel, window=2, freq="1h").get_column("vwap_distance")
    assert out.to_list()[1] == pytest.approx(13 / 12.25 - 1)


def test_realized_vol_hand_case() -> None:
    """Log returns +ln(1.1), -ln(1.1): sqrt(2 ln(1.1)^2 * 365 / 2) on daily bars."""
    panel = make_panel({"A": [100.0, 110.0, 100.0]}, step=timedelta(days=1))
    out = signals.realized_vol(panel, window=2).get_column("realized_vol").to_list()
    assert out[:2] == [None, None]
    assert out[2] == pytest.approx(math.log(1.1) * math.sqrt(365))


def test_corwin_schultz_recovers_a_constant_spread() -> None:
    """No volatility: H = m(1 + S/2), L = m(1 - S/2) every bar -> the estimator returns S."""
    s, m = 0.01, 100.0
    panel = make_panel({"A": [m] * 4}).with_columns(
        pl.lit(m * (1 + s / 2)).alias("high"), pl.lit(m * (1 - s / 2)).alias("low")
    )
    out = signals.corwin_schultz(panel, window=2).get_column("corwin_schultz").to_list()
    assert out[:2] == [None, None]
    assert out[2:] == pytest.approx([s, s], rel=1e-12)


def test_abdi_ranaldo_hand_case() -> None:
    """Close at the high, unchanged mid-range: s^2 = 4 (ln H - eta)^2 = ln(H/L)^2."""
    panel = make_panel({"A": [101.0] * 3}).with_columns(
        pl.lit(101.0).alias("high"), pl.lit(99.0).alias("low"), pl.lit(101.0).alias("open")
    )
    out = signals.abdi_ranaldo(panel, window=2).get_column("abdi_ranaldo").to_list()
    assert out[2] == pytest.approx(math.log(101 / 99), rel=1e-12)


def test_half_range_spread_hand_case() -> None:
    panel = make_panel({"A": [100.0]}).with_columns(
        pl.lit(102.0).alias("high"), pl.lit(98.0).alias("low")
    )
    out = signals.half_range_spread(panel, freq="1h").get_column("half_range_spread")
    assert out.to_list() == pytest.approx([0.5 * 4 / 100])


def test_sharpe_proxy_flat_window_is_null() -> None:
    panel = make_panel({"A": [100.0 * 1.01**i for i in range(6)]})
    out = signals.sharpe_proxy(panel, window=3).get_column("sharpe_proxy")
    assert out.null_count() == 6  # constant returns: no dispersion


def test_avg_notional_uses_volume_times_close_without_quote_volume() -> None:
    panel = make_panel({"A": [10.0, 20.0]}).with_columns(
        pl.lit(None, dtype=pl.Float64).alias("quote_volume")
    )
    out = signals.avg_notional(panel, window=2).get_column("avg_notional").to_list()
    assert out == [None, pytest.approx((100 * 10 + 100 * 20) / 2)]


def test_min_periods_relaxes_the_window_rule(small_panel) -> None:
    strict = signals.avg_notional(small_panel, window=3)
    loose = signals.avg_notional(small_panel, window=3, min_periods=1)
    b = pl.col("symbol") == "B"
    # B: 10, 10.5, gap, 10.2, 10.4, 10.1 (notional = 100 * close); only 03..05 is complete
    assert strict.filter(b).get_column("avg_notional").to_list() == [
        None, None, None, None, pytest.approx((1020 + 1040 + 1010) / 3)]
    # B at 03:00: window 01:00..03:00 holds 10.5*100 and 10.2*100 (02:00 is a gap)
    assert loose.filter(b).get_column("avg_notional").to_list()[2] == pytest.approx(1035.0)


# ---------------------------------------------------------------- bad input


def test_unknown_signal_and_parameter() -> None:
    panel = make_panel({"A": [1.0, 2.0]})
    with pytest.raises(ConfigError, match="unknown signal"):
        signals.compute("nope", panel)
    with pytest.raises(ConfigError, match="unknown parameter"):
        signals.compute("returns", panel, window=3)
    with pytest.raises(ConfigError, match="kind"):
        signals.returns(panel, kind="pct")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="window"):
        signals.realized_vol(panel, window=0)
    with pytest.raises(ConfigError, match="min_periods"):
        signals.realized_vol(panel, window=3, min_periods=4)


def test_missing_columns_raise_data_error() -> None:
    panel = make_panel({"A": [1.0, 2.0]})
    with pytest.raises(DataError, match="funding_rate"):
        signals.funding_carry(panel.drop("funding_rate"))
    with pytest.raises(DataError, match="notional"):
        signals.liquidity(panel.with_columns(pl.lit(None, dtype=pl.Int64).alias("trades")))


def test_single_bar_panel_needs_freq() -> None:
    panel = make_panel({"A": [1.0]})
    with pytest.raises(DataError, match="freq"):
        signals.returns(panel)
    assert signals.returns(panel, freq="1h").get_column("returns").to_list() == [None]


def test_off_grid_bars_raise() -> None:
    panel = make_panel({"A": [1.0, 2.0, 3.0], "B": [1.0, 2.0, 3.0]})
    shifted = panel.with_columns(
        pl.when(pl.col("symbol") == "B").then(pl.col("ts") + timedelta(minutes=30))
        .otherwise(pl.col("ts")).alias("ts")
    )
    with pytest.raises(DataError, match="grid"):
        signals.returns(shifted, freq="1h")


@pytest.mark.parametrize("include_funding", [False, True], ids=["price", "funding"])
def test_forward_returns_match_naive_loop(include_funding: bool) -> None:
    """Reference: compound (1 + r - f) over bars t+1..t+h by lookup; null on any gap."""
    panel = ragged_panel(13, n_bars=50)
    got = signals.forward_returns(panel, (1, 4), include_funding=include_funding)
    for h in (1, 4):
        def ref(lk, s, t, h=h):
            rows = [lk.get((s, t + j * STEP)) for j in range(h + 1)]
            if any(r is None for r in rows):
                return None
            if include_funding and any(r["funding_rate"] is None for r in rows[1:]):
                return None
            growth = 1.0
            for a, b in itertools.pairwise(rows):
                growth *= 1 + _ret(a, b) - (b["funding_rate"] if include_funding else 0.0)
            return growth - 1
        col = signals.forward_return_column(h)
        _assert_matches(got.select("ts", "symbol", col), _naive(panel, col, ref), col)


def test_rolling_sum_kernel_matches_pandas_across_blocks() -> None:
    """The blocked prefix-sum kernel against pandas rolling sums, NaN gaps injected, on more
    rows than one block (4096), and bit-identical on a truncated array."""
    from coinfactor.rolling import rolling_sum

    rng = np.random.default_rng(0)
    x = rng.normal(size=(9000, 3)) * 1e6
    x[rng.random(x.shape) < 0.1] = np.nan
    for w in (1, 7, 5000):
        sums, counts = rolling_sum(x, w)
        df = pd.DataFrame(x)
        want_c = df.notna().astype(int).rolling(w, min_periods=1).sum().to_numpy()
        want_s = np.where(want_c == 0, 0.0, df.rolling(w, min_periods=1).sum().to_numpy())
        np.testing.assert_array_equal(counts, want_c)
        # sums of up to 9000 values of size 1e6: rounding of order 1e-6 absolute
        np.testing.assert_allclose(sums, want_s, rtol=1e-9, atol=1e-5)
        s_cut, c_cut = rolling_sum(x[:6000], w)
        assert np.array_equal(s_cut, sums[:6000]) and np.array_equal(c_cut, counts[:6000])


def test_filled_bar_is_never_a_price(small_panel) -> None:
    """A bar flagged filled gives no return on itself or on the next bar."""
    filled = small_panel.with_columns(
        ((pl.col("symbol") == "A") & (pl.col("ts").dt.hour() == 2)).alias("filled")
    )
    a = signals.returns(filled).filter(pl.col("symbol") == "A").get_column("returns").to_list()
    # A: 100, 101, [102 filled], 101, 103, 104
    assert a[0] is None and a[2] is None and a[3] is None
    assert a[1] == pytest.approx(0.01)
    assert a[4:] == pytest.approx([103 / 101 - 1, 104 / 103 - 1])


def test_forward_returns_bad_input() -> None:
    panel = make_panel({"A": [1.0, 2.0]})
    with pytest.raises(ConfigError, match="horizon"):
        signals.forward_returns(panel, ())
    with pytest.raises(ConfigError, match="distinct"):
        signals.forward_returns(panel, (1, 1))
    with pytest.raises(ConfigError, match="horizon"):
        signals.forward_returns(panel, (0,))
    with pytest.raises(DataError, match="funding_rate"):
        signals.forward_returns(panel.drop("funding_rate"), (1,), include_funding=True)


def test_momentum_and_rolling_return_hand_case() -> None:
    """Closes 100, 110, 99, 108.9: returns +10%, -10%, +10%.

    momentum(windows 1, 2) at the last bar = 0.10 + (-0.10 + 0.10) = 0.10;
    rolling_return(3) at the last bar = 108.9 / 100 - 1 = 0.089.
    """
    panel = make_panel({"A": [100.0, 110.0, 99.0, 108.9]})
    mom = signals.momentum(panel, windows=(1, 2)).get_column("momentum").to_list()
    assert mom[:2] == [None, None]
    assert mom[2] == pytest.approx(-0.10 + (0.10 - 0.10))
    assert mom[3] == pytest.approx(0.10)
    rr = signals.rolling_return(panel, window=3).get_column("rolling_return").to_list()
    assert rr[:3] == [None, None, None] and rr[3] == pytest.approx(0.089)


def test_rolling_beta_hand_case() -> None:
    """B's returns are 3x A's: the equal-weighted market is 2x A's -> betas 0.5 and 1.5."""
    ra = [0.01, -0.02, 0.015, 0.005]
    a, b = [100.0], [100.0]
    for r in ra:
        a.append(a[-1] * (1 + r))
        b.append(b[-1] * (1 + 3 * r))
    panel = make_panel({"A": a, "B": b})
    out = signals.rolling_beta(panel, window=4)
    last = out.filter(pl.col("ts") == pl.col("ts").max()).sort("symbol")
    assert last.get_column("rolling_beta").to_list() == pytest.approx([0.5, 1.5], rel=1e-9)


def test_liquidity_trades_hand_case() -> None:
    panel = make_panel({"A": [1.0, 1.0, 1.0]}).with_columns(
        pl.Series("trades", [10, 20, 60], dtype=pl.Int64)
    )
    out = signals.liquidity(panel, window=2).get_column("liquidity").to_list()
    assert out == [None, 15.0, 40.0]
