"""HedgeBasket: the Gram-form QP against direct cvxpy, funding sign, caps, truncation, policies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cvxpy as cp
import numpy as np
import polars as pl
import pytest

from coinfactor.backtest import Fees, backtest
from coinfactor.core.errors import ConfigError, DataError, OptimizationError
from coinfactor.data import validate_panel
from coinfactor.portfolio import HedgeBasket, HedgeBasketResult
from coinfactor.portfolio._hedge import _fallback_weights
from coinfactor.portfolio._hedge_qp import GramStats, solve_tracking_qp
from coinfactor.risk import PCA

START = datetime(2025, 1, 1, tzinfo=UTC)


def _direct(R, r, *, scale, f, lam, lo, hi, prev=None, kappa=0.0):
    """Reference: the seed's problem written on the T x n data directly, solved by Clarabel."""
    w = cp.Variable(R.shape[1])
    obj = scale * cp.sum_squares(R @ w - r) + lam * (f @ w)
    if prev is not None and kappa > 0:
        obj = obj + kappa * cp.norm1(w - prev)
    cp.Problem(cp.Minimize(obj), [cp.sum(w) == 1, w >= lo, w <= hi]).solve(
        solver="CLARABEL", tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)
    return np.asarray(w.value)


def _problem(seed: int, n: int = 10, t: int = 250, clean: str = "none"):
    rng = np.random.default_rng(seed)
    m = rng.normal(0, 0.02, (t, 1))
    R = m @ rng.uniform(0.5, 1.5, (1, n)) + rng.normal(0, 0.01, (t, n))
    r = R[:, :3].mean(axis=1) * 1.3 + rng.normal(0, 0.01, t)
    if clean != "none":
        res = PCA(1).fit(R)
        R = res.clean(R, n_components=1, mode="keep" if clean == "top_k" else "remove")
    f = rng.normal(0, 0.2, n)
    return R, r, f


CASES = [
    # (seed, clean, mode, lam, kappa): rank-deficient ones are PCA-cleaned (top-1 kept has
    # rank <= 2; top-1 removed has rank n-1)
    (0, "none", "long_only", 0.1, 0.0),
    (1, "none", "long_only", 0.0, 0.0),
    (2, "none", "long_short", 0.1, 0.0),
    (3, "none", "long_only", 0.1, 0.05),
    (4, "top_k", "long_only", 0.1, 0.0),
    (5, "top_k", "long_short", 0.2, 0.0),
    (6, "residual", "long_only", 0.1, 0.0),
    (7, "residual", "long_only", 0.1, 0.02),
]


@pytest.mark.parametrize(("seed", "clean", "mode", "lam", "kappa"), CASES,
                         ids=[f"{c[1]}-{c[2]}-lam{c[3]}-k{c[4]}" for c in CASES])
@pytest.mark.parametrize("solver", ["CLARABEL", "OSQP"])
def test_gram_qp_equals_direct_cvxpy(seed, clean, mode, lam, kappa, solver) -> None:
    R, r, f = _problem(seed, clean=clean)
    n = R.shape[1]
    if clean == "top_k":
        assert np.linalg.matrix_rank(R.T @ R) <= 2
    hi = np.full(n, 0.35)
    lo = -hi if mode == "long_short" else np.zeros(n)
    prev = np.full(n, 1 / n) if kappa else None
    scale = 8760 / len(r)
    sol = solve_tracking_qp(GramStats.from_returns(R, r), scale=scale, funding_cost=f,
                            lambda_funding=lam, lower=lo, upper=hi, previous=prev,
                            turnover_penalty=kappa, solver=solver)
    ref = _direct(R, r, scale=scale, f=f, lam=lam, lo=lo, hi=hi, prev=prev, kappa=kappa)
    assert sol.status == "optimal"
    assert sol.weights is not None
    np.testing.assert_allclose(sol.weights, ref, atol=1e-6)
    assert sol.weights.sum() == pytest.approx(1.0, abs=1e-8)
    assert (sol.weights >= lo - 1e-12).all() and (sol.weights <= hi + 1e-12).all()


