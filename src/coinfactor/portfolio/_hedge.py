"""Funding-aware hedge basket: track one perp with a basket of others, fitted point in time.

:class:`HedgeBasket` fits, at a decision bar t and on data through t only, the basket weights
``w`` (``Σ w = 1``) whose returns track the target's over a trailing window, with a reward for
baskets whose SHORT side receives funding, per-name caps from a share of daily volume, an
optional turnover penalty against the previous basket and an optional PCA cleaning of the
candidate returns. :meth:`HedgeBasket.walk_forward` re-fits on a schedule.

Funding sign
------------
The panel's ``funding_rate`` ``f`` is positive when longs pay (DESIGN.md), and a position of
weight ``x`` earns ``-x·f`` per bar. The basket is held SHORT against a long target
(``x_i = -w_i``), so name i earns ``+w_i·f_i``: a positive funding rate is income for the hedge.
With ``F_i`` the annualised mean funding rate over the lookback, the basket's expected funding
income is ``Σ w_i F_i`` (reported as ``expected_funding``), and the optimiser minimises

    (periods_per_year / T)·‖R w − r‖²  −  λ_funding·Σ w_i F_i  +  κ·‖w − w_prev‖₁

i.e. the seed's ``+ λ·fᵀw`` with ``f = −F``. Larger ``λ_funding`` moves weight toward names
with higher (positive) funding rates.

PCA cleaning
------------
``pca_clean="top_k"`` tracks the target with the top-k PCA reconstruction of the candidates'
returns and ``"residual"`` with what is left after removing it (the seed's two variants). With
k = 1 the top-k returns have rank ≤ 2, the tracking term barely depends on how weight is split
across names, and the linear funding term then decides: the basket concentrates in the
highest-funding coin (the seed-002 defect). The default is therefore ``"none"``; the cleaned
variants remain for research and are solved exactly (the Gram form handles rank deficiency).
In-sample statistics are always measured on the raw returns.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import get_args

import numpy as np
import polars as pl

from coinfactor.core.errors import ConfigError, DataError, OptimizationError
from coinfactor.core.typing import CleanMode, FailurePolicy, HedgeMode, PCAClean, Solver
from coinfactor.data import TS_DTYPE
from coinfactor.portfolio._hedge_data import HedgeData, build_hedge_data, candidate_table
from coinfactor.portfolio._hedge_qp import GramStats, solve_tracking_qp
from coinfactor.portfolio._hedge_result import (
    HedgeAction,
    HedgeBasketResult,
    HedgeWalkForward,
    frozen_array,
)
from coinfactor.risk import PCA

_PCA_SCHEMA = {"component": pl.Int64, "explained_variance_ratio": pl.Float64,
               "r2_target": pl.Float64, "corr_target": pl.Float64}


def _check_time(at: datetime) -> None:
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise ConfigError(
            f"expected a timezone-aware datetime (UTC) for the decision time, got {at!r}",
        )


def _data_through(panel: pl.DataFrame, at: datetime) -> HedgeData:
    """Pivot the rows with ts ``<= at`` only (nothing later is ever read)."""
    _check_time(at)
    cut = panel.filter(pl.col("ts") <= at)
    if cut.height == 0:
        start = str(panel["ts"].min()) if panel.height else "(empty)"
        raise DataError(f"no bar at or before {at}; the panel starts at {start}",
                        fix="fit at a later time")
    return build_hedge_data(cut, end=at)


def _costs_at(trade_costs: pl.DataFrame | None, at: datetime) -> dict[str, float] | None:
    """Return the ``cost`` of each symbol at bar ``at`` from a ``ts, symbol, cost`` frame."""
    if trade_costs is None:
        return None
    missing = [c for c in ("ts", "symbol", "cost") if c not in trade_costs.columns]
    if missing:
        raise DataError(f"trade_costs needs columns ts, symbol, cost; missing {missing}",
                        fix="pass the cost model's rate as a long frame")
    row = trade_costs.filter(pl.col("ts") == at)
    return dict(zip(row["symbol"].to_list(), row["cost"].to_list(), strict=True))


def _cost_vector(costs: dict[str, float] | None, symbols: Sequence[str]) -> np.ndarray:
    """Per-name penalty weights: the costs (the largest known where one is missing), or 1."""
    if costs is None:
        return np.ones(len(symbols))
    c = np.array([costs.get(s, np.nan) for s in symbols], dtype=np.float64)
    c[~np.isfinite(c)] = np.nan
    fill = np.nanmax(c) if np.isfinite(c).any() else 0.0
    return np.where(np.isnan(c), fill, c)


def _fallback_weights(upper: np.ndarray) -> np.ndarray:
    """Equal weights projected onto ``{Σ w = 1, 0 ≤ w ≤ upper}`` (water-filling).

    Names are filled in order of increasing cap (ties: input order); each gets the remaining
    weight shared equally or its cap, whichever is smaller.
    """
    n = len(upper)
    w = np.zeros(n)
    remaining = 1.0
    order = np.argsort(upper, kind="stable")
    for k, i in enumerate(order):
        share = remaining / (n - k)
        w[i] = min(upper[i], share)
        remaining -= w[i]
    return w


class HedgeBasket:
    """Track one perp with a funding-aware, volume-capped basket of others (see module doc).

    Parameters
    ----------
    target : str
        Symbol to hedge (held long; the basket is shorted against it).
    lookback : str, default "21d"
        Fit window ending at the decision bar (a duration; 504 bars on 1h data).
    volume_lookback : str, default "7d"
        Window of the trailing daily notional behind the caps and the volume filter.
    basket_usd : float, default 5_000_000
        Basket notional in USD (the seed's $5m).
    max_volume_share : float, default 0.05
        Largest position as a share of a name's daily notional: ``cap_i = max_volume_share ·
        daily_volume_usd_i / basket_usd``.
    lambda_funding : float, default 0.1
        Weight of the funding income (annual return) against the annualised squared tracking
        error (annual variance).
    mode : {"long_only", "long_short"}, default "long_only"
        Sign constraint on basket weights.
    turnover_penalty : float, default 0.0
        κ of the penalty ``κ·Σ_i c_i·|w_i − w_prev,i|`` against the previous basket passed to
        ``fit``, with ``c_i`` the cost per unit traded of name i from ``trade_costs`` (the
        backtest's cost model, :meth:`coinfactor.backtest.CostModel.rate`), or 1 without
        them. The objective is an annualised variance, so κ = decisions per year puts a
        one-off cost on its scale.
    pca_clean : {"none", "top_k", "residual"}, default "none"
        Candidate returns the tracking term uses.
    pca_components : int, default 1
        k for the PCA cleaning.
    min_daily_volume_usd : float, default 5_000_000
        Candidate filter on trailing daily notional (the seed's $5m).
    min_open_interest_usd : float, default 10_000_000
        Candidate filter on the last known open interest (quote units); skipped for names
        whose open interest is unknown.
    min_coverage : float, default 0.95
        Share of the lookback's bars a candidate must have returns on.
    exclude : tuple of str, default ()
        Names never used (the target is always excluded).
    universe : tuple of str, optional
        Allowed names, e.g. from a market-snapshot filter (24h volume, open interest, max
        leverage); None allows all.
    min_obs : int, default 100
        Fewest complete bars (target and all candidates present) for a fit.
    solver : {"CLARABEL", "OSQP"}, default "CLARABEL"
    on_failure : {"raise", "keep_previous", "fallback"}, default "raise"
        What a failed fit does: raise ``OptimizationError`` (``DataError`` when the window
        has too few bars), return the previous basket, or return equal weights projected onto
        the caps. ``keep_previous`` without a previous basket raises.
    """

    def __init__(
        self,
        target: str,
        *,
        lookback: str = "21d",
        volume_lookback: str = "7d",
        basket_usd: float = 5_000_000.0,
        max_volume_share: float = 0.05,
        lambda_funding: float = 0.1,
        mode: HedgeMode = "long_only",
        turnover_penalty: float = 0.0,
        pca_clean: PCAClean = "none",
        pca_components: int = 1,
        min_daily_volume_usd: float = 5_000_000.0,
        min_open_interest_usd: float = 10_000_000.0,
        min_coverage: float = 0.95,
        exclude: tuple[str, ...] = (),
        universe: tuple[str, ...] | None = None,
        min_obs: int = 100,
        solver: Solver = "CLARABEL",
        on_failure: FailurePolicy = "raise",
    ) -> None:
        self.target = target
        self.lookback = lookback
        self.volume_lookback = volume_lookback
        self.basket_usd = basket_usd
        self.max_volume_share = max_volume_share
        self.lambda_funding = lambda_funding
        self.mode = mode
        self.turnover_penalty = turnover_penalty
        self.pca_clean = pca_clean
        self.pca_components = pca_components
        self.min_daily_volume_usd = min_daily_volume_usd
        self.min_open_interest_usd = min_open_interest_usd
        self.min_coverage = min_coverage
        self.exclude = exclude
        self.universe = universe
        self.min_obs = min_obs
        self.solver = solver
        self.on_failure = on_failure
        self._validate()

    _PARAMS = ("lookback", "volume_lookback", "basket_usd", "max_volume_share",
               "lambda_funding", "mode", "turnover_penalty", "pca_clean", "pca_components",
               "min_daily_volume_usd", "min_open_interest_usd", "min_coverage", "exclude",
               "universe", "min_obs", "solver", "on_failure")

    def __repr__(self) -> str:
        args = ", ".join(f"{p}={getattr(self, p)!r}" for p in self._PARAMS)
        return f"HedgeBasket({self.target!r}, {args})"

    def _validate(self) -> None:
        choices: dict[str, tuple[object, ...]] = {
            "mode": get_args(HedgeMode), "pca_clean": get_args(PCAClean),
            "solver": get_args(Solver),
            "on_failure": get_args(FailurePolicy),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"HedgeBasket: {name} must be one of {list(allowed)}, got "
                    f"{getattr(self, name)!r}"
                )
        positive = ("basket_usd", "max_volume_share")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"HedgeBasket: {name} must be > 0, got {getattr(self, name)}")
        for name in ("lambda_funding", "turnover_penalty", "min_daily_volume_usd",
                     "min_open_interest_usd"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"HedgeBasket: {name} must be >= 0, got "
                                  f"{getattr(self, name)}")
        if not 0 <= self.min_coverage <= 1:
            raise ConfigError(f"HedgeBasket: min_coverage must be in [0, 1], got "
                              f"{self.min_coverage}")
        if self.pca_clean != "none" and int(self.pca_components) < 1:
            raise ConfigError(f"HedgeBasket: pca_components must be >= 1, got "
                              f"{self.pca_components}")
        if int(self.min_obs) < 2:
            raise ConfigError(f"HedgeBasket: min_obs must be >= 2, got {self.min_obs}")

    # -- public API -------------------------------------------------------------------------

    def candidates(self, panel: pl.DataFrame, at: datetime) -> pl.DataFrame:
        """Liquidity filters and correlations to the target at ``at`` (data through ``at``).

        Returns
        -------
        pl.DataFrame
            See :func:`coinfactor.portfolio._hedge_data.candidate_table`: ``symbol, coverage,
            daily_volume_usd, open_interest_usd, funding_annual, correlation, eligible,
            reason``.
        """
        data = _data_through(panel, at)
        return self._candidates(data, data.row_at(at))

    def pca_diagnostics(
        self, panel: pl.DataFrame, at: datetime, *, n_components: int = 5
    ) -> pl.DataFrame:
        """PCA of the eligible candidates' returns over the lookback, against the target.

        Returns
        -------
        pl.DataFrame
            ``component, explained_variance_ratio, r2_target, corr_target`` (component from
            1): the seed's "PC i explains x% of the target's variation" and PC1 correlation.
        """
        data = _data_through(panel, at)
        row = data.row_at(at)
        out = self._pca_table(data, row, self._candidates(data, row), n_components)
        if out.height == 0:
            raise DataError(f"pca_diagnostics: no complete window for {self.target} at {at}",
                            fix="pass a later time or relax the candidate filters")
        return out

    def fit(
        self,
        panel: pl.DataFrame,
        at: datetime,
        *,
        previous: HedgeBasketResult | Mapping[str, float] | None = None,
        trade_costs: pl.DataFrame | None = None,
    ) -> HedgeBasketResult:
        """Fit the basket at decision time ``at`` on bars with ts ``<= at``.

        Parameters
        ----------
        panel : pl.DataFrame
            Canonical panel; rows after ``at`` are dropped before anything is computed.
        at : datetime
            Decision time (timezone-aware, UTC); the last bar with ts ``<= at`` is the
            decision bar, and the basket is traded at its close.
        previous : HedgeBasketResult or mapping of str to float, optional
            The previous basket, for the turnover penalty and ``on_failure="keep_previous"``.
        trade_costs : pl.DataFrame, optional
            ``ts, symbol, cost``: cost per unit of traded weight (a fraction) of each name at
            each bar, for the turnover penalty (the decision bar's row is used; a name without
            one gets the largest cost known at that bar).

        Returns
        -------
        HedgeBasketResult
        """
        data = _data_through(panel, at)
        row = data.row_at(at)
        return self._fit_row(data, row, previous, costs=_costs_at(trade_costs, data.ts[row]))

    def walk_forward(
        self,
        panel: pl.DataFrame,
        schedule: Sequence[datetime],
        *,
        pca_components: int = 0,
        trade_costs: pl.DataFrame | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> HedgeWalkForward:
        """Re-fit at each time of ``schedule``, each fit on data through its time only.

        Each fit receives the previous one as ``previous``. The panel is pivoted once; a fit
        at t reads rows ``<= t`` only, so it equals ``fit(panel.filter(ts <= t), t, ...)``.

        Parameters
        ----------
        panel : pl.DataFrame
            Canonical panel.
        schedule : sequence of datetime
            Increasing decision times.
        pca_components : int, default 0
            Also tabulate, per fit, this many principal components of the candidates against
            the target (see :meth:`pca_diagnostics`); 0 skips it.
        trade_costs : pl.DataFrame, optional
            ``ts, symbol, cost`` for the turnover penalty (see :meth:`fit`).
        progress : callable, optional
            Called with the fraction done after each fit.

        Returns
        -------
        HedgeWalkForward
        """
        times = list(schedule)
        for t in times:
            _check_time(t)
        if any(b <= a for a, b in itertools.pairwise(times)):
            raise ConfigError("walk_forward: schedule must be strictly increasing")
        data = build_hedge_data(panel)
        results: list[HedgeBasketResult] = []
        tables: list[pl.DataFrame] = []
        pcas: list[pl.DataFrame] = []
        prev: HedgeBasketResult | None = None
        for i, t in enumerate(times):
            row = data.row_at(t)
            table = self._candidates(data, row)
            prev = self._fit_row(data, row, prev, table,
                                 costs=_costs_at(trade_costs, data.ts[row]))
            results.append(prev)
            stamp = pl.lit(prev.at).cast(TS_DTYPE).alias("ts")
            tables.append(table.select(stamp, pl.all()))
            if pca_components > 0:
                pcas.append(self._pca_table(data, row, table, pca_components)
                            .select(stamp, pl.all()))
            if progress is not None:
                progress((i + 1) / len(times))
        return HedgeWalkForward(
            tuple(results),
            candidates=pl.concat(tables) if tables else pl.DataFrame(),
            pca=pl.concat(pcas) if pcas else pl.DataFrame(),
        )

    # -- internals --------------------------------------------------------------------------

    def _candidates(self, data: HedgeData, row: int) -> pl.DataFrame:
        return candidate_table(
            data, row=row, target=self.target, lookback=self.lookback,
            volume_lookback=self.volume_lookback,
            min_daily_volume_usd=self.min_daily_volume_usd,
            min_open_interest_usd=self.min_open_interest_usd, min_coverage=self.min_coverage,
            exclude=self.exclude, universe=self.universe,
        )

    def _pca_table(
        self, data: HedgeData, row: int, table: pl.DataFrame, n_components: int
    ) -> pl.DataFrame:
        cols = [data.column(s) for s in table.filter("eligible")["symbol"]]
        lo = max(row + 1 - data.bars(self.lookback), 0)
        block = data.returns[lo : row + 1][:, [data.column(self.target), *cols]]
        ok = ~np.isnan(block).any(axis=1)
        k = min(n_components, len(cols), int(ok.sum()) - 1)
        if k < 1:
            return pl.DataFrame(schema=_PCA_SCHEMA)
        res = PCA(k).fit(block[ok, 1:])
        y = block[ok, 0]
        return pl.DataFrame({
            "component": np.arange(1, k + 1, dtype=np.int64),
            "explained_variance_ratio": res.explained_variance_ratio,
            "r2_target": res.r2(y), "corr_target": res.correlation(y),
        }, schema=_PCA_SCHEMA)

    def _bounds(self, daily_volume: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        caps = self.max_volume_share * np.nan_to_num(daily_volume, nan=0.0) / self.basket_usd
        if self.mode == "long_only":
            caps = np.minimum(caps, 1.0)
            return np.zeros_like(caps), caps
        return -caps, caps

    def _fit_row(
        self,
        data: HedgeData,
        row: int,
        previous: HedgeBasketResult | Mapping[str, float] | None,
        table: pl.DataFrame | None = None,
        *,
        costs: dict[str, float] | None = None,
    ) -> HedgeBasketResult:
        table = self._candidates(data, row) if table is None else table
        elig = table.filter("eligible")
        symbols = tuple(elig["symbol"].to_list())
        cols = [data.column(s) for s in symbols]
        t_col = data.column(self.target)
        lo = max(row + 1 - data.bars(self.lookback), 0)
        block = data.returns[lo : row + 1][:, [t_col, *cols]]
        ok = ~np.isnan(block).any(axis=1)
        y, r_raw = block[ok, 0], block[ok, 1:]
        dvol = elig["daily_volume_usd"].fill_null(np.nan).to_numpy()
        fund = elig["funding_annual"].to_numpy()
        lower, upper = self._bounds(dvol)
        at = data.ts[row]
        prev_map = (previous.as_dict() if isinstance(previous, HedgeBasketResult)
                    else dict(previous) if previous is not None else None)

        status, weights, objective = "", None, float("nan")
        if len(symbols) == 0 or r_raw.shape[0] < self.min_obs:
            status = "insufficient_data"
        elif upper.sum() < 1.0 - 1e-12:
            status = "infeasible_caps"
        else:
            r_fit = self._clean(r_raw)
            w_prev = (None if prev_map is None
                      else np.array([prev_map.get(s, 0.0) for s in symbols]))
            sol = solve_tracking_qp(
                GramStats.from_returns(r_fit, y), scale=data.periods_per_year / len(y),
                funding_cost=-fund, lambda_funding=self.lambda_funding, lower=lower,
                upper=upper, previous=w_prev,
                turnover_penalty=self.turnover_penalty * _cost_vector(costs, symbols),
                solver=self.solver,
            )
            status, weights, objective = sol.status, sol.weights, sol.objective

        action: HedgeAction = "optimal"
        if weights is None:
            weights, symbols, action = self._on_failure(
                status, at, symbols, upper, prev_map)
            table_idx = {s: i for i, s in enumerate(table["symbol"].to_list())}
            unknown = [s for s in symbols if s not in table_idx]
            if unknown:
                raise DataError(f"previous basket names {unknown} are not candidates in the "
                                "panel (the target or unknown symbols)")
            rows = [table_idx[s] for s in symbols]
            dvol = table["daily_volume_usd"].fill_null(np.nan).to_numpy()[rows]
            fund = table["funding_annual"].to_numpy()[rows]
            upper = self._bounds(dvol)[1]
            cols = [data.column(s) for s in symbols]
            block = data.returns[lo : row + 1][:, [t_col, *cols]]
            ok = ~np.isnan(block).any(axis=1)
            y, r_raw = block[ok, 0], block[ok, 1:]
        basket = r_raw @ weights
        if len(y) >= 3 and basket.std() > 0 and y.std() > 0:
            corr = float(np.corrcoef(basket, y)[0, 1])
        else:
            corr = float("nan")
        te = (float(np.std(y - basket, ddof=1) * np.sqrt(data.periods_per_year))
              if len(y) >= 2 else float("nan"))
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.abs(weights) * self.basket_usd / dvol
        return HedgeBasketResult(
            target=self.target, at=at, symbols=symbols, weights=frozen_array(weights),
            caps=frozen_array(upper), daily_volume_usd=frozen_array(dvol),
            volume_share=frozen_array(share),
            funding_annual=frozen_array(fund), correlation=corr, tracking_error=te,
            expected_funding=float(weights @ fund), status=status, action=action,
            n_obs=len(y), objective=objective,
        )

    def _clean(self, r_raw: np.ndarray) -> np.ndarray:
        if self.pca_clean == "none":
            return r_raw
        k = min(int(self.pca_components), *r_raw.shape)
        res = PCA(k).fit(r_raw)
        mode: CleanMode = "keep" if self.pca_clean == "top_k" else "remove"
        return res.clean(r_raw, n_components=k, mode=mode)

    def _on_failure(
        self,
        status: str,
        at: datetime,
        symbols: tuple[str, ...],
        upper: np.ndarray,
        prev_map: dict[str, float] | None,
    ) -> tuple[np.ndarray, tuple[str, ...], HedgeAction]:
        where = f"HedgeBasket({self.target!r}) at {at}: {status}"
        if self.on_failure == "keep_previous" and prev_map is not None:
            names = tuple(sorted(prev_map))
            return np.array([prev_map[s] for s in names]), names, "kept_previous"
        if self.on_failure == "fallback" and len(symbols) and upper.sum() >= 1.0 - 1e-12:
            return _fallback_weights(np.maximum(upper, 0.0)), symbols, "fallback"
        if status == "insufficient_data":
            raise DataError(
                f"{where}: expected at least {self.min_obs} complete bars and one eligible "
                f"candidate in the {self.lookback} window, got {len(symbols)} candidate(s)",
                fix="fit later, shorten min_obs, or relax the candidate filters",
            )
        hint = {"raise": "choose on_failure='keep_previous' or 'fallback' to continue",
                "keep_previous": "there is no previous basket to keep",
                "fallback": "the caps sum below 1: no basket can be fully invested"}
        raise OptimizationError(
            f"{where}; caps sum to {upper.sum():.3f} over {len(symbols)} names; "
            f"{hint[self.on_failure]}; or raise max_volume_share / lower basket_usd"
        )
