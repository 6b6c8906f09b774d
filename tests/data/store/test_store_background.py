"""The import's background threads: files read ahead in order, work done in order, bounded.

The reference is the sequential loop (``for s in sources: for item in batches(s): ...``):
the items, their order and the first error must be the same whatever the threads' speeds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from coinfactor.data.store._background import BackgroundWork, read_ahead

SPEED = {0: 0.02, 1: 0.0, 2: 0.01, 3: 0.0, 4: 0.005}
"""Seconds per item of each source (source 0 slowest: the others are read ahead of it)."""


def _batches(source: int) -> Iterator[str]:
    for k in range(3):
        time.sleep(SPEED[source])
        if source == 3 and k == 1:
            raise ValueError("source 3 breaks at its second item")
        yield f"{source}.{k}"


def _sequential(sources: list[int]) -> list[tuple[int, str | None]]:
    out: list[tuple[int, str | None]] = []
    for s in sources:
        out += [(s, item) for item in _batches(s)]
        out.append((s, None))
    return out


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_items_come_in_source_order_whatever_the_speeds(workers: int) -> None:
    sources = [0, 1, 2, 4]
    assert list(read_ahead(sources, _batches, workers=workers, depth=1)) == _sequential(sources)


@pytest.mark.parametrize("workers", [1, 2])
def test_an_error_is_raised_at_its_place_after_every_earlier_item(workers: int) -> None:
    got: list[tuple[int, str | None]] = []
    with pytest.raises(ValueError, match="source 3 breaks"):
        for pair in read_ahead([0, 1, 2, 3, 4], _batches, workers=workers):
            got.append(pair)
    assert got == [*_sequential([0, 1, 2]), (3, "3.0")]
    assert not [t for t in threading.enumerate() if t.name.startswith("coinfactor-import")]


def test_closing_early_stops_the_readers() -> None:
    it = read_ahead([0, 1, 2, 4], _batches, workers=2, depth=1)
    assert next(it) == (0, "0.0")
    it.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("coinfactor-import")]


@pytest.mark.parametrize("workers", [1, 2])
def test_background_work_runs_in_order_and_raises_the_first_failure(workers: int) -> None:
    """Results come in submission order; one thread also runs the tasks in that order."""
    done: list[int] = []

    def task(i: int) -> int:
        time.sleep(0.002 * (5 - i % 5))
        if i == 7:
            raise OSError("disk full")
        done.append(i)
        return i

    work = BackgroundWork(depth=3, workers=workers)
    futures = [work.submit(task, i) for i in range(7)]
    assert [f.result() for f in futures] == list(range(7))
    assert (done if workers == 1 else sorted(done)) == list(range(7))
    work.submit(task, 7)
    work.submit(task, 8)
    with pytest.raises(OSError, match="disk full"):
        work.wait()
    work.close()
    assert sorted(done) == [*range(7), 8]
    assert not [t for t in threading.enumerate() if t.name.startswith("coinfactor-import")]


def test_no_more_sources_than_workers_are_read_ahead() -> None:
    """Memory: a source of one item does not let a reader run on through the folder."""
    started: list[int] = []

    def one(source: int) -> Iterator[int]:
        started.append(source)
        yield source

    for source, item in read_ahead(list(range(12)), one, workers=2, depth=2):
        time.sleep(0.005)  # a slow consumer: the readers would be far ahead if unbounded
        if item is not None:
            assert len(started) <= source + 2  # the one consumed, and one more
    assert started == list(range(12))
