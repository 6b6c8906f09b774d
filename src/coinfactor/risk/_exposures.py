"""Rolling factor exposures of every coin: alpha, betas, R², adjusted R²."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from coinfactor.core.errors import ConfigError
from coinfactor.core.typing import FactorSet
from coinfactor.risk._factors import FactorReturns
from coinfactor.rolling import DEFAULT_RANK_TOL, RollingOLSResult, rolling_ols


@dataclass(frozen=True, eq=False)
class ExposureResult:
    """Rolling exposures of each coin to a set of factors.

    Attributes
    ----------
    table : pl.DataFrame
        One row per fitted (symbol, ts), sorted by (symbol, ts): ``ts, symbol, alpha``, one
        ``beta_<factor>`` per factor, ``rsquared, rsquared_adj, resid_std, nobs, rank,
        condition_number`` (the last when asked for). Row ``ts`` uses the bars of the window
        ending at ``ts`` (known at its close). ``alpha`` is per bar, a fraction;
        ``rank < 1 + len(factors)`` marks a rank-deficient window whose betas are the
        minimum-norm solution on the kept directions (see
        :func:`coinfactor.rolling.rolling_ols`); ``condition_number`` is that of the
        factors' correlation matrix in the window (inf when singular; the window is rank
        deficient from ``1 / rank_tol`` on).
    factors : tuple of str
        Factor names, in column order.
    ols : RollingOLSResult
        The underlying regression arrays, shape (T, N, 1 + len(factors)).
    window : int
        Regression window in bars.
    leave_one_out : bool
        Whether each coin's market factor excluded the coin itself.
    rank_tol : float
        Relative rank tolerance of the fit.
    """

    table: pl.DataFrame
    factors: tuple[str, ...]
    ols: RollingOLSResult
    window: int
    leave_one_out: bool
    rank_tol: float = DEFAULT_RANK_TOL

    def mean(self, column: str) -> float:
        """Mean of a column of :attr:`table` over the fitted cells, NaN values skipped.

        Parameters
        ----------
        column : str
            A numeric column, e.g. ``"rsquared_adj"`` or ``"beta_market"``.

        Returns
        -------
        float
            In the column's unit; NaN when no cell has a finite value.
        """
        v = self.table.get_column(column).to_numpy()
        return float(np.nanmean(v)) if np.isfinite(v).any() else math.nan

    def mean_rsquared(self) -> float:
        """Mean R² over all fitted (coin, bar) cells."""
        v = self.table.get_column("rsquared").to_numpy()
        return float(np.nanmean(v)) if np.isfinite(v).any() else math.nan

    def summary(self) -> str:
        """Plain-text summary: factors, window, cells fitted, mean R² and mean betas."""
        lines = ["ExposureResult",
                 f"  factors        {', '.join(self.factors)}",
                 f"  window         {self.window} bars (leave-one-out market: "
                 f"{self.leave_one_out})",
                 f"  fitted cells   {self.table.height}",
                 f"  mean R²        {self.mean_rsquared():.4f}"]
        deficient = self.table.filter(pl.col("rank") < 1 + len(self.factors)).height
        lines.append(f"  rank-deficient {deficient}")
        for f in self.factors:
            v = self.table.get_column(f"beta_{f}").to_numpy()
            mean = float(np.nanmean(v)) if np.isfinite(v).any() else math.nan
            lines.append(f"  mean beta_{f:<20} {mean:.4f}")
        return "\n".join(lines)


def exposures(
    factors: FactorReturns,
    *,
    window: int,
    factor_set: FactorSet | Sequence[str] = "spreads",
    leave_one_out: bool = False,
    min_nobs: int | None = None,
    rank_tol: float = DEFAULT_RANK_TOL,
    condition_number: bool = True,
) -> ExposureResult:
    """Regress every coin's return on factor returns over a rolling window, in one call.

    Parameters
    ----------
    factors : FactorReturns
        From :func:`coinfactor.risk.factor_returns` (coin returns, factor returns, market
        weights on one grid).
    window : int
        Regression window in bars.
    factor_set : {"spreads", "buckets"} or sequence of str, default "spreads"
        ``"spreads"``: market + high-minus-low spreads (well-posed); ``"buckets"``: market +
        every bucket (seed 000's set, exactly collinear: betas are minimum-norm, R² is
        unaffected); or explicit factor column names.
    leave_one_out : bool, default False
        Replace the market factor, for each coin, by the market without that coin
        (``(Σ w r - w_i r_i) / (Σ w - w_i)``), so a coin is not regressed on itself. Do not
        combine with ``"buckets"``: the coin's own return then re-enters through its bucket
        (R² near 1).
    min_nobs : int, optional
        Fewest valid bars in a window (default: the number of coefficients).
    rank_tol : float, default 1e-4
        Relative rank tolerance of :func:`coinfactor.rolling.rolling_ols`, in (0, 1): factor
        directions whose variance in a window's factor correlation matrix is at most
        ``rank_tol`` of the largest are dropped (the window's ``rank`` falls, its betas are
        minimum-norm). Smaller values keep more nearly collinear directions (and their
        large, unstable betas).
    condition_number : bool, default True
        Report each window's condition number (column ``condition_number``). It costs one
        small eigenvalue solve per bar, or per coin and bar with ``leave_one_out`` (there
        about as much as the regression itself); False leaves the column out.

    Returns
    -------
    ExposureResult

    Raises
    ------
    ConfigError
        On unknown factor names, ``leave_one_out`` without a market, or a bad ``rank_tol``.
    """
    names = factor_columns(factors, factor_set, leave_one_out=leave_one_out)
    x = factors.returns.select(names).to_numpy().astype(np.float64)
    y = factors.asset_returns
    x_in: np.ndarray = x
    if leave_one_out:
        x_in = leave_one_out_regressors(x, names, y, factors.market_weights,
                                        *leave_one_out_totals(y, factors.market_weights))
    ols = rolling_ols(y, x_in, window, min_nobs=min_nobs, rank_tol=rank_tol,
                      condition_number=condition_number)
    table = exposure_table(factors.grid.ts, factors.grid.symbols, ols, names,
                           condition_number=condition_number)
    return ExposureResult(table=table, factors=names, ols=ols, window=window,
                          leave_one_out=leave_one_out, rank_tol=float(rank_tol))


def factor_columns(factors: FactorReturns, factor_set: FactorSet | Sequence[str], *,
                   leave_one_out: bool) -> tuple[str, ...]:
    """Return the factor column names of ``factor_set``, checked against ``factors``."""
    if isinstance(factor_set, str):
        names = factors.factor_names(factor_set)  # type: ignore[arg-type]
    else:
        names = tuple(factor_set)
    available = factors.returns.columns[1:]
    missing = [n for n in names if n not in available]
    if missing or not names:
        raise ConfigError(f"exposures: unknown factor(s) {missing}; expected names from "
                          f"{available}")
    if leave_one_out and "market" not in names:
        raise ConfigError("exposures: leave_one_out needs 'market' in the factor set")
    return names


def exposure_table(ts: pl.Series, symbols: Sequence[str], ols: RollingOLSResult,
                   names: Sequence[str], *, condition_number: bool,
                   skip: int = 0) -> pl.DataFrame:
    """Return the fitted cells of a rolling fit as a long table sorted by (symbol, ts).

    Parameters
    ----------
    ts : pl.Series
        Time axis of the rows of ``ols`` from row ``skip`` on (length ``T - skip``).
    symbols : sequence of str
        Its series.
    ols : RollingOLSResult
        Arrays of shape (T, N, p).
    names : sequence of str
        Factor names (``beta_<name>`` columns).
    condition_number : bool
        Add the ``condition_number`` column.
    skip : int, default 0
        Leading rows of ``ols`` left out (the warm-up of a time block).

    Returns
    -------
    pl.DataFrame
        See :attr:`ExposureResult.table`.
    """
    rows = slice(skip, None)
    params = ols.params[rows]
    rsq = ols.rsquared[rows]
    n_rows, n_sym = rsq.shape
    fitted = np.isfinite(rsq) | np.isfinite(params[..., 0])
    keep = _series_major(fitted)
    every = bool(keep.all())

    def column(v: np.ndarray) -> np.ndarray:
        flat = _series_major(v)
        return flat if every else flat[keep]

    by_series = _series_major(params)     # (N * T, p): one transpose for every coefficient
    cols: dict[str, np.ndarray] = {"alpha": by_series[:, 0]}
    for j, name in enumerate(names):
        cols[f"beta_{name}"] = by_series[:, j + 1]
    if not every:
        cols = {k: v[keep] for k, v in cols.items()}
    cols.update(rsquared=column(rsq), rsquared_adj=column(ols.rsquared_adj[rows]),
                resid_std=column(ols.resid_std[rows]))
    return pl.DataFrame({
        "ts": pl.Series("ts", np.tile(ts.to_numpy(), n_sym)[keep]).cast(ts.dtype),
        "symbol": pl.Series("symbol", list(symbols), dtype=pl.String).gather(
            np.repeat(np.arange(n_sym), n_rows)[keep]),
        **cols,
        "nobs": column(ols.nobs[rows]),
        "rank": column(ols.rank[rows]),
        **({"condition_number": column(ols.condition_number[rows])}
           if condition_number else {}),
    })


_TRANSPOSE_ROWS = 256
"""Rows per step of :func:`_series_major` (a step's reads and writes stay in cache)."""


def _series_major(a: np.ndarray) -> np.ndarray:
    """Return ``a`` (T, N, ...) series after series: shape (N * T, ...), row ``n * T + t``.

    The transpose goes by steps of a few rows: a plain ``a.swapaxes(0, 1)`` copy reads
    ``a`` with a stride of a whole row per element, which at hundreds of series misses the
    cache (and the TLB) at every element.
    """
    n_rows, n_sym = a.shape[:2]
    out = np.empty((n_sym, n_rows, *a.shape[2:]), dtype=a.dtype)
    for r0 in range(0, n_rows, _TRANSPOSE_ROWS):
        r1 = min(n_rows, r0 + _TRANSPOSE_ROWS)
        out[:, r0:r1] = a[r0:r1].swapaxes(0, 1)
    return out.reshape(n_sym * n_rows, *a.shape[2:])


def leave_one_out_totals(ret: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray,
                                                                       np.ndarray]:
    """Per bar, the weighted sum of returns and the sum of weights over all coins, (T, 1).

    Sums over the whole coin axis (a block of coins takes them from the whole panel).
    """
    contrib = np.where(np.isfinite(ret), weights * np.nan_to_num(ret), 0.0)
    w_in = np.where(np.isfinite(ret), weights, 0.0)
    return contrib.sum(axis=1, keepdims=True), w_in.sum(axis=1, keepdims=True)


def leave_one_out_regressors(x: np.ndarray, names: Sequence[str], ret: np.ndarray,
                             weights: np.ndarray, total: np.ndarray,
                             wsum: np.ndarray) -> np.ndarray:
    """Regressors (T, N, k): ``x`` with the market of each coin without itself.

    The market without coin ``i`` is ``(total - w_i r_i) / (wsum - w_i)`` (NaN where no
    other coin has a weight); ``total`` and ``wsum`` from :func:`leave_one_out_totals`.
    """
    contrib = np.where(np.isfinite(ret), weights * np.nan_to_num(ret), 0.0)
    w_in = np.where(np.isfinite(ret), weights, 0.0)
    rest = wsum - w_in
    x_in = np.repeat(x[:, None, :], ret.shape[1], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        x_in[:, :, list(names).index("market")] = np.where(rest > 0, (total - contrib) / rest,
                                                           np.nan)
    return x_in
