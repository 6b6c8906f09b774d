"""Factor returns and rolling exposures of a long panel in time blocks, out of core.

:func:`risk_model_blocks` computes what :func:`coinfactor.risk.factor_returns` and
:func:`coinfactor.risk.exposures` compute on a whole panel, block of bars by block of bars
(and, for exposures, block of coins by block of coins), so that memory is set by the block,
not the span. Every output value equals the whole-panel value bit for bit (see
:mod:`coinfactor.risk._blocks` for why). The large outputs (exposures, memberships) are
written block by block as Parquet parts under a work directory and read lazily
(:class:`coinfactor.core.parts.PartitionedTable`); the tasks run here (a block's factor task
beside the exposure tasks of the block before, on two threads) or on a Dask cluster
(:func:`coinfactor.core.tasks.run_tasks`).
"""

from __future__ import annotations

import gc
import math
import os
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, cast, get_args

import numpy as np
import polars as pl

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.core.parts import PartitionedTable, WorkDir, part_name
from coinfactor.core.tasks import Task, run_tasks
from coinfactor.core.time import freq_to_timedelta
from coinfactor.core.typing import FactorFamily, FactorSet, LiquidityMeasure, MarketWeighting
from coinfactor.data import infer_freq
from coinfactor.risk._blocks import (
    ExposureBlock,
    FactorBlock,
    Layout,
    daily_means,
    exposure_block,
    factor_block,
)
from coinfactor.risk._factors import (
    FactorOptions,
    _check_options,
    assign_buckets,
    bucket_labels,
    check_trades,
)
from coinfactor.rolling import DEFAULT_RANK_TOL, LevelParts, aligned_start

__all__ = ["ChunkedRiskModel", "risk_model_blocks"]

BLOCK_CELLS = 3_000_000
"""Target bars x coins of one exposure task (about 0.3 GB of fit arrays per 10 factors)."""

FACTOR_CELLS = 6_000_000
"""Target bars x coins of one factor task (a whole number of exposure time blocks): fewer,
longer reads of the panel (each query of a folder of Parquet files opens every file, and
the warm-up read before a block is the same for a short block as for a long one)."""

WARMUP_WINDOWS = 8
"""Windows per exposure time block at least, where a factor task's cells allow: a block
refits the window - 1 rows before it, so its cost is ``(rows + window - 1) / rows`` of its
own rows' (at most 1.125 with 8 windows)."""

LOCAL_THREADS = 2
"""Tasks run at once here by default: a time block's factor task overlaps the exposure task
of the block before (one reads and validates Parquet, the other fits), which uses two
cores; more would multiply the memory of a task for little gain."""

_MEMBER_SORT = ("symbol", "ts")


@dataclass(frozen=True, eq=False)
class ChunkedRiskModel:
    """Factor returns and exposures computed in blocks; large tables on disk, read lazily.

    Attributes
    ----------
    factor_returns : pl.DataFrame
        As :attr:`coinfactor.risk.FactorReturns.returns` (ts + one column per factor).
    memberships : PartitionedTable
        As :attr:`coinfactor.risk.FactorReturns.memberships`, sorted by (symbol, ts).
    exposures : dict of str to PartitionedTable
        Per fitted factor set (``"spreads"``, ``"buckets"``), the table of
        :attr:`coinfactor.risk.ExposureResult.table`, sorted by (symbol, ts).
    factors : dict of str to tuple of str
        Factor names of each set.
    fit : dict of str to dict of str to float
        Per set: ``mean_rsquared``, ``mean_rsquared_adj``, ``mean_beta_market`` (means over
        the fitted cells, NaN skipped), ``cells`` and ``rank_deficient_share``.
    lookahead : dict of str to float
        :func:`coinfactor.risk.lookahead_mismatch` per family.
    symbols : tuple of str
        Coin axis.
    freq : str
        Bar frequency.
    n_bars : int
        Bars of the grid.
    tasks : int
        Tasks run (factor tasks, each of one or more time blocks, plus time x coin blocks
        for exposures).
    work_dir : Path
        Directory holding the parts (removed when this object is garbage collected).
    """

    factor_returns: pl.DataFrame
    memberships: PartitionedTable
    exposures: dict[str, PartitionedTable]
    factors: dict[str, tuple[str, ...]]
    fit: dict[str, dict[str, float]]
    lookahead: dict[str, float]
    symbols: tuple[str, ...]
    freq: str
    n_bars: int
    tasks: int
    work_dir: Path
    _owner: Any = field(default=None, repr=False)
    daily: pl.DataFrame = field(default_factory=pl.DataFrame)
    """Exposures of the first factor set summarised per UTC day and coin: ``ts`` (day),
    ``symbol``, the means over the day's fitted bars of ``alpha``, each ``beta_<factor>``,
    ``rsquared`` and ``rsquared_adj`` (NaN without a finite value) and ``bars`` (their
    count); sorted by (symbol, ts). Sums are taken per block, bars in order, and added in
    block order: the same bits on every run."""