def _panel(seed: int = 0, n_bars: int = 600, funding: dict[str, float] | None = None,
           volume: dict[str, float] | None = None, drop: dict[str, list[int]] | None = None):
    """Synthetic hourly panel: T (target) = mix of A..E plus noise; per-symbol funding/volume."""
    rng = np.random.default_rng(seed)
    names = ["A", "B", "C", "D", "E"]
    m = rng.normal(0, 0.01, n_bars)
    rets = {s: m * (0.6 + 0.2 * i) + rng.normal(0, 0.006, n_bars) for i, s in enumerate(names)}
    rets["T"] = 0.5 * rets["A"] + 0.3 * rets["B"] + 0.2 * rets["C"] + rng.normal(0, .004, n_bars)
    rows = []
    for s, r in rets.items():
        close = 100 * np.cumprod(1 + r)
        for i in range(n_bars):
            if drop and i in drop.get(s, []):
                continue
            c = float(close[i])
            rows.append({
                "ts": START + timedelta(hours=i), "symbol": s, "open": c, "high": c, "low": c,
                "close": c, "volume": (volume or {}).get(s, 1e6) / c,
                "funding_rate": (funding or {}).get(s, 0.0),
            })
    return validate_panel(pl.DataFrame(rows).sort("symbol", "ts"))


def _returns_by_hand(panel: pl.DataFrame, at: datetime, bars: int, names: list[str]):
    """Naive per-symbol loop: simple returns of consecutive present bars in the window."""
    cols = {}
    for s in names:
        sub = panel.filter((pl.col("symbol") == s) & (pl.col("ts") <= at)).sort("ts")
        close = dict(zip(sub["ts"].to_list(), sub["close"].to_list(), strict=True))
        out = []
        for i in range(bars):
            t = at - timedelta(hours=bars - 1 - i)
            p1, p0 = close.get(t), close.get(t - timedelta(hours=1))
            out.append(np.nan if p1 is None or p0 is None else p1 / p0 - 1)
        cols[s] = out
    return cols


def test_fit_matches_direct_cvxpy_on_panel() -> None:
    """End to end: returns, funding annualisation and caps rebuilt by hand, solved directly."""
    fund = {"A": 2e-5, "B": -1e-5, "C": 3e-5, "D": 0.0, "E": 1e-5}
    vol = {"A": 2e6, "B": 5e6, "C": 1e6, "D": 8e6, "E": 3e6}
    panel = _panel(1, funding=fund, volume=vol, drop={"D": [550]})
    at = START + timedelta(hours=590)
    hb = HedgeBasket("T", lookback="10d", volume_lookback="2d", basket_usd=1e6,
                     max_volume_share=0.1, lambda_funding=0.2, min_daily_volume_usd=0,
                     min_coverage=0.9)
    res = hb.fit(panel, at)
    names = ["A", "B", "C", "D", "E"]
    cols = _returns_by_hand(panel, at, 240, ["T", *names])
    block = np.column_stack([cols[s] for s in ["T", *names]])
    ok = ~np.isnan(block).any(axis=1)
    assert res.n_obs == ok.sum() == 240 - 2  # the gap in D removes two returns
    # hourly notional = volume * close = vol[s]; daily = 24 * that
    caps = np.array([0.1 * 24 * vol[s] / 1e6 for s in names])
    np.testing.assert_allclose(res.caps, np.minimum(caps, 1.0))
    F = np.array([fund[s] * 8760 for s in names])
    np.testing.assert_allclose(res.funding_annual, F, rtol=1e-12)
    ref = _direct(block[ok, 1:], block[ok, 0], scale=8760 / ok.sum(), f=-F, lam=0.2,
                  lo=np.zeros(5), hi=np.minimum(caps, 1.0))
    assert res.symbols == tuple(names)
    np.testing.assert_allclose(res.weights, ref, atol=1e-6)
    basket = block[ok, 1:] @ res.weights
    assert res.correlation == pytest.approx(np.corrcoef(basket, block[ok, 0])[0, 1])
    assert res.tracking_error == pytest.approx(
        np.std(block[ok, 0] - basket, ddof=1) * np.sqrt(8760))
    assert res.expected_funding == pytest.approx(res.weights @ F)
    np.testing.assert_allclose(res.volume_share, res.weights * 1e6 / (24 * np.array(
        [vol[s] for s in names])))
    assert "hedge basket for T" in res.summary()


