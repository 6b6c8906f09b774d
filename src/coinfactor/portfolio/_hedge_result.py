"""Immutable results of :class:`~coinfactor.portfolio.HedgeBasket`: one fit, a walk-forward."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import polars as pl

from coinfactor.core.typing import HedgeAction
from coinfactor.data import TS_DTYPE


def frozen_array(a: np.ndarray) -> np.ndarray:
    """Return a read-only float64 copy (result arrays cannot be changed in place)."""
    out = np.array(a, dtype=np.float64, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class HedgeBasketResult:
    """One fitted basket (immutable).

    Attributes
    ----------
    target : str
        The tracked (long) symbol.
    at : datetime
        Decision bar (its open time); the fit used bars with ts ``<= at``.
    symbols : tuple of str
        Basket names, sorted.
    weights : ndarray of shape (n_names,)
        Basket weights, summing to 1; the basket is shorted against the target.
    caps : ndarray of shape (n_names,)
        Upper bounds ``max_volume_share · daily_volume_usd / basket_usd`` (capped at 1 when
        long-only).
    daily_volume_usd : ndarray of shape (n_names,)
        Trailing mean daily notional, ``coalesce(quote_volume, volume·close)``.
    volume_share : ndarray of shape (n_names,)
        ``|w_i| · basket_usd / daily_volume_usd_i``.
    funding_annual : ndarray of shape (n_names,)
        Annualised mean funding rate over the lookback (``> 0``: longs pay, shorts receive).
    correlation : float
        In-sample correlation of the basket's and the target's raw returns.
    tracking_error : float
        Annualised standard deviation of ``r − R w`` in sample (raw returns).
    expected_funding : float
        ``Σ w_i F_i``: annualised funding income of the SHORT basket per unit of basket
        notional (``> 0``: the hedge is paid).
    status : str
        Solver status, or why no solve was possible (``"insufficient_data"``,
        ``"infeasible_caps"``).
    action : {"optimal", "kept_previous", "fallback"}
        What the weights come from (the failure policy's action).
    n_obs : int
        Complete bars in the fit window.
    objective : float
        Optimal objective value (NaN unless ``action == "optimal"``).
    """

    target: str
    at: datetime
    symbols: tuple[str, ...]
    weights: np.ndarray
    caps: np.ndarray
    daily_volume_usd: np.ndarray
    volume_share: np.ndarray
    funding_annual: np.ndarray
    correlation: float
    tracking_error: float
    expected_funding: float
    status: str
    action: HedgeAction
    n_obs: int
    objective: float = float("nan")

    def as_dict(self) -> dict[str, float]:
        """Symbol -> weight."""
        return dict(zip(self.symbols, (float(x) for x in self.weights), strict=True))

    def weights_frame(self) -> pl.DataFrame:
        """``symbol, weight, cap, volume_share, daily_volume_usd, funding_annual``."""
        return pl.DataFrame({
            "symbol": list(self.symbols), "weight": self.weights, "cap": self.caps,
            "volume_share": self.volume_share, "daily_volume_usd": self.daily_volume_usd,
            "funding_annual": self.funding_annual,
        }, schema_overrides={"symbol": pl.String})

    def summary(self) -> str:
        """Plain-text summary: headline statistics and the largest weights."""
        order = np.argsort(-np.abs(self.weights), kind="stable")[:10]
        lines = [
            f"hedge basket for {self.target} at {self.at} ({self.action}, {self.status}, "
            f"{self.n_obs} bars)",
            f"  in-sample correlation {self.correlation:.3f}, tracking error "
            f"{self.tracking_error:.1%}/yr, basket funding {self.expected_funding:+.1%}/yr",
        ]
        for i in order:
            if abs(self.weights[i]) > 1e-6:
                lines.append(f"  {self.symbols[i]:<12} {self.weights[i]:7.2%}  "
                             f"vol share {self.volume_share[i]:6.2%}  "
                             f"funding {self.funding_annual[i]:+7.1%}")
        return "\n".join(lines)


@dataclass(frozen=True)
class HedgeWalkForward:
    """Baskets re-fitted on a schedule (immutable).

    Attributes
    ----------
    results : tuple of HedgeBasketResult
        One per decision time, in order.
    candidates : pl.DataFrame
        ``ts`` plus the candidate table of each fit (see :meth:`HedgeBasket.candidates`).
    pca : pl.DataFrame
        ``ts`` plus the PCA table of each fit, when asked for (see
        :meth:`HedgeBasket.pca_diagnostics`); empty otherwise.
    """

    results: tuple[HedgeBasketResult, ...] = field(default_factory=tuple)
    candidates: pl.DataFrame = field(default_factory=pl.DataFrame)
    pca: pl.DataFrame = field(default_factory=pl.DataFrame)

    def weights(self) -> pl.DataFrame:
        """Basket weights ``ts, symbol, weight`` (each ts sums to 1), sorted by (ts, symbol)."""
        frames = [
            r.weights_frame().select(
                pl.lit(r.at).cast(TS_DTYPE).alias("ts"), "symbol", "weight")
            for r in self.results
        ]
        if not frames:
            return pl.DataFrame(schema={"ts": TS_DTYPE, "symbol": pl.String,
                                        "weight": pl.Float64})
        return pl.concat(frames).sort("ts", "symbol")

    def basket(self) -> pl.DataFrame:
        """Basket detail per rebalance: ``ts`` plus :meth:`HedgeBasketResult.weights_frame`."""
        frames = [r.weights_frame().select(pl.lit(r.at).cast(TS_DTYPE).alias("ts"), pl.all())
                  for r in self.results]
        return pl.concat(frames) if frames else pl.DataFrame()

    def positions(self, *, target_weight: float = 1.0) -> pl.DataFrame:
        """Hedged book as NAV weights ``ts, symbol, weight``: target long, basket short.

        Parameters
        ----------
        target_weight : float, default 1.0
            Target weight in NAV; the basket is ``-target_weight · w`` (equal notional).
        """
        basket = self.weights().with_columns(pl.col("weight") * -target_weight)
        target = pl.DataFrame({
            "ts": [r.at for r in self.results], "symbol": [r.target for r in self.results],
            "weight": [target_weight] * len(self.results),
        }, schema={"ts": TS_DTYPE, "symbol": pl.String, "weight": pl.Float64})
        return pl.concat([target, basket]).sort("ts", "symbol")

    def diagnostics(self) -> pl.DataFrame:
        """Tabulate each rebalance's statistics.

        Returns
        -------
        pl.DataFrame
            ``ts, correlation, tracking_error, expected_funding, n_names, max_volume_share,
            n_obs, status, action``.
        """
        return pl.DataFrame({
            "ts": [r.at for r in self.results],
            "correlation": [r.correlation for r in self.results],
            "tracking_error": [r.tracking_error for r in self.results],
            "expected_funding": [r.expected_funding for r in self.results],
            "n_names": [int((np.abs(r.weights) > 1e-4).sum()) for r in self.results],
            "max_volume_share": [float(r.volume_share.max(initial=0.0))
                                 for r in self.results],
            "n_obs": [r.n_obs for r in self.results],
            "status": [r.status for r in self.results],
            "action": [r.action for r in self.results],
        }, schema_overrides={"ts": TS_DTYPE})

    def out_of_sample(self, returns: pl.DataFrame, periods_per_year: float) -> pl.DataFrame:
        """Out-of-sample statistics per holding period (decision bar close to the next one).

        Period ``k`` holds the bars with ``at_k < ts <= at_{k+1}`` (the last one: to the end).

        Parameters
        ----------
        returns : pl.DataFrame
            Realised per-bar returns after the decisions (fractions): ``ts``, ``target`` (the
            target's price return), ``basket`` (the basket's long price return), ``hedged``
            (the hedged book's return) and ``funding`` (its funding part).
        periods_per_year : float
            Bars per 365-day year, to annualise the volatilities.

        Returns
        -------
        pl.DataFrame
            One row per rebalance: ``ts`` (decision time), ``oos_correlation`` (target vs
            basket; null with fewer than 3 bars or a constant series), ``oos_vol_hedged``,
            ``oos_vol_unhedged`` (annualised, ``ddof=1``; null with fewer than 2 bars) and
            ``oos_funding`` (sum over the period, a fraction of NAV).
        """
        starts = [r.at for r in self.results]
        rows = []
        for i, t0 in enumerate(starts):
            t1 = starts[i + 1] if i + 1 < len(starts) else None
            sub = returns.filter((pl.col("ts") > t0) & ((pl.col("ts") <= t1) if t1 else True))
            tgt, bsk, hed = (sub[c].to_numpy() for c in ("target", "basket", "hedged"))
            ok = len(sub) >= 3 and tgt.std() > 0 and bsk.std() > 0
            scale = np.sqrt(periods_per_year)
            rows.append({
                "ts": t0,
                "oos_correlation": float(np.corrcoef(tgt, bsk)[0, 1]) if ok else None,
                "oos_vol_hedged": float(hed.std(ddof=1) * scale) if len(sub) > 1 else None,
                "oos_vol_unhedged": float(tgt.std(ddof=1) * scale) if len(sub) > 1 else None,
                "oos_funding": float(sub["funding"].sum()),
            })
        return pl.DataFrame(rows, schema={"ts": TS_DTYPE, "oos_correlation": pl.Float64,
                                          "oos_vol_hedged": pl.Float64,
                                          "oos_vol_unhedged": pl.Float64,
                                          "oos_funding": pl.Float64})

    def summary(self) -> str:
        """Plain-text: one line per rebalance."""
        lines = [f"{len(self.results)} baskets"]
        for r in self.results:
            lines.append(f"  {r.at}  corr {r.correlation:.3f}  TE {r.tracking_error:6.1%}  "
                         f"funding {r.expected_funding:+6.1%}  {r.action}")
        return "\n".join(lines)
