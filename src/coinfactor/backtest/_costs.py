"""Cost models: what a trade costs, as a fraction of NAV, from the trade, the NAV and the market.

A cost model answers two questions on a :class:`MarketData` (per-bar arrays on one grid):

* ``cost(trade, nav, market, t)``: the cost of the trade row ``trade`` (weight units, one value
  per symbol) made at the close of bar ``t`` with NAV ``nav`` in quote currency, per symbol, as
  a fraction of NAV. The backtest charges it;
* ``rate(market, nav, size)``: the cost per unit of traded weight of a trade of ``size`` weight
  units in every cell, ``(n_bars, n_symbols)``. The allocator's no-trade buffer and the hedge
  basket's turnover penalty use it, so the book is decided with the costs it is charged.

Models add up: ``Fees(4.5) + HalfSpread(0.0002) + SquareRootImpact(1.0)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import polars as pl

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.core.time import bars_per_day
from coinfactor.data import Grid
from coinfactor.rolling import trailing_window_sums


@dataclass(frozen=True, eq=False)
class MarketData:
    """Per-bar market data on one grid, read by cost models.

    Parameters
    ----------
    grid : Grid
        The grid every array is on.
    close : ndarray of shape (n_bars, n_symbols)
        Close prices, NaN where the symbol has no (unfilled) bar.
    quote_volume : ndarray of shape (n_bars, n_symbols)
        Quote-currency notional traded in each bar (``quote_volume``, else ``volume × close``),
        NaN where unknown.

    Notes
    -----
    :meth:`daily_vol` and :meth:`adv` are trailing: the value at bar t uses bars ``<= t`` only
    (a trade at the close of bar t knows bar t), and are computed once per window.
    """

    grid: Grid
    close: np.ndarray
    quote_volume: np.ndarray
    _cache: dict[Any, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def from_panel(cls, panel: pl.DataFrame, grid: Grid) -> MarketData:
        """Read close and quote notional of ``panel`` on ``grid`` (filled bars are NaN)."""
        close = grid.wide(panel, "close")
        qv = (grid.wide(panel, "quote_volume") if "quote_volume" in panel.columns
              else np.full(grid.shape, np.nan))
        if "volume" in panel.columns:
            base = grid.wide(panel, "volume")
            base *= close
            np.copyto(qv, base, where=np.isnan(qv))
        return cls(grid, close, qv)

    @property
    def bars_per_day(self) -> float:
        """Bars in one day at the grid's frequency."""
        return bars_per_day(self.grid.freq)

    def daily_vol(self, window_days: float, *, keep: bool = True) -> np.ndarray:
        """Trailing daily volatility: std of log returns over ``window_days`` × sqrt(bars/day).

        Parameters
        ----------
        window_days : float
            Length of the trailing window in days (at least two bars).
        keep : bool, default True
            Keep the array for the next call (False: computed afresh, the caller's own).

        Returns
        -------
        ndarray of shape (n_bars, n_symbols)
            Daily-scaled standard deviation (ddof=1) of the bar log returns in the window
            ending at each bar, from at least one day of returns (two at least); NaN before.
        """
        if not keep:
            return self._daily_vol(window_days)
        return self.cell_array(("vol", window_days), lambda: self._daily_vol(window_days))

    def _daily_vol(self, window_days: float) -> np.ndarray:
        n = max(2, round(window_days * self.bars_per_day))
        with np.errstate(invalid="ignore", divide="ignore"):
            lr: np.ndarray = np.full(self.close.shape, np.nan)
            np.divide(self.close[1:], self.close[:-1], out=lr[1:])
            np.log(lr[1:], out=lr[1:])
        first = max(2, min(n, math.ceil(self.bars_per_day)))  # at least a day of bars
        sd = _trailing_moments(lr, n, first, std=True)
        sd *= math.sqrt(self.bars_per_day)
        return sd

    def adv(self, window_days: float, *, keep: bool = True) -> np.ndarray:
        """Trailing average daily quote volume over ``window_days`` (quote currency per day).

        Parameters
        ----------
        window_days : float
            Length of the trailing window in days.
        keep : bool, default True
            Keep the array for the next call (False: computed afresh, the caller's own).

        Returns
        -------
        ndarray of shape (n_bars, n_symbols)
            Mean quote notional per bar over the window ending at each bar (from at least one
            day of bars) × bars per day; NaN before.
        """
        if not keep:
            return self._adv(window_days)
        return self.cell_array(("adv", window_days), lambda: self._adv(window_days))

    def _adv(self, window_days: float) -> np.ndarray:
        n = max(1, round(window_days * self.bars_per_day))
        first = max(1, min(n, math.ceil(self.bars_per_day)))  # at least a day of bars
        mean = _trailing_moments(self.quote_volume, n, first)
        mean *= self.bars_per_day
        return mean

    def cell_array(self, key: Any, build: Any) -> np.ndarray:
        """Return ``build()`` computed once per key (for models' own per-cell arrays)."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]


def _trailing_moments(x: np.ndarray, window: int, min_periods: int,
                      std: bool = False, block: int = 32) -> np.ndarray:
    """Trailing mean, or (``std=True``) sample std (ddof=1), of the finite values of ``x``.

    From window sums of ``x`` and ``x²`` over the last ``window`` rows
    (:func:`coinfactor.rolling.trailing_window_sums`: blocks restarting every ``window``
    rows, so rounding does not grow with the series and a row depends on rows ``<= t``
    only): mean ``Σx / k``, variance ``(Σx² - (Σx)²/k) / (k - 1)`` clipped at 0; NaN where
    fewer than ``min_periods`` values are present. Arrays of shape ``(n_bars, n_symbols)``.

    Columns are independent: they are computed ``block`` at a time into the one output, so
    the scratch arrays are those of a block, not of the grid.
    """
    out = np.empty(x.shape)
    for c0 in range(0, x.shape[1], block):
        cols = slice(c0, c0 + block)
        out[:, cols] = _block_moments(x[:, cols], window, min_periods, std)
    return out


def _block_moments(x: np.ndarray, window: int, min_periods: int, std: bool) -> np.ndarray:
    ok = np.isfinite(x)
    v = np.where(ok, x, 0.0)
    k = trailing_window_sums(ok.astype(np.int32), window).astype(np.float64)
    few = k < min_periods
    s1 = trailing_window_sums(v.copy() if std else v, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        if std:
            s2 = trailing_window_sums(np.multiply(v, v, out=v), window)
            var = (s2 - s1 * s1 / k) / (k - 1.0)
            np.maximum(var, 0.0, out=var)
            sd = np.sqrt(var, out=var)
            np.copyto(sd, np.nan, where=few)
            return sd
        mean = np.divide(s1, k, out=s1)
    np.copyto(mean, np.nan, where=few)
    return mean


@runtime_checkable
class CostModel(Protocol):
    """What the backtest, the allocator's buffer and the hedge's turnover penalty ask of costs."""

    @property
    def linear(self) -> bool:
        """Whether ``cost`` is exactly ``|trade| × rate`` whatever the size and the NAV."""
        ...

    def cost(self, trade: np.ndarray, nav: float, market: MarketData, t: int) -> np.ndarray:
        """Cost per symbol of ``trade`` (weights, shape (n_symbols,)) at bar ``t``, in NAV units."""
        ...

    def rate(self, market: MarketData, nav: float, size: float = 0.01) -> np.ndarray:
        """Cost per unit traded of a ``size``-weight trade in every cell, (n_bars, n_symbols)."""
        ...


class _Additive:
    """``a + b`` of two cost models is their sum."""

    def __add__(self, other: CostModel) -> CostSum:
        left = self.models if isinstance(self, CostSum) else (self,)
        right = other.models if isinstance(other, CostSum) else (other,)
        return CostSum(tuple(left) + tuple(right))  # type: ignore[arg-type]


@dataclass(frozen=True)
class CostSum(_Additive):
    """The sum of cost models, evaluated in order (``Fees(4.5) + HalfSpread(2e-4)``)."""

    models: tuple[CostModel, ...]

    @property
    def linear(self) -> bool:
        """Whether every model is linear in the trade."""
        return all(m.linear for m in self.models)

    def cost(self, trade: np.ndarray, nav: float, market: MarketData, t: int) -> np.ndarray:
        """Sum of the models' costs (see :class:`CostModel`)."""
        total = np.zeros(trade.shape)
        for m in self.models:
            total += m.cost(trade, nav, market, t)
        return total

    def rate(self, market: MarketData, nav: float, size: float = 0.01) -> np.ndarray:
        """Sum of the models' rates (see :class:`CostModel`)."""
        total = np.zeros(market.grid.shape)
        for m in self.models:
            total += m.rate(market, nav, size)
        return total