def test_funding_sign_rewards_shorts_that_receive_funding() -> None:
    """B tracks T as well as C but only C's shorts are paid (funding > 0: longs pay).

    λ = 0 splits by tracking; a large λ moves the basket to C. The backtest (issue-6, an
    independent implementation of the DESIGN.md funding sign) books the short basket's
    funding as income.
    """
    rng = np.random.default_rng(3)
    n = 500
    common = rng.normal(0, 0.01, n)
    rets = {"T": common, "B": common + rng.normal(0, 0.004, n),
            "C": common + rng.normal(0, 0.004, n)}
    rows = []
    for s, r in rets.items():
        close = 100 * np.cumprod(1 + r)
        for i in range(n):
            c = float(close[i])
            rows.append({"ts": START + timedelta(hours=i), "symbol": s, "open": c, "high": c,
                         "low": c, "close": c, "volume": 1e9 / c,
                         "funding_rate": 5e-5 if s == "C" else 0.0})
    panel = validate_panel(pl.DataFrame(rows).sort("symbol", "ts"))
    at = START + timedelta(hours=n - 1)
    kw = dict(lookback="20d", min_daily_volume_usd=0, max_volume_share=1.0, basket_usd=1e6)
    w0 = HedgeBasket("T", lambda_funding=0.0, **kw).fit(panel, at).as_dict()
    w1 = HedgeBasket("T", lambda_funding=1.0, **kw).fit(panel, at)
    assert 0.3 < w0["C"] < 0.7  # tracking alone: a near-even split
    assert w1.as_dict()["C"] == pytest.approx(1.0, abs=1e-6)
    assert w1.expected_funding == pytest.approx(5e-5 * 8760, rel=1e-6)
    # the opposite sign: C's longs receive funding, so a short basket avoids C
    neg = panel.with_columns(pl.col("funding_rate") * -1)
    w2 = HedgeBasket("T", lambda_funding=1.0, **kw).fit(neg, at).as_dict()
    assert w2["C"] == pytest.approx(0.0, abs=1e-6)
    # the walk-forward book earns the funding in the backtester
    wf = HedgeBasket("T", lambda_funding=1.0, **kw).walk_forward(
        panel.filter(pl.col("ts") <= at), [START + timedelta(hours=400)])
    book = wf.positions()
    # issue 15: costs=Fees(0.0) replaces fee_bps=0.0. Rebalanced back to the book at every
    # bar (free), the weights stay at -1 in C over the 99 held bars: funding 5e-5 x 99
    every = backtest(panel, book, costs=Fees(0.0), rebalance="every_bar")
    assert every.nav["ret_funding"].sum() == pytest.approx(5e-5 * 99, rel=1e-6)
    # held without rebalancing, the book drifts: a naive loop of DESIGN.md's accounting
    # (w <- w (1 + r) / (1 + pnl)) gives the funding earned bar by bar
    bt = backtest(panel, book, costs=Fees(0.0))
    wide = panel.pivot(on="symbol", index="ts", values="close").sort("ts")
    t0 = START + timedelta(hours=400)
    w = {r["symbol"]: r["weight"] for r in book.iter_rows(named=True)}
    rate = {"T": 0.0, "B": 0.0, "C": 5e-5}
    expected = []
    for i in range(401, n):
        rets = {s: wide[s][i] / wide[s][i - 1] - 1.0 for s in w}
        fund = -sum(w[s] * rate[s] for s in w)
        pnl = sum(w[s] * rets[s] for s in w) + fund
        expected.append(fund)
        w = {s: w[s] * (1.0 + rets[s]) / (1.0 + pnl) for s in w}
    got = bt.nav.filter(pl.col("ts") > t0)["ret_funding"].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-18)
    assert 0.0 < sum(expected) != pytest.approx(5e-5 * 99, rel=1e-6)  # drift is visible


