"""``[params.costs]``: one table of every study that trades, turned into the backtest's settings.

The same cost model prices the backtest's trades, the carry allocator's no-trade buffer and the
hedge basket's turnover penalty (through :meth:`CostModel.rate`).
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from coinfactor.analytics import DEFAULT_NAVS, capacity
from coinfactor.backtest import (
    CostModel,
    Fees,
    HalfSpread,
    SquareRootImpact,
    venue_preset,
)
from coinfactor.core.errors import ConfigError
from coinfactor.core.typing import FundingMissing, Venue


@dataclass(frozen=True)
class CostConfig:
    """Execution costs and margin of a study (the TOML table ``[params.costs]``).

    Parameters
    ----------
    venue : {"hyperliquid", "binance-usdm"}
        Base-tier fee schedule and maintenance margin (:func:`coinfactor.backtest.venue_preset`).
    taker_bps, maker_bps : float, optional
        Override the venue's fees (basis points of traded notional).
    maker_share : float, default 0.0
        Share of traded notional filled as maker.
    half_spread_bps : float
        Half the bid-ask spread paid per unit traded (bps): the constant, or the fallback
        where a study's spread estimator has no value.
    impact : float, default 1.0
        Prefactor ``k`` of the square-root impact ``k·σ·sqrt(|Δ|·NAV/ADV)`` (0: off).
    impact_window_days : float, default 30.0
        Trailing window of σ and ADV for the impact, in days.
    maintenance_margin : float, optional
        Liquidation threshold as a share of gross notional (default: the venue's).
    max_leverage : float, optional
        Largest target gross exposure allowed at a decision (an error above it).
    funding_missing : {"warn", "error", "zero"}, default "warn"
        What the backtest does with held position-bars without funding data (always counted
        in the metrics: ``funding_missing_share``).
    capacity_navs : tuple of float
        NAVs (USD) of the study's capacity table (:func:`coinfactor.analytics.capacity`);
        empty: no capacity table (e.g. in a sweep).
    """

    venue: Venue = "hyperliquid"
    taker_bps: float | None = None
    maker_bps: float | None = None
    maker_share: float = 0.0
    half_spread_bps: float = 2.0
    impact: float = 1.0
    impact_window_days: float = 30.0
    maintenance_margin: float | None = None
    max_leverage: float | None = None
    funding_missing: FundingMissing = "warn"
    capacity_navs: tuple[float, ...] = DEFAULT_NAVS

    def __post_init__(self) -> None:
        for name in ("half_spread_bps", "impact", "maker_share"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"[params.costs] {name} must be a number >= 0, got {value!r}")
        if self.maker_share > 1.0:
            raise ConfigError(f"[params.costs] maker_share must lie in [0, 1], got "
                              f"{self.maker_share!r}")
        if self.taker_bps is not None and not (math.isfinite(self.taker_bps)
                                               and self.taker_bps >= 0):
            raise ConfigError(f"[params.costs] taker_bps must be a number >= 0 (bps), got "
                              f"{self.taker_bps!r}")
        if self.maker_bps is not None and not math.isfinite(self.maker_bps):
            raise ConfigError(f"[params.costs] maker_bps must be a finite number (bps; "
                              f"negative: a rebate), got {self.maker_bps!r}")
        venue_preset(self.venue)  # raises on an unknown venue
        if self.funding_missing not in typing.get_args(FundingMissing):
            raise ConfigError(f"[params.costs] funding_missing must be one of "
                              f"{list(typing.get_args(FundingMissing))}, got "
                              f"{self.funding_missing!r}")
        if not all(x > 0 for x in self.capacity_navs):
            raise ConfigError("[params.costs] capacity_navs must be positive NAVs (USD), got "
                              f"{self.capacity_navs!r}")

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

    def backtest_settings(self) -> dict[str, Any]:
        """Keyword arguments of :func:`coinfactor.backtest.backtest`: margins, funding rule."""
        mm = (venue_preset(self.venue).maintenance_margin if self.maintenance_margin is None
              else self.maintenance_margin)
        return {"maintenance_margin": mm, "max_leverage": self.max_leverage,
                "funding_missing": self.funding_missing}
