"""Where trials run: in this process, or on Dask distributed workers.

Trials travel in chunks (lists of :class:`TrialTask`) and come back as
:class:`~coinfactor.sweeps._ledger.TrialRecord` lists; only the driver writes the ledger. The
panel is sent to each worker once (``Client.scatter(..., broadcast=True)``) and every chunk
names it by its future, so it is never pickled per trial. Each worker process keeps a
:class:`coinfactor.studies.StageCache` per panel, so the chunks it runs share their upstream
stages. A trial's numbers depend only on its config and the panel (the cache serves outputs
equal bit for bit to a fresh computation), so they are the same on every backend and worker
count.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from coinfactor.core.errors import ConfigError
from coinfactor.studies import StageCache, build_config, evaluate_study
from coinfactor.sweeps._ledger import TrialRecord

log = logging.getLogger(__name__)

_CACHES: OrderedDict[tuple[str, str], tuple[Any, StageCache]] = OrderedDict()
"""Per process: (study module, data fingerprint) -> (panel, its stage cache); two kept."""


@dataclass(frozen=True)
class TrialTask:
    """One trial to run.

    Attributes
    ----------
    trial_id : str
        Content hash.
    sweep_index : int
        Position in the sweep.
    values : dict
        Swept values.
    params : dict
        Full ``[params]`` table of the trial.
    config : dataclass instance, optional
        The study's ``Config`` built from ``params`` (the driver builds it while planning, so
        a worker does not parse and check the table again); None: built on the worker.
    """

    trial_id: str
    sweep_index: int
    values: dict[str, Any]
    params: dict[str, Any]
    config: Any = None


def _cache_for(module_path: str, fingerprint: str, panel: Any) -> StageCache:
    key = (module_path, fingerprint)
    hit = _CACHES.get(key)
    if hit is not None and hit[0] is panel:
        _CACHES.move_to_end(key)
        return hit[1]
    cache = StageCache()
    _CACHES[key] = (panel, cache)
    while len(_CACHES) > 2:
        _CACHES.popitem(last=False)
    return cache


def run_chunk(module_path: str, fingerprint: str, panel: pl.DataFrame,
              tasks: Sequence[TrialTask], single_thread: bool = False,
              ) -> tuple[list[TrialRecord], dict[str, dict[str, int]]]:
    """Run a chunk of trials of one study on one panel (a worker's task).

    Parameters
    ----------
    module_path : str
        The study module (``"coinfactor.studies.carry"``).
    fingerprint : str
        The panel's data fingerprint (keys the worker's stage cache).
    panel : pl.DataFrame
        The panel (on Dask: resolved from the scattered future, no copy per task).
    tasks : sequence of TrialTask
        The trials.
    single_thread : bool
        Limit BLAS/OpenMP pools to one thread (one Dask worker per core).

    Returns
    -------
    (list of TrialRecord, dict)
        The trials in order (a trial that raised is ``status="failed"`` with its error), and
        the stage counts of this chunk ``{stage: {"computed": n, "reused": m}}``.
    """
    if single_thread:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            return _run_chunk(module_path, fingerprint, panel, tasks)
    return _run_chunk(module_path, fingerprint, panel, tasks)


def _run_chunk(module_path: str, fingerprint: str, panel: pl.DataFrame,
               tasks: Sequence[TrialTask]
               ) -> tuple[list[TrialRecord], dict[str, dict[str, int]]]:
    module = importlib.import_module(module_path)
    cache = _cache_for(module_path, fingerprint, panel)
    before = cache.counts()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    out = []
    for task in tasks:
        t0 = time.perf_counter()
        try:
            config = (task.config if task.config is not None
                      else build_config(module, task.params))
            ev = evaluate_study(module, config, panel, cache=cache)
            ts = ev.returns.get_column("ts").cast(pl.Datetime("us", "UTC")).cast(pl.Int64)
            rec = TrialRecord(task.trial_id, task.sweep_index, task.values, task.params,
                              "done", None, time.perf_counter() - t0, dict(ev.metrics),
                              ts.to_numpy().copy(),
                              ev.returns.get_column("ret").cast(pl.Float64).to_numpy().copy(),
                              worker)
        except Exception as exc:  # a failing trial is recorded, the sweep goes on
            rec = TrialRecord(task.trial_id, task.sweep_index, task.values, task.params,
                              "failed", f"{type(exc).__name__}: {exc}",
                              time.perf_counter() - t0, {}, np.empty(0, np.int64),
                              np.empty(0), worker)
        out.append(rec)
    after = cache.counts()
    delta = {s: {k: after[s][k] - before.get(s, {}).get(k, 0) for k in ("computed", "reused")}
             for s in after}
    return out, delta


Chunk = tuple[int, Sequence[TrialTask]]
"""(unit, trials): the chunks of one unit share upstream stages (a large group cut in
chunks, or one chunk packing small groups whole) and are placed on one worker together."""


class LocalExecutor:
    """Run the chunks one after another in this process (one worker, no cluster)."""

    name = "in-process"
    n_workers = 1

    def __init__(self, module_path: str, fingerprint: str, panel: pl.DataFrame) -> None:
        self.module_path, self.fingerprint, self.panel = module_path, fingerprint, panel

    def run(self, chunks: Sequence[Chunk]
            ) -> Iterator[tuple[list[TrialRecord], dict[str, dict[str, int]]]]:
        """Yield each chunk's results as it finishes."""
        for _, tasks in chunks:
            yield run_chunk(self.module_path, self.fingerprint, self.panel, tasks)

    def close(self) -> None:
        """Nothing to release."""