def test_truncation_fit_and_walk_forward() -> None:
    """A basket fitted at t is unchanged when data after t is removed (bit for bit)."""
    panel = _panel(2, funding={"A": 1e-5, "C": 2e-5}, drop={"E": [300, 301]})
    hb = HedgeBasket("T", lookback="7d", min_daily_volume_usd=0, lambda_funding=0.3,
                     turnover_penalty=0.01, min_coverage=0.9)
    sched = [START + timedelta(hours=h) for h in (200, 320, 440)]
    wf = hb.walk_forward(panel, sched, pca_components=2)
    prev = None
    for t, full in zip(sched, wf.results, strict=True):
        cut = panel.filter(pl.col("ts") <= t)
        # per-fit diagnostics equal the single-time methods on data cut at t
        assert wf.candidates.filter(pl.col("ts") == t).drop("ts").equals(
            hb.candidates(cut, t))
        assert wf.pca.filter(pl.col("ts") == t).drop("ts").equals(
            hb.pca_diagnostics(cut, t, n_components=2))
        direct = hb.fit(panel, t, previous=prev)
        trunc = hb.fit(cut, t, previous=prev)
        np.testing.assert_array_equal(direct.weights, trunc.weights)
        np.testing.assert_array_equal(full.weights, trunc.weights)
        assert full.correlation == trunc.correlation
        prev = trunc
    w = wf.weights()
    assert w.columns == ["ts", "symbol", "weight"]
    sums = w.group_by("ts").agg(pl.col("weight").sum())["weight"]
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-8)
    pos = wf.positions()
    assert pos.filter(pl.col("symbol") == "T")["weight"].to_list() == [1.0] * 3
    diag = wf.diagnostics()
    assert diag.height == 3 and (diag["action"] == "optimal").all()
    detail = wf.basket()
    assert detail.select("ts", "symbol", "weight").equals(w.sort("ts", "symbol"))


def test_volume_caps_bind_and_long_short_bounds() -> None:
    vol = {"A": 1e5, "B": 1e5, "C": 1e7, "D": 1e7, "E": 1e7}
    panel = _panel(4, volume=vol)
    at = START + timedelta(hours=400)
    hb = HedgeBasket("T", lookback="7d", basket_usd=1e6, max_volume_share=0.05,
                     min_daily_volume_usd=0)
    res = hb.fit(panel, at)
    cap_a = 0.05 * 24 * 1e5 / 1e6
    assert res.as_dict()["A"] <= cap_a + 1e-9
    assert res.as_dict()["A"] == pytest.approx(cap_a, abs=1e-7)  # binding: A tracks T best
    assert (res.volume_share <= 0.05 + 1e-9).all()
    ls = HedgeBasket("T", lookback="7d", basket_usd=1e6, max_volume_share=0.05,
                     min_daily_volume_usd=0, mode="long_short").fit(panel, at)
    assert (np.abs(ls.weights) <= ls.caps + 1e-9).all()
    assert ls.weights.sum() == pytest.approx(1.0, abs=1e-8)


