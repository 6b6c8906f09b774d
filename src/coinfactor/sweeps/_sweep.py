"""Run a sweep: expand the ``[sweep]`` table, skip finished trials, run the rest, write DIR.

``DIR`` after a sweep::

    manifest.json         run-directory manifest (study "sweep")
    sweep.toml            the config (with --set applied)
    ledger.duckdb         every trial ever run here: params, metrics, status, error, seconds,
                          returns (the resume state)
    trials.parquet        one row per trial of this sweep: trial_id, sweep_index, status,
                          error, seconds, param.<name> ..., every metric
    returns.parquet       ts, trial_id, return: per-bar net returns of the done trials
    overfitting.json      n_trials, best_trial, sharpe_best, psr, dsr, pbo, spa_pvalue, ...
    pbo_logits.parquet    the CSCV logit of each combination
    compute.json          backend, workers, trials computed / skipped, seconds, stage reuse
    walk_forward.parquet  (with walk_forward=) stitched out-of-sample returns and NAV
    walk_forward.json     its windows' summary next to the in-sample best
    report.html           the sweep report
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import sys
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from coinfactor.core.errors import ConfigError
from coinfactor.core.time import periods_per_year
from coinfactor.data import infer_freq
from coinfactor.studies import (
    STUDIES,
    apply_overrides,
    build_config,
    config_to_dict,
    input_paths,
    load_study_data,
    stage_keys,
    study_stages,
)
from coinfactor.sweeps._execute import Chunk, DaskExecutor, LocalExecutor, TrialTask
from coinfactor.sweeps._ledger import (
    LEDGER_NAME,
    Ledger,
    TrialRecord,
    check_ledger_study,
    data_fingerprint,
    fold_wal,
    trial_id,
    trials_table,
)
from coinfactor.sweeps._outdir import finish_sweep_dir, open_sweep_dir
from coinfactor.sweeps._spec import SweepSpec, expand, parse_sweep, trial_params
from coinfactor.sweeps._stats import overfitting_stats, returns_matrix
from coinfactor.sweeps._walk import WalkForwardResult, parse_walk_forward, walk_forward

log = logging.getLogger(__name__)

_EMPTY_I = np.empty(0, np.int64)
_EMPTY_F = np.empty(0)

SweepProgress = Callable[[int, int], None]
"""``progress(done, total)``: trials finished (this run and before) of the sweep's total."""


@dataclass(frozen=True)
class SweepResult:
    """What a sweep did and found.

    Attributes
    ----------
    out : Path
        The sweep directory.
    study : str
        The study swept.
    spec : SweepSpec
        The parsed ``[sweep]`` table.
    trials : pl.DataFrame
        ``trials.parquet``.
    overfitting : dict
        ``overfitting.json``.
    compute : dict
        ``compute.json`` (backend, workers, computed / skipped trials, stage reuse, seconds).
    walk_forward : WalkForwardResult or None
        With ``walk_forward=``.
    """

    out: Path
    study: str
    spec: SweepSpec
    trials: pl.DataFrame
    overfitting: dict[str, Any]
    compute: dict[str, Any]
    walk_forward: WalkForwardResult | None = None

    @property
    def n_computed(self) -> int:
        """Trials computed by this call (the others were found in the ledger)."""
        return int(self.compute["computed"])

    def summary(self) -> str:
        """Plain-text summary: trials, best trial, PSR / DSR / PBO / SPA."""
        o, c = self.overfitting, self.compute
        lines = [f"sweep of {self.study}: {c['trials']} trials ({c['computed']} computed, "
                 f"{c['skipped']} already done, {o['n_failed']} failed) on {c['backend']}"]
        for key in ("best_trial", "select_best", "sharpe_best", "psr", "dsr", "pbo",
                    "spa_pvalue"):
            v = o.get(key)
            lines.append(f"  {key:<12} {v:.4g}" if isinstance(v, float) else
                         f"  {key:<12} {v}")
        if self.walk_forward is not None:
            wf = self.walk_forward.summary["walk_forward"]
            lines.append(f"  walk-forward sharpe {wf['sharpe_ratio']:.4g} over "
                         f"{int(wf['n_bars'])} bars")
        return "\n".join(lines)


