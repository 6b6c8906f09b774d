"""Block bootstrap Monte Carlo of a P&L series: distributions of annual performance.

:func:`block_bootstrap` resamples a return series (or several aligned series with the SAME
draws, e.g. hedged and unhedged) in blocks to build synthetic paths of a chosen horizon (one
year by default), and returns the distribution of annual return, volatility, Sharpe ratio and
maximum drawdown over the paths, with a percentile table (99 … 1, as in seed 002) and
histogram data. Blocks keep the short-range dependence (volatility clustering, autocorrelated
hedge errors) that i.i.d. resampling destroys.

Index semantics follow ``arch.bootstrap``:

* ``"moving"`` (``MovingBlockBootstrap``): blocks of fixed length ``b`` starting uniformly in
  ``[0, n - b]``, no wrap-around, concatenated and cut to the horizon;
* ``"stationary"`` (``StationaryBootstrap``, Politis & Romano 1994): each step starts a new
  block at a uniform index with probability ``1/b``, else continues the block (wrapping
  circularly), so block lengths are geometric with mean ``b``.

Draws come from one ``numpy.random.Generator`` seeded by ``seed``, in fixed batches of paths,
so a run is reproducible bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import get_args

import numpy as np
import polars as pl

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.core.time import freq_to_timedelta, periods_per_year
from coinfactor.core.typing import BootstrapMethod, BootstrapMetric

METRICS: tuple[BootstrapMetric, ...] = get_args(BootstrapMetric)
METHODS: tuple[BootstrapMethod, ...] = get_args(BootstrapMethod)
PERCENTILES: tuple[float, ...] = (99.0, 95.0, 90.0, 75.0, 50.0, 25.0, 10.0, 5.0, 1.0)
_BATCH = 128  # paths per batch: bounds memory (batch x horizon x series floats)


def _to_bars(value: str | int, freq: str, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        bars = value
    else:
        bars = round(freq_to_timedelta(str(value)) / freq_to_timedelta(freq))
    if bars < 1:
        raise ConfigError(f"block_bootstrap: {what} must be at least one bar, got {value!r}")
    return int(bars)


def moving_block_indices(
    rng: np.random.Generator, n: int, block: int, horizon: int, size: int
) -> np.ndarray:
    """Draw ``size`` moving-block index paths of length ``horizon`` into a series of ``n``.

    Returns
    -------
    ndarray of int, shape (size, horizon)
    """
    n_blocks = -(-horizon // block)
    starts = rng.integers(0, n - block + 1, size=(size, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)).reshape(size, n_blocks * block)
    return idx[:, :horizon]


def stationary_indices(starts: np.ndarray, u: np.ndarray, p: float, n: int) -> np.ndarray:
    """Stationary-bootstrap indices from uniform draws (vectorised ``arch`` recursion).

    Parameters
    ----------
    starts : ndarray of int, shape (size, horizon)
        Uniform draws in ``[0, n)``: the start of a block beginning at that step.
    u : ndarray of shape (size, horizon)
        Uniform draws in ``[0, 1)``; step i > 0 continues the block when ``u > p``.
    p : float
        Probability of a new block (``1 / mean block length``).
    n : int
        Series length (indices wrap modulo n).

    Returns
    -------
    ndarray of int, shape (size, horizon)
        ``idx[i] = starts[i]`` on a new block, else ``(idx[i-1] + 1) mod n``.
    """
    horizon = starts.shape[1]
    steps = np.arange(horizon)
    new = u <= p
    new[:, 0] = True
    block_start = np.maximum.accumulate(np.where(new, steps, 0), axis=1)
    first = np.take_along_axis(starts, block_start, axis=1)
    out: np.ndarray = (first + (steps - block_start)) % n
    return out


def _path_metrics(paths: np.ndarray, ppy: float) -> dict[str, np.ndarray]:
    """Metrics of paths of shape (size, m, horizon) -> arrays of shape (size, m).

    Time is the last (contiguous) axis. Volatility uses ``(Σr² − h·mean²) / (h − 1)``, exact
    up to rounding for per-bar returns (their mean is tiny against their spread).
    """
    horizon = paths.shape[-1]
    mean = paths.sum(axis=-1) / horizon
    ss = np.einsum("ijk,ijk->ij", paths, paths)
    sd = np.sqrt(np.maximum(ss - horizon * mean * mean, 0.0) / (horizon - 1))
    growth = np.cumprod(1.0 + paths, axis=-1)
    total = growth[..., -1].copy()
    peak = np.maximum.accumulate(growth, axis=-1)
    np.maximum(peak, 1.0, out=peak)  # NAV starts at 1: the start is a peak
    np.divide(growth, peak, out=growth)
    mdd = growth.min(axis=-1) - 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        # a path that loses everything (growth <= 0, possible with leverage) counts as -100%
        annual = np.where(total > 0, np.abs(total) ** (ppy / horizon) - 1.0, -1.0)
        sharpe = np.where(sd > 0, mean / sd * np.sqrt(ppy), np.nan)
    return {"annual_return": annual, "annual_volatility": sd * np.sqrt(ppy),
            "sharpe_ratio": sharpe, "max_drawdown": np.minimum(mdd, 0.0)}


@dataclass(frozen=True)
class BootstrapResult:
    """Simulated distributions of annual performance (immutable).

    Attributes
    ----------
    names : tuple of str
        Series names (columns of the input).
    annual_return : ndarray of shape (n_sims, n_series)
        ``(Π(1 + r))^(periods_per_year / horizon) − 1`` per path (the total return when the
        horizon is one year; −1 for a path whose NAV reaches zero).
    annual_volatility : ndarray of shape (n_sims, n_series)
        ``std(r, ddof=1) · sqrt(periods_per_year)``
        (:func:`coinfactor.analytics.annual_volatility`).
    sharpe_ratio : ndarray of shape (n_sims, n_series)
        ``mean(r) / std(r) · sqrt(periods_per_year)`` (zero risk-free rate;
        :func:`coinfactor.analytics.sharpe_ratio`).
    max_drawdown : ndarray of shape (n_sims, n_series)
        Most negative ``NAV / running peak − 1`` along the path (NAV starts at 1), ``≤ 0``.
    method : {"moving", "stationary"}
    block_length : int
        Block length (mean block length for ``"stationary"``), in bars.
    horizon : int
        Bars per simulated path.
    freq : str
        Bar frequency.
    seed : int
    """

    names: tuple[str, ...]
    annual_return: np.ndarray
    annual_volatility: np.ndarray
    sharpe_ratio: np.ndarray
    max_drawdown: np.ndarray
    method: BootstrapMethod
    block_length: int
    horizon: int
    freq: str
    seed: int

    @property
    def n_sims(self) -> int:
        """Number of simulated paths."""
        return int(self.annual_return.shape[0])

    def metric(self, name: BootstrapMetric) -> np.ndarray:
        """One metric's samples, shape (n_sims, n_series)."""
        if name not in METRICS:
            raise ConfigError(f"unknown metric {name!r}; expected one of {list(METRICS)}")
        out: np.ndarray = getattr(self, name)
        return out

    def samples(self, metric: BootstrapMetric = "annual_return") -> pl.DataFrame:
        """Tabulate one metric's samples: one column per series, one row per path."""
        values = self.metric(metric)
        return pl.DataFrame({n: values[:, i] for i, n in enumerate(self.names)})

    def percentile_table(self, levels: Sequence[float] = PERCENTILES) -> pl.DataFrame:
        """Percentiles of every metric per series.

        Parameters
        ----------
        levels : sequence of float, default (99, 95, 90, 75, 50, 25, 10, 5, 1)
            Percentiles in [0, 100], reported in the given order.

        Returns
        -------
        pl.DataFrame
            ``series, percentile, annual_return, annual_volatility, sharpe_ratio,
            max_drawdown`` (metric columns named after the :mod:`coinfactor.analytics`
            functions; linear
            interpolation, NaN paths ignored); for decreasing levels every column is
            non-increasing.
        """
        lv = np.asarray(list(levels), dtype=np.float64)
        if lv.size == 0 or (lv < 0).any() or (lv > 100).any():
            raise ConfigError(f"percentile levels must be in [0, 100], got {list(levels)}")
        frames = []
        for i, name in enumerate(self.names):
            cols: dict[str, object] = {"series": [name] * lv.size, "percentile": lv}
            for m in METRICS:
                x = self.metric(m)[:, i]
                x = x[~np.isnan(x)]
                cols[m] = np.percentile(x, lv) if x.size else np.full(lv.size, np.nan)
            frames.append(pl.DataFrame(cols))
        return pl.concat(frames)

    def histogram(self, metric: BootstrapMetric = "annual_return", *,
                  bins: int = 50) -> pl.DataFrame:
        """Histogram data with edges shared by all series.

        Returns
        -------
        pl.DataFrame
            ``series, bin_left, bin_right, count`` (``bins`` rows per series).
        """
        values = self.metric(metric)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            raise DataError(f"histogram: no finite {metric} samples")
        lo, hi = float(finite.min()), float(finite.max())
        edges = np.linspace(lo, hi if hi > lo else lo + 1e-12, int(bins) + 1)
        frames = []
        for i, name in enumerate(self.names):
            x = values[:, i]
            counts, _ = np.histogram(x[np.isfinite(x)], bins=edges)
            frames.append(pl.DataFrame({"series": [name] * int(bins), "bin_left": edges[:-1],
                                        "bin_right": edges[1:], "count": counts}))
        return pl.concat(frames)

    def summary(self) -> str:
        """Plain-text: median and 5th/95th percentiles of each metric per series."""
        lines = [f"{self.method} block bootstrap: {self.n_sims} paths of {self.horizon} bars, "
                 f"blocks of {self.block_length} bars, seed {self.seed}"]
        for i, name in enumerate(self.names):
            parts = []
            for m in METRICS:
                x = self.metric(m)[:, i]
                p5, p50, p95 = np.nanpercentile(x, [5, 50, 95])
                parts.append(f"{m} {p50:.3g} [{p5:.3g}, {p95:.3g}]")
            lines.append(f"  {name}: " + "; ".join(parts))
        return "\n".join(lines)


