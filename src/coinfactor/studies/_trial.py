"""One trial of a study: its metrics and per-bar returns, for sweeps.

A study module may define ``evaluate(config, panel, *, cache=None) -> Evaluation``, the lean
path of ``run`` (no tables) that reuses stage outputs (:mod:`coinfactor.studies._stages`);
:func:`evaluate_study` falls back to ``run`` for the others and takes its ``nav`` table's
returns. Either way the metrics are those of ``run``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from coinfactor.core.errors import ConfigError
from coinfactor.studies._base import config_from_dict
from coinfactor.studies._stages import Stage, StageCache

_EMPTY_RETURNS = pl.DataFrame(schema={"ts": pl.Datetime("us", "UTC"), "ret": pl.Float64})


@dataclass(frozen=True)
class Evaluation:
    """Metrics and returns of one configuration of a study.

    Attributes
    ----------
    metrics : dict
        The study's metrics (those of its ``run``).
    returns : pl.DataFrame
        ``ts, ret``: per-bar net simple returns of the bars earned (empty for a study with no
        book).
    """

    metrics: dict[str, Any]
    returns: pl.DataFrame

    @classmethod
    def of_nav(cls, metrics: dict[str, Any], nav: pl.DataFrame) -> Evaluation:
        """Pair metrics with the returns of a backtest's nav frame (its start row left out)."""
        return cls(metrics, nav.select("ts", pl.col("ret").cast(pl.Float64)).slice(1))


def study_module(study: str, studies: Mapping[str, str]) -> Any:
    """Import a study's module by name, with the valid names in the error."""
    if study not in studies:
        raise ConfigError(f"unknown study {study!r}; expected one of {sorted(studies)}")
    return importlib.import_module(studies[study])


def evaluate_study(module: Any, config: Any, panel: pl.DataFrame, *,
                   cache: StageCache | None = None) -> Evaluation:
    """Evaluate one config of a study module (``evaluate`` if it has one, else ``run``).

    Parameters
    ----------
    module : module
        The study's module (``coinfactor.studies.carry``).
    config : dataclass instance
        Its ``Config``.
    panel : pl.DataFrame
        Canonical panel.
    cache : StageCache, optional
        Stage outputs for this panel (used by studies that declare ``PIPELINE``).

    Returns
    -------
    Evaluation
    """
    fn = getattr(module, "evaluate", None)
    if callable(fn):
        out: Evaluation = fn(config, panel, cache=cache)
        return out
    result = module.run(config, panel)
    nav = result.tables.get("nav")
    if isinstance(nav, pl.DataFrame) and {"ts", "ret"} <= set(nav.columns):
        return Evaluation.of_nav(dict(result.metrics), nav)
    return Evaluation(dict(result.metrics), _EMPTY_RETURNS)


def study_stages(module: Any) -> tuple[Stage, ...]:
    """Return the stages a study module declares (``PIPELINE``), or none."""
    return tuple(getattr(module, "PIPELINE", ()))


def build_config(module: Any, params: Mapping[str, Any]) -> Any:
    """Build a study's ``Config`` from a ``[params]`` table (typed, unknown keys rejected)."""
    return config_from_dict(module.Config, params)
