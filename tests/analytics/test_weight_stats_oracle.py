"""summary()'s weight statistics: the join-free scatter against a pivot-based reference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from coinfactor.analytics._metrics import _weight_stats


def _pivot_reference(weights: pl.DataFrame, nav_ts: pl.Series, years: float) -> dict[str, float]:
    """The previous implementation: polars pivot (sum), join onto the nav grid, NumPy stats."""
    wide = weights.pivot(on="symbol", index="ts", values="weight", aggregate_function="sum")
    grid = pl.concat([nav_ts.rename("ts"), wide["ts"]]).unique()
    wide = grid.to_frame().join(wide, on="ts", how="left").sort("ts")
    mat = np.nan_to_num(wide.drop("ts").to_numpy().astype(np.float64), nan=0.0)
    change = np.abs(np.diff(np.vstack([np.zeros((1, mat.shape[1])), mat]), axis=0)).sum(axis=1)
    gross = np.abs(mat).sum(axis=1)
    return {
        "annual_turnover": float(change.sum() / years),
        "gross_exposure_mean": float(gross.mean()),
        "gross_exposure_max": float(gross.max()),
        "net_exposure_mean": float(mat.sum(axis=1).mean()),
        "long_exposure_mean": float(np.clip(mat, 0, None).sum(axis=1).mean()),
        "short_exposure_mean": float(np.clip(mat, None, 0).sum(axis=1).mean()),
        "positions_mean": float((mat != 0).sum(axis=1).mean()),
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weight_stats_match_pivot_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    nav_ts = pl.Series("ts", [t0 + timedelta(days=i) for i in range(40)])
    rows = [
        {"ts": t0 + timedelta(days=int(d)), "symbol": f"S{int(s)}", "weight": float(w)}
        for d, s, w in zip(rng.integers(0, 40, 300), rng.integers(0, 12, 300),
                           rng.normal(0, 0.1, 300), strict=True)
    ]  # random (ts, symbol) pairs: gaps, nav bars without rows, and duplicated cells
    weights = pl.DataFrame(rows)
    assert weights.select(pl.struct("ts", "symbol").is_duplicated().any()).item()
    got = _weight_stats(weights, nav_ts, years=40 / 365)
    expected = _pivot_reference(weights, nav_ts, years=40 / 365)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key
