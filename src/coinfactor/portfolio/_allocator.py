"""``BufferedAllocator``: desired weights -> traded positions with a no-trade buffer and caps.

One loop over time, vectorised across symbols. At each bar t, for every tradable symbol::

    δ      = w*(t) - x(t-1)
    buffer = γ · half_spread / (λ · σ²)                    (σ² annualised variance)
    trade  = 0                      if |δ| <= buffer
           = sign(δ)(|δ| - buffer)  otherwise             (trade to the buffer's edge)
           = δ                      for a name entering the universe, if open_new_fully
    x_pre  = x(t-1) + trade
    x_cap  = clip(x_pre, -max_weight, max_weight)         (per-asset cap)
    x_gross= x_cap · min(1, (gross_cap - frozen gross) / Σ|x_cap|)   (gross cap)
    s      = min(1, turnover_cap / Σ|x_gross - x(t-1)|)   (turnover cap)
    x(t)   = x(t-1) + s · (x_gross - x(t-1))

so the turnover cap scales the trades AND the positions (x(t) is built from the scaled trades).
Since x(t) is a convex combination of x(t-1) and x_gross, it respects the per-asset and gross
caps whenever x(t-1) did. A name that leaves the universe (tradable, no desired weight) is
closed (``exit="close"``: target 0, no buffer) or decayed (``exit="decay"``: target
``x(t-1)·(1 - decay)``), in both cases subject to the turnover cap. A name that cannot trade at
t (no price) keeps x(t-1) and counts in the gross as a frozen position.

``BufferedAllocator(...)`` holds the settings; ``fit(data)`` (a long frame or
:class:`AllocationInputs`) returns an immutable :class:`AllocationResult`. The same rule as a
plain per-bar loop, the reference the fast loop equals bit for bit, is
:func:`coinfactor.portfolio.allocate_reference` (:mod:`coinfactor.portfolio._allocator_reference`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import cast, get_args

import numpy as np
import polars as pl

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.core.time import timedelta_to_freq
from coinfactor.core.typing import ExitRule
from coinfactor.data import Grid


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class AllocationInputs:
    """Dense inputs of the allocator (float64 and bool arrays are kept as given, not copied).

    Attributes
    ----------
    desired : ndarray of shape (n_bars, n_symbols)
        Desired weights (fractions of NAV), NaN = not in the universe at that bar.
    vol : ndarray of shape (n_bars, n_symbols)
        ANNUALISED volatility forecasts (NaN or 0: no buffer for that name).
    half_spread : ndarray of shape (n_bars, n_symbols)
        Half-spread (plus any fee) as a fraction of price (NaN: no buffer).
    tradable : ndarray of bool, shape (n_bars, n_symbols), optional
        Whether the name can trade at that bar (has a price); None: everywhere.
    ts : pl.Series, optional
        Time axis (length n_bars); None: bar numbers 0, 1, ...
    symbols : tuple of str, optional
        Symbol axis (length n_symbols); None: column numbers as strings.

    Raises
    ------
    DataError
        When the arrays' shapes differ, or the axes do not match them.
    """

    desired: np.ndarray
    vol: np.ndarray
    half_spread: np.ndarray
    tradable: np.ndarray | None = None
    ts: pl.Series | None = None
    symbols: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("desired", "vol", "half_spread"):    # float64 arrays are kept as given
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        if self.tradable is not None:
            object.__setattr__(self, "tradable", np.asarray(self.tradable, dtype=bool))
        arrays = {"desired": self.desired, "vol": self.vol, "half_spread": self.half_spread}
        if self.tradable is not None:
            arrays["tradable"] = self.tradable
        shape = np.shape(self.desired)
        for name, arr in arrays.items():
            if np.shape(arr) != shape or len(shape) != 2:
                raise DataError(f"AllocationInputs: {name} has shape {np.shape(arr)}, expected "
                                f"(n_bars, n_symbols) like desired {shape}")
        if self.ts is not None and len(self.ts) != shape[0]:
            raise DataError(f"AllocationInputs: ts has {len(self.ts)} bars, desired {shape[0]}")
        if self.symbols is not None and len(self.symbols) != shape[1]:
            raise DataError(f"AllocationInputs: {len(self.symbols)} symbols, desired has "
                            f"{shape[1]} columns")

    def with_delistings_closed(self) -> AllocationInputs:
        """Return these inputs with every delisted name closed at its last tradable bar.

        A name whose last tradable bar is before the last bar (delisted, or its data end)
        gets, at that bar, a desired weight of 0 with no buffer (so it trades to 0 there,
        subject to the caps, as the backtest closes it at its last price) and, after it, no
        desired weight and tradable (out of the universe: any remainder is closed). Without
        ``tradable`` nothing changes.
        """
        if self.tradable is None or self.tradable.shape[0] == 0:
            return self
        trad = self.tradable
        n_t = trad.shape[0]
        last = n_t - 1 - np.argmax(trad[::-1], axis=0)
        gone = np.flatnonzero(trad.any(axis=0) & (last < n_t - 1))
        if gone.size == 0:
            return self
        desired, half_spread, tradable = self.desired.copy(), self.half_spread.copy(), trad.copy()
        for j in gone.tolist():
            t = int(last[j])
            desired[t, j], half_spread[t, j] = 0.0, 0.0
            desired[t + 1:, j] = np.nan
            tradable[t + 1:, j] = True
        return AllocationInputs(desired, self.vol, half_spread, tradable, self.ts, self.symbols)

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> AllocationInputs:
        """Scatter a long frame onto its ``(ts, symbol)`` grid.

        Parameters
        ----------
        frame : pl.DataFrame
            ``ts, symbol, desired, vol, half_spread`` and optionally ``tradable`` (bool). One
            row per (ts, symbol) that can trade (has a price); ``desired`` null = out of the
            universe; ``vol`` is annualised. A (ts, symbol) without a row cannot trade.

        Returns
        -------
        AllocationInputs
            On the frame's sorted bar times and sorted symbols.
        """
        need = ["ts", "symbol", "desired", "vol", "half_spread"]
        missing = [c for c in need if c not in frame.columns]
        if missing:
            raise DataError(f"BufferedAllocator.fit: missing column(s) {missing}; expected "
                            f"{need} (+ optional tradable)",
                            fix="build the frame from the panel joined with desired weights")
        try:  # the regular grid of the frame's bar frequency
            grid = Grid.from_panel(frame)
        except DataError:  # bars off that grid, or no symbol with two bars: the smallest step
            steps = frame.get_column("ts").unique().sort().diff().drop_nulls()
            step = timedelta_to_freq(cast(timedelta, steps.min())) if steps.len() else "1d"
            grid = Grid.from_panel(frame, step)
        ts, symbols = grid.ts, grid.symbols
        n_t, n_s = grid.shape
        i, j = grid.rows, grid.cols
        if grid.has_duplicates(i, j):
            dup = frame.filter(pl.struct("ts", "symbol").is_duplicated())
            raise DataError("BufferedAllocator.fit: duplicated (ts, symbol) rows",
                            rows=dup.head(5), fix="one row per (ts, symbol)")
        cols = {c: grid.scatter(frame, c) for c in ("desired", "vol", "half_spread")}
        tradable = np.zeros((n_t, n_s), dtype=bool)
        tradable[i, j] = (frame.get_column("tradable").fill_null(False).to_numpy()
                          if "tradable" in frame.columns else True)
        return cls(cols["desired"], cols["vol"], cols["half_spread"], tradable, ts, symbols)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_bars, n_symbols)``."""
        n_t, n_s = np.shape(self.desired)
        return int(n_t), int(n_s)

    def time_axis(self) -> pl.Series:
        """Return the time axis, or bar numbers when none was given."""
        return pl.Series("ts", np.arange(self.shape[0])) if self.ts is None else self.ts

    def symbol_axis(self) -> tuple[str, ...]:
        """Return the symbols, or column numbers as strings when none were given."""
        return (tuple(str(j) for j in range(self.shape[1])) if self.symbols is None
                else self.symbols)


