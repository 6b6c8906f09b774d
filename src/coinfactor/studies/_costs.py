"""``[params.costs]``: one table of every study that trades, turned into the backtest's settings.

The same cost model prices the backtest's trades, the carry allocator's no-trade buffer and the
hedge basket's turnover penalty (through :meth:`CostModel.rate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import polars as pl

from coinfactor import signals
from coinfactor.analytics import DEFAULT_NAVS, capacity
from coinfactor.backtest import (
    CostModel,
    Fees,
    HalfSpread,
    SquareRootImpact,
    venue_preset,
)
from coinfactor.core.typing import FundingMissing, Venue
from coinfactor.studies._params import Params, Range


@dataclass(frozen=True)
class CostConfig(Params, table="params.costs"):
    """Execution costs and margin of a study (the TOML table ``[params.costs]``).

    Parameters
    ----------
    venue : {"hyperliquid", "binance-usdm"}
        Base-tier fee schedule and maintenance margin (:func:`coinfactor.backtest.venue_preset`).
    taker_bps, maker_bps : float, optional
        Override the venue's fees (basis points of traded notional; taker in [0, 1000],
        maker in [-1000, 1000], negative: a rebate).
    maker_share : float, default 0.0
        Share of traded notional filled as maker, in [0, 1].
    half_spread_bps : float
        Half the bid-ask spread paid per unit traded (bps, [0, 1000]): the constant, or the
        fallback where a study's spread estimator has no value.
    impact : float, default 1.0
        Prefactor ``k`` of the square-root impact ``k·σ·sqrt(|Δ|·NAV/ADV)`` (0: off; [0, 100]).
    impact_window_days : float, default 30.0
        Trailing window of σ and ADV for the impact, in days ((0, 3650]).
    maintenance_margin : float, optional
        Liquidation threshold as a share of gross notional, in [0, 1] (default: the venue's).
    max_leverage : float, optional
        Largest target gross exposure allowed at a decision (an error above it; (0, 1000]).
    funding_missing : {"warn", "error", "zero"}, default "warn"
        What the backtest does with held position-bars without funding data (always counted
        in the metrics: ``funding_missing_share``).
    capacity_navs : tuple of float
        NAVs (USD, each in (0, 1e15]) of the study's capacity table
        (:func:`coinfactor.analytics.capacity`); empty: no capacity table (e.g. in a sweep).
    """

    venue: Venue = "hyperliquid"
    taker_bps: Annotated[float, Range(0, 1000, unit="bps")] | None = None
    maker_bps: Annotated[float, Range(-1000, 1000, unit="bps")] | None = None
    maker_share: Annotated[float, Range(0, 1)] = 0.0
    half_spread_bps: Annotated[float, Range(0, 1000, unit="bps")] = 2.0
    impact: Annotated[float, Range(0, 100)] = 1.0
    impact_window_days: Annotated[float, Range(0, 3650, low_open=True, unit="days")] = 30.0
    maintenance_margin: Annotated[float, Range(0, 1)] | None = None
    max_leverage: Annotated[float, Range(0, 1000, low_open=True)] | None = None
    funding_missing: FundingMissing = "warn"
    capacity_navs: tuple[Annotated[float, Range(0, 1e15, low_open=True, unit="USD")],
                         ...] = DEFAULT_NAVS

    def model(self, half_spread: float | pl.DataFrame | np.ndarray | None = None) -> CostModel:
        """Build the cost model: fees + half-spread (``half_spread`` or the constant) + impact."""
        preset = venue_preset(self.venue)
        fees = Fees(preset.taker_bps if self.taker_bps is None else self.taker_bps,
                    preset.maker_bps if self.maker_bps is None else self.maker_bps,
                    self.maker_share)
        spread = HalfSpread(self.half_spread_bps / 1e4 if half_spread is None else half_spread)
        model = fees + spread
        if self.impact > 0:
            model = model + SquareRootImpact(self.impact, self.impact_window_days)
        return model

    def capacity(self, panel: pl.DataFrame, weights: pl.DataFrame | np.ndarray,
                 **execution: Any) -> pl.DataFrame | None:
        """Return the capacity table at :attr:`capacity_navs` (None when there are none)."""
        if not self.capacity_navs:
            return None
        return capacity(panel, weights, navs=self.capacity_navs, **execution)

    def half_spread_frame(self, panel: pl.DataFrame, spread_model: str, window: int,
                          freq: str) -> pl.DataFrame:
        """``ts, symbol, half_spread`` (fraction of price) per panel row.

        The estimate of ``spread_model`` (:data:`coinfactor.core.typing.SpreadModel`; the
        range-based estimators over ``window`` bars), :attr:`half_spread_bps` where it has
        no value (and everywhere for ``"constant"``).
        """
        fallback = self.half_spread_bps / 1e4
        if spread_model == "constant":
            return panel.select("ts", "symbol", pl.lit(fallback).alias("half_spread"))
        if spread_model == "half_range":
            est = signals.half_range_spread(panel, freq=freq)
            col = pl.col("half_range_spread")
        else:
            est = getattr(signals, spread_model)(panel, window=window, freq=freq)
            col = pl.col(spread_model) / 2.0  # full spread -> half-spread
        return est.select("ts", "symbol", col.fill_null(fallback).alias("half_spread"))

    def backtest_settings(self) -> dict[str, Any]:
        """Keyword arguments of :func:`coinfactor.backtest.backtest`: margins, funding rule."""
        mm = (venue_preset(self.venue).maintenance_margin if self.maintenance_margin is None
              else self.maintenance_margin)
        return {"maintenance_margin": mm, "max_leverage": self.max_leverage,
                "funding_missing": self.funding_missing}
