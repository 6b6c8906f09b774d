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
import inspect
import logging
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from coinfactor.core.errors import ConfigError
from coinfactor.core.rundir import check_out_dir
from coinfactor.studies._base import StudyResult, config_from_dict, config_to_dict
from coinfactor.studies._costs import CostConfig
from coinfactor.studies._data import load_study_data
from coinfactor.studies._demo import DEFAULT_OUT, KEY_METRICS, run_demo
from coinfactor.studies._overrides import apply_overrides, check_param_key, parse_value, set_param
from coinfactor.studies._params import near_matches
from coinfactor.studies._rundir import clean_stale, prepare_out_dir, write_run_dir
from coinfactor.studies._stages import Stage, StageCache, stage_keys
from coinfactor.studies._target import StudyTarget, complete_bars
from coinfactor.studies._trial import Evaluation, build_config, evaluate_study, study_stages

__all__ = [
    "DEFAULT_OUT",
    "KEY_METRICS",
    "STAGES",
    "STUDIES",
    "CostConfig",
    "Evaluation",
    "Progress",
    "Stage",
    "StageCache",
    "StudyResult",
    "StudyTarget",
    "apply_overrides",
    "build_config",
    "check_param_key",
    "clean_stale",
    "complete_bars",
    "config_from_dict",
    "config_to_dict",
    "evaluate_study",
    "input_paths",
    "load_study_data",
    "parse_value",
    "prepare_out_dir",
    "run_config",
    "run_config_file",
    "run_demo",
    "set_param",
    "stage_keys",
    "study_stages",
    "write_run_dir",
]

STUDIES: dict[str, str] = {
    "carry": "coinfactor.studies.carry",
    "risk_model": "coinfactor.studies.risk_model",
    "reversion": "coinfactor.studies.reversion",
    "hedge_basket": "coinfactor.studies.hedge_basket",
}
"""Study name -> module path (imported on use)."""

log = logging.getLogger(__name__)


def _module(name: str) -> Any:
    if name not in STUDIES:
        near = near_matches(name, STUDIES)
        raise ConfigError(f"unknown study {name!r}"
                          f"{f' (did you mean {near[0]!r}?)' if near else ''}; expected one "
                          f"of {sorted(STUDIES)}")
    return importlib.import_module(STUDIES[name])


Progress = Callable[[str, float], None]
"""Progress callback of :func:`run_config_file`: (stage, fraction of that stage done)."""

STAGES = ("load", "run", "write")
"""The stages of a study run, in order: load the data, run the study, write the run dir."""


def run_config(raw: dict[str, Any], *, base_dir: Path | None = None,
               progress: Progress | None = None, scheduler: str | None = None) -> StudyResult:
    """Run a study from a parsed config (``study``, ``[data]``, ``[params]`` tables).

    Parameters
    ----------
    raw : dict
        The parsed TOML file.
    base_dir : Path, optional
        Directory relative data paths are resolved against (the config file's).
    progress : callable, optional
        ``progress(stage, fraction)`` for the stages ``"load"`` and ``"run"``
        (:data:`STAGES`); a study whose ``run`` accepts ``progress=`` reports fractions
        within its stage, the others 0 and 1.
    scheduler : str, optional
        Dask scheduler address for a study whose ``run`` accepts ``scheduler=``
        (``risk_model``); a ConfigError for the others.

    Returns
    -------
    StudyResult
        The result, its ``config`` the resolved config.
    """
    step = progress or (lambda _stage, _fraction: None)
    unknown = sorted(set(raw) - {"study", "data", "params", "sweep"})  # [sweep]: for sweeps
    if unknown:
        raise ConfigError(
            f"unknown top-level key(s) {unknown}; expected 'study', [data], [params] and "
            "optionally [sweep]"
        )
    if "study" not in raw:
        raise ConfigError(f"config needs study = one of {sorted(STUDIES)}")
    if not isinstance(raw["study"], str):
        raise ConfigError(f"study: expected a name such as \"carry\", one of "
                          f"{sorted(STUDIES)}; got {raw['study']!r}")
    module = _module(raw["study"])
    # every check before any work: the parameters, then the [data] table, then (in the
    # study's run) the windows and symbols against the loaded panel
    config = config_from_dict(module.Config, raw.get("params", {}))
    step("load", 0.0)
    reads = getattr(module, "panel_columns", None)  # the columns the study reads, if declared
    panel, source = load_study_data(raw.get("data", {}), base_dir=base_dir,
                                    lazy=bool(getattr(module, "LAZY_PANEL", False)),
                                    columns=reads(config) if reads is not None else None)
    if isinstance(panel, pl.LazyFrame):
        log.info("scanning %s lazily", source)
    else:
        log.info("loaded %d rows of %s", panel.height, source)
    step("load", 1.0)
    kwargs: dict[str, Any] = {}
    params = inspect.signature(module.run).parameters
    if "progress" in params:
        kwargs["progress"] = lambda frac: step("run", float(frac))
    if scheduler is not None:
        if "scheduler" not in params:
            raise ConfigError(f"--scheduler: study {raw['study']!r} does not run on Dask; "
                              "fix: leave --scheduler out")
        kwargs["scheduler"] = scheduler
    step("run", 0.0)
    # the study's run holds the only reference to the panel: it frees the columns it no
    # longer reads once its decisions are made
    loaded = [panel]
    del panel
    result = _call_run(module.run, config, loaded, kwargs)
    step("run", 1.0)
    log.info("ran study %s", raw["study"])
    resolved = {"study": raw["study"], "data": dict(raw.get("data", {})),
                "params": config_to_dict(config)}
    return StudyResult(
        study=result.study,
        config=resolved,
        metrics=result.metrics,
        tables=result.tables,
        data_summary={**result.data_summary, "source": source},
    )


