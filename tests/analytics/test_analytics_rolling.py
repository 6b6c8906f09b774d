"""Rolling statistics against naive numpy loops; funding summary against a hand computation."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from coinfactor import analytics as an
from coinfactor.core.errors import DataError


def _frame(n: int = 120, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 0.02, n)
    b = 0.5 * a + rng.normal(0, 0.02, n)
    a[[10, 40]] = np.nan
    return pl.DataFrame({
        "ts": [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=i) for i in range(n)],
        "ret": a, "b": b,
    })


def test_rolling_stats_equal_naive_loop() -> None:
    """Reference: np.std(ddof=1) / np.mean per window; windows with a NaN are null."""
    f = _frame()
    w, ppy = 20, 365.0
    out = an.rolling_stats(f, window=w, periods_per_year=ppy)
    assert out.equals(an.rolling_stats(f, window=w, freq="1d"))  # freq, or inferred from ts
    assert out.equals(an.rolling_stats(f, window=w))
    r = f["ret"].to_numpy()
    for i in range(f.height):
        win = r[max(0, i - w + 1): i + 1]
        vol, sh = out["rolling_vol"][i], out["rolling_sharpe"][i]
        if i < w - 1 or np.isnan(win).any():
            assert vol is None and sh is None
        else:
            sd = np.std(win, ddof=1)
            assert vol == pytest.approx(sd * math.sqrt(ppy), rel=1e-9)
            assert sh == pytest.approx(np.mean(win) / sd * math.sqrt(ppy), rel=1e-9)


def test_rolling_correlation_equal_naive_loop() -> None:
    """Reference: np.corrcoef per window."""
    f = _frame()
    w = 30
    out = an.rolling_correlation(f, "ret", "b", window=w)
    a, b = f["ret"].to_numpy(), f["b"].to_numpy()
    for i in range(f.height):
        sa, sb = a[max(0, i - w + 1): i + 1], b[max(0, i - w + 1): i + 1]
        if i < w - 1 or np.isnan(sa).any():
            assert out["corr"][i] is None
        else:
            assert out["corr"][i] == pytest.approx(np.corrcoef(sa, sb)[0, 1], rel=1e-8)


def test_rolling_is_point_in_time() -> None:
    """Truncation: computing on data cut at T equals computing on all data at ts <= T."""
    f = _frame()
    cut = f.head(70)
    full = an.rolling_stats(f, window=15, freq="1d").head(70)
    assert an.rolling_stats(cut, window=15, freq="1d").equals(full)
    fc = an.rolling_correlation(f, "ret", "b", window=15).head(70)
    assert an.rolling_correlation(cut, "ret", "b", window=15).equals(fc)


def test_annualized_funding_by_hand() -> None:
    """Hand computation: mean per-bar funding x 8760 for hourly bars; ties ordered by symbol."""
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    rows = []
    for sym, rates in {"A": [1e-5, 3e-5, None], "B": [2e-5, 2e-5, 2e-5],
                       "C": [-1e-5, -1e-5, -1e-5]}.items():
        for i, r in enumerate(rates):
            rows.append({"ts": t0 + timedelta(hours=i), "symbol": sym, "funding_rate": r})
    panel = pl.DataFrame(rows).with_columns(pl.col("ts").dt.cast_time_unit("us"))
    out = an.annualized_funding(panel)
    assert out["symbol"].to_list() == ["A", "B", "C"]  # A and B tie at 2e-5/h
    np.testing.assert_allclose(out["funding_annual"].to_numpy(),
                               [2e-5 * 8760, 2e-5 * 8760, -1e-5 * 8760])


def test_rolling_bad_input() -> None:
    f = _frame()
    with pytest.raises(DataError, match="window"):
        an.rolling_stats(f, window=1, freq="1d")
    with pytest.raises(DataError, match="lacks"):
        an.rolling_correlation(f, "ret", "zzz", window=10)
    with pytest.raises(DataError, match="funding_rate"):
        an.annualized_funding(f)
