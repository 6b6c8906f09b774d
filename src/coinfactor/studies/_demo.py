"""The demo: every registered study with its default config on the embedded data, one index page.

The CLI (``coinfactor demo``) only parses, drives progress bars and prints; the work is here.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coinfactor.core.errors import ConfigError
from coinfactor.studies._base import StudyResult, config_to_dict
from coinfactor.studies._data import load_study_data

__all__ = ["DEFAULT_OUT", "KEY_METRICS", "DemoResult", "DemoRun", "run_demo"]

log = logging.getLogger(__name__)

DEFAULT_OUT = Path("coinfactor-demo")
"""Default output directory of ``coinfactor demo`` (relative to the working directory)."""

KEY_METRICS: tuple[str, ...] = (
    "annual_return", "annual_volatility", "sharpe_ratio", "max_drawdown", "annual_turnover",
    "annual_cost_return")
"""Metrics shown in the demo table and index for a study module without its own
``KEY_METRICS`` (the keys of :func:`coinfactor.analytics.summary`, named after the analytics
functions); each registered study lists its own (``risk_model``: fit and factor
correlations, it has no P&L)."""

FUNDING_DATASET = "hyperliquid-perp-1h"
"""Embedded dataset of the index's annualised-funding chart (seed 002's universe, hourly)."""

Progress = Callable[[str, float], None]
"""Progress callback: (study name, fraction done in [0, 1])."""


@dataclass(frozen=True)
class DemoRun:
    """One study of the demo.

    Attributes
    ----------
    study : str
        Registered study name.
    run_dir : Path
        Its run directory (``report.html`` inside when it succeeded).
    metrics : dict
        Its ``metrics`` (empty on failure).
    seconds : float
        Wall time of load + run + write.
    error : str or None
        The failure, if the study raised (the demo carries on with the others).
    key_metrics : tuple of str
        The study's key metrics (its module's ``KEY_METRICS``, else :data:`KEY_METRICS`).
    reading : str
        One line saying what the result is (:func:`coinfactor.report.study_reading`).
    """

    study: str
    run_dir: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    key_metrics: tuple[str, ...] = KEY_METRICS
    reading: str = ""

    def headline(self, limit: int | None = 4) -> dict[str, Any]:
        """Return up to ``limit`` (None: all) of the study's key metrics, by key.

        The keys are :attr:`key_metrics` that the run reported; a study reporting none of
        them shows its first numeric metrics instead.
        """
        out = {k: self.metrics[k] for k in self.key_metrics if k in self.metrics}
        if not out:
            out = {k: v for k, v in self.metrics.items()
                   if isinstance(v, int | float) and not isinstance(v, bool)}
        return dict(list(out.items())[:limit])


@dataclass(frozen=True)
class DemoResult:
    """What the demo wrote: one :class:`DemoRun` per study and the index page."""

    out_dir: Path
    runs: tuple[DemoRun, ...]
    index: Path

    @property
    def ok(self) -> bool:
        """True when every study succeeded."""
        return all(r.error is None for r in self.runs)

    def summary(self) -> str:
        """Plain-text summary: one line per study."""
        lines = [f"demo: {len(self.runs)} studies in {self.out_dir}"]
        for r in self.runs:
            state = f"FAILED: {r.error.splitlines()[-1]}" if r.error else r.reading or ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in r.headline().items()) or "no metrics reported"
            lines.append(f"  {r.study:<14} {r.seconds:6.1f}s  {state}")
        return "\n".join(lines)


def _run_one(name: str, module_path: str, out_dir: Path,
             progress: Progress | None) -> DemoRun:
    from coinfactor.report import study_reading  # lazy: the report package loads matplotlib

    start = time.perf_counter()
    run_dir = out_dir / name
    keys = KEY_METRICS
    try:
        module = importlib.import_module(module_path)
        keys = tuple(getattr(module, "KEY_METRICS", KEY_METRICS))
        config = module.Config()
        data = dict(module.DEFAULT_DATA)
        panel, source = load_study_data(data)
        kwargs: dict[str, Any] = {}
        if progress is not None and "progress" in inspect.signature(module.run).parameters:
            kwargs["progress"] = lambda frac: progress(name, 0.05 + 0.85 * float(frac))
        if progress is not None:
            progress(name, 0.05)
        result: StudyResult = module.run(config, panel, **kwargs)
        if progress is not None:
            progress(name, 0.9)
        resolved = StudyResult(
            study=result.study,
            config={"study": name, "data": data, "params": config_to_dict(config)},
            metrics=result.metrics,
            tables=result.tables,
            data_summary={**result.data_summary, "source": source},
        )
        resolved.write(run_dir, overwrite=True)
    except Exception:  # the demo goes on with the other studies and reports this one failed
        log.exception("demo: study %s failed", name)
        return DemoRun(name, run_dir, seconds=time.perf_counter() - start,
                       error=traceback.format_exc(limit=3), key_metrics=keys)
    finally:
        if progress is not None:
            progress(name, 1.0)
    return DemoRun(name, run_dir, dict(result.metrics), time.perf_counter() - start,
                   key_metrics=keys, reading=study_reading(name, result.metrics))


def run_demo(
    out: str | Path = DEFAULT_OUT,
    *,
    studies: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> DemoResult:
    """Run every registered study with its default config and write ``demo.html``.

    Parameters
    ----------
    out : str or Path
        Output directory; one run directory per study (``<out>/<study>/``, with its
        ``report.html``) and the index ``<out>/demo.html``. Default ``./coinfactor-demo``.
    studies : sequence of str, optional
        Names from :data:`coinfactor.studies.STUDIES` (default: all, in name order).
    progress : callable, optional
        Called with (study name, fraction done); studies whose ``run`` accepts a
        ``progress`` keyword report intermediate fractions.

    Returns
    -------
    DemoResult
        The runs (a failed study is recorded with its error, the others still run) and the
        index path.

    Raises
    ------
    ConfigError
        If a requested study is not registered.
    """
    from coinfactor.studies import STUDIES

    names = sorted(STUDIES) if studies is None else list(studies)
    unknown = [n for n in names if n not in STUDIES]
    if unknown:
        raise ConfigError(f"unknown study name(s) {unknown}; expected some of {sorted(STUDIES)}")
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = tuple(_run_one(n, STUDIES[n], out_dir, progress) for n in names)
    index = _write_index(out_dir, runs)
    return DemoResult(out_dir, runs, index)


def _write_index(out_dir: Path, runs: Sequence[DemoRun]) -> Path:
    from coinfactor import datasets
    from coinfactor.analytics import annualized_funding
    from coinfactor.report import IndexEntry, write_index  # lazy: matplotlib

    funding = annualized_funding(datasets.load(FUNDING_DATASET))
    entries = [IndexEntry(r.study, r.headline(limit=None), r.seconds, r.error, r.reading)
               for r in runs]
    return write_index(out_dir, entries, funding=funding,
                       funding_source=f"embedded dataset {FUNDING_DATASET}")
