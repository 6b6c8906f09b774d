"""Oracle test of ``analytics.summary`` from a result's dense weights (the frame path)."""

from __future__ import annotations

import numpy as np
import polars as pl

from support.random_panels import ragged_daily_panel


def test_summary_from_the_dense_weights_equals_the_frame_path() -> None:
    """Reference: analytics.summary fed the result's long weights frame explicitly."""
    from coinfactor.analytics import summary
    from coinfactor.backtest import Fees, HalfSpread, backtest

    panel = ragged_daily_panel(seed=9, filled=True)
    rng = np.random.default_rng(2)
    ts = panel.get_column("ts").unique().sort()
    rows = [{"ts": t, "symbol": s, "weight": float(rng.normal(0, 0.2))}
            for t in ts.to_list()[5::3] for s in ("S01", "S03", "S07", "S20")
            if rng.random() < 0.7]
    # issue 15: ``costs=`` replaces fee_bps / half_spread; the random panel has null funding
    # on purpose, accepted as 0 here (the point is the two summary paths)
    res = backtest(panel, pl.DataFrame(rows), costs=Fees(5.0) + HalfSpread(5e-4),
                   funding_missing="zero")
    fast = summary(res)
    slow = summary(res, weights=res.weights.clone())
    assert fast == slow
    mat = res.weight_matrix()
    assert mat.shape == (res.nav.height, res.weights["symbol"].n_unique())
