"""Self-contained HTML reports of study run directories (inline CSS and figures, offline)."""

from coinfactor.report._book import book_html
from coinfactor.report._html import format_value
from coinfactor.report._index import IndexEntry, write_index
from coinfactor.report._labels import (
    METRIC_LABELS,
    Label,
    format_metric,
    metric_label,
    study_reading,
)
from coinfactor.report._sweep import write_sweep_report
from coinfactor.report._write import collect_versions, write_report

__all__ = ["METRIC_LABELS", "IndexEntry", "Label", "book_html", "collect_versions",
           "format_metric", "format_value", "metric_label", "study_reading", "write_index",
           "write_report", "write_sweep_report"]