def test_candidate_filters() -> None:
    vol = {"A": 1e5, "B": 1e6, "C": 1e6, "D": 1e6, "E": 1e6}
    panel = _panel(5, volume=vol, drop={"C": list(range(100, 160))})
    at = START + timedelta(hours=300)
    hb = HedgeBasket("T", lookback="7d", min_daily_volume_usd=5e6, min_coverage=0.9,
                     exclude=("E",), universe=("A", "B", "C", "E"))
    table = hb.candidates(panel, at)
    reasons = dict(zip(table["symbol"], table["reason"], strict=True))
    assert reasons == {"A": "volume", "B": "ok (no open interest)", "C": "coverage",
                       "D": "not in universe", "E": "excluded"}
    assert table["daily_volume_usd"][1] == pytest.approx(24e6)
    oi = panel.with_columns(open_interest=pl.when(pl.col("symbol") == "B").then(1e6)
                            .otherwise(5e7))
    assert dict(zip(*hb.candidates(oi, at)[["symbol", "reason"]], strict=True))["B"] == (
        "open interest")
    diag = hb.pca_diagnostics(panel, at, n_components=1)
    assert diag.columns == ["component", "explained_variance_ratio", "r2_target",
                            "corr_target"]
    assert diag["explained_variance_ratio"][0] == pytest.approx(1.0)  # one candidate left


def test_fallback_weights_is_projection() -> None:
    """Reference: cvxpy projection of equal weights onto {Σw = 1, 0 ≤ w ≤ cap}."""
    caps = np.array([0.05, 0.5, 0.1, 0.9, 0.3])
    w = cp.Variable(5)
    cp.Problem(cp.Minimize(cp.sum_squares(w - 0.2)), [cp.sum(w) == 1, w >= 0, w <= caps]).solve(
        solver="CLARABEL")
    np.testing.assert_allclose(_fallback_weights(caps), w.value, atol=1e-7)


def test_failure_policies() -> None:
    panel = _panel(6)
    at = START + timedelta(hours=300)
    kw = dict(lookback="7d", min_daily_volume_usd=0, basket_usd=1e9)  # caps sum to 0.06
    with pytest.raises(OptimizationError, match="caps sum"):
        HedgeBasket("T", **kw).fit(panel, at)
    with pytest.raises(OptimizationError, match="fully invested"):
        HedgeBasket("T", on_failure="fallback", **kw).fit(panel, at)
    with pytest.raises(OptimizationError, match="no previous"):
        HedgeBasket("T", on_failure="keep_previous", **kw).fit(panel, at)
    prev = {"A": 0.6, "B": 0.4}
    kept = HedgeBasket("T", on_failure="keep_previous", **kw).fit(panel, at, previous=prev)
    assert kept.action == "kept_previous" and kept.status == "infeasible_caps"
    assert kept.as_dict() == prev
    # too little data: DataError under "raise", equal weights under "fallback"
    short = dict(lookback="7d", min_daily_volume_usd=0, min_obs=1000)
    with pytest.raises(DataError, match="complete bars"):
        HedgeBasket("T", **short).fit(panel, at)
    fb = HedgeBasket("T", on_failure="fallback", **short).fit(panel, at)
    assert fb.action == "fallback" and fb.status == "insufficient_data"
    np.testing.assert_allclose(fb.weights, 0.2)
    # a walk-forward keeps the last good basket through a failure
    wf = HedgeBasket("T", lookback="7d", min_daily_volume_usd=0, on_failure="keep_previous",
                     min_obs=150).walk_forward(panel, [at, START + timedelta(hours=100)
                                                       + timedelta(days=30)])
    assert [r.action for r in wf.results] == ["optimal", "optimal"]


def test_solver_failure_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    from coinfactor.portfolio import _hedge
    from coinfactor.portfolio._hedge_qp import QPSolution

    monkeypatch.setattr(_hedge, "solve_tracking_qp",
                        lambda *a, **k: QPSolution(None, "solver_error: boom", float("nan")))
    panel = _panel(7)
    at = START + timedelta(hours=300)
    with pytest.raises(OptimizationError, match="boom"):
        HedgeBasket("T", min_daily_volume_usd=0).fit(panel, at)
    res = HedgeBasket("T", min_daily_volume_usd=0, on_failure="fallback").fit(panel, at)
    assert res.action == "fallback" and res.status.startswith("solver_error")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"mode": "short"}, "mode"), ({"pca_clean": "pc1"}, "pca_clean"),
    ({"basket_usd": 0.0}, "basket_usd"), ({"lambda_funding": -1.0}, "lambda_funding"),
    ({"min_coverage": 2.0}, "min_coverage"), ({"on_failure": "skip"}, "on_failure"),
    ({"min_obs": 1}, "min_obs"),
], ids=["mode=short", "pca_clean=pc1", "basket_usd=0.0", "lambda_funding=-1.0", "min_coverage=2.0",
        "on_failure=skip", "min_obs=1"])
