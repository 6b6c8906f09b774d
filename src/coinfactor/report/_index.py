"""The demo's index page: one row per study run with key metrics, thumbnails and links."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from coinfactor import plots
from coinfactor.report._html import (
    esc,
    figure_block,
    figure_img,
    format_value,
    kv_table,
    page,
)
from coinfactor.report._labels import metric_label
from coinfactor.report._write import REPORT_NAME, collect_versions

__all__ = ["IndexEntry", "write_index"]

INDEX_NAME = "demo.html"


@dataclass(frozen=True)
class IndexEntry:
    """One study run listed on the index.

    Attributes
    ----------
    name : str
        Study name; its run directory is ``<out_dir>/<name>``.
    headline : mapping
        Key metrics shown in the table.
    seconds : float
        Wall time of the run.
    error : str or None
        Failure message, if the run failed.
    reading : str
        One line saying what the result is (:func:`coinfactor.report.study_reading`).
    """

    name: str
    headline: Mapping[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    reading: str = ""


def _row(out_dir: Path, e: IndexEntry) -> str:
    report = out_dir / e.name / REPORT_NAME
    link = (f'<a href="{esc(e.name)}/{REPORT_NAME}">{esc(e.name)}</a>' if report.exists()
            else esc(e.name))
    if e.error:
        reading = f'<span class="note">failed: {esc(e.error.strip().splitlines()[-1])}</span>'
        detail = ""
    else:
        reading = esc(e.reading)
        detail = "<br>".join(
            f'<span title="{esc(k)}">{esc(_label(k))}</span>: {format_value(k, v)}'
            for k, v in e.headline.items()) or '<span class="note">no metrics reported</span>'
    return (f'<tr><td class="k">{link}</td><td>{e.seconds:.1f}</td>'
            f'<td class="l">{reading}</td><td class="l">{detail}</td></tr>')


def _label(key: str) -> str:
    label = metric_label(key)
    return key if label is None else label.text


def write_index(
    out_dir: str | Path,
    entries: Sequence[IndexEntry],
    *,
    funding: pl.DataFrame | None = None,
    funding_source: str = "",
) -> Path:
    """Write ``<out_dir>/demo.html`` linking each run's ``report.html`` (relative links).

    Parameters
    ----------
    out_dir : str or Path
        The demo directory holding one run directory per entry.
    entries : sequence of IndexEntry
        The runs, in display order.
    funding : pl.DataFrame, optional
        ``symbol, funding_annual`` of an embedded dataset, drawn as an overview bar chart.
    funding_source : str
        Where ``funding`` comes from (caption).

    Returns
    -------
    Path
        The index path.
    """
    d = Path(out_dir)
    rows = "".join(_row(d, e) for e in entries)
    table = ("<table><tr><th>study (report)</th><th>seconds</th><th>result</th>"
             "<th>key metrics</th></tr>"
             f"{rows}</table>" if entries else '<p class="note">no study is registered</p>')
    sections = [("Studies", table)]
    thumbs = []
    for e in entries:
        nav_path = d / e.name / "nav.parquet"
        if e.error is None and nav_path.exists():
            fig = plots.plot_nav(pl.read_parquet(nav_path), title=f"{e.name}: NAV")
            fig.set_size_inches(7.0, 2.4)
            thumbs.append(f'<a href="{esc(e.name)}/{REPORT_NAME}">'
                          f"{figure_block(figure_img(fig, alt=f'{e.name} NAV'), e.name)}</a>")
    if thumbs:
        sections.append(("Equity curves", "".join(thumbs)))
    if funding is not None and funding.height:
        fig = plots.plot_funding_by_coin(funding, top=40)
        sections.append(("Funding", figure_block(
            figure_img(fig, alt="annualised funding by coin"),
            f"Annualised mean funding rate by coin, {funding_source} (> 0: longs pay)")))
    sections.append(("Versions", kv_table(collect_versions())))
    html = page("coinfactor demo", "every study with its default config on the embedded data",
                sections)
    out = d / INDEX_NAME
    tmp = d / f".{INDEX_NAME}.tmp"
    tmp.write_text(html, "utf-8")
    tmp.replace(out)
    return out
