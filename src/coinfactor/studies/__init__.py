"""Studies: one module per study, wiring the layers together.

Each study module defines a frozen ``Config`` dataclass and ``run(config, data) -> StudyResult``.
:func:`run_config_file` runs one from a TOML file::

    study = "carry"
    [data]
    dataset = "hyperliquid-perp-1d"
    [params]
    ...
"""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path
from typing import Any

from coinfactor.core.errors import ConfigError
from coinfactor.studies._base import StudyResult, config_from_dict, config_to_dict
from coinfactor.studies._costs import CostConfig
from coinfactor.studies._data import load_study_data
from coinfactor.studies._demo import DEFAULT_OUT, KEY_METRICS, run_demo
from coinfactor.studies._target import StudyTarget, complete_bars

__all__ = [
    "DEFAULT_OUT",
    "KEY_METRICS",
    "STUDIES",
    "CostConfig",
    "StudyResult",
    "StudyTarget",
    "complete_bars",
    "config_from_dict",
    "config_to_dict",
    "load_study_data",
    "run_config",
    "run_config_file",
    "run_demo",
]

STUDIES: dict[str, str] = {
    "carry": "coinfactor.studies.carry",
    "risk_model": "coinfactor.studies.risk_model",
    "reversion": "coinfactor.studies.reversion",
    "hedge_basket": "coinfactor.studies.hedge_basket",
}
"""Study name -> module path (imported on use)."""


def _module(name: str) -> Any:
    if name not in STUDIES:
        raise ConfigError(f"unknown study {name!r}; expected one of {sorted(STUDIES)}")
    return importlib.import_module(STUDIES[name])


def run_config(raw: dict[str, Any], *, base_dir: Path | None = None) -> StudyResult:
    """Run a study from a parsed config (``study``, ``[data]``, ``[params]`` tables)."""
    unknown = sorted(set(raw) - {"study", "data", "params"})
    if unknown:
        raise ConfigError(
            f"unknown top-level key(s) {unknown}; expected 'study', [data] and [params]"
        )
    if "study" not in raw:
        raise ConfigError(f"config needs study = one of {sorted(STUDIES)}")
    module = _module(str(raw["study"]))
    config = config_from_dict(module.Config, raw.get("params", {}))
    panel, source = load_study_data(raw.get("data", {}), base_dir=base_dir)
    result: StudyResult = module.run(config, panel)
    resolved = {"study": raw["study"], "data": dict(raw.get("data", {})),
                "params": config_to_dict(config)}
    return StudyResult(
        study=result.study,
        config=resolved,
        metrics=result.metrics,
        tables=result.tables,
        data_summary={**result.data_summary, "source": source},
    )


def run_config_file(path: str | Path, out: str | Path) -> StudyResult:
    """Run the study a TOML file describes and write its run directory to ``out``."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    try:
        raw = tomllib.loads(p.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
    result = run_config(raw, base_dir=p.parent)
    result.write(out)
    return result