@dataclass
class _Plan:
    tasks: list[TrialTask]
    failed: list[TrialRecord]  # trials whose config cannot be built
    groups: dict[str, int] = field(default_factory=dict)


def load_sweep_config(path: str | Path) -> dict[str, Any]:
    """Read a study TOML file with a ``[sweep]`` table."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    try:
        raw = tomllib.loads(p.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
    return raw


def _plan(module: Any, study: str, spec: SweepSpec, base: Mapping[str, Any], fp: str,
          version: str) -> _Plan:
    stages = study_stages(module)
    plan = _Plan([], [])
    seen: set[str] = set()
    keyed: list[tuple[tuple[str, ...], TrialTask]] = []
    for index, values in enumerate(expand(spec, module.Config)):
        params = trial_params(base, values)
        try:
            config = build_config(module, params)
        except ConfigError as exc:
            tid = trial_id(study, fp, params, version)
            if tid not in seen:
                seen.add(tid)
                plan.failed.append(TrialRecord(tid, index, values, params, "failed",
                                               f"ConfigError: {exc}", 0.0, {}, _EMPTY_I,
                                               _EMPTY_F, "driver"))
            continue
        resolved = config_to_dict(config)
        tid = trial_id(study, fp, resolved, version)
        if tid in seen:
            continue
        seen.add(tid)
        keys = stage_keys(stages, config) if stages else {}
        order = tuple(repr(keys[s.name]) for s in stages[:-1])
        keyed.append((order, TrialTask(tid, index, dict(values), resolved, config)))
        plan.groups[tid] = 0
    keyed.sort(key=lambda kv: (kv[0], kv[1].sweep_index))  # shared upstream stages adjacent
    group_of: dict[tuple[str, ...], int] = {}
    for order, task in keyed:
        g = group_of.setdefault(order[:-1] if len(order) > 1 else (), len(group_of))
        plan.groups[task.trial_id] = g
        plan.tasks.append(task)
    return plan


def _chunks(tasks: Sequence[TrialTask], groups: Mapping[str, int], size: int) -> list[Chunk]:
    """Cut the planned trials (groups adjacent) into chunks of at most ``size`` trials.

    A group larger than ``size`` is cut into chunks labelled with the group (placed on one
    worker: they share its upstream stages); consecutive smaller groups are packed whole into
    one chunk with a label of its own, so a sweep of many one-trial groups (every trial its
    own signal) still travels in chunks of ``size``, not one task and one ledger transaction
    per trial.
    """
    runs: list[list[TrialTask]] = []  # the groups, in plan order
    for task in tasks:
        if runs and groups[runs[-1][0].trial_id] == groups[task.trial_id]:
            runs[-1].append(task)
        else:
            runs.append([task])
    out: list[Chunk] = []
    packed: list[TrialTask] = []
    label = max(groups.values(), default=0) + 1  # packed chunks: labels no group has

    def flush() -> None:
        nonlocal packed, label
        if packed:
            out.append((label, packed))
            packed, label = [], label + 1

    for run in runs:
        if len(run) > size:
            flush()
            g = groups[run[0].trial_id]
            out.extend((g, run[i:i + size]) for i in range(0, len(run), size))
            continue
        if len(packed) + len(run) > size:
            flush()
        packed = packed + run
    flush()
    return out


def run_sweep(
    config: str | Path | Mapping[str, Any],
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    sets: Sequence[str] = (),
    walk_forward_spec: str | None = None,
    progress: SweepProgress | None = None,
    retry_failed: bool = False,
    chunk_size: int | None = None,
    spa_reps: int = 1000,
    report: bool = True,
    base_dir: Path | None = None,
) -> SweepResult:
    """Run every trial of a config's ``[sweep]`` table and write the sweep directory.

    Parameters
    ----------
    config : str, Path or mapping
        A study TOML file with a ``[sweep]`` table, or its parsed content.
    out : str or Path
        The sweep directory (new, empty, or a sweep directory to continue).
    workers : int, optional
        Start a ``LocalCluster`` of this many worker processes on 127.0.0.1 (default: run
        in this process, no cluster).
    scheduler : str, optional
        Use the Dask cluster at this address (``tcp://host:8786``).
    resume : bool
        ``out`` must hold this sweep already (finished trials are skipped in any case).
    overwrite : bool
        Start afresh, replacing the sweep directory at ``out``.
    sets : sequence of str
        ``key=value`` overrides of the base ``[params]``.
    walk_forward_spec : str, optional
        ``"train=365d,test=90d[,step=90d]"``: walk-forward selection by ``select``.
    progress : callable, optional
        ``progress(done, total)`` after each chunk of trials.
    retry_failed : bool
        Run again the trials recorded as failed.
    chunk_size : int, optional
        Trials per task (default: about four tasks per worker, at most 16 trials).
    spa_reps : int
        Bootstrap replications of the SPA test.
    report : bool
        Write ``report.html``.
    base_dir : Path, optional
        Directory relative data paths are resolved against (default: the config file's).

    Returns
    -------
    SweepResult

    Raises
    ------
    ConfigError
        On a bad config, ``[sweep]`` table or ``out``, before any trial runs.
    KeyboardInterrupt
        Re-raised after a clean stop: the finished trials stay in the ledger.
    """
    t_start = time.perf_counter()
    if isinstance(config, Mapping):
        raw = dict(config)
        cfg_path = None
    else:
        cfg_path = Path(config)
        raw = load_sweep_config(cfg_path)
        base_dir = base_dir or cfg_path.parent
    if workers is not None and scheduler is not None:
        raise ConfigError("--workers and --scheduler exclude each other: pass one")
    raw = apply_overrides(raw, sets)
    study = raw.get("study")
    if not isinstance(study, str) or study not in STUDIES:
        raise ConfigError(f"config needs study = one of {sorted(STUDIES)}, got {study!r}")
    if "sweep" not in raw:
        raise ConfigError("the config has no [sweep] table; add one, e.g. [sweep] grid = "
                          "{ vol_target = [0.1, 0.2] }")
    import importlib

    module_path = STUDIES[study]
    module = importlib.import_module(module_path)
    spec = parse_sweep(raw["sweep"], module.Config)
    wf_spec = parse_walk_forward(walk_forward_spec) if walk_forward_spec else None
    base = raw.get("params", {})
    build_config(module, base)  # the base config is valid
    inputs = ([cfg_path] if cfg_path else []) + input_paths(raw, base_dir=base_dir)
    target = Path(out).expanduser().absolute()
    fold_wal(target / LEDGER_NAME)
    panel, source = load_study_data(raw.get("data", {}), base_dir=base_dir)
    fp = data_fingerprint(panel)
    version = str(sys.modules["coinfactor"].__version__)  # the root package, loaded first

    def make_ledger(path: Path) -> None:
        Ledger(path, study=study, data_fingerprint=fp, version=version).close()

    target = open_sweep_dir(out, raw, resume=resume, overwrite=overwrite, inputs=inputs,
                            make_ledger=make_ledger)
    t_plan = time.perf_counter()
    plan = _plan(module, study, spec, base, fp, version)
    all_ids = [t.trial_id for t in plan.tasks] + [r.trial_id for r in plan.failed]
    ledger = Ledger(target / LEDGER_NAME, study=study, data_fingerprint=fp, version=version)
    stage_counts: dict[str, dict[str, int]] = {}
    execute_seconds = 0.0
    computed = 0
    backend = "in-process"
    n_workers = 1
    try:
        check_ledger_study(ledger.trials(), study)
        done = ledger.finished(all_ids, retry_failed=retry_failed)
        unbuilt = [rec for rec in plan.failed if rec.trial_id not in done]
        ledger.record_many(unbuilt)
        computed += len(unbuilt)
        pending = [t for t in plan.tasks if t.trial_id not in done]
        total = len(all_ids)
        finished = total - len(pending)
        if progress is not None:
            progress(finished, total)
        if pending:
            executor: LocalExecutor | DaskExecutor
            if workers is None and scheduler is None:
                executor = LocalExecutor(module_path, fp, panel)
            else:
                executor = DaskExecutor(module_path, fp, panel, workers=workers,
                                        scheduler=scheduler)
            backend, n_workers = executor.name, executor.n_workers
            size = chunk_size or max(1, min(16, math.ceil(len(pending) / (4 * n_workers))))
            t_exec = time.perf_counter()
            try:
                for records, counts in executor.run(_chunks(pending, plan.groups, size)):
                    ledger.record_many(records)
                    computed += len(records)
                    finished += len(records)
                    for stage, c in counts.items():
                        acc = stage_counts.setdefault(stage, {"computed": 0, "reused": 0})
                        acc["computed"] += c["computed"]
                        acc["reused"] += c["reused"]
                    if progress is not None:
                        progress(finished, total)
            finally:
                execute_seconds = time.perf_counter() - t_exec
                executor.close()
        raw_trials = ledger.trials().filter(pl.col("trial_id").is_in(all_ids))
        returns = ledger.returns(raw_trials.filter(pl.col("status") == "done")
                                 .get_column("trial_id").to_list())
    except BaseException:
        ledger.close()
        raise
    ledger.close()
    t_stats = time.perf_counter()
    trials = trials_table(raw_trials, spec.swept)
    ppy = periods_per_year(infer_freq(panel))
    stats, logits = overfitting_stats(trials, returns, select=spec.select,
                                      periods_per_year=ppy, spa_reps=spa_reps)
    wf = None
    if wf_spec is not None:
        ids = trials.filter(pl.col("status") == "done").get_column("trial_id").to_list()
        ts, mat = returns_matrix(returns, ids)
        wf = walk_forward(ts, mat, ids, wf_spec, select=spec.select, periods_per_year=ppy,
                          in_sample_best=stats["best_trial"])
    t_write = time.perf_counter()
    seconds = t_write - t_start
    done_secs = trials.filter(pl.col("status") == "done").get_column("seconds")
    compute = {"backend": backend, "workers": n_workers, "trials": len(all_ids),
               "computed": computed, "skipped": len(all_ids) - computed,
               "failed": int((trials.get_column("status") == "failed").sum()),
               "wall_seconds": seconds, "execute_seconds": execute_seconds,
               "phase_seconds": {"load": t_plan - t_start,
                                 "plan_and_execute": t_stats - t_plan,
                                 "statistics": t_write - t_stats},
               "data_source": source, "data_fingerprint": fp,
               "seconds_per_trial": float(done_secs.mean()) if done_secs.len() else None,  # type: ignore[arg-type]
               "stages": stage_counts, "coinfactor": version, "study": study}
    _write_outputs(target, raw, trials, returns, stats, logits, compute, wf, inputs, report)
    return SweepResult(target, study, spec, trials, stats, compute, wf)


def _json(value: Any) -> bytes:
    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if hasattr(v, "item"):
            return clean(v.item())
        if hasattr(v, "isoformat"):
            return v.isoformat()
        return v
    return json.dumps(clean(value), indent=2, allow_nan=False).encode()


def _write_outputs(target: Path, raw: dict[str, Any], trials: pl.DataFrame,
                   returns: pl.DataFrame, stats: dict[str, Any], logits: Any,
                   compute: dict[str, Any], wf: WalkForwardResult | None,
                   inputs: Sequence[str | Path], report: bool) -> None:
    import tomli_w

    def fill(tmp: Path) -> None:
        shutil.copy2(target / LEDGER_NAME, tmp / LEDGER_NAME)
        (tmp / "sweep.toml").write_bytes(tomli_w.dumps(raw).encode())
        trials.write_parquet(tmp / "trials.parquet")
        returns.write_parquet(tmp / "returns.parquet")
        pl.DataFrame({"logit": logits}, schema={"logit": pl.Float64}).write_parquet(
            tmp / "pbo_logits.parquet")
        (tmp / "overfitting.json").write_bytes(_json(stats))
        (tmp / "compute.json").write_bytes(_json(compute))
        if wf is not None:
            wf.returns.write_parquet(tmp / "walk_forward.parquet")
            (tmp / "walk_forward.json").write_bytes(_json(
                {**wf.summary, "windows": wf.windows.to_dicts()}))

    derive = None
    if report:
        def derive(tmp: Path, final: Path) -> None:
            from coinfactor.report import write_sweep_report

            write_sweep_report(tmp, name=final.name)

    finish_sweep_dir(target, fill, inputs=inputs, derive=derive)