def _factor_names(families: tuple[str, ...], n_buckets: int, factor_set: str,
                  ) -> tuple[str, ...]:
    if factor_set == "spreads":
        return ("market", *(f"{f}_hml" for f in families))
    labels = bucket_labels(n_buckets)
    return ("market", *(f"{f}_{b}" for f in families for b in labels))


def _facts(lf: pl.LazyFrame, panel: pl.DataFrame | None) -> tuple[str, int, int, tuple[str, ...],
                                                                   bool]:
    """Frequency, first and last ``ts`` (us), sorted symbols, whether trades is all null."""
    names = lf.collect_schema().names()
    agg = lf.select(
        pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last"),
        pl.len().alias("rows"),
        (pl.col("trades").null_count() if "trades" in names else pl.len()).alias("null"),
    ).collect(engine="streaming")
    if agg.item(0, "rows") == 0:
        raise DataError("risk model: the panel is empty", fix="pass a panel with bars")
    symbols = tuple(sorted(lf.select(pl.col("symbol").unique()).collect(engine="streaming")
                           .get_column("symbol").to_list()))
    if panel is not None:
        freq = infer_freq(panel)
    else:  # the bars of one symbol, up to a few thousand, tell the frequency
        head = lf.filter(pl.col("symbol") == symbols[0]).head(5000).collect().sort("ts")
        freq = infer_freq(head)
    first = int(agg.get_column("first").dt.epoch("us")[0])
    last = int(agg.get_column("last").dt.epoch("us")[0])
    return freq, first, last, symbols, agg.item(0, "null") == agg.item(0, "rows")


