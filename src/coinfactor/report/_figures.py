"""Which figures and tables a run directory's files allow, drawn tolerantly.

Known files get their dedicated figures (``nav.parquet``: NAV, drawdown, rolling risk,
attribution; ``weights.parquet``: exposure). Every other table is classified by its columns:

=====================================================  =========================================
columns                                                drawn as
=====================================================  =========================================
``ts, nav, ret`` (another NAV)                         NAV, drawdown (+ attribution)
``symbol`` + ``funding_annual``                        annualised funding bar chart
``quantile`` + a numeric column                        mean return per quantile (bars)
(tables with ``horizon`` and ``ts`` or ``quantile``)   (the shortest horizon is drawn)
``ts`` + ``ic``                                        IC over time
``ts`` + ``symbol`` + numeric columns                  cross-sectional median / IQR over time
``ts`` + numeric columns, name has return/pnl/ret      cumulative returns
``ts`` + numeric columns, name has corr                rolling correlation
``ts`` + other numeric columns                         lines
name has bootstrap, many numeric rows                  histogram + percentile table
``initial_nav`` + ``annual_cost_return`` (capacity)    return, cost drag, Sharpe by NAV + table
``trades``, anything else (small tables)               an HTML table (first rows)
=====================================================  =========================================

A table without ``ts`` but with a Datetime column is timed by its first Datetime column. A table
that cannot be drawn is reported in a note, never fatal: the report is always written.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from coinfactor import plots
from coinfactor.core.errors import CoinfactorError, DataError
from coinfactor.core.time import periods_per_year
from coinfactor.data import infer_freq
from coinfactor.plots import PALETTE, new_figure, times, values
from coinfactor.report._html import esc, figure_block, figure_img, frame_table

log = logging.getLogger(__name__)

DAYS_ROLLING = 30
"""Rolling windows in the report span this many days of bars."""

DRAW_ERRORS = (CoinfactorError, ValueError, TypeError, KeyError, pl.exceptions.PolarsError)
"""Errors that turn a figure or table into a note instead of failing the report."""

NAV_LIKE = ("ts", "nav", "ret")
"""Columns that make a table a NAV table (drawn as NAV and drawdown)."""


def _freq(frame: pl.DataFrame, hint: str | None) -> str:
    if hint:
        return hint
    if not isinstance(frame["ts"].dtype, pl.Datetime):
        raise DataError(f"nav ts has dtype {frame['ts'].dtype}, expected a Datetime",
                        fix="write nav.parquet with ts as Datetime('us', 'UTC')")
    return infer_freq(pl.DataFrame({"ts": frame["ts"], "symbol": ["x"] * frame.height}))


def _safe(draw: Callable[[], Figure], caption: str) -> str:
    try:
        fig = draw()
    except DRAW_ERRORS as exc:
        log.warning("report: could not draw %s: %s", caption, exc)
        return f'<p class="note">could not draw {esc(caption)}: {esc(exc)}</p>'
    return figure_block(figure_img(fig, alt=caption), caption)


def nav_blocks(nav: pl.DataFrame, freq: str | None, *, rolling: bool = True) -> list[str]:
    """Figures of ``nav.parquet``: NAV, drawdown, rolling vol/Sharpe, P&L attribution."""
    missing = [c for c in NAV_LIKE if c not in nav.columns]
    if missing:
        return [f'<p class="note">could not draw the NAV figures: columns {missing} missing '
                f"(got {esc(nav.columns)})</p>"]
    nav = nav.sort("ts")
    out = [
        _safe(lambda: plots.plot_nav(nav), "NAV (growth of 1, after costs and funding)"),
        _safe(lambda: plots.plot_drawdown(nav), "Drawdown from the running peak"),
    ]
    if rolling:
        out.extend(_rolling_block(nav, freq))
    if {"ret_price", "ret_funding", "ret_cost"} <= set(nav.columns):
        out.append(_safe(lambda: plots.plot_attribution(nav),
                         "P&L attribution: summed contributions of price, funding and costs"))
    return out


def _rolling_block(nav: pl.DataFrame, freq: str | None) -> list[str]:
    try:
        f = _freq(nav, freq)
        ppy = periods_per_year(f)
    except CoinfactorError as exc:
        return [f'<p class="note">no rolling statistics: {esc(exc)}</p>']
    window = max(2, min(round(DAYS_ROLLING * ppy / 365), nav.height // 3))
    return [_safe(
        lambda: plots.plot_rolling(nav, window=window, freq=f),
        f"Rolling {window}-bar ({f} bars) annualised volatility and Sharpe ratio "
        f"({ppy:g} bars per 365-day year)")]


def weights_blocks(weights: pl.DataFrame) -> list[str]:
    """Figures of ``weights.parquet``: gross, net, long and short exposure."""
    return [_safe(lambda: plots.plot_exposure(weights),
                  "Exposure: gross, net, long and short weight sums (fractions of NAV)")]


def _plot_lines(frame: pl.DataFrame, cols: list[str], title: str) -> Figure:
    """Lines of the numeric columns; counts (integer dtype or ``n_*``) get their own axes."""
    frame = frame.sort("ts")
    counts = [c for c in cols[:8] if c.startswith("n_") or frame.schema[c].is_integer()]
    groups = [g for g in ([c for c in cols[:8] if c not in counts], counts) if g]
    fig, axes = new_figure(len(groups), height=2.8 if len(groups) == 1 else 2.2)
    for ax, group in zip(axes, groups, strict=True):
        for i, c in enumerate(group):
            ax.plot(times(frame), values(frame, c), color=PALETTE[i % len(PALETTE)], lw=1.0,
                    label=c)
        ax.legend(fontsize=8, frameon=False, loc="upper left", ncols=4)
    axes[0].set_title(title, loc="left", fontsize=11)
    return fig


def _long_to_wide(frame: pl.DataFrame) -> pl.DataFrame:
    """``ts, <key>, <value>`` long frames (e.g. ts, factor, ret) become wide ts x key."""
    strings = [c for c, d in frame.schema.items() if c != "ts" and d == pl.String]
    nums = [c for c, d in frame.schema.items() if c != "ts" and d.is_numeric()]
    if len(strings) == 1 and len(nums) == 1 and strings[0] != "symbol":
        return frame.pivot(on=strings[0], index="ts", values=nums[0],
                           aggregate_function="first").sort("ts")
    return frame


def _is_returns(name: str) -> bool:
    return bool(re.search(r"(return|pnl|(^|_)ret(s)?($|_))", name))


def table_blocks(name: str, frame: pl.DataFrame) -> list[str]:
    """Figures (or an HTML table) for one study-specific table, by its columns and name."""
    title = name.replace("_", " ")
    if "ts" not in frame.columns:  # a table timed by another column (e.g. "decision")
        when = [c for c, d in frame.schema.items() if isinstance(d, pl.Datetime)]
        if when:
            frame = frame.rename({when[0]: "ts"}).drop(when[1:])
    if frame.height == 0:
        return [f'<p class="note">{esc(name)}: empty table</p>']
    if "horizon" in frame.columns and ("ts" in frame.columns or "quantile" in frame.columns):
        # tearsheet frames stack horizons: draw the shortest one
        first = frame["horizon"].drop_nulls().min()
        if frame["horizon"].n_unique() > 1:
            title = f"{title} (horizon {first!s})"
        frame = frame.filter(pl.col("horizon") == first).drop("horizon")
    cols = set(frame.columns)
    numeric = [c for c, d in frame.schema.items() if d.is_numeric() and c not in ("ts",)]
    if {"initial_nav", "annual_cost_return", "sharpe_ratio"} <= cols:  # a capacity table
        return [_safe(lambda: plots.plot_capacity(frame, title=title),
                      f"{title}: net return, cost drag and Sharpe ratio by NAV (the same "
                      "decisions, executed at each size)"), frame_table(frame)]
    if name == "trades":  # one row per fill: a table of the first trades says more than a plot
        return [frame_table(frame, max_rows=10)]
    if set(NAV_LIKE) <= cols:
        return nav_blocks(frame, None, rolling=False)
    if {"symbol", "funding_annual"} <= cols:
        return [_safe(lambda: plots.plot_funding_by_coin(frame),
                      f"{title}: annualised funding by coin"), frame_table(frame, max_rows=15)]
    if "quantile" in cols and len(numeric) > 1:
        value = "mean_return" if "mean_return" in cols else next(
            c for c in numeric if c != "quantile")
        return [_safe(lambda: plots.plot_quantile_returns(frame, value=value),
                      f"{title}: {value} by quantile (mean over periods)")]
    if "ts" in cols and "ic" in cols:
        return [_safe(lambda: plots.plot_ic(frame), f"{title}: information coefficient")]
    if "ts" in cols and "symbol" in cols and numeric:
        return [_safe(lambda: plots.plot_exposures(frame, title=title),
                      f"{title}: cross-sectional median and 25-75% band over time")]
    if "ts" in cols:
        wide = _long_to_wide(frame)
        wnum = [c for c, d in wide.schema.items() if d.is_numeric() and c != "ts"]
        if not wnum:
            return [frame_table(frame)]
        if "corr" in name:
            return [_safe(lambda: plots.plot_rolling_correlation(wide, columns=wnum,
                                                                 title=title), title)]
        if _is_returns(name):
            return [_safe(lambda: plots.plot_cumulative(wide, columns=wnum[:12], title=title),
                          f"{title}: compounded cumulative return")]
        return [_safe(lambda: _plot_lines(wide, wnum, title), title)]
    if "bootstrap" in name and frame.height > 50 and numeric:
        pct = pl.DataFrame({"percentile": [1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0]})
        for c in numeric:
            v = values(frame, c)
            v = v[np.isfinite(v)]
            pct = pct.with_columns(pl.Series(c, np.percentile(v, pct["percentile"].to_numpy())
                                             if v.size else [None] * pct.height))
        return [_safe(lambda: plots.plot_bootstrap(frame.select(numeric), title=title),
                      f"{title}: distribution"), frame_table(pct)]
    return [frame_table(frame)]


def run_dir_blocks(run_dir: Path, freq: str | None, *,
                   tables: Sequence[str] | None = None) -> list[tuple[str, list[str]]]:
    """All figure sections a run directory allows: (title, html blocks) pairs.

    Parameters
    ----------
    run_dir : Path
        The run directory.
    freq : str or None
        Bar frequency of the run (inferred from ``nav.parquet`` if None).
    tables : sequence of str, optional
        The Parquet files to draw (names inside ``run_dir``, e.g. those its manifest lists);
        no other file is read. Default: every ``*.parquet`` in ``run_dir`` (a legacy
        directory without a manifest).

    Returns
    -------
    list of (str, list of str)
        Section titles and their HTML blocks.
    """
    names = (sorted(p.name for p in run_dir.glob("*.parquet")) if tables is None
             else sorted(tables))
    sections: list[tuple[str, list[str]]] = []
    nav_path, weights_path = run_dir / "nav.parquet", run_dir / "weights.parquet"
    if "nav.parquet" in names and nav_path.exists():
        sections.append(("Performance", nav_blocks(pl.read_parquet(nav_path), freq)))
    if "weights.parquet" in names and weights_path.exists():
        sections.append(("Positions", weights_blocks(pl.read_parquet(weights_path))))
    others: list[str] = []
    for file in names:
        if file in ("nav.parquet", "weights.parquet"):
            continue
        path = run_dir / file
        try:
            frame = pl.read_parquet(path)
        except (OSError, pl.exceptions.PolarsError) as exc:
            others.append(f'<p class="note">could not read {esc(path.name)}: {esc(exc)}</p>')
            continue
        others.append(f"<h3>{esc(path.stem)} <span class=\"note\">({frame.height:,} rows; "
                      f"{esc(', '.join(frame.columns[:12]))})</span></h3>")
        try:
            others.extend(table_blocks(path.stem, frame))
        except DRAW_ERRORS as exc:
            log.warning("report: could not draw %s: %s", path.name, exc)
            others.append(f'<p class="note">could not draw {esc(path.name)}: {esc(exc)}</p>')
    if others:
        sections.append(("Study tables", others))
    return sections