@dataclass(frozen=True)
class Fees(_Additive):
    """Exchange fees: a fixed rate per unit of traded notional.

    Parameters
    ----------
    taker_bps : float, default 4.5
        Taker fee in basis points of notional.
    maker_bps : float, default 0.0
        Maker fee (negative: a rebate).
    maker_share : float, default 0.0
        Share of traded notional filled as maker (0: every trade crosses the spread).
    """

    taker_bps: float = 4.5
    maker_bps: float = 0.0
    maker_share: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.taker_bps) and self.taker_bps >= 0):
            raise ConfigError(f"Fees: taker_bps must be a finite number >= 0 (bps), got "
                              f"{self.taker_bps!r}")
        if not math.isfinite(self.maker_bps):
            raise ConfigError(f"Fees: maker_bps must be finite, got {self.maker_bps!r}")
        if not 0.0 <= self.maker_share <= 1.0:
            raise ConfigError(f"Fees: maker_share must lie in [0, 1], got {self.maker_share!r}")

    linear = True
    """Fees are proportional to the traded notional."""

    @property
    def per_unit(self) -> float:
        """Blended fee per unit of traded notional (a fraction)."""
        return ((1.0 - self.maker_share) * self.taker_bps + self.maker_share * self.maker_bps) / 1e4

    def cost(self, trade: np.ndarray, nav: float, market: MarketData, t: int) -> np.ndarray:
        """``|trade| × per_unit``."""
        return np.abs(trade) * self.per_unit

    def rate(self, market: MarketData, nav: float, size: float = 0.01) -> np.ndarray:
        """``per_unit`` in every cell."""
        return np.full(market.grid.shape, self.per_unit)