def risk_model_blocks(
    panel: pl.DataFrame | pl.LazyFrame,
    *,
    families: Sequence[FactorFamily] = ("liquidity", "beta", "momentum"),
    n_buckets: int = 3,
    rebalance: str = "1d",
    market: MarketWeighting = "equal",
    liquidity: LiquidityMeasure = "trades",
    liquidity_window: int = 168,
    beta_window: int = 168,
    momentum_windows: Sequence[int] = (24, 72, 168),
    min_coverage: float = 0.5,
    window: int,
    factor_sets: Sequence[str] = ("spreads",),
    tables: Sequence[str] | None = None,
    leave_one_out: bool = False,
    min_nobs: int | None = None,
    rank_tol: float = DEFAULT_RANK_TOL,
    condition_number: bool = True,
    block_rows: int | None = None,
    factor_rows: int | None = None,
    coin_block: int | None = None,
    work_dir: str | Path | None = None,
    scheduler: str | None = None,
    threads: int | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> ChunkedRiskModel:
    """Factor returns and rolling exposures of every coin, in time and coin blocks.

    Parameters
    ----------
    panel : pl.DataFrame or pl.LazyFrame
        Canonical panel (one bar frequency); a lazy frame (e.g. a Parquet scan) is read
        block by block, each block validated as it is read.
    families, n_buckets, rebalance, market, liquidity, liquidity_window, beta_window, \
momentum_windows, min_coverage
        As :func:`coinfactor.risk.factor_returns`.
    window, leave_one_out, min_nobs, rank_tol, condition_number
        As :func:`coinfactor.risk.exposures`.
    factor_sets : sequence of {"spreads", "buckets"}, default ("spreads",)
        Factor sets fitted (each its own exposures table). Empty: factor returns and
        memberships only.
    tables : sequence of str, optional
        The sets whose exposure tables are written (default: every fitted set); the others
        give their fit statistics (:attr:`ChunkedRiskModel.fit`) only.
    block_rows : int, optional
        Bars per time block, a multiple of ``window`` (default: about
        :data:`BLOCK_CELLS` bars x coins, whole windows).
    factor_rows : int, optional
        Bars per factor task, a multiple of ``block_rows`` (default: ``block_rows`` when
        that is given, else about :data:`FACTOR_CELLS` bars x coins): each reads the panel
        once and starts the exposure tasks of its time blocks.
    coin_block : int, optional
        Coins per exposure task (default: as many as keep a task near
        :data:`BLOCK_CELLS`).
    work_dir : str or Path, optional
        Where the parts' directory is made (default: the system's temporary directory).
    scheduler : str, optional
        Dask scheduler address: the tasks run on that cluster (whose workers must be able
        to read ``panel``: a Parquet scan on a shared file system, or an in-memory frame,
        sent to each worker once).
    threads : int, optional
        Without a scheduler, tasks run at the same time in this process, on threads (the
        kernels, NumPy, LAPACK, numba and polars, release the GIL); default
        :data:`LOCAL_THREADS` (at most the CPU count). Memory grows with it (one task's
        arrays per thread); the results do not depend on it.
    progress : callable, optional
        ``progress(done, total, elapsed_seconds)`` after each task.

    Returns
    -------
    ChunkedRiskModel

    Raises
    ------
    DataError
        On an empty panel, or ``liquidity="trades"`` without trade counts.
    ConfigError
        On bad options or block sizes.

    Notes
    -----
    Memory is about ``block_rows * coin_block * 8 * (3 + p)`` bytes per exposure task (``p``
    coefficients) and ``(factor_rows + warm-up) * n_coins * 48`` bytes per factor task, times
    the tasks running at once (``threads`` here), plus the factor returns
    (``n_bars * n_factors * 8`` bytes), whatever the span.

    A time block's panel rows are read (and, from a lazy source, validated) once, by its
    factor task; its exposure tasks start as soon as the factor tasks of the blocks up to
    it are done (they take the coin returns from it and the level shifts of the series so
    far), before the factor tasks not started yet.
    """
    fams = _check_options(families, n_buckets, market, liquidity, liquidity_window,
                          beta_window, momentum_windows, min_coverage)
    sets = tuple(dict.fromkeys(factor_sets))
    bad = [s for s in sets if s not in get_args(FactorSet)]
    if bad:
        raise ConfigError(f"factor_sets: expected some of {list(get_args(FactorSet))}, got "
                          f"{list(factor_sets)}")
    if leave_one_out and "buckets" in sets:
        raise ConfigError("leave_one_out with the 'buckets' set puts each coin's return back "
                          "into its regressors (through its bucket); fit 'spreads' only")
    eager = panel if isinstance(panel, pl.DataFrame) else None
    lf = panel.lazy()
    freq, first_us, last_us, symbols, trades_null = _facts(lf, eager)
    step = freq_to_timedelta(freq)
    period = freq_to_timedelta(rebalance)
    if period < step or period % step:
        raise ConfigError(f"rebalance {rebalance!r} must be a whole number of bars "
                          f"({step} each)")
    if "liquidity" in fams and liquidity == "trades":
        check_trades(trades_null)
    micro = timedelta(microseconds=1)
    step_us = step // micro
    n_rows = (last_us - first_us) // step_us + 1
    n_sym = len(symbols)
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ConfigError(f"window must be an integer >= 1 bar, got {window!r}")
    if block_rows is None:
        # long enough that the window - 1 rows of warm-up stay a small share of a block
        # (up to WARMUP_WINDOWS windows, as far as a factor task's cells allow), then split
        # by coins: at 500 coins x 1,440-bar windows, 11,520-bar blocks of 260 coins instead
        # of 5,760-bar blocks of every coin (a warm-up of 12.5% of the rows, not 25%)
        windows = max(BLOCK_CELLS // (n_sym * window),
                      min(WARMUP_WINDOWS, FACTOR_CELLS // (n_sym * window)))
        block_rows = window * max(1, windows)
        if factor_rows is None:
            factor_rows = block_rows * max(1, FACTOR_CELLS // (n_sym * block_rows))
    if block_rows < window or block_rows % window:
        raise ConfigError(f"block_rows must be a positive multiple of window ({window}), got "
                          f"{block_rows}")
    factor_rows = block_rows if factor_rows is None else factor_rows
    if factor_rows < block_rows or factor_rows % block_rows:
        raise ConfigError(f"factor_rows must be a positive multiple of block_rows "
                          f"({block_rows}), got {factor_rows}")
    coin_block = max(1, min(n_sym, BLOCK_CELLS // block_rows)) if coin_block is None \
        else coin_block
    if coin_block < 1:
        raise ConfigError(f"coin_block must be >= 1, got {coin_block}")
    opts = FactorOptions(fams, n_buckets, period // step, market, liquidity,
                         liquidity_window, beta_window, tuple(momentum_windows), min_coverage)
    layout = Layout(first_us, step_us, n_rows, freq, symbols, opts, window, min_nobs,
                    float(rank_tol), tuple((s, _factor_names(fams, n_buckets, s))
                                           for s in sets if s == "spreads" or fams),
                    leave_one_out, condition_number, validate=eager is None,
                    tables=tuple(sets if tables is None else tables))
    blocks = [(s, min(n_rows, s + factor_rows)) for s in range(0, n_rows, factor_rows)]
    coins = [tuple(range(c, min(n_sym, c + coin_block))) for c in range(0, n_sym, coin_block)]
    total = len(blocks) + (-(-n_rows // block_rows) * len(coins) if layout.factor_sets else 0)
    done = [0]

    def tick(_done: int, _total: int, elapsed: float) -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], total, elapsed)

    if threads is None:
        threads = min(LOCAL_THREADS, os.cpu_count() or 1)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"threads must be an integer >= 1, got {threads!r}")
    owner = WorkDir("coinfactor-risk-", work_dir)
    try:
        return _run(lf, layout, blocks, block_rows, coins, owner, scheduler, tick, total,
                    threads)
    except BaseException:
        owner.remove()
        raise


def _run(lf: pl.LazyFrame, layout: Layout, blocks: list[tuple[int, int]], block_rows: int,
         coins: list[tuple[int, ...]], owner: WorkDir, scheduler: str | None,
         tick: Callable[[int, int, float], None], total: int, threads: int) -> ChunkedRiskModel:
    root = owner.path
    members_dir = root / "memberships"
    members_dir.mkdir()
    out_dirs = {label: root / f"exposures_{label}" for label, _ in layout.factor_sets
                if label in layout.tables}
    for d in out_dirs.values():
        d.mkdir()
    factor_blocks: list[FactorBlock | None] = [None] * len(blocks)
    prefix = _Prefix(layout, block_rows)
    n_pages = -(-layout.n_rows // layout.window)
    page_stats: dict[str, dict[str, np.ndarray]] = {}
    daily: dict[tuple[int, int], pl.DataFrame] = {}

    def keep_factors(i: int, fb: FactorBlock) -> list[Task]:
        fb.memberships.write_parquet(members_dir / part_name(i), compression="lz4")
        factor_blocks[i] = replace(fb, memberships=fb.memberships.clear())
        gc.collect()   # the block's arrays (some in cycles) go now, not at the next GC
        ready: list[Task] = []
        # the exposures of a block need the level shifts of the series up to it: blocks
        # start in order, as soon as every block before them has its factors
        while prefix.blocks < len(blocks) and factor_blocks[prefix.blocks] is not None:
            ready += prefix.exposure_tasks(factor_blocks, coins)
        return ready

    def keep_exposures(bi: int, ci: int, eb: ExposureBlock) -> None:
        daily[bi, ci] = eb.daily
        p0 = eb.start // layout.window
        for label, table in eb.tables.items():
            table.write_parquet(out_dirs[label] / part_name(bi, ci), compression="lz4")
        eb.tables.clear()
        gc.collect()
        for label in eb.pages:
            stats = page_stats.setdefault(label, {})
            for name, v in eb.pages[label].items():
                arr = stats.setdefault(name, np.zeros((n_pages, len(layout.symbols))))
                arr[p0 : p0 + v.shape[0], list(eb.cols)] = v

    def on_result(key: Hashable, result: Any) -> list[Task]:
        if isinstance(result, FactorBlock):
            return keep_factors(cast(tuple[str, int], key)[1], result)
        _, bi, ci = cast(tuple[str, int, int], key)
        keep_exposures(bi, ci, result)
        return []

    run_tasks([(("factors", i), _factor_task, block) for i, block in enumerate(blocks)],
              shared=(lf, layout), scheduler=scheduler, on_result=on_result, progress=tick,
              total=total, threads=threads)
    fbs = [fb for fb in factor_blocks if fb is not None]
    schema: dict[str, pl.DataType] = {"ts": pl.Datetime("us", "UTC"), "symbol": pl.String(),
              **{f: pl.Int8() for f in layout.opts.families}}
    return ChunkedRiskModel(
        factor_returns=pl.concat([fb.returns for fb in fbs]),
        memberships=PartitionedTable(members_dir, _MEMBER_SORT, schema, owner),
        exposures={label: PartitionedTable(d, _MEMBER_SORT, None, owner)
                   for label, d in out_dirs.items()},
        factors=dict(layout.factor_sets),
        fit={label: _fit_metrics(stats) for label, stats in page_stats.items()},
        lookahead=_lookahead(fbs, layout),
        symbols=layout.symbols, freq=layout.freq, n_bars=layout.n_rows, tasks=total,
        work_dir=root, _owner=owner,
        daily=daily_means([daily[k] for k in sorted(daily)]) if daily else pl.DataFrame())


class _Prefix:
    """The factor blocks ``0 .. blocks - 1``, folded, for the exposures of the next ones.

    Their level-shift parts combined, and the last block (its tail of factor returns and
    leave-one-out totals is read by the next block's fits).
    """

    def __init__(self, layout: Layout, rows: int) -> None:
        self.layout = layout
        self.rows = rows     # bars per exposure task
        self.blocks = 0
        self.y: dict[str, LevelParts] = {}
        self.x: dict[str, LevelParts] = {}
        self.prev: FactorBlock | None = None

    def exposure_tasks(self, factor_blocks: list[FactorBlock | None],
                       coins: list[tuple[int, ...]]) -> list[Task]:
        """Fold in the next block and return its exposure tasks (time x coin blocks)."""
        layout, bi = self.layout, self.blocks
        fb = factor_blocks[bi]
        if fb is None:
            raise ValueError(f"_Prefix: factor block {bi} is not done")
        for label, _ in layout.factor_sets:
            for parts, new in ((self.y, fb.y_parts[label]), (self.x, fb.x_parts[label])):
                parts[label] = parts[label].combine(new) if label in parts else new
        a = aligned_start(fb.start, layout.window)
        before = fb.start - a          # rows of the previous block this one's fits read
        prev = self.prev
        xs = {label: (pl.concat([prev.returns.tail(before), fb.returns]) if before and prev
                      else fb.returns).select(names).to_numpy().astype(np.float64)
              for label, names in layout.factor_sets}
        totals = None
        if fb.totals is not None:
            totals = (np.concatenate([prev.totals[-before:], fb.totals])
                      if before and prev is not None and prev.totals is not None
                      else fb.totals)
        shifts = {label: (self.x[label].shift(), self.y[label].shift())
                  for label, _ in layout.factor_sets}
        ret, weights = fb.ret, fb.weights
        tasks: list[Task] = []
        w = layout.window
        for s in range(fb.start, fb.stop, self.rows) if ret is not None else ():
            e = min(fb.stop, s + self.rows)
            # rows aligned_start(s):e of the arrays, which start at row a
            rows = slice(aligned_start(s, w) - a, e - a)
            x_s = {label: v[rows] for label, v in xs.items()}
            t_s = None if totals is None else totals[rows]
            r_s = cast(np.ndarray, ret)[rows]
            w_s = None if weights is None else weights[rows]
            for ci, cols in enumerate(coins):
                idx = list(cols)
                tasks.append((("exposures", s // self.rows, ci), _exposure_task,
                              (s, e, cols, x_s, r_s[:, idx],
                               None if w_s is None else w_s[:, idx], t_s, shifts)))
        # the coin returns go with the tasks; the next block reads this one's tail only
        factor_blocks[bi] = self.prev = replace(fb, ret=None, weights=None)
        self.blocks += 1
        return tasks


def _factor_task(shared: tuple[pl.LazyFrame, Layout], start: int, stop: int) -> FactorBlock:
    return factor_block(shared[0], shared[1], start, stop)


def _exposure_task(shared: tuple[pl.LazyFrame, Layout], start: int, stop: int,
                   cols: tuple[int, ...], x: dict[str, np.ndarray], ret: np.ndarray,
                   weights: np.ndarray | None, totals: np.ndarray | None,
                   shifts: dict[str, tuple[np.ndarray, np.ndarray]]) -> ExposureBlock:
    return exposure_block(shared[1], start, stop, cols, x, ret, weights, totals, shifts)


def _fit_metrics(stats: dict[str, np.ndarray]) -> dict[str, float]:
    """Means over the fitted cells from the per-page sums (summed in one fixed order)."""
    def mean(name: str) -> float:
        n = float(stats[f"n_{name}"].sum())
        return float(stats[name].sum()) / n if n else math.nan

    cells = float(stats["cells"].sum())
    return {"mean_rsquared": mean("rsquared"), "mean_rsquared_adj": mean("rsquared_adj"),
            "mean_beta_market": mean("beta_market"), "cells": cells,
            "rank_deficient_share": float(stats["deficient"].sum()) / max(cells, 1.0)}


def _lookahead(fbs: list[FactorBlock], layout: Layout) -> dict[str, float]:
    """Share of memberships a whole-sample bucket rule puts elsewhere, per family."""
    opts = layout.opts
    if not opts.families:
        return {}
    pages = {k: np.concatenate([fb.pages[k] for fb in fbs]).sum(axis=0)
             for k in fbs[0].pages}
    whole: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        if "liquidity" in opts.families:
            whole["liquidity"] = assign_buckets(pages["liq_sum"] / pages["liq_n"],
                                                opts.n_buckets)
        if "beta" in opts.families:
            n = pages["n"]
            cov = pages["rm"] - pages["r"] * pages["m"] / n
            var = pages["mm"] - pages["m"] * pages["m"] / n
            whole["beta"] = assign_buckets(cov / var, opts.n_buckets)
    last = fbs[-1].last
    present = np.zeros(len(layout.symbols), dtype=bool)
    for m in last.values():
        present |= m >= 0
    out: dict[str, float] = {}
    for fam in opts.families:
        counts = sum((fb.counts[fam] for fb in fbs), np.zeros_like(fbs[0].counts[fam]))
        ref = last[fam] if fam == "momentum" else whole[fam]
        keep = present if fam == "momentum" else np.ones(len(layout.symbols), dtype=bool)
        assigned = counts.sum(axis=1)
        same = np.where(ref >= 0, counts[np.arange(counts.shape[0]), np.maximum(ref, 0)], 0)
        n_all = int(assigned[keep].sum())
        out[fam] = float((assigned - same)[keep].sum()) / n_all if n_all else math.nan
    return out
