"""The sweep report: ``DIR/report.html`` from the files of a sweep directory.

Built from ``trials.parquet``, ``overfitting.json``, ``compute.json``, ``pbo_logits.parquet``
and (when present) ``walk_forward.parquet`` / ``walk_forward.json``: the trials table,
heatmaps of the selected metric over each pair of swept parameters, the trials' Sharpe
ratios against the expected maximum under no skill, the PSR / DSR / PBO / SPA block with a
sentence on what each means for this sweep, the walk-forward NAV against the in-sample best,
and compute statistics. Self-contained like the study reports (inline CSS and figures).
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import polars as pl

from coinfactor.core.errors import CoinfactorError, ConfigError
from coinfactor.core.rundir import read_manifest
from coinfactor.plots import (
    plot_pbo_logits,
    plot_sharpe_distribution,
    plot_sweep_heatmap,
    plot_walk_forward,
)
from coinfactor.report._html import esc, figure_block, figure_img, frame_table, kv_grid, page

MAX_HEATMAPS = 6
DRAW_ERRORS = (CoinfactorError, ValueError, TypeError, KeyError, pl.exceptions.PolarsError)
"""What a figure that cannot be drawn raises: shown as a note, never an error."""


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text("utf-8")) if path.is_file() else {}


def _pct(v: Any) -> str:
    return f"{v:.0%}" if isinstance(v, int | float) and math.isfinite(v) else "n/a"


def _num(v: Any, fmt: str = ".2f") -> str:
    return format(v, fmt) if isinstance(v, int | float) and math.isfinite(v) else "n/a"


def verdicts(stats: dict[str, Any]) -> list[tuple[str, str]]:
    """Plain-words sentences on PSR, DSR, PBO and SPA for one sweep: (statistic, sentence)."""
    n = stats.get("n_trials") or 0
    out = []
    psr = stats.get("psr")
    out.append(("PSR", f"Given its {stats.get('n_obs', 'n/a')} bars, skewness and kurtosis, "
                f"the probability that the selected trial's true Sharpe ratio is above zero "
                f"is {_pct(psr)}; this ignores that it was picked from {n} trials."))
    dsr, sr0 = stats.get("dsr"), stats.get("expected_max_sharpe")
    if dsr is None:
        out.append(("DSR", "Not computed (too few returns)."))
    else:
        tail = ("the edge survives the correction for the search" if dsr >= 0.95 else
                "the selected Sharpe ratio is within what luck alone gives for this many "
                "trials" if dsr < 0.5 else
                "the evidence of an edge beyond selection luck is weak")
        out.append(("DSR", f"The best of {n} skill-less trials would show an annualised "
                    f"Sharpe ratio of about {_num(sr0)}; the probability that the selected "
                    f"trial ({_num(stats.get('sharpe_best'))}) is better than that is "
                    f"{_pct(dsr)}: {tail}."))
    pbo = stats.get("pbo")
    if pbo is None:
        out.append(("PBO", "Not computed (fewer than two trials or too few bars)."))
    else:
        tail = ("choosing by this metric is more likely than not overfit" if pbo > 0.5 else
                "the in-sample ranking carries over out of sample" if pbo < 0.1 else
                "the in-sample ranking carries over only in part")
        out.append(("PBO", f"In {_pct(pbo)} of the {stats.get('pbo_combinations')} ways to "
                    f"split the history into halves, the trial best on one half ranked at or "
                    f"below the median on the other: {tail}."))
    spa = stats.get("spa_pvalue")
    if spa is None:
        out.append(("SPA", "Not computed."))
    else:
        tail = ("at least one trial beats a flat book beyond data-snooping luck" if spa < 0.05
                else "no trial beats a flat book once the search over every trial is "
                "accounted for")
        out.append(("SPA", f"Hansen's SPA p-value is {_num(spa, '.3f')} (White's reality "
                    f"check {_num(stats.get('reality_check_pvalue'), '.3f')}): {tail}."))
    return out


def _figure(draw: Any, caption: str) -> str:
    try:
        return figure_block(figure_img(draw(), alt=caption), caption)
    except DRAW_ERRORS as exc:
        return f'<p class="note">{esc(caption)}: not drawn ({esc(exc)})</p>'


def _trials_section(trials: pl.DataFrame, select: str) -> str:
    params = [c for c in trials.columns if c.startswith("param.")]
    shown = ["trial_id", "status", *params]
    for c in (select, "sharpe_ratio", "annual_return", "annual_volatility", "max_drawdown",
              "seconds"):
        if c in trials.columns and c not in shown:
            shown.append(c)
    ranked = trials.sort(select, descending=True, nulls_last=True) \
        if select in trials.columns else trials
    html = frame_table(ranked.select(shown), max_rows=40)
    failed = trials.filter(pl.col("status") == "failed")
    if failed.height:
        html += "<h3>failed trials</h3>" + frame_table(
            failed.select("trial_id", *params, "error"), max_rows=20)
    return html


def _heatmaps(trials: pl.DataFrame, select: str) -> str:
    params = [c for c in trials.columns if c.startswith("param.")
              and trials.get_column(c).n_unique() > 1]
    if select not in trials.columns or len(params) < 2:
        return '<p class="note">a heatmap needs two swept parameters</p>'
    pairs = list(itertools.combinations(params, 2))[:MAX_HEATMAPS]
    blocks = [_figure(lambda x=x, y=y: plot_sweep_heatmap(trials, x, y, select),
                      f"{select} over {x.removeprefix('param.')} x {y.removeprefix('param.')}")
              for x, y in pairs]
    return "".join(blocks)


def write_sweep_report(sweep_dir: str | Path, *, name: str | None = None) -> Path:
    """Write ``<sweep_dir>/report.html`` from the sweep directory's files.

    Parameters
    ----------
    sweep_dir : str or Path
        A sweep directory (``trials.parquet``, ``overfitting.json``, ``compute.json``).
    name : str, optional
        The directory name shown in the page (default: ``sweep_dir``'s own name).

    Returns
    -------
    Path
        The report path.

    Raises
    ------
    ConfigError
        If the directory does not exist, has no ``trials.parquet`` (a sweep stopped before
        its end writes it only when continued and finished) or an invalid ``manifest.json``.

    Notes
    -----
    Files the directory's manifest lists that are missing or changed since the sweep wrote
    them are named in a warning at the top of the page.
    """
    d = Path(sweep_dir)
    if not d.is_dir():
        raise ConfigError(f"sweep directory {str(d)!r} does not exist; pass a directory "
                          "written by `coinfactor sweep`")
    if not (d / "trials.parquet").is_file():
        raise ConfigError(f"{d} is not a finished sweep directory (no trials.parquet): the "
                          "sweep stopped before its end; finish it with `coinfactor sweep "
                          f"CONFIG --out {d} --resume`, which writes the tables and the report")
    manifest = read_manifest(d)
    notes = manifest.problems(d) if manifest is not None else []
    trials = pl.read_parquet(d / "trials.parquet")
    stats = _read_json(d / "overfitting.json")
    compute = _read_json(d / "compute.json")
    select = str(stats.get("select", "sharpe_ratio"))
    sections: list[tuple[str, str]] = []
    warn_html = "".join(f'<p class="note"><b>warning:</b> {esc(n)}</p>' for n in notes)
    sentences = warn_html + "".join(f"<p><b>{esc(k)}</b>: {esc(v)}</p>"
                                   for k, v in verdicts(stats))
    headline = {k: stats.get(k) for k in ("n_trials", "n_failed", "best_trial", "select",
                                          "select_best", "sharpe_best", "psr", "dsr", "pbo",
                                          "spa_pvalue", "reality_check_pvalue",
                                          "expected_max_sharpe", "pbo_slope",
                                          "prob_oos_loss")}
    sections.append(("Is the best trial more than luck?", sentences + kv_grid(headline)))
    if "sharpe_ratio" in trials.columns:
        done = trials.filter(pl.col("status") == "done")
        sections.append(("Sharpe ratios against the expected maximum under no skill", _figure(
            lambda: plot_sharpe_distribution(done.get_column("sharpe_ratio").to_numpy(),
                                             stats.get("expected_max_sharpe"),
                                             stats.get("sharpe_best")),
            "annualised Sharpe ratio of every done trial")))
    if (d / "pbo_logits.parquet").is_file():
        logits = pl.read_parquet(d / "pbo_logits.parquet").get_column("logit").to_numpy()
        if logits.size:
            sections.append(("Probability of backtest overfitting (CSCV)", _figure(
                lambda: plot_pbo_logits(logits), "logits of the in-sample best's "
                "out-of-sample relative rank; PBO is the share at or below 0")))
    sections.append((f"Heatmaps of {select}", _heatmaps(trials, select)))
    if (d / "walk_forward.parquet").is_file():
        wf = pl.read_parquet(d / "walk_forward.parquet")
        summary = _read_json(d / "walk_forward.json")
        text = ('<p class="note">The trial chosen in each train window is held over the next '
                "test window (switching between trials is counted free of costs).</p>")
        table = {"walk_forward": summary.get("walk_forward", {}),
                 "in_sample_best": summary.get("in_sample_best") or {},
                 "windows": summary.get("n_windows"),
                 "distinct_trials": summary.get("distinct_trials")}
        sections.append((f"Walk-forward selection ({summary.get('spec', '')})", text + _figure(
            lambda: plot_walk_forward(wf), "walk-forward NAV vs the in-sample best")
            + kv_grid(table)))
    sections.append(("Trials", _trials_section(trials, select)))
    sections.append(("Compute", kv_grid(compute)))
    title = f"Sweep of {compute.get('study', '?')}: {compute.get('trials', trials.height)} trials"
    subtitle = f"{name or d.name} · select {select} · {compute.get('backend', '')}"
    html = page(title, subtitle, sections)
    out = d / "report.html"
    tmp = d / ".report.html.tmp"
    tmp.write_text(html, "utf-8")
    tmp.replace(out)
    return out
