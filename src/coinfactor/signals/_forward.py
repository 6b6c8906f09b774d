"""Forward returns: research LABELS that look into the future (never use them as signals)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from coinfactor import rolling as k
from coinfactor.core.errors import ConfigError, DataError
from coinfactor.data import Grid


def forward_return_column(h: int) -> str:
    """Column name of the ``h``-bar forward return: ``fwd_ret_<h>``."""
    return f"fwd_ret_{h}"


def forward_returns(
    panel: pl.DataFrame,
    horizons: Sequence[int] = (1,),
    *,
    include_funding: bool = False,
    freq: str | None = None,
) -> pl.DataFrame:
    """FORWARD-LOOKING returns over the next ``h`` bars, for research labels only.

    The value at ``ts`` uses bars ``ts + freq .. ts + h * freq``: it is what a position
    decided on bar ``ts``'s close earns afterwards, so it breaks the point-in-time rule by
    design and is not a registered signal. Its own contract: the value at ``ts`` depends only
    on rows with ``ts <= ts' <= ts + h * freq``.

    ``fwd_ret_h(t) = prod_{j=1..h} (1 + r(t + j) - f(t + j)) - 1`` with ``r`` the simple bar
    return and ``f`` the bar's ``funding_rate`` when ``include_funding`` (else 0): the return of
    a long held at constant weight, funding paid as in the backtest accounting. Without funding
    it is ``close(t + h) / close(t) - 1``. Null unless every bar ``t .. t + h`` is present (and
    every funding value, with funding).

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel.
    horizons : sequence of int, default (1,)
        Horizons in bars.
    include_funding : bool, default False
        Subtract the funding a long pays.
    freq : str, optional
        Bar frequency (default: inferred).

    Returns
    -------
    pl.DataFrame
        ``ts, symbol, fwd_ret_<h>...`` (fractions), one row per panel row.
    """
    hs = list(horizons)
    if not hs:
        raise ConfigError("forward_returns: expected at least one horizon")
    for h in hs:
        k.check_window(h, "each horizon")
    if len(set(hs)) != len(hs):
        raise ConfigError(f"forward_returns: horizons must be distinct, got {hs}")
    if include_funding and "funding_rate" not in panel.columns:
        raise DataError(
            "forward_returns: include_funding=True expected a 'funding_rate' column",
            column="funding_rate",
            fix="attach funding (coinfactor.data.attach_funding) or pass include_funding=False",
        )
    grid = Grid.from_panel(panel, freq)
    close = grid.wide(panel, "close")
    step = k.simple_returns(close)
    if include_funding:
        step = step - grid.wide(panel, "funding_rate")
    with np.errstate(invalid="ignore"):
        growth = np.log1p(step)
    out = panel.select("ts", "symbol")
    for h in hs:
        sums, counts = k.rolling_sum(growth, h)  # sum over bars t-h+1..t, then moved back by h
        total = np.where(counts >= h, np.expm1(sums), np.nan)
        if not include_funding:
            total = np.where(counts >= h, close / k.shift(close, h) - 1.0, np.nan)
        values = k.shift(total, -h)
        col = grid.long({forward_return_column(h): values})
        out = out.with_columns(col.get_column(forward_return_column(h)))
    return out
