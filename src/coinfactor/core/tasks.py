"""Run tasks here or on a Dask distributed cluster, each result handled as it comes.

A task is a key, a module-level function and its arguments; its result comes back to the
calling process, which handles it at once (``on_result``), so results are never all held
at the same time. Handling a result may start further tasks (those it made ready: e.g. the
exposures of a time block once its factor returns are known), which run before the tasks
not started yet. With a scheduler address the tasks are submitted to that cluster (the
shared argument is sent to every worker once); without one they run here, on up to
``threads`` threads, one task of each function at a time (the work of a task must release
the GIL to gain from more than one). A
task's result must depend only on its arguments, so every way of running gives the same
results.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

__all__ = ["Task", "TaskProgress", "run_tasks"]

TaskProgress = Callable[[int, int, float], None]
"""``progress(done, total, elapsed_seconds)`` after each task."""

Task = tuple[Hashable, Callable[..., Any], tuple[Any, ...]]
"""``(key, fn, args)``: the call ``fn(shared, *args)``, its result handed over with ``key``."""


def run_tasks(tasks: Sequence[Task], *, shared: Any = None, scheduler: str | None = None,
              on_result: Callable[[Hashable, Any], Sequence[Task] | None],
              progress: TaskProgress | None = None, total: int | None = None,
              threads: int = 1) -> None:
    """Call ``fn(shared, *args)`` for every task; hand each result to ``on_result(key, r)``.

    Parameters
    ----------
    tasks : sequence of Task
        The tasks to start with, ``(key, fn, args)``; ``fn`` a module-level function
        (importable by the workers).
    shared : object, optional
        First argument of every call (e.g. the panel); scattered to every Dask worker once.
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:8786``); None runs here.
    on_result : callable
        ``on_result(key, result)``, in the calling process, in completion order (start
        order on one local thread); it may return further tasks, which are started before
        the tasks not yet started.
    progress : callable, optional
        ``progress(done, total, elapsed_seconds)`` after each task.
    total : int, optional
        Tasks that will run in all, for ``progress`` (default: ``len(tasks)``).
    threads : int, default 1
        Tasks run at the same time here (without a scheduler), on threads; at most one task
        of each function at a time (tasks of one kind need the same memory and cores; two
        kinds, e.g. a Parquet read and a numeric fit, overlap).

    Notes
    -----
    On Dask, the tasks given are submitted at once (earlier ones first in priority), the
    tasks returned by ``on_result`` as they come (before the others); results are gathered
    one at a time as they complete. The workers need the data a task reads (a path on a
    shared file system, or the shared argument).
    """
    start = time.perf_counter()
    count = len(tasks) if total is None else total
    done = 0

    def handled(key: Hashable, result: Any) -> Sequence[Task]:
        nonlocal done
        more = on_result(key, result) or ()
        done += 1
        if progress is not None:
            progress(done, count, time.perf_counter() - start)
        return more

    if scheduler is None:
        _run_here(tasks, shared, handled, threads)
    else:
        _run_on_dask(tasks, shared, scheduler, handled)


def _run_here(tasks: Sequence[Task], shared: Any,
              handled: Callable[[Hashable, Any], Sequence[Task]], threads: int) -> None:
    queue: deque[Task] = deque(tasks)
    if threads <= 1:
        while queue:
            key, fn, args = queue.popleft()
            queue.extendleft(reversed(handled(key, fn(shared, *args))))
        return
    running: dict[Future[Any], tuple[Hashable, Callable[..., Any]]] = {}
    with ThreadPoolExecutor(max_workers=threads) as pool:
        while queue or running:
            while len(running) < threads:
                busy = {fn for _, fn in running.values()}
                # the first queued task of a function not running: one task of a kind at a
                # time (tasks of one kind need the same resources, two kinds overlap)
                nxt = next((t for t in queue if t[1] not in busy), None)
                if nxt is None:
                    break
                queue.remove(nxt)
                key, fn, args = nxt
                running[pool.submit(fn, shared, *args)] = (key, fn)
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in [f for f in running if f in finished]:   # in start order
                key, _fn = running.pop(future)
                queue.extendleft(reversed(handled(key, future.result())))


def _run_on_dask(tasks: Sequence[Task], shared: Any, scheduler: str,
                 handled: Callable[[Hashable, Any], Sequence[Task]]) -> None:
    from distributed import Client, as_completed

    with Client(scheduler, timeout="30s") as client:
        shared_f = client.scatter(shared, broadcast=True, hash=False)
        keys: dict[Any, Hashable] = {}
        submitted = 0

        def submit(batch: Sequence[Task], first: int) -> list[Any]:
            nonlocal submitted
            futures = []
            for key, fn, args in batch:
                # later submissions first: a task made ready by a result runs before the
                # tasks not started yet (it frees what the result holds)
                future = client.submit(fn, shared_f, *args, pure=False,
                                       priority=first - submitted)
                submitted += 1
                keys[future] = key
                futures.append(future)
            return futures

        pending = as_completed(submit(tasks, 0))
        for future in pending:
            key = keys.pop(future)
            more = handled(key, future.result())
            future.release()
            for new in submit(more, 2 * submitted):
                pending.add(new)
