"""Each plot function returns a Figure whose artists hold the data they were given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from matplotlib._pylab_helpers import Gcf
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from coinfactor import analytics as an
from coinfactor import plots
from coinfactor.core.errors import DataError

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _nav(n: int = 100) -> pl.DataFrame:
    rng = np.random.default_rng(1)
    price = rng.normal(0.001, 0.02, n)
    funding = np.full(n, -0.0002)
    cost = -np.abs(rng.normal(0, 0.0005, n))
    ret = price + funding + cost
    return pl.DataFrame({
        "ts": [T0 + timedelta(days=i) for i in range(n)], "nav": np.cumprod(1 + ret),
        "ret": ret, "ret_price": price, "ret_funding": funding, "ret_cost": cost,
    })


def _weights() -> pl.DataFrame:
    return pl.DataFrame({
        "ts": [T0, T0, T0 + timedelta(days=1), T0 + timedelta(days=1)],
        "symbol": ["A", "B", "A", "B"], "weight": [0.6, -0.4, 0.3, -0.5],
    })


def _lines(fig: Figure, ax: int = 0) -> dict[str, np.ndarray]:
    return {str(line.get_label()): np.asarray(line.get_ydata(), dtype=float)
            for line in fig.axes[ax].get_lines() if not str(line.get_label()).startswith("_")}


def test_backend_untouched_and_figure_renders() -> None:
    fig = plots.plot_nav(_nav())
    assert isinstance(fig, Figure)
    fig.canvas.draw()  # renders on the Agg canvas without pyplot
    assert Gcf.get_num_fig_managers() == 0  # never registered with pyplot, so never shown


def test_nav_and_drawdown() -> None:
    nav = _nav()
    fig = plots.plot_nav(nav)
    # issue 15: NAV is in quote currency now, so plot_nav draws growth of 1 (nav / first nav)
    level = nav["nav"].to_numpy()
    np.testing.assert_array_equal(_lines(fig)["NAV"], level / level[0])
    usd = plots.plot_nav(nav.with_columns(pl.col("nav") * 1e6))  # any unit: the same curve
    np.testing.assert_allclose(_lines(usd)["NAV"], level / level[0], rtol=1e-14)
    fig = plots.plot_drawdown(nav)
    np.testing.assert_allclose(_lines(fig)["drawdown"], an.drawdown(nav["ret"]))
    assert any(isinstance(c, PolyCollection) for c in fig.axes[0].collections)


def test_rolling() -> None:
    nav = _nav()
    fig = plots.plot_rolling(nav, window=20, freq="1d")
    assert len(fig.axes) == 2
    ref = an.rolling_stats(nav, window=20, freq="1d")
    np.testing.assert_allclose(_lines(fig, 0)["volatility"],
                               ref["rolling_vol"].fill_null(np.nan).to_numpy())
    np.testing.assert_allclose(_lines(fig, 1)["Sharpe"],
                               ref["rolling_sharpe"].fill_null(np.nan).to_numpy())


def test_exposure() -> None:
    lines = _lines(plots.plot_exposure(_weights()))
    np.testing.assert_allclose(lines["gross"], [1.0, 0.8])  # hand: |.6|+|-.4|, |.3|+|-.5|
    np.testing.assert_allclose(lines["net"], [0.2, -0.2])
    np.testing.assert_allclose(lines["long"], [0.6, 0.3])
    np.testing.assert_allclose(lines["short"], [-0.4, -0.5])


def test_attribution() -> None:
    nav = _nav()
    lines = _lines(plots.plot_attribution(nav))
    assert set(lines) == {"price", "funding", "costs", "total"}
    np.testing.assert_allclose(lines["funding"], np.cumsum(nav["ret_funding"].to_numpy()))
    np.testing.assert_allclose(lines["price"] + lines["funding"] + lines["costs"],
                               lines["total"])


def test_quantile_returns_and_ic() -> None:
    table = pl.DataFrame({"quantile": [2, 1, 2, 1, 3], "mean_return": [0.01, -0.02, 0.03, 0.0,
                                                                         0.005]})
    fig = plots.plot_quantile_returns(table)
    heights = [p.get_height() for p in fig.axes[0].patches]
    np.testing.assert_allclose(heights, [-0.01, 0.02, 0.005])
    ic = pl.DataFrame({"ts": [T0 + timedelta(days=i) for i in range(50)],
                       "ic": np.linspace(-0.1, 0.1, 50)})
    fig = plots.plot_ic(ic, window=10)
    assert len(fig.axes[0].patches) == 50
    roll = _lines(fig)["10-period mean"]
    assert np.isnan(roll[:9]).all()
    assert roll[9] == pytest.approx(np.mean(np.linspace(-0.1, 0.1, 50)[:10]))


def test_exposures_and_cumulative() -> None:
    rows = [{"ts": T0 + timedelta(days=d), "symbol": s, "beta": b + d * 0.01, "r2": 0.5}
            for d in range(5) for s, b in (("A", 1.0), ("B", 2.0), ("C", 3.0))]
    exp = pl.DataFrame(rows)
    fig = plots.plot_exposures(exp, symbols=["A"])
    assert len(fig.axes) == 2
    lines = _lines(fig, 0)
    np.testing.assert_allclose(lines["median"], [2.0 + d * 0.01 for d in range(5)])
    np.testing.assert_allclose(lines["A"], [1.0 + d * 0.01 for d in range(5)])
    wide = pl.DataFrame({"ts": [T0 + timedelta(days=i) for i in range(3)],
                         "mkt": [0.1, None, -0.1], "hml": [0.0, 0.1, 0.1]})
    lines = _lines(plots.plot_cumulative(wide))
    np.testing.assert_allclose(lines["mkt"], [0.1, 0.1, 1.1 * 0.9 - 1])
    np.testing.assert_allclose(lines["hml"], [0.0, 0.1, 0.21])


def test_funding_by_coin() -> None:
    f = pl.DataFrame({"symbol": ["A", "B", "C", "D"], "funding_annual": [0.1, -0.2, 0.3, 0.0]})
    fig = plots.plot_funding_by_coin(f)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["C", "A", "D", "B"]
    np.testing.assert_allclose([p.get_height() for p in ax.patches], [0.3, 0.1, 0.0, -0.2])
    fig = plots.plot_funding_by_coin(f, top=2)
    np.testing.assert_allclose([p.get_height() for p in fig.axes[0].patches], [0.3, -0.2])


def test_rolling_correlation_and_bootstrap() -> None:
    corr = pl.DataFrame({"ts": [T0 + timedelta(hours=i) for i in range(4)],
                         "corr": [None, 0.2, 0.5, -0.1]})
    fig = plots.plot_rolling_correlation(corr)
    np.testing.assert_allclose(_lines(fig)["corr"], [np.nan, 0.2, 0.5, -0.1])
    assert fig.axes[0].get_ylim() == (-1.05, 1.05)
    rng = np.random.default_rng(0)
    samples = {"spot": rng.normal(0, 1, 500), "hedge": rng.normal(0.5, 1, 300)}
    fig = plots.plot_bootstrap(samples, bins=20, percentiles=(5, 95))
    ax = fig.axes[0]
    assert len(ax.containers) == 2
    assert sum(p.get_height() for p in ax.containers[0]) == 500
    assert sum(p.get_height() for p in ax.containers[1]) == 300
    xs = sorted(float(line.get_xdata()[0]) for line in ax.get_lines())
    np.testing.assert_allclose(xs, sorted([np.percentile(v, p) for v in samples.values()
                                           for p in (5, 95)]))


def test_plot_bad_input() -> None:
    with pytest.raises(DataError, match="nav"):
        plots.plot_nav(pl.DataFrame({"ts": [T0]}))
    with pytest.raises(DataError, match="empty"):
        plots.plot_nav(_nav().head(0))
    with pytest.raises(DataError, match="finite"):
        plots.plot_bootstrap({"a": np.array([np.nan])})
    with pytest.raises(DataError, match="numeric"):
        plots.plot_exposures(pl.DataFrame({"ts": [T0], "symbol": ["A"]}))