@dataclass(frozen=True)
class HalfSpread(_Additive):
    """Half the bid-ask spread, paid per unit of traded notional.

    Parameters
    ----------
    value : float, pl.DataFrame or ndarray
        A constant fraction of price (``0.0002`` = 2 bps); a frame ``ts, symbol, half_spread``
        (the value at the trade's bar, carried forward over bars without one); or an array of
        shape (n_bars, n_symbols) on the backtest's grid. NaN (unknown) is an error where a
        trade happens.
    """

    value: float | pl.DataFrame | np.ndarray = 0.0
    linear = True
    """The spread is paid in proportion to the traded notional."""

    def __post_init__(self) -> None:
        if isinstance(self.value, pl.DataFrame):
            missing = [c for c in ("ts", "symbol", "half_spread") if c not in self.value.columns]
            if missing:
                raise DataError(f"HalfSpread: a frame needs columns ts, symbol, half_spread; "
                                f"missing {missing}", fix="rename the estimate's column")
            bad = self.value.filter(pl.col("half_spread") < 0)
            if bad.height:
                raise DataError("HalfSpread: values must be >= 0", column="half_spread",
                                rows=bad.head(5), fix="clip negative spread estimates at 0")
        elif isinstance(self.value, np.ndarray):
            if (self.value[~np.isnan(self.value)] < 0).any():
                raise DataError("HalfSpread: values must be >= 0", column="half_spread",
                                fix="clip negative spread estimates at 0")
        elif not (math.isfinite(self.value) and self.value >= 0):
            raise ConfigError(f"HalfSpread: value must be a fraction >= 0 (0.0005 = 5 bps), got "
                              f"{self.value!r}")

    def _cells(self, market: MarketData) -> np.ndarray | float:
        value = self.value
        if isinstance(value, np.ndarray):
            if value.shape != market.grid.shape:
                raise DataError(f"HalfSpread: the array has shape {value.shape}, expected the "
                                f"grid's {market.grid.shape}", fix="pass arrays on one grid")
            return value
        if isinstance(value, pl.DataFrame):
            def build() -> np.ndarray:
                hs = market.grid.scatter(value, "half_spread")
                return pl.DataFrame(hs, nan_to_null=True).select(
                    pl.all().forward_fill()).to_numpy().astype(np.float64)
            return market.cell_array(("half_spread", id(self)), build)
        return float(value)

    def cost(self, trade: np.ndarray, nav: float, market: MarketData, t: int) -> np.ndarray:
        """``|trade| × half_spread`` at bar ``t``."""
        cells = self._cells(market)
        hs = cells[t] if isinstance(cells, np.ndarray) else cells
        return np.abs(trade) * hs

    def rate(self, market: MarketData, nav: float, size: float = 0.01) -> np.ndarray:
        """Return the half-spread in every cell."""
        cells = self._cells(market)
        return (np.array(cells, dtype=np.float64) if isinstance(cells, np.ndarray)
                else np.full(market.grid.shape, cells))