@dataclass(frozen=True, eq=False)
class AllocationResult:
    """Positions decided by :class:`BufferedAllocator`; arrays are read-only.

    Attributes
    ----------
    positions : ndarray of shape (n_bars, n_symbols)
        Positions after the close of each bar, fractions of NAV (0 = flat).
    buffer : ndarray of shape (n_bars, n_symbols)
        No-trade buffer half-width, in weight units (0 where there is none).
    turnover_scale : ndarray of shape (n_bars,)
        Factor applied to the bar's trades by the turnover cap (``< 1`` where it bound).
    gross_scale : ndarray of shape (n_bars,)
        Factor applied to the live book by the gross cap (``< 1`` where it bound).
    inputs : AllocationInputs
        What the allocator was fitted on (axes included).
    """

    positions: np.ndarray
    buffer: np.ndarray
    turnover_scale: np.ndarray
    gross_scale: np.ndarray
    inputs: AllocationInputs = field(repr=False)

    def __post_init__(self) -> None:
        for a in (self.positions, self.buffer, self.turnover_scale, self.gross_scale):
            _read_only(a)

    @property
    def ts(self) -> pl.Series:
        """Time axis of ``positions`` (bar numbers when the inputs had none)."""
        return self.inputs.time_axis()

    @property
    def symbols(self) -> tuple[str, ...]:
        """Symbol axis of ``positions``."""
        return self.inputs.symbol_axis()

    @cached_property
    def weights(self) -> pl.DataFrame:
        """``ts, symbol, weight``: non-zero positions and the zeros of positions just closed.

        Every bar whose book changed is present: the input of
        :func:`coinfactor.backtest.backtest`, which carries the book over absent bars.
        """
        pos = self.positions
        prev = np.vstack([np.zeros((1, pos.shape[1])), pos[:-1]])
        return Grid.on_axes(self.ts, self.symbols).long(
            {"weight": pos}, where=(pos != 0.0) | (prev != 0.0), order="ts")

    @cached_property
    def desired(self) -> pl.DataFrame:
        """``ts, symbol, desired, buffer``: the input desired weight and the buffer half-width."""
        d = self.inputs.desired
        return Grid.on_axes(self.ts, self.symbols).long(
            {"desired": d, "buffer": self.buffer}, where=~np.isnan(d), order="ts")

    @cached_property
    def diagnostics(self) -> pl.DataFrame:
        """``ts, gross, net, turnover, turnover_scale, gross_scale, n_positions`` per bar."""
        pos = self.positions
        prev = np.vstack([np.zeros((1, pos.shape[1])), pos[:-1]])
        return pl.DataFrame({
            "ts": self.ts,
            "gross": np.abs(pos).sum(axis=1),
            "net": pos.sum(axis=1),
            "turnover": np.abs(pos - prev).sum(axis=1),
            "turnover_scale": self.turnover_scale,
            "gross_scale": self.gross_scale,
            "n_positions": (pos != 0).sum(axis=1).astype(np.int64),
        })

    def summary(self) -> str:
        """Plain-text summary: mean gross, mean turnover, how often each cap bound."""
        d = self.diagnostics
        if d.height == 0:
            return "AllocationResult (empty)"
        gross = float(d["gross"].to_numpy().mean())
        turnover = float(d["turnover"].to_numpy().mean())
        t_bound = float((d["turnover_scale"].to_numpy() < 1).mean())
        g_bound = float((d["gross_scale"].to_numpy() < 1).mean())
        return "\n".join([
            f"AllocationResult ({d.height} bars, {len(self.symbols)} symbols)",
            f"  mean gross            {gross:.4g}",
            f"  mean turnover         {turnover:.4g}",
            f"  turnover cap bound    {t_bound:.1%} of bars",
            f"  gross cap bound       {g_bound:.1%} of bars",
        ])


