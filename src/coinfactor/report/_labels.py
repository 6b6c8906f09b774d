"""Metric labels in words, with units, formats and groups; a one-line reading of a study run.

Every metric a study writes to ``metrics.json`` has an entry in :data:`METRIC_LABELS` (or
matches one of the patterns of per-factor metrics): the words a report and the demo show, the
kind of number (how it is formatted) and the group it is listed under. A key without an entry
is shown under its own name in the group ``Other``, formatted by its name's conventions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from coinfactor.core.typing import MetricKind

__all__ = ["GROUPS", "METRIC_LABELS", "Label", "format_metric", "group_metrics", "metric_label",
           "study_reading"]

Kind = MetricKind
"""How a metric's value is written (:data:`coinfactor.core.typing.MetricKind`)."""

GROUPS: tuple[str, ...] = ("Returns", "Risk", "Costs and funding", "Exposure", "Trading",
                           "Hedge", "Signal", "Model fit", "Factors", "Run", "Other")
"""Groups of the report's metrics section, in display order."""


@dataclass(frozen=True)
class Label:
    """How one metric is shown.

    Attributes
    ----------
    text : str
        Words with the unit, e.g. ``"Max drawdown duration (days)"``.
    kind : Kind
        Number format (see :data:`Kind`).
    group : str
        One of :data:`GROUPS`.
    """

    text: str
    kind: Kind
    group: str


def _l(text: str, kind: Kind, group: str) -> Label:
    return Label(text, kind, group)


_R, _K, _C, _E, _T = "Returns", "Risk", "Costs and funding", "Exposure", "Trading"
_H, _S, _M, _F, _N = "Hedge", "Signal", "Model fit", "Factors", "Run"