@dataclass(frozen=True)
class SquareRootImpact(_Additive):
    """Square-root market impact: a trade of notional ``Q`` costs ``k · σ · sqrt(Q / ADV) · Q``.

    As a fraction of NAV, for a trade of ``Δ`` weight units at NAV ``N``::

        cost = k · σ_daily · sqrt(|Δ| · N / ADV) · |Δ|

    with σ_daily the trailing daily volatility and ADV the trailing average daily quote volume
    (:meth:`MarketData.daily_vol`, :meth:`MarketData.adv`: bars up to the trade's only). The
    square-root law of metaorder impact is documented by Almgren, Thum, Hauptmann & Li, "Direct
    estimation of equity market impact", Risk (2005), and by Tóth et al., "Anomalous price
    impact and the critical nature of liquidity in financial markets", Phys. Rev. X 1 (2011),
    with a prefactor ``k`` ("Y") of order one; Bouchaud, Bonart, Donier & Gould, *Trades,
    Quotes and Prices* (2018), ch. 12, review it.

    Parameters
    ----------
    k : float, default 1.0
        The prefactor Y (dimensionless).
    window_days : float, default 30.0
        Trailing window of σ and ADV, in days.
    """

    k: float = 1.0
    window_days: float = 30.0
    linear = False
    """Impact per unit grows with the square root of the trade."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.k) and self.k >= 0):
            raise ConfigError(f"SquareRootImpact: k must be a finite number >= 0, got {self.k!r}")
        if not (math.isfinite(self.window_days) and self.window_days > 0):
            raise ConfigError("SquareRootImpact: window_days must be > 0, got "
                              f"{self.window_days!r}")

    def scale(self, market: MarketData) -> np.ndarray:
        """``k · σ_daily / sqrt(ADV)`` per cell (NaN where either is unknown or ADV is 0)."""
        def build() -> np.ndarray:
            # σ and ADV computed for this alone (not kept: the scale is what is reused)
            out = market.daily_vol(self.window_days, keep=False)
            root_adv = np.sqrt(market.adv(self.window_days, keep=False))
            with np.errstate(invalid="ignore", divide="ignore"):
                out *= self.k
                out /= root_adv
            del root_adv
            np.copyto(out, np.nan, where=~np.isfinite(out))
            return out
        return market.cell_array(("impact", self.k, self.window_days), build)

    def cost(self, trade: np.ndarray, nav: float, market: MarketData, t: int) -> np.ndarray:
        """``k · σ · sqrt(|Δ| · nav / ADV) · |Δ|`` (NaN where σ or ADV is unknown)."""
        if self.k == 0.0:
            return np.zeros(trade.shape)
        size = np.abs(trade)
        return self.scale(market)[t] * np.sqrt(size * nav) * size

    def rate(self, market: MarketData, nav: float, size: float = 0.01) -> np.ndarray:
        """``k · σ · sqrt(size · nav / ADV)``: the impact per unit of a ``size``-weight trade."""
        if self.k == 0.0:
            return np.zeros(market.grid.shape)
        return self.scale(market) * math.sqrt(size * nav)


@dataclass(frozen=True)
class VenuePreset:
    """Base-tier costs and margin of one venue (:func:`venue_preset`)."""

    venue: str
    taker_bps: float
    maker_bps: float
    maintenance_margin: float
    source: str

    def costs(self, *, half_spread: float | pl.DataFrame | np.ndarray = 0.0,
              impact: float = 1.0, impact_window_days: float = 30.0) -> CostModel:
        """``Fees(taker) + HalfSpread(half_spread) [+ SquareRootImpact(impact)]``."""
        model: CostModel = Fees(self.taker_bps, self.maker_bps) + HalfSpread(half_spread)
        if impact > 0:
            model = model + SquareRootImpact(impact, impact_window_days)  # type: ignore[operator]
        return model


_PRESETS = {
    "hyperliquid": VenuePreset(
        "hyperliquid", taker_bps=4.5, maker_bps=1.5, maintenance_margin=0.05,
        source="Hyperliquid fee schedule, tier 0 (14-day volume < $5M): taker 0.045%, maker "
               "0.015%; maintenance margin is half the initial margin at a market's maximum "
               "leverage (BTC 40x: 1.25%; most alts 3x-10x: 5%-16.7%); 5% is the 10x case"),
    "binance-usdm": VenuePreset(
        "binance-usdm", taker_bps=5.0, maker_bps=2.0, maintenance_margin=0.01,
        source="Binance USD-M futures, regular user (VIP 0): taker 0.05%, maker 0.02%; "
               "maintenance margin of the first notional tier is 0.4% (BTCUSDT) to ~2.5% "
               "(small alts); 1% is a mid value"),
}


def venue_preset(venue: str) -> VenuePreset:
    """Base-tier fees and a maintenance margin for ``venue`` (see :data:`Venue`).

    Parameters
    ----------
    venue : {"hyperliquid", "binance-usdm"}

    Returns
    -------
    VenuePreset
        ``taker_bps``, ``maker_bps``, ``maintenance_margin`` (one uniform rate for the book:
        venues tier it by market and position size) and the ``source`` of the numbers.
    """
    if venue not in _PRESETS:
        raise ConfigError(f"venue_preset: expected one of {sorted(_PRESETS)}, got {venue!r}")
    return _PRESETS[venue]