def _call_run(run: Any, config: Any, loaded: list[Any], kwargs: dict[str, Any]) -> StudyResult:
    """Call ``run(config, panel, **kwargs)`` with the panel popped from ``loaded``.

    The call then holds the panel's only reference (``run(*args, **kwargs)`` would keep
    another in its argument tuple until it returns): the study can free it.
    """
    if "progress" in kwargs and "scheduler" in kwargs:
        return run(config, loaded.pop(), progress=kwargs["progress"],  # type: ignore[no-any-return]
                   scheduler=kwargs["scheduler"])
    if "progress" in kwargs:
        return run(config, loaded.pop(), progress=kwargs["progress"])  # type: ignore[no-any-return]
    if "scheduler" in kwargs:
        return run(config, loaded.pop(), scheduler=kwargs["scheduler"])  # type: ignore[no-any-return]
    return run(config, loaded.pop())  # type: ignore[no-any-return]


_NOT_PATHS = frozenset({"dataset", "symbols", "start", "end", "freq"})


def input_paths(raw: Mapping[str, Any], *, base_dir: Path | None = None) -> list[Path]:
    """Files a config's ``[data]`` table reads (data files, a store database).

    Every string value of ``[data]`` other than ``dataset``, ``symbols``, ``start``, ``end``
    and ``freq`` (``file = "..."``, ``parquet = "..."`` and any other file key) and the
    ``path`` of a ``store``, ``file`` or ``parquet`` table are taken as paths, relative ones
    resolved against ``base_dir``.

    Parameters
    ----------
    raw : mapping
        The parsed config.
    base_dir : Path, optional
        The config file's directory.

    Returns
    -------
    list of Path
    """
    data = raw.get("data", {})
    if not isinstance(data, Mapping):
        return []
    values = [v for k, v in data.items() if k not in _NOT_PATHS and isinstance(v, str)]
    for key in ("store", "file", "parquet"):  # tables with a path (file = { path = ... })
        table = data.get(key)
        if isinstance(table, Mapping) and isinstance(table.get("path"), str):
            values.append(table["path"])
    out = []
    for v in values:
        path = Path(v).expanduser()
        out.append(path if path.is_absolute() or base_dir is None else base_dir / path)
    return out


def run_config_file(path: str | Path, out: str | Path, *, overwrite: bool = False,
                    progress: Progress | None = None, sets: Sequence[str] = (),
                    scheduler: str | None = None) -> StudyResult:
    """Run the study a TOML file describes and write its run directory to ``out``.

    ``out`` is checked before any data is loaded (:func:`prepare_out_dir`): it must be a new
    path, an empty directory, or (with ``overwrite``) a previous run directory, and may not
    hold the config or data files the run reads.

    Parameters
    ----------
    path : str or Path
        The TOML config.
    out : str or Path
        The run directory to write.
    overwrite : bool
        Replace a previous run directory at ``out``.
    progress : callable, optional
        ``progress(stage, fraction)`` for each of :data:`STAGES`.
    scheduler : str, optional
        Dask scheduler address (see :func:`run_config`).
    sets : sequence of str
        ``key=value`` overrides of ``[params]`` (:func:`apply_overrides`).

    Returns
    -------
    StudyResult

    Raises
    ------
    ConfigError
        On a bad config or a refused ``out`` (before any work).
    OutputError
        If the run directory cannot be written (``out`` is then unchanged).
    """
    prepare_out_dir(out, overwrite=overwrite)
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    try:
        raw = tomllib.loads(p.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
    raw = apply_overrides(raw, sets)  # --set key=value, typed by the study's Config
    inputs = [p, *input_paths(raw, base_dir=p.parent)]
    check_out_dir(out, overwrite=overwrite, inputs=inputs)
    result = run_config(raw, base_dir=p.parent, progress=progress, scheduler=scheduler)
    step = progress or (lambda _stage, _fraction: None)
    step("write", 0.0)
    result.write(out, overwrite=overwrite, inputs=inputs)
    step("write", 1.0)
    return result
