"""The background threads of a minute import: reading ahead, rolling up and writing.

A minute import is a pipeline of three stages on their own threads, so that they overlap
on the machine's cores (polars, zlib, the compiled rollups and the Parquet writer release
the GIL while they work): the files are read and checked ahead, two at a time, by
:func:`read_ahead`; the main thread splits the checked rows into (symbol, month) parts and
merges them with the stored months; and :class:`BackgroundWork` rolls the parts up and
writes their Parquet files on two threads (writing is the largest share of the work:
measured on seed 000's layout, about half of the CPU time once the checks and rollups were
compiled). Each stage holds a bounded number of items, so memory stays set by a few
batches; an error in a background thread is raised in the main thread, in order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import polars as pl

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")
_DONE = object()


@dataclass(frozen=True)
class _Failure:
    exc: BaseException


def read_ahead(sources: Sequence[S], batches: Callable[[S], Iterator[T]], *,
               workers: int = 2, depth: int = 2) -> Iterator[tuple[S, T | None]]:
    """Yield ``(source, item)`` for every item of ``batches(source)``, source by source.

    After a source's last item comes ``(source, None)``. Up to ``workers`` sources are read
    ahead at once (the one being consumed included), each on its own background thread and
    at most ``depth`` items ahead (memory: ``workers * (depth + 1)`` items), so that
    reading and checking the next files (polars and the decompressor release the GIL)
    overlap with staging the current one. An error in a thread is raised here when its
    place in the order comes; closing this generator
    stops the threads at their next item.
    """
    queues: list[queue.Queue[object]] = [queue.Queue(maxsize=depth) for _ in sources]
    stop = threading.Event()
    order = iter(range(len(sources)))
    lock = threading.Lock()
    slots = threading.Semaphore(workers)  # sources read but not yet consumed, at most

    def put(q: queue.Queue[object], item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        while not stop.is_set():
            if not slots.acquire(timeout=0.1):  # released when the consumer is done with one
                continue
            with lock:  # sources are taken in order: the one the consumer waits for is read
                i = next(order, None)
            if i is None:
                return
            try:
                for item in batches(sources[i]):
                    if not put(queues[i], item):
                        return
                put(queues[i], _DONE)
            except BaseException as exc:  # handed to the consumer, raised there in order
                put(queues[i], _Failure(exc))
                return

    threads = [threading.Thread(target=run, name=f"coinfactor-import-reader-{k}", daemon=True)
               for k in range(max(1, min(workers, len(sources))))]
    for thread in threads:
        thread.start()
    try:
        for source, q in zip(sources, queues, strict=True):
            while (item := q.get()) is not _DONE:
                if isinstance(item, _Failure):
                    raise item.exc
                yield source, item  # type: ignore[misc]
            slots.release()
            yield source, None
    finally:
        stop.set()
        for thread in threads:
            thread.join()


PART_COMPRESSION: Final = "snappy"
"""Compression of the partition files (fast to write and read; zstd costs 1.6x to write)."""


def write_part(frame: pl.DataFrame, path: Path) -> None:
    """Write one partition file (the one format every writer of the minute store uses).

    With column statistics (their cost is within the noise of the write): a lazy scan of
    the parts (:meth:`~coinfactor.data.store.Store.scan_minutes`) filtered on ``ts`` skips
    the files outside the range by their min/max instead of reading them.
    """
    frame.write_parquet(path, compression=PART_COMPRESSION, statistics=True)


class BackgroundWork:
    """Tasks run by ``workers`` background threads, started in order, at most ``depth`` waiting.

    Tasks are independent (each writes its own file or returns its own value), so two
    threads write Parquet at once: the writer releases the GIL, and one thread alone was the
    import's bottleneck (measured: the main thread waited for it 40% of the time).
    :meth:`submit` and :meth:`write` return at once (after waiting for the oldest task when
    ``depth`` are pending); :meth:`wait` waits for one file or every task and raises the
    first failure in submission order; the caller lists a file only after it was waited
    for. :meth:`close` waits for everything (failures ignored: the caller is cleaning up)
    and stops the threads.
    """

    def __init__(self, depth: int = 4, workers: int = 2) -> None:
        self._depth = depth
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._tasks: list[Future[Any]] = []
        self._files: dict[Path, Future[Any]] = {}

    def submit(self, fn: Callable[..., R], *args: Any) -> Future[R]:
        """Run ``fn(*args)`` on a background thread, started after the tasks queued before it."""
        self._tasks = [t for t in self._tasks if not t.done()]
        while len(self._tasks) >= self._depth:
            self._tasks.pop(0).result()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._workers,
                                            thread_name_prefix="coinfactor-import-writer")
        task = self._pool.submit(fn, *args)
        self._tasks.append(task)
        return task

    def write(self, frame: pl.DataFrame, path: Path) -> None:
        """Queue ``frame`` to be written to ``path`` (its folder must exist)."""
        self._files[path] = self.submit(write_part, frame, path)

    def wait(self, path: Path | None = None) -> None:
        """Wait until ``path`` (or every queued task) is done; raise a task's failure."""
        if path is not None:
            task = self._files.pop(path, None)
            if task is not None:
                task.result()
            return
        for task in self._tasks:
            task.result()
        self._tasks.clear()
        for task in self._files.values():
            task.result()
        self._files.clear()

    def close(self) -> None:
        """Wait for every queued task (failures ignored) and stop the thread."""
        for task in [*self._tasks, *self._files.values()]:
            with suppress(Exception):
                task.result()
        self._tasks.clear()
        self._files.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