METRIC_LABELS: dict[str, Label] = {
    # returns (coinfactor.analytics.summary)
    "total_return": _l("Total return", "percent", _R),
    "annual_return": _l("Annual return (CAGR)", "percent_yr", _R),
    "annual_price_return": _l("Price return (arithmetic, per year)", "percent_yr", _R),
    "price_total": _l("Price P&L, total (share of NAV)", "percent", _R),
    "best_period": _l("Best bar return", "percent", _R),
    "worst_period": _l("Worst bar return", "percent", _R),
    "hit_rate": _l("Share of bars with a gain", "percent", _R),
    "annual_return_unhedged": _l("Annual return unhedged (CAGR)", "percent_yr", _R),
    "bootstrap_median_annual_return": _l("Bootstrap median annual return", "percent_yr", _R),
    "bootstrap_p5_annual_return": _l("Bootstrap 5th-percentile annual return", "percent_yr",
                                     _R),
    "bootstrap_median_annual_return_unhedged": _l(
        "Bootstrap median annual return, unhedged", "percent_yr", _R),
    # risk
    "annual_volatility": _l("Annual volatility", "percent_yr", _K),
    "annual_volatility_unhedged": _l("Annual volatility unhedged", "percent_yr", _K),
    "sharpe_ratio": _l("Sharpe ratio", "ratio", _K),
    "sortino_ratio": _l("Sortino ratio", "ratio", _K),
    "calmar_ratio": _l("Calmar ratio (CAGR / max drawdown)", "ratio", _K),
    "max_drawdown": _l("Max drawdown", "percent", _K),
    "max_drawdown_unhedged": _l("Max drawdown unhedged", "percent", _K),
    "max_drawdown_duration": _l("Max drawdown duration (bars)", "count", _K),
    "max_drawdown_duration_bars": _l("Max drawdown duration (bars)", "count", _K),
    "max_drawdown_duration_days": _l("Max drawdown duration (days)", "count", _K),
    "skewness": _l("Skewness of bar returns", "number", _K),
    "kurtosis": _l("Excess kurtosis of bar returns", "number", _K),
    "value_at_risk": _l("Value at risk, 5% (per bar)", "percent", _K),
    "conditional_value_at_risk": _l("Expected shortfall, 5% (per bar)", "percent", _K),
    "vol_target": _l("Volatility target (annual)", "percent_yr", _K),
    "realized_vol_over_target": _l("Realised volatility / target", "ratio", _K),
    "mean_forecast_vol": _l("Mean forecast volatility (annual)", "percent_yr", _K),
    "liquidated": _l("Liquidated (equity hit the margin)", "flag", _K),
    # costs and funding
    "annual_cost_return": _l("Costs (per year)", "percent_yr", _C),
    "annual_funding_return": _l("Funding P&L (per year)", "percent_yr", _C),
    "funding_total": _l("Funding P&L, total (share of NAV)", "percent", _C),
    "cost_total": _l("Costs, total (share of NAV)", "percent", _C),
    "funding_missing_bars": _l("Funding missing (held position-bars)", "count", _C),
    "funding_missing_share": _l("Funding missing (share of held position-bars)", "percent",
                                _C),
    "expected_funding_mean": _l("Expected basket funding, mean (annual)", "percent_yr", _C),
    "mean_buffer": _l("No-trade buffer, mean (share of NAV)", "percent", _C),
    # exposure
    "gross_exposure_mean": _l("Gross exposure, mean (share of NAV)", "percent", _E),
    "gross_exposure_max": _l("Gross exposure, max (share of NAV)", "percent", _E),
    "net_exposure_mean": _l("Net exposure, mean (share of NAV)", "percent", _E),
    "long_exposure_mean": _l("Long exposure, mean (share of NAV)", "percent", _E),
    "short_exposure_mean": _l("Short exposure, mean (share of NAV)", "percent", _E),
    "positions_mean": _l("Positions held, mean (coins)", "number", _E),
    "mean_universe_size": _l("Universe size, mean (coins)", "number", _E),
    "gross_cap_bound_fraction": _l("Gross cap binding (share of bars)", "percent", _E),
    # trading
    "annual_turnover": _l("Turnover (× NAV per year)", "multiple", _T),
    "fraction_of_bars_trading": _l("Bars with a trade (share)", "percent", _T),
    "turnover_cap_bound_fraction": _l("Turnover cap binding (share of bars)", "percent", _T),
    "n_decisions": _l("Decision times", "count", _T),
    "n_trading_decisions": _l("Decisions that traded", "count", _T),
    "n_rebalances": _l("Rebalances (basket fits)", "count", _T),
    "n_failed_fits": _l("Rebalances whose fit failed", "count", _T),
    # hedge
    "target": _l("Hedged coin", "text", _H),
    "vol_reduction": _l("Volatility cut by the hedge", "percent", _H),
    "oos_correlation": _l("Coin vs basket correlation, out of sample", "corr", _H),
    "insample_correlation_mean": _l("Coin vs basket correlation, in sample (mean)", "corr",
                                    _H),
    # signal
    "mean_eligible": _l("Eligible coins per decision, mean", "number", _S),
    "mean_rank_ic": _l("Mean rank IC (signal vs next return)", "corr", _S),
    "rank_ic_t_stat": _l("Rank IC t-statistic", "ratio", _S),
    "mean_basket_fwd_return": _l("Basket forward return per decision, mean (before costs)",
                                 "percent", _S),
    # model fit (risk_model)
    "mean_rsquared_spreads": _l("Mean R², market + spreads", "percent", _M),
    "mean_rsquared_adj_spreads": _l("Mean adjusted R², market + spreads", "percent", _M),
    "rank_deficient_share_spreads": _l("Rank-deficient windows, market + spreads", "percent",
                                       _M),
    "mean_rsquared_buckets": _l("Mean R², market + buckets (seed's set)", "percent", _M),
    "mean_rsquared_adj_buckets": _l("Mean adjusted R², market + buckets", "percent", _M),
    "rank_deficient_share_buckets": _l("Rank-deficient windows, market + buckets", "percent",
                                       _M),
    "mean_beta_market": _l("Market beta, mean", "ratio", _M),
    "exposure_cells": _l("Exposure fits (coin-bars)", "count", _M),
    "max_abs_factor_correlation": _l("Largest factor correlation (absolute)", "corr", _F),
    "max_abs_factor_correlation_pair": _l("Most correlated factor pair", "text", _F),
    "mean_abs_factor_correlation": _l("Mean factor correlation (absolute)", "corr", _F),
    "factors": _l("Factors fitted", "text", _F),
    # run
    "n_bars": _l("Bars in the run", "count", _N),
    "n_symbols": _l("Coins in the panel", "count", _N),
    "periods_per_year": _l("Bars per year", "count", _N),
    "window_bars": _l("Regression window (bars)", "count", _N),
    "seed_parity": _l("Seed parity (the seed's choices)", "flag", _N),
}
"""Metric key -> :class:`Label` (per-factor keys are matched by :data:`_PATTERNS`)."""


