"""How far a whole-sample (look-ahead) bucket rule is from the point-in-time memberships."""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from coinfactor.risk._factors import FactorReturns, LiquidityMeasure, assign_buckets

__all__ = ["lookahead_mismatch"]


def lookahead_mismatch(factors: FactorReturns, panel: pl.DataFrame, *,
                       liquidity: LiquidityMeasure = "trades") -> dict[str, float]:
    """Share of (coin, bar) memberships that a whole-sample ranking puts in another bucket.

    Seed 000 ranked coins once, with data from the whole sample, and applied those buckets to
    every bar: liquidity on the whole-sample mean of the measure, beta on the whole-sample
    ``cov(r, m) / var(m)``, momentum on the last bar's memberships. This compares that rule
    with the point-in-time memberships of :func:`coinfactor.risk.factor_returns`.

    Parameters
    ----------
    factors : FactorReturns
        From :func:`coinfactor.risk.factor_returns` on ``panel``.
    panel : pl.DataFrame
        The panel ``factors`` was built from (same rows: its grid places them).
    liquidity : {"trades", "notional"}, default "trades"
        The liquidity measure ``factors`` was built with.

    Returns
    -------
    dict of str to float
        Per family of ``factors``: the share (0..1) of assigned (coin, bar) memberships whose
        whole-sample bucket differs or is undefined; NaN when no membership is assigned.
    """
    ret = factors.asset_returns
    mkt = factors.returns.get_column("market").to_numpy()
    whole: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        if "liquidity" in factors.families:
            measure: str | pl.Expr = (
                "trades" if liquidity == "trades"
                else pl.coalesce("quote_volume", pl.col("volume") * pl.col("close")))
            vals = factors.grid.wide(panel, measure)
            whole["liquidity"] = assign_buckets(np.nanmean(vals, axis=0), factors.n_buckets)
        if "beta" in factors.families:
            ok = np.isfinite(ret) & np.isfinite(mkt)[:, None]
            n = ok.sum(axis=0)
            m = np.where(ok, mkt[:, None], 0.0)
            r = np.where(ok, ret, 0.0)
            dm = np.where(ok, m - m.sum(axis=0) / n, 0.0)
            dr = np.where(ok, r - r.sum(axis=0) / n, 0.0)
            whole["beta"] = assign_buckets((dr * dm).sum(axis=0) / (dm * dm).sum(axis=0),
                                           factors.n_buckets)
    last = factors.memberships.filter(pl.col("ts") == pl.col("ts").max())
    out: dict[str, float] = {}
    for fam in factors.families:
        if fam == "momentum":
            ref = last.select("symbol", pl.col(fam).alias("whole"))
        else:
            ref = pl.DataFrame({"symbol": list(factors.grid.symbols),
                                "whole": whole[fam]}).with_columns(
                pl.when(pl.col("whole") >= 0).then(pl.col("whole")))
        joined = factors.memberships.select("symbol", fam).drop_nulls().join(ref, on="symbol")
        differ = joined.filter(pl.col("whole").is_null() | (pl.col(fam) != pl.col("whole")))
        out[fam] = differ.height / joined.height if joined.height else math.nan
    return out
