"""Run independent tasks here or on a Dask distributed cluster, reporting progress.

A task is a module-level function and its arguments; its result comes back to the calling
process, which handles it at once (``on_result``), so results are never all held at the
same time. With a scheduler address the tasks are submitted to that cluster (the shared
argument is sent to every worker once); without one they run here, one after another. A
task's result must depend only on its arguments, so both give the same results.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["TaskProgress", "run_tasks"]

TaskProgress = Callable[[int, int, float], None]
"""``progress(done, total, elapsed_seconds)`` after each task."""


def run_tasks(fn: Callable[..., Any], tasks: Sequence[tuple[Any, ...]], *,
              shared: Any = None, scheduler: str | None = None,
              on_result: Callable[[int, Any], None],
              progress: TaskProgress | None = None) -> None:
    """Call ``fn(shared, *task)`` for every task; hand each result to ``on_result(i, r)``.

    Parameters
    ----------
    fn : callable
        A module-level function (importable by the workers).
    tasks : sequence of tuple
        Arguments of each call, after ``shared``.
    shared : object, optional
        First argument of every call (e.g. the panel); scattered to every Dask worker once.
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:8786``); None runs here, in order.
    on_result : callable
        ``on_result(index, result)``, in the calling process, in completion order (task
        order when local).
    progress : callable, optional
        ``progress(done, total, elapsed_seconds)`` after each task.

    Notes
    -----
    On Dask, every task is submitted at once; results are gathered one at a time as they
    complete. The workers need the data a task reads (a path on a shared file system, or
    the shared argument).
    """
    start = time.perf_counter()
    total = len(tasks)
    if scheduler is None:
        for i, task in enumerate(tasks):
            on_result(i, fn(shared, *task))
            if progress is not None:
                progress(i + 1, total, time.perf_counter() - start)
        return
    from distributed import Client, as_completed

    with Client(scheduler, timeout="30s") as client:
        shared_f = client.scatter(shared, broadcast=True, hash=False)
        futures = {client.submit(fn, shared_f, *task, pure=False, priority=-i): i
                   for i, task in enumerate(tasks)}
        done = 0
        for future in as_completed(futures):
            on_result(futures[future], future.result())
            future.release()
            done += 1
            if progress is not None:
                progress(done, total, time.perf_counter() - start)