def _factor(name: str) -> str:
    """``liquidity_hml`` -> ``liquidity high−low``; ``beta_low`` -> ``beta low``."""
    return name.replace("_hml", " high−low").replace("_", " ")


_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], Label]], ...] = (
    (re.compile(r"^ann_vol_(.+)$"),
     lambda m: _l(f"Factor {_factor(m[1])}: annual volatility", "percent_yr", _F)),
    (re.compile(r"^ann_mean_(.+)$"),
     lambda m: _l(f"Factor {_factor(m[1])}: annual mean return", "percent_yr", _F)),
    (re.compile(r"^lookahead_mismatch_(.+)$"),
     lambda m: _l(f"Look-ahead in the seed's {m[1]} buckets (share of coin-days moved)",
                  "percent", _M)),
)


def metric_label(key: str) -> Label | None:
    """Return the label of a metric key (a dotted key is looked up by its last part)."""
    last = key.rsplit(".", 1)[-1]
    if last in METRIC_LABELS:
        return METRIC_LABELS[last]
    for pattern, make in _PATTERNS:
        m = pattern.match(last)
        if m:
            return make(m)
    return None


def format_metric(kind: Kind, value: Any) -> str:
    """Write a value in the format of its kind (plain text: no HTML escaping).

    ``None``, NaN and infinities are ``n/a``; a list is joined with commas.
    """
    if value is None:
        return "n/a"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if kind == "flag" or isinstance(value, bool):
        return "yes" if value else "no"
    if kind == "text" or not isinstance(value, int | float):
        return str(value)
    x = float(value)
    if math.isnan(x) or math.isinf(x):
        return "n/a"
    if kind == "percent":
        return f"{x:.2%}"
    if kind == "percent_yr":
        return f"{x:.2%}/yr"
    if kind in ("ratio", "corr"):
        return f"{x:.2f}" if abs(x) >= 0.1 or x == 0 else f"{x:.3f}"
    if kind == "count":
        return f"{round(x):,}"
    if kind == "multiple":
        return f"{x:,.1f}×"
    return f"{x:,.4g}"


def group_metrics(metrics: Mapping[str, Any]) -> list[tuple[str, list[tuple[str, str, Any]]]]:
    """Split metrics into the :data:`GROUPS`, each as ``(key, label text, value)`` rows.

    Groups come in :data:`GROUPS` order, metrics in their order in ``metrics``; empty groups
    are left out; a key without a label keeps its name in ``Other``.
    """
    groups: dict[str, list[tuple[str, str, Any]]] = {g: [] for g in GROUPS}
    for key, value in metrics.items():
        label = metric_label(key)
        if label is None:
            groups["Other"].append((key, key, value))
        else:
            groups[label.group].append((key, label.text, value))
    return [(g, rows) for g, rows in groups.items() if rows]


