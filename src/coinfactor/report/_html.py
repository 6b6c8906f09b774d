"""HTML building blocks of the self-contained report: page, tables, inline figures, styles.

Everything is inline (CSS in a ``<style>`` element, figures as base64 PNG ``data:`` URIs), so
a report opens offline and loads nothing from the network.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl
from matplotlib.figure import Figure

from coinfactor.report._labels import format_metric, group_metrics, metric_label, study_reading

__all__ = ["CSS", "esc", "figure_block", "figure_img", "flatten", "format_value", "frame_table",
           "kv_grid", "kv_table", "link_list", "metrics_grid", "page", "study_reading"]

FIGURE_DPI = 96

CSS = """
:root { --fg:#1d2a33; --muted:#5f6b73; --line:#dde3e8; --accent:#1f5f99; --bg:#fbfcfd; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial,
       sans-serif; color:var(--fg); background:var(--bg); }
header { background:var(--accent); color:#fff; padding:18px 32px; }
header h1 { margin:0; font-size:22px; font-weight:600; }
header p { margin:4px 0 0; opacity:.85; }
header p.lead { font-size:15px; opacity:1; margin-top:8px; }
main { max-width:1100px; margin:0 auto; padding:16px 32px 48px; }
section { margin-top:28px; }
h2 { font-size:17px; border-bottom:2px solid var(--line); padding-bottom:4px; }
h3 { font-size:14px; color:var(--muted); margin:18px 0 6px; }
figure { margin:12px 0 20px; background:#fff; border:1px solid var(--line);
         border-radius:6px; padding:8px; }
figure img { max-width:100%; height:auto; display:block; margin:0 auto; }
figcaption { color:var(--muted); font-size:12px; margin-top:4px; }
table { border-collapse:collapse; font-size:12.5px; background:#fff; margin:6px 0 14px; }
th, td { border:1px solid var(--line); padding:3px 8px; text-align:right; }
th { background:#f0f3f6; text-align:left; }
td.k { text-align:left; font-family:ui-monospace, Menlo, Consolas, monospace; }
td.l { text-align:left; }
.group h3 { margin-top:10px; }
.grid { display:grid; grid-template-columns:repeat(auto-fill, minmax(250px, 1fr)); gap:0 24px; }
pre { background:#fff; border:1px solid var(--line); border-radius:6px; padding:10px;
      overflow-x:auto; font-size:12px; }
.note { color:var(--muted); font-size:12px; }
a { color:var(--accent); }
"""

PERCENT_KEY = re.compile(
    r"(return|volatility|drawdown$|value_at_risk|hit_rate|_period$|exposure|funding"
    r"|cost|coverage|tracking_error|pnl|fraction|gross|(^|_)net($|_)|(^|_)vol($|_))"
)
"""Metric names shown as percentages (fractions such as returns, exposures, coverage) ..."""
NOT_PERCENT_KEY = re.compile(r"(duration|bars|days|periods|positions|count|^n_|_over_|ratio)")
"""... unless they name counts or lengths."""


def esc(value: Any) -> str:
    """HTML-escape a value's string form."""
    return html.escape(str(value), quote=True)


def figure_img(fig: Figure, *, alt: str) -> str:
    """Render a figure to an ``<img>`` with an inline base64 PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=FIGURE_DPI, facecolor="white")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="fig" alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def format_value(key: str, value: Any) -> str:
    """Format one metric for a person (HTML-escaped).

    A metric with a label (:data:`coinfactor.report._labels.METRIC_LABELS`) is written in the
    format of its kind: ``annual_return`` -0.198 as ``-19.80%/yr``, ``sharpe_ratio`` as
    ``-0.96``, ``annual_turnover`` as ``60.7×``, ``liquidated`` as ``no``. Other keys follow
    their name: fractions of known kinds (returns, exposures, coverage) as percentages, other
    floats to four significant digits.
    """
    label = metric_label(key)
    if label is not None:
        return esc(format_metric(label.kind, value))
    if isinstance(value, bool) or value is None:
        return "n/a" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return "n/a"
        low = key.lower().rsplit(".", 1)[-1]
        if "turnover" in low and "fraction" not in low:
            return f"{value:,.3g}×"  # traded weight over NAV, a multiple
        if PERCENT_KEY.search(low) and not NOT_PERCENT_KEY.search(low):
            return f"{value:.2%}"
        return f"{value:,.4g}"
    return esc(value)


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings to dotted keys."""
    out: dict[str, Any] = {}
    for k, v in mapping.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, f"{key}."))
        else:
            out[key] = v
    return out


def kv_table(mapping: Mapping[str, Any]) -> str:
    """Two-column key/value table of a (flattened) mapping."""
    rows = "".join(
        f'<tr><td class="k">{esc(k)}</td><td>{format_value(k, v)}</td></tr>'
        for k, v in flatten(mapping).items()
    )
    return f"<table>{rows}</table>"


def metrics_grid(metrics: Mapping[str, Any]) -> str:
    """Render the metrics section: one labelled table per group, side by side.

    Groups are those of :data:`coinfactor.report._labels.GROUPS` (returns, risk, costs and
    funding, exposure, trading, then the studies' own); each row shows the metric in words
    with its unit and its formatted value, the ``metrics.json`` key as the row's tooltip. A
    key without a label is listed under ``Other`` by its own name.
    """
    flat = flatten(metrics)
    if not flat:
        return '<p class="note">none</p>'
    parts = []
    for group, rows in group_metrics(flat):
        body = "".join(
            f'<tr><td class="l" title="{esc(key)}">{esc(text)}</td>'
            f"<td>{format_value(key, value)}</td></tr>" for key, text, value in rows)
        parts.append(f'<div class="group"><h3>{esc(group)}</h3><table>{body}</table></div>')
    return f'<div class="grid">{"".join(parts)}</div>'


def kv_grid(mapping: Mapping[str, Any]) -> str:
    """Render the report's metrics section (:func:`metrics_grid`: labelled, grouped)."""
    return metrics_grid(mapping)


def frame_table(frame: pl.DataFrame, *, max_rows: int = 30) -> str:
    """HTML table of a frame's first ``max_rows`` rows, floats to 4 significant digits."""
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    body = []
    for row in frame.head(max_rows).iter_rows():
        cells = []
        for v in row:
            text = f"{v:.4g}" if isinstance(v, float) else esc(v)
            cls = ' class="k"' if isinstance(v, str) else ""
            cells.append(f"<td{cls}>{text if v is not None else ''}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    more = (f'<p class="note">first {max_rows} of {frame.height:,} rows</p>'
            if frame.height > max_rows else "")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


def page(title: str, subtitle: str, sections: Iterable[tuple[str, str]], *,
         lead: str = "") -> str:
    """Assemble a complete HTML document with inline CSS.

    ``lead`` is a sentence shown in the header under the subtitle (a study's reading,
    :func:`coinfactor.report._labels.study_reading`); none when empty.
    """
    body = "".join(f'<section><h2>{esc(t)}</h2>{content}</section>' for t, content in sections)
    lead_html = f'<p class="lead">{esc(lead)}</p>' if lead else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p>{lead_html}</header>"
        f"<main>{body}</main></body></html>\n"
    )


def figure_block(img: str, caption: str) -> str:
    """Wrap an image in a figure element with its caption."""
    return f"<figure>{img}<figcaption>{esc(caption)}</figcaption></figure>"


def link_list(links: Sequence[tuple[str, str]]) -> str:
    """Render a bulleted list of relative links (href, text)."""
    items = "".join(f'<li><a href="{esc(h)}">{esc(t)}</a></li>' for h, t in links)
    return f"<ul>{items}</ul>"