def block_bootstrap(
    returns: np.ndarray | pl.DataFrame,
    *,
    freq: str,
    method: BootstrapMethod = "moving",
    block: str | int = "7d",
    horizon: str | int = "365d",
    n_sims: int = 2000,
    seed: int = 0,
    names: Sequence[str] | None = None,
) -> BootstrapResult:
    """Block-bootstrap a return series into distributions of annual performance.

    Parameters
    ----------
    returns : ndarray of shape (n_bars,) or (n_bars, n_series), or pl.DataFrame
        Per-bar simple returns (fractions of NAV), no NaN; several columns are resampled with
        the same indices. A frame's numeric columns other than ``ts`` are the series.
    freq : str
        Bar frequency (annualisation through :func:`coinfactor.core.time.periods_per_year`).
    method : {"moving", "stationary"}, default "moving"
        Block scheme (see the module docstring).
    block : str or int, default "7d"
        Block length (mean length for ``"stationary"``), a duration or a number of bars:
        weekly blocks by default, as the seed's weekly chunks.
    horizon : str or int, default "365d"
        Length of each simulated path.
    n_sims : int, default 2000
        Number of paths.
    seed : int, default 0
        Seed of the ``numpy.random.Generator``.
    names : sequence of str, optional
        Series names for an array input (default ``"series_0", ...``).

    Returns
    -------
    BootstrapResult

    Raises
    ------
    DataError
        On NaN/inf returns, a series shorter than two bars or than a moving block.
    ConfigError
        On an unknown method, non-positive ``n_sims``, block or horizon.

    Examples
    --------
    >>> import numpy as np
    >>> r = np.random.default_rng(0).normal(0.0, 0.01, 24 * 90)
    >>> res = block_bootstrap(r, freq="1h", n_sims=50, seed=1)
    >>> res.percentile_table().height
    9
    """
    if isinstance(returns, pl.DataFrame):
        cols = [c for c, d in returns.schema.items() if c != "ts" and d.is_numeric()]
        arr = returns.select(cols).to_numpy().astype(np.float64)
        labels = tuple(cols)
    else:
        arr = np.asarray(returns, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[:, None]
        labels = tuple(names) if names is not None else tuple(
            f"series_{i}" for i in range(arr.shape[1] if arr.ndim == 2 else 0))
    if arr.ndim != 2 or arr.shape[1] == 0 or len(labels) != arr.shape[1]:
        raise DataError(
            f"block_bootstrap: expected returns of shape (n_bars,) or (n_bars, n_series) with "
            f"one name per series, got shape {arr.shape} and names {labels}"
        )
    if not np.isfinite(arr).all():
        raise DataError(
            "block_bootstrap: returns contain NaN or inf",
            fix="drop the bars without a return (e.g. the first bar) before bootstrapping",
        )
    if method not in METHODS:
        raise ConfigError(f"block_bootstrap: method must be one of {list(METHODS)}, got "
                          f"{method!r}")
    if int(n_sims) < 1:
        raise ConfigError(f"block_bootstrap: n_sims must be >= 1, got {n_sims}")
    n = arr.shape[0]
    b = _to_bars(block, freq, "block")
    h = _to_bars(horizon, freq, "horizon")
    if n < 2 or (method == "moving" and b > n):
        raise DataError(
            f"block_bootstrap: expected at least max(2, block) = {max(2, b)} bars for "
            f"'{method}' blocks of {b} bars, got {n}",
            fix="use a longer series or shorter blocks",
        )
    if h < 2:
        raise ConfigError(f"block_bootstrap: horizon must be at least 2 bars, got {h}")
    ppy = periods_per_year(freq)
    series_major = np.ascontiguousarray(arr.T)  # (m, n): paths are gathered along time
    rng = np.random.default_rng(seed)
    out: dict[str, list[np.ndarray]] = {m: [] for m in METRICS}
    done = 0
    while done < n_sims:
        size = min(_BATCH, int(n_sims) - done)
        if method == "moving":
            idx = moving_block_indices(rng, n, b, h, size)
        else:
            starts = rng.integers(0, n, size=(size, h))
            u = rng.random((size, h))
            idx = stationary_indices(starts, u, 1.0 / b, n)
        paths = series_major[:, idx].transpose(1, 0, 2)  # (size, m, horizon)
        for m, v in _path_metrics(paths, ppy).items():
            out[m].append(v)
        done += size
    return BootstrapResult(
        names=labels,
        **{m: np.concatenate(v, axis=0) for m, v in out.items()},
        method=method, block_length=b, horizon=h, freq=freq, seed=int(seed),
    )