def _num(metrics: Mapping[str, Any], key: str) -> float | None:
    v = metrics.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def _pnl_reading(m: Mapping[str, Any], book: str = "") -> str:
    """``loses 19.8%/yr after 21.5%/yr costs (funding +9.4%/yr); Sharpe -0.96, ...``."""
    ret = _num(m, "annual_return")
    if ret is None:
        return ""
    parts = [f"{book}{'loses' if ret < 0 else 'earns'} {abs(ret):.1%}/yr"]
    cost = _num(m, "annual_cost_return")
    if cost is not None and abs(cost) >= 5e-4:
        parts.append(f" after {abs(cost):.1%}/yr costs")
    funding = _num(m, "annual_funding_return")
    if funding is not None and abs(funding) >= 5e-4:
        parts.append(f" (funding {funding:+.1%}/yr)")
    tail = []
    for key, name, fmt in (("sharpe_ratio", "Sharpe", "{:.2f}"),
                           ("max_drawdown", "max drawdown", "{:.0%}")):
        v = _num(m, key)
        if v is not None:
            tail.append(f"{name} {fmt.format(v)}")
    text = "".join(parts) + (f"; {', '.join(tail)}" if tail else "")
    missing = _num(m, "funding_missing_share")
    if missing:
        text += f"; funding missing on {missing:.0%} of held position-bars (booked as zero)"
    if m.get("liquidated"):
        text += "; liquidated"
    return text


def _hedge_reading(m: Mapping[str, Any]) -> str:
    cut, vol_u, vol_h = (_num(m, k) for k in ("vol_reduction", "annual_volatility_unhedged",
                                              "annual_volatility"))
    corr = _num(m, "oos_correlation")
    target = m.get("target", "the target")
    head = ""
    if cut is not None:
        head = f"the hedge {'cuts' if cut >= 0 else 'raises'} {target}'s volatility by " \
               f"{abs(cut):.0%}"
        if vol_u is not None and vol_h is not None:
            head += f" ({vol_u:.0%} → {vol_h:.0%}/yr"
            head += f", out-of-sample correlation {corr:.2f})" if corr is not None else ")"
    pnl = _pnl_reading(m, "the hedged book ")
    return "; ".join(p for p in (head, pnl) if p)


def _risk_model_reading(m: Mapping[str, Any]) -> str:
    parts = []
    r2 = _num(m, "mean_rsquared_spreads")
    if r2 is not None:
        text = f"market + spread factors explain {r2:.0%} of coins' bar-return variance " \
               "(mean R²"
        deficient = _num(m, "rank_deficient_share_spreads")
        text += f", {deficient:.0%} of windows rank-deficient)" if deficient is not None \
            else ")"
        parts.append(text)
    r2b, deficient_b = _num(m, "mean_rsquared_buckets"), _num(m, "rank_deficient_share_buckets")
    if r2b is not None:
        text = f"the seed's bucket set {r2b:.0%}"
        if deficient_b is not None:
            text += f" with {deficient_b:.0%} of windows rank-deficient"
        parts.append(text)
    corr = _num(m, "max_abs_factor_correlation")
    if corr is not None:
        pair = m.get("max_abs_factor_correlation_pair")
        parts.append(f"largest factor correlation {corr:.2f}" + (f" ({pair})" if pair else ""))
    return "; ".join(parts)


_READINGS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "hedge_basket": _hedge_reading,
    "risk_model": _risk_model_reading,
}


def study_reading(study: str, metrics: Mapping[str, Any]) -> str:
    """Return one line a person can read: what the run's result says, in words and numbers.

    E.g. carry: ``"loses 19.8%/yr after 21.5%/yr costs (funding +9.4%/yr); Sharpe -0.96,
    max drawdown -42%"``; risk_model: the mean R² and rank-deficient share of each factor set
    and the largest factor correlation. Any study with ``annual_return`` gets the P&L
    reading; a study without the metrics a reading needs gets ``""``.

    Parameters
    ----------
    study : str
        Study name (the reading of ``hedge_basket`` and ``risk_model`` is their own).
    metrics : mapping
        The run's ``metrics.json``.
    """
    text = _READINGS.get(study, _pnl_reading)(metrics)
    if not text and study in _READINGS:
        text = _pnl_reading(metrics)
    if study == "reversion" and text:
        ic, t = _num(metrics, "mean_rank_ic"), _num(metrics, "rank_ic_t_stat")
        if ic is not None:
            text += f"; mean rank IC {ic:.3f}" + (f" (t = {t:.1f})" if t is not None else "")
    return text