def test_bad_settings(kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        HedgeBasket("T", **kwargs).fit(_panel(8, n_bars=50), START + timedelta(hours=40))


def test_bad_input() -> None:
    panel = _panel(9, n_bars=50)
    with pytest.raises(DataError, match="not in the panel"):
        HedgeBasket("ZZZ").fit(panel, START + timedelta(hours=40))
    with pytest.raises(DataError, match="no bar at or before"):
        HedgeBasket("T").fit(panel, START - timedelta(hours=1))
    with pytest.raises(ConfigError, match="timezone-aware"):
        HedgeBasket("T").fit(panel, datetime(2025, 1, 2))
    with pytest.raises(ConfigError, match="increasing"):
        HedgeBasket("T").walk_forward(panel, [START + timedelta(hours=5), START])


def test_result_is_immutable_and_repr() -> None:
    res = HedgeBasket("T", lookback="7d", min_daily_volume_usd=0).fit(
        _panel(10), START + timedelta(hours=300))
    assert isinstance(res, HedgeBasketResult)
    with pytest.raises(ValueError, match="read-only"):
        res.weights[0] = 1.0
    assert repr(HedgeBasket("T")).startswith("HedgeBasket('T', lookback='21d'")


def test_universe_from_market_snapshot() -> None:
    """A snapshot filtered by issue-4's universe.snapshot_filter restricts the candidates."""
    from coinfactor.universe import snapshot_filter

    snap = pl.DataFrame({
        "symbol": ["A", "B", "C", "D", "E", "T"],
        "volume_24h_usd": [5e7, 5e7, 1e6, 5e7, 5e7, 5e7],
        "open_interest_usd": [2e7, 2e7, 2e7, 5e6, 2e7, 2e7],
        "max_leverage": [10.0, 3.0, 10.0, 10.0, 10.0, 10.0],
    })
    keep = snapshot_filter(snap, min_volume_usd=5e6, min_open_interest_usd=1e7,
                           min_max_leverage=5, exclude=["T"])
    universe = tuple(keep.filter("in_universe")["symbol"])
    assert universe == ("A", "E")
    res = HedgeBasket("T", lookback="7d", min_daily_volume_usd=0, universe=universe,
                      basket_usd=1e6).fit(
        _panel(11), START + timedelta(hours=300))
    assert res.symbols == ("A", "E")
    assert res.weights.sum() == pytest.approx(1.0, abs=1e-8)


def test_renaming_symbols_permutes_the_basket() -> None:
    """Metamorphic: renaming symbols (which reorders the columns) leaves each name's weight
    unchanged; tolerance 1e-7 because the solver sees permuted matrices (rounding differs)."""
    panel = _panel(12, funding={"A": 1e-5, "D": 3e-5})
    at = START + timedelta(hours=400)
    names = {"A": "Z", "B": "Y", "C": "X", "D": "W", "E": "V", "T": "T"}
    renamed = validate_panel(panel.with_columns(pl.col("symbol").replace(names))
                             .sort("symbol", "ts"))
    hb = HedgeBasket("T", lookback="7d", min_daily_volume_usd=0, lambda_funding=0.2)
    a = hb.fit(panel, at).as_dict()
    b = hb.fit(renamed, at).as_dict()
    for s, w in a.items():
        assert b[names[s]] == pytest.approx(w, abs=1e-7)
