"""Return signals: bar returns, rolling (compounded) returns and momentum."""

from __future__ import annotations

from collections.abc import Sequence
from typing import get_args

import numpy as np
import polars as pl

from coinfactor import rolling as k
from coinfactor.core.errors import ConfigError
from coinfactor.core.typing import ReturnKind
from coinfactor.data import Grid
from coinfactor.signals._registry import register, register_array


def _kind(kind: str) -> ReturnKind:
    if kind not in get_args(ReturnKind):
        raise ConfigError(f"expected kind in {list(get_args(ReturnKind))}, got {kind!r}")
    return kind  # type: ignore[return-value]


@register
def returns(
    panel: pl.DataFrame, *, kind: ReturnKind = "simple", freq: str | None = None
) -> pl.DataFrame:
    """Bar return, never across a gap.

    ``returns(t) = close(t) / close(t - freq) - 1`` (simple) or ``log(close(t) / close(t - freq))``
    (log): the return earned over bar ``t``, known at its close. Null when the bar at
    ``t - freq`` is missing (gap, first bar of a symbol, filled bar).

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel.
    kind : {"simple", "log"}, default "simple"
        Return definition.
    freq : str, optional
        Bar frequency (default: inferred from the panel).

    Returns
    -------
    pl.DataFrame
        ``ts, symbol, returns`` (fraction per bar), one row per panel row.
    """
    grid = Grid.from_panel(panel, freq)
    return grid.long({"returns": _returns(panel, grid, kind=kind)})


@register_array("returns")
def _returns(panel: pl.DataFrame, grid: Grid, *, kind: ReturnKind = "simple") -> np.ndarray:
    kind = _kind(kind)
    close = grid.wide(panel, "close")
    return k.log_returns(close) if kind == "log" else k.simple_returns(close)


@register
def rolling_return(
    panel: pl.DataFrame,
    *,
    window: int = 6,
    min_periods: int | None = None,
    freq: str | None = None,
) -> pl.DataFrame:
    """Compounded return over the last ``window`` bars.

    ``rolling_return(t) = exp(sum of log returns of bars t-window+1..t) - 1``, which equals
    ``close(t) / close(t - window) - 1`` when every bar is present. Window rule: see
    :mod:`coinfactor.signals` (default: every bar of the window present).

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel.
    window : int, default 6
        Window in bars (6 bars = one day of 4h bars).
    min_periods : int, optional
        Bar returns required in the window (default ``window``).
    freq : str, optional
        Bar frequency (default: inferred).

    Returns
    -------
    pl.DataFrame
        ``ts, symbol, rolling_return`` (fraction), one row per panel row.
    """
    grid = Grid.from_panel(panel, freq)
    return grid.long({"rolling_return": _rolling_return(panel, grid, window=window,
                                                        min_periods=min_periods)})


@register_array("rolling_return")
def _rolling_return(panel: pl.DataFrame, grid: Grid, *, window: int = 6,
                    min_periods: int | None = None) -> np.ndarray:
    k.check_window(window)
    need = k.min_count(window, min_periods)
    sums, counts = k.rolling_sum(k.log_returns(grid.wide(panel, "close")), window,
                                 overwrite=True)
    values = np.expm1(sums, out=sums)
    np.copyto(values, np.nan, where=counts < need)
    return values


@register
def momentum(
    panel: pl.DataFrame,
    *,
    windows: Sequence[int] = (1, 2, 3, 6, 12),
    freq: str | None = None,
) -> pl.DataFrame:
    """Momentum: the sum over several windows of the summed simple returns (seed 000).

    ``momentum(t) = sum_w sum_{j=0}^{w-1} r(t - j)`` with ``r`` the simple bar return. Each
    window needs all its bar returns (no gap), so the longest window sets the history needed.
    Defaults (1, 2, 3, 6, 12 bars) are seed 000's 1h..12h horizons on a 1h panel.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel.
    windows : sequence of int, default (1, 2, 3, 6, 12)
        Window lengths in bars.
    freq : str, optional
        Bar frequency (default: inferred).

    Returns
    -------
    pl.DataFrame
        ``ts, symbol, momentum`` (sum of fractions, unitless), one row per panel row.
    """
    grid = Grid.from_panel(panel, freq)
    return grid.long({"momentum": _momentum(panel, grid, windows=windows)})


@register_array("momentum")
def _momentum(panel: pl.DataFrame, grid: Grid, *,
              windows: Sequence[int] = (1, 2, 3, 6, 12)) -> np.ndarray:
    if isinstance(windows, int | str) or not windows:
        raise ConfigError(f"momentum: expected a non-empty sequence of windows, got {windows!r}")
    for w in windows:
        k.check_window(w, "each momentum window")
    close = grid.wide(panel, "close")
    r = k.simple_returns(close)
    total = np.zeros_like(r)
    for w in windows:
        sums, counts = k.rolling_sum(r, w)
        total = total + np.where(counts >= w, sums, np.nan)
    return total