class BufferedAllocator:
    """Trade towards desired weights through a no-trade buffer, with caps.

    Parameters
    ----------
    risk_aversion : float, default 2.0
        λ in the buffer ``γ·half_spread/(λ·σ²)``, per unit of ANNUALISED variance.
    cost_aversion : float, default 1.0
        γ in the buffer (0 disables the buffer).
    max_weight : float, default 0.20
        Per-asset cap on |position|.
    gross_cap : float, default 2.0
        Cap on Σ|position|.
    turnover_cap : float or None, default None
        Cap on Σ|trade| per bar (fraction of NAV); None = no cap.
    open_new_fully : bool, default True
        A name entering the universe is opened to its desired weight at once (no buffer).
    exit : {"close", "decay"}, default "close"
        Rule for names leaving the universe.
    decay : float, default 0.5
        Fraction of a leaving name's position unwound per bar when ``exit="decay"``.

    Notes
    -----
    The buffer is the no-trade region of the one-period problem
    ``max α·w - (λ/2)σ²w² - γ·c·|w - x|`` around its frictionless optimum: trading inside it
    costs more than the risk it removes. σ² is annualised so that λ has its usual scale
    (1-10); with per-bar variance the buffer is ``periods_per_year`` times wider (about 1.7 in
    weight units for the seed's daily settings, above its 0.20 cap, so its book never traded).
    """

    def __init__(
        self,
        *,
        risk_aversion: float = 2.0,
        cost_aversion: float = 1.0,
        max_weight: float = 0.20,
        gross_cap: float = 2.0,
        turnover_cap: float | None = None,
        open_new_fully: bool = True,
        exit: ExitRule = "close",
        decay: float = 0.5,
    ) -> None:
        self.risk_aversion = risk_aversion
        self.cost_aversion = cost_aversion
        self.max_weight = max_weight
        self.gross_cap = gross_cap
        self.turnover_cap = turnover_cap
        self.open_new_fully = open_new_fully
        self.exit = exit
        self.decay = decay
        self._check()

    def __repr__(self) -> str:
        return (f"BufferedAllocator(risk_aversion={self.risk_aversion!r}, "
                f"cost_aversion={self.cost_aversion!r}, max_weight={self.max_weight!r}, "
                f"gross_cap={self.gross_cap!r}, turnover_cap={self.turnover_cap!r}, "
                f"open_new_fully={self.open_new_fully!r}, exit={self.exit!r}, "
                f"decay={self.decay!r})")

    def _check(self) -> None:
        if not self.risk_aversion > 0:
            raise ConfigError(f"risk_aversion must be > 0, got {self.risk_aversion}")
        if not self.cost_aversion >= 0:
            raise ConfigError(f"cost_aversion must be >= 0, got {self.cost_aversion}")
        if not self.max_weight > 0:
            raise ConfigError(f"max_weight must be > 0, got {self.max_weight}")
        if not self.gross_cap > 0:
            raise ConfigError(f"gross_cap must be > 0, got {self.gross_cap}")
        if self.turnover_cap is not None and not self.turnover_cap > 0:
            raise ConfigError(f"turnover_cap must be > 0 or None, got {self.turnover_cap}")
        if self.exit not in get_args(ExitRule):
            raise ConfigError(f"exit must be one of {list(get_args(ExitRule))}, got {self.exit!r}")
        if not 0 < self.decay <= 1:
            raise ConfigError(f"decay must be in (0, 1], got {self.decay}")

    def fit(
        self,
        data: pl.DataFrame | AllocationInputs,
        *,
        progress: Callable[[float], None] | None = None,
    ) -> AllocationResult:
        """Decide positions bar by bar from desired weights, vol forecasts and spreads.

        Parameters
        ----------
        data : pl.DataFrame or AllocationInputs
            A long frame ``ts, symbol, desired, vol, half_spread`` (+ optional ``tradable``;
            see :meth:`AllocationInputs.from_frame`), or the dense arrays themselves.
        progress : callable, optional
            Called with the fraction of bars done (every ~5%).

        Returns
        -------
        AllocationResult
            Positions ``(n_bars, n_symbols)``, buffers, and the per-bar cap scales.

        Notes
        -----
        The plain per-bar loop this kernel is checked against, bit for bit, is
        :func:`coinfactor.portfolio.allocate_reference`.
        """
        inputs = data if isinstance(data, AllocationInputs) else AllocationInputs.from_frame(data)
        inputs = inputs.with_delistings_closed()
        desired, vol, half_spread = inputs.desired, inputs.vol, inputs.half_spread
        tradable = inputs.tradable
        n_t, n_s = desired.shape
        trad = np.ones((n_t, n_s), dtype=bool) if tradable is None else tradable.astype(bool)
        # cost_aversion * half_spread / (risk_aversion * vol * vol), the same operations in
        # the same order, the denominator a block of rows at a time
        buffer = np.empty((n_t, n_s))
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            for lo in range(0, n_t, 4096):
                rows = slice(lo, lo + 4096)
                np.multiply(half_spread[rows], self.cost_aversion, dtype=np.float64,
                            out=buffer[rows])
                denom = np.multiply(vol[rows], self.risk_aversion, dtype=np.float64)
                denom *= vol[rows]
                buffer[rows] /= denom
        np.copyto(buffer, 0.0, where=~np.isfinite(buffer))
        in_univ_all = ~np.isnan(desired)
        # names never in the universe are never traded: loop over the others only
        cols = np.flatnonzero(in_univ_all.any(axis=0))
        every = cols.size == n_s

        def take(a: np.ndarray) -> np.ndarray:  # C order: the loop reads rows
            return np.ascontiguousarray(a) if every else np.take(a, cols, axis=1)

        pos_a, t_scale, g_scale = self._loop(
            take(in_univ_all), take(trad), take(desired), take(buffer), progress)
        if every:
            return AllocationResult(pos_a, buffer, t_scale, g_scale, inputs)
        pos = np.zeros((n_t, n_s))
        pos[:, cols] = pos_a
        return AllocationResult(pos, buffer, t_scale, g_scale, inputs)

    def _loop(self, in_univ: np.ndarray, can: np.ndarray, desired: np.ndarray,
              buf: np.ndarray, progress: Callable[[float], None] | None,
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run the bars of :meth:`fit` on the columns ever in the universe.

        The selections of :func:`coinfactor.portfolio.allocate_reference` formed once for
        every bar, then its per-bar rule compiled
        (:func:`coinfactor.portfolio._allocator_kernel.allocate_bars`, bit for bit the
        reference), in about 20 runs of bars with ``progress`` called between them.
        """
        from coinfactor.portfolio._allocator_kernel import allocate_bars  # numba: on first use

        n_t, n_c = in_univ.shape
        pos_a = np.zeros((n_t, n_c))
        t_scale = np.ones(n_t)
        g_scale = np.ones(n_t)
        if n_c == 0:
            return pos_a, t_scale, g_scale
        live = in_univ & can
        desired = np.ascontiguousarray(desired, dtype=np.float64)  # read at live cells alone
        prev_in = np.vstack([np.zeros((1, n_c), dtype=bool), in_univ[:-1]])
        enter = in_univ & ~prev_in & can
        leave = can & ~in_univ
        unwind = 1.0 if self.exit == "close" else self.decay
        tcap = self.turnover_cap
        x = np.zeros(n_c)
        buf = np.ascontiguousarray(buf)
        step = max(1, -(-n_t // 20))
        for t0 in range(0, n_t, step):
            t1 = min(t0 + step, n_t)
            allocate_bars(desired, live, enter, leave, can, buf, unwind,
                          self.open_new_fully, self.max_weight, self.gross_cap,
                          0.0 if tcap is None else tcap, tcap is not None, t0, t1, x, pos_a,
                          t_scale, g_scale)
            if progress is not None:
                progress(t1 / n_t)
        return pos_a, t_scale, g_scale


def load_compiled_allocator() -> None:
    """Load the allocator's compiled bar loop now (numba compiles it once, then its cache).

    For processes that allocate many times (sweep workers): the first
    :meth:`BufferedAllocator.fit` then runs at its steady speed.
    """
    one = np.full((1, 1), 0.1)
    BufferedAllocator().fit(AllocationInputs(one, one, one * 0.0))
