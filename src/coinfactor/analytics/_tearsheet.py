"""Factor tearsheet: does a signal predict forward returns? (compute only; plots elsewhere).

For a factor (any frame ``ts, symbol, <value>``, e.g. a signal) and a panel, with
``fwd_h(t)`` the ``h``-bar forward return of :func:`coinfactor.signals.forward_returns`
(optionally net of funding) and ``q(t)`` the factor quantile of :func:`coinfactor.xs.buckets`
(quantile ``n`` = highest factor values):

- IC per period: Pearson (``ic``) and Spearman (``rank_ic``) correlation across symbols at
  each ``ts`` between the factor and ``fwd_h``; null with fewer than 3 names or no dispersion.
- Mean IC with its t-statistic ``mean / (std / sqrt(n_periods))`` over the periods, for each
  horizon (IC decay = these rows across horizons). Forward returns over ``h > 1`` bars overlap,
  so the periods are autocorrelated and the plain t-statistic overstates significance for
  ``h > 1``; read it for ``h = 1`` or on non-overlapping samples.
- Mean forward return by quantile: the mean over periods of each quantile's equal-weighted
  mean forward return (alphalens' ``mean_return_by_quantile(by_date=False, demeaned=False)``).
- Top-minus-bottom spread per period, its mean and t-statistic.
- Quantile turnover: at each ``ts``, the share of a quantile's names that were not in it at the
  previous period (the previous ``ts`` at which the factor has values), as in alphalens.

Quantiles are assigned from the factor values alone (within the universe if one is given),
before looking at which names have a forward return: membership is what was knowable at ``ts``.

Sample accounting: every statistic of horizon ``h`` uses the factor rows that have ``fwd_h``.
:attr:`FactorTearsheet.sample` says, per horizon, how many factor rows there were, how many had
no forward price return (bars missing over ``t .. t + h``, the end of the data, a symbol not
in the panel), how many had one but were left out for missing funding (with
``include_funding``: a null ``funding_rate`` on a bar of the horizon), and how many were used.
Rows left out for missing funding raise a :class:`~coinfactor.core.errors.DataWarning`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from coinfactor.core.errors import ConfigError, DataError, DataWarning
from coinfactor.signals import forward_return_column, forward_returns
from coinfactor.xs import buckets

_F = "factor"
_Q = "quantile"
_R = "fwd_ret"


@dataclass(frozen=True)
class FactorTearsheet:
    """Tearsheet frames of one factor (immutable; build with :func:`factor_tearsheet`).

    Attributes
    ----------
    factor_name : str
        Name of the factor column.
    horizons : tuple of int
        Forward-return horizons in bars.
    quantiles : int
        Number of quantiles.
    include_funding : bool
        Whether forward returns are net of the funding a long pays.
    ic : pl.DataFrame
        ``horizon, ts, n, ic, rank_ic``: per-period information coefficients.
    ic_summary : pl.DataFrame
        ``horizon, n_periods, mean_ic, std_ic, t_ic, mean_rank_ic, std_rank_ic, t_rank_ic``
        (the IC decay over horizons).
    quantile_returns : pl.DataFrame
        ``horizon, quantile, mean_return, std_error, n_periods``: mean over periods of each
        quantile's mean forward return (fraction over ``h`` bars).
    spread : pl.DataFrame
        ``horizon, ts, top, bottom, spread``: per-period top-minus-bottom mean forward return.
    spread_summary : pl.DataFrame
        ``horizon, n_periods, mean_spread, std_spread, t_spread``.
    turnover : pl.DataFrame
        ``quantile, ts, turnover``: share of new names in each quantile (null at the first
        period).
    sample : pl.DataFrame
        One row per horizon, counts of factor rows (Int64): ``horizon, rows`` (factor rows
        with a value, in the universe if one is given), ``dropped_no_forward_return`` (no
        forward price return over the horizon), ``dropped_no_funding`` (a forward price
        return, but a funding value missing over the horizon; 0 without
        ``include_funding``), ``rows_used`` (the rows every statistic of that horizon uses);
        ``rows = dropped_no_forward_return + dropped_no_funding + rows_used``.
    """

    factor_name: str
    horizons: tuple[int, ...]
    quantiles: int
    include_funding: bool
    ic: pl.DataFrame
    ic_summary: pl.DataFrame
    quantile_returns: pl.DataFrame
    spread: pl.DataFrame
    spread_summary: pl.DataFrame
    turnover: pl.DataFrame
    sample: pl.DataFrame

    def summary(self) -> pl.DataFrame:
        """One row per horizon: mean IC / rank IC with t-stats, spread, mean top/bottom turnover.

        Returns
        -------
        pl.DataFrame
            ``horizon, n_periods, mean_ic, t_ic, mean_rank_ic, t_rank_ic, mean_spread,
            t_spread, top_turnover, bottom_turnover``.
        """
        turn = self.turnover.group_by(_Q).agg(pl.col("turnover").mean())

        def mean_turn(q: int) -> float | None:
            row = turn.filter(pl.col(_Q) == q)
            return row.get_column("turnover")[0] if row.height else None

        return (
            self.ic_summary.select(
                "horizon", "n_periods", "mean_ic", "t_ic", "mean_rank_ic", "t_rank_ic"
            )
            .join(self.spread_summary.select("horizon", "mean_spread", "t_spread"),
                  on="horizon", how="left")
            .with_columns(
                pl.lit(mean_turn(self.quantiles), dtype=pl.Float64).alias("top_turnover"),
                pl.lit(mean_turn(1), dtype=pl.Float64).alias("bottom_turnover"),
            )
            .sort("horizon")
        )


def _t_stats(frame: pl.DataFrame, col: str, prefix: str) -> list[pl.Expr]:
    x = pl.col(col).drop_nulls()
    mean, std, n = x.mean(), x.std(ddof=1), x.count()
    return [
        mean.alias(f"mean_{prefix}"),
        std.alias(f"std_{prefix}"),
        (mean / (std / n.cast(pl.Float64).sqrt())).alias(f"t_{prefix}"),
    ]


def _factor_frame(factor: pl.DataFrame, column: str | None) -> tuple[pl.DataFrame, str]:
    for key in ("ts", "symbol"):
        if key not in factor.columns:
            raise DataError(
                f"factor_tearsheet: expected a factor frame with 'ts', 'symbol' and a value "
                f"column, got {factor.columns}",
                fix="pass the output of a signal (ts, symbol, <name>)",
            )
    values = [c for c in factor.columns if c not in ("ts", "symbol")]
    if column is None:
        if len(values) != 1:
            raise ConfigError(
                f"factor_tearsheet: the factor frame has value columns {values}; pass column="
            )
        column = values[0]
    elif column not in values:
        raise DataError(f"factor_tearsheet: expected column {column!r} in {factor.columns}")
    frame = factor.select(
        "ts", "symbol", pl.col(column).cast(pl.Float64).fill_nan(None).alias(_F)
    ).drop_nulls(_F)
    return frame, column


def factor_tearsheet(
    factor: pl.DataFrame,
    panel: pl.DataFrame,
    *,
    column: str | None = None,
    horizons: Sequence[int] = (1, 5, 10),
    quantiles: int = 5,
    include_funding: bool = False,
    universe: pl.DataFrame | None = None,
    freq: str | None = None,
) -> FactorTearsheet:
    """Information coefficients, quantile returns, spread and turnover of a factor.

    Parameters
    ----------
    factor : pl.DataFrame
        ``ts, symbol, <value>``: the factor known at the close of bar ``ts``.
    panel : pl.DataFrame
        Canonical panel giving the forward returns.
    column : str, optional
        Value column of ``factor`` (default: its only non-key column).
    horizons : sequence of int, default (1, 5, 10)
        Forward-return horizons in bars.
    quantiles : int, default 5
        Number of quantiles (``>= 2``); quantile ``quantiles`` holds the highest values.
    include_funding : bool, default False
        Use forward returns net of the funding a long pays (``-funding_rate`` each bar).
        Rows whose horizon has a bar with null funding have no net forward return: they are
        left out, counted in :attr:`FactorTearsheet.sample`, and a DataWarning says how many.
    universe : pl.DataFrame, optional
        ``ts, symbol, in_universe``: keep only factor rows in the universe.
    freq : str, optional
        Bar frequency (default: inferred from the panel).

    Returns
    -------
    FactorTearsheet
        The frames; see the class and the module notes for definitions.

    Warns
    -----
    DataWarning
        With ``include_funding``, when factor rows that have a forward price return are left
        out for missing funding (how many per horizon, over which dates, and what to do).
    """
    if isinstance(quantiles, bool) or not isinstance(quantiles, int) or quantiles < 2:
        raise ConfigError(f"factor_tearsheet: expected quantiles >= 2, got {quantiles!r}")
    hs = tuple(horizons)
    frame, name = _factor_frame(factor, column)
    if universe is not None:
        keep = universe.filter(pl.col("in_universe")).select("ts", "symbol")
        frame = frame.join(keep, on=["ts", "symbol"], how="semi")
    frame = frame.sort("ts", "symbol").with_columns(buckets(pl.col(_F), quantiles).alias(_Q))
    fwd = forward_returns(panel, hs, include_funding=include_funding, freq=freq)
    data = frame.join(fwd, on=["ts", "symbol"], how="left")
    if include_funding:    # the price-only returns tell missing prices from missing funding
        gross = forward_returns(panel, hs, freq=freq)
        data = data.join(gross.rename({forward_return_column(h): _gross(h) for h in hs}),
                         on=["ts", "symbol"], how="left")
    sample = _sample(data, hs, include_funding)

    ic_parts, q_parts, s_parts = [], [], []
    for h in hs:
        d = data.select("ts", "symbol", _F, _Q, pl.col(forward_return_column(h)).alias(_R))
        d = d.drop_nulls(_R)
        ic = (
            d.group_by("ts")
            .agg(
                pl.len().alias("n"),
                pl.corr(_F, _R, method="pearson").alias("ic"),
                pl.corr(_F, _R, method="spearman").alias("rank_ic"),
            )
            .with_columns(
                *[pl.when(pl.col("n") >= 3).then(pl.col(c).fill_nan(None)).alias(c)
                  for c in ("ic", "rank_ic")]
            )
            .sort("ts")
        )
        horizon = pl.lit(h, dtype=pl.Int64).alias("horizon")
        ic_parts.append(ic.select(horizon, "ts", "n", "ic", "rank_ic"))
        by_ts = d.group_by("ts", _Q).agg(pl.col(_R).mean().alias("mean"))
        q_parts.append(
            by_ts.group_by(_Q)
            .agg(
                pl.col("mean").mean().alias("mean_return"),
                (pl.col("mean").std(ddof=1) / pl.col("mean").count().sqrt()).alias("std_error"),
                pl.col("mean").count().alias("n_periods"),
            )
            .select(horizon, _Q, "mean_return", "std_error", "n_periods")
        )
        top = by_ts.filter(pl.col(_Q) == quantiles).select("ts", pl.col("mean").alias("top"))
        bottom = by_ts.filter(pl.col(_Q) == 1).select("ts", pl.col("mean").alias("bottom"))
        s_parts.append(
            top.join(bottom, on="ts", how="inner")
            .select(horizon, "ts", "top", "bottom",
                    (pl.col("top") - pl.col("bottom")).alias("spread"))
            .sort("ts")
        )
    ic_all = pl.concat(ic_parts)
    ic_summary = (
        ic_all.group_by("horizon", maintain_order=True)
        .agg(
            pl.col("ic").count().alias("n_periods"),
            *_t_stats(ic_all, "ic", "ic"),
            *_t_stats(ic_all, "rank_ic", "rank_ic"),
        )
    )
    _warn_unfunded(data, sample)
    spread = pl.concat(s_parts)
    spread_summary = spread.group_by("horizon", maintain_order=True).agg(
        pl.col("spread").count().alias("n_periods"), *_t_stats(spread, "spread", "spread")
    )
    return FactorTearsheet(
        factor_name=name,
        horizons=hs,
        quantiles=quantiles,
        include_funding=include_funding,
        ic=ic_all,
        ic_summary=ic_summary,
        quantile_returns=pl.concat(q_parts).sort("horizon", _Q),
        spread=spread,
        spread_summary=spread_summary,
        turnover=_turnover(frame, quantiles),
        sample=sample,
    )


def _gross(h: int) -> str:
    return f"__gross_{forward_return_column(h)}"


def _sample(data: pl.DataFrame, hs: tuple[int, ...], include_funding: bool) -> pl.DataFrame:
    """Count factor rows per horizon: rows, no forward return, no funding, used."""
    parts = []
    for h in hs:
        net = pl.col(forward_return_column(h)).is_not_null()
        price = pl.col(_gross(h)).is_not_null() if include_funding else net
        parts.append(data.select(
            pl.lit(h, dtype=pl.Int64).alias("horizon"),
            pl.len().cast(pl.Int64).alias("rows"),
            (~price).sum().cast(pl.Int64).alias("dropped_no_forward_return"),
            (price & ~net).sum().cast(pl.Int64).alias("dropped_no_funding"),
            net.sum().cast(pl.Int64).alias("rows_used"),
        ))
    return pl.concat(parts)


def _warn_unfunded(data: pl.DataFrame, sample: pl.DataFrame) -> None:
    """Warn (DataWarning) when rows with a forward price return lack funding."""
    lost = sample.filter(pl.col("dropped_no_funding") > 0)
    if lost.height == 0:
        return
    h0 = lost["horizon"][0]
    unfunded = data.filter(pl.col(_gross(h0)).is_not_null(),
                           pl.col(forward_return_column(h0)).is_null())
    first, last = unfunded.select(pl.col("ts").min().alias("a"),
                                  pl.col("ts").max().alias("b")).row(0)
    counts = ", ".join(f"h={h}: {d:,} of {d + u:,}" for h, d, u in lost.select(
        "horizon", "dropped_no_funding", "rows_used").iter_rows())
    warnings.warn(
        f"factor_tearsheet(include_funding=True): expected funding on every bar of each "
        f"forward return, got factor rows with a forward price return but null funding, "
        f"left out of the tearsheet ({counts} rows; for h={h0}, ts {first} to {last}); "
        f"fix: attach funding for those bars (coinfactor.data.attach_funding), restrict the "
        f"factor to the funded period, or pass include_funding=False; the counts are in "
        f"FactorTearsheet.sample",
        DataWarning, stacklevel=3)


def _turnover(frame: pl.DataFrame, quantiles: int) -> pl.DataFrame:
    """Share of each quantile's names at ts that were not in it at the previous period."""
    times = frame.select(pl.col("ts").unique().sort())
    prev = times.with_columns(pl.col("ts").shift(1).alias("prev"))
    members = frame.select("ts", "symbol", _Q)
    stayed = (
        members.join(prev, on="ts", how="left")
        .join(
            members.rename({"ts": "prev", _Q: "prev_q"}), on=["prev", "symbol"], how="left"
        )
        .with_columns((pl.col("prev_q") == pl.col(_Q)).fill_null(False).alias("stayed"))
    )
    grid = times.join(pl.DataFrame({_Q: list(range(1, quantiles + 1))},
                                   schema={_Q: pl.Int32}), how="cross")
    counts = stayed.group_by("ts", _Q).agg(
        pl.len().alias("size"), (~pl.col("stayed")).sum().alias("new")
    )
    out = (
        grid.join(prev, on="ts", how="left")
        .join(counts, on=["ts", _Q], how="left")
        .with_columns(
            pl.when(pl.col("prev").is_null()).then(None)
            .when(pl.col("size").is_null()).then(None)
            .otherwise(pl.col("new") / pl.col("size")).alias("turnover")
        )
    )
    return out.select(_Q, "ts", "turnover").sort(_Q, "ts")