def _worker_environ() -> dict[str, Any]:
    """Dask's worker environment without ``MALLOC_TRIM_THRESHOLD_``.

    distributed sets it (65536) to hand memory back to the OS sooner; it also switches off
    glibc's dynamic mmap threshold, so every large NumPy temporary is mapped and unmapped
    again: the carry trials ran 1.8x slower on a worker than in a plain process. One thread
    per BLAS/OpenMP pool is kept.
    """
    import dask

    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {})
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    env["POLARS_MAX_THREADS"] = "1"
    return env


def prepare_worker(module_path: str) -> None:
    """Import the study and load the compiled backtest and allocator loops in this process."""
    from coinfactor.backtest import load_compiled_loop
    from coinfactor.portfolio import load_compiled_allocator

    importlib.import_module(module_path)
    load_compiled_loop()
    load_compiled_allocator()


class DaskExecutor:
    """Run chunks on a Dask distributed cluster: a new LocalCluster or an existing scheduler.

    Parameters
    ----------
    module_path, fingerprint : str
        The study module and the panel's fingerprint.
    panel : pl.DataFrame
        Scattered to every worker once.
    workers : int, optional
        Start a ``LocalCluster`` of this many single-threaded worker processes on 127.0.0.1.
    scheduler : str, optional
        Address of an existing scheduler (``tcp://host:8786``) instead.
    """

    def __init__(self, module_path: str, fingerprint: str, panel: pl.DataFrame, *,
                 workers: int | None = None, scheduler: str | None = None) -> None:
        import dask
        from distributed import Client, LocalCluster

        self.module_path, self.fingerprint = module_path, fingerprint
        self._cluster = None
        if scheduler is not None:
            self.name = f"scheduler {scheduler}"
            self._client = Client(scheduler, timeout="30s")
        else:
            if workers is None or workers < 1:
                raise ConfigError(f"--workers must be >= 1, got {workers!r}")
            self.name = f"LocalCluster of {workers} processes"
            with dask.config.set({"distributed.nanny.pre-spawn-environ": _worker_environ(),
                                  # no statistical profiler taking the GIL every 10 ms
                                  "distributed.worker.profile.enabled": False}):
                self._cluster = LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True,
                    host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR,
                    # no dashboard; the scheduler's HTTP endpoint on a free port of 127.0.0.1
                    scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"})
            self._client = Client(self._cluster)
        self._workers = sorted(self._client.scheduler_info(n_workers=-1)["workers"])
        if not self._workers:
            self.close()
            raise ConfigError(f"{self.name} has no workers; start some, or use --workers N")
        self.n_workers = len(self._workers)
        self._panel = self._client.scatter(panel, broadcast=True, hash=False)
        # every worker imports the study and loads the compiled loops before the first chunk
        # (in parallel, once), so that no trial pays for them
        self._client.run(prepare_worker, module_path)
        self._futures: list[Any] = []

    def _placement(self, chunks: Sequence[Chunk]) -> list[str]:
        """Choose a worker per chunk.

        Whole units go to one worker when there are enough units (largest first, to the
        least loaded); else the chunks are spread over the workers.
        """
        groups: dict[int, int] = {}
        for g, tasks in chunks:
            groups[g] = groups.get(g, 0) + len(tasks)
        if len(groups) >= self.n_workers:
            load = dict.fromkeys(self._workers, 0)
            home: dict[int, str] = {}
            for g, size in sorted(groups.items(), key=lambda kv: (-kv[1], kv[0])):
                w = min(load, key=lambda a: (load[a], a))
                home[g] = w
                load[w] += size
            return [home[g] for g, _ in chunks]
        return [self._workers[i % self.n_workers] for i in range(len(chunks))]

    def run(self, chunks: Sequence[Chunk]
            ) -> Iterator[tuple[list[TrialRecord], dict[str, dict[str, int]]]]:
        """Submit every chunk, yield results as they complete."""
        from distributed import as_completed

        placement = self._placement(chunks)
        self._futures = [
            self._client.submit(run_chunk, self.module_path, self.fingerprint, self._panel,
                                list(tasks), True, pure=False, priority=-i,
                                workers=[placement[i]], allow_other_workers=True)
            for i, (_, tasks) in enumerate(chunks)]
        for future in as_completed(self._futures):
            yield future.result()

    def close(self) -> None:
        """Cancel what is left, close the client and the cluster it started."""
        try:
            if self._futures:
                self._client.cancel(self._futures)
            self._client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()
