"""run_tasks here: follow-up tasks run before the tasks not started, on one or two threads."""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any

import pytest

from coinfactor.core.tasks import Task, run_tasks


def _square(shared: int, x: int) -> int:
    return shared * x * x


@pytest.mark.parametrize("threads", [1, 2])
def test_follow_ups_run_before_the_rest_and_every_result_is_handled(threads: int) -> None:
    """Reference: the calls written out (shared * x²); one thread: exact start order."""
    order: list[Hashable] = []
    results: dict[Hashable, Any] = {}
    seen: list[tuple[int, int]] = []

    def on_result(key: Hashable, result: Any) -> list[Task]:
        order.append(key)
        results[key] = result
        if isinstance(key, int):            # each first-level task adds two follow-ups
            return [((key, "a"), _square, (key + 10,)), ((key, "b"), _square, (key + 20,))]
        return []

    run_tasks([(i, _square, (i,)) for i in range(3)], shared=2, on_result=on_result,
              progress=lambda done, total, _t: seen.append((done, total)), total=9,
              threads=threads)
    assert results == {**{i: 2 * i * i for i in range(3)},
                       **{(i, "a"): 2 * (i + 10) ** 2 for i in range(3)},
                       **{(i, "b"): 2 * (i + 20) ** 2 for i in range(3)}}
    assert seen == [(d, 9) for d in range(1, 10)]
    if threads == 1:
        assert order == [0, (0, "a"), (0, "b"), 1, (1, "a"), (1, "b"), 2, (2, "a"), (2, "b")]


_EVENTS: dict[str, threading.Event] = {}
_RUNNING = {"wait": 0, "most": 0}
_LOCK = threading.Lock()


def _wait_for_b(_shared: None, name: str) -> bool:
    with _LOCK:
        _RUNNING["wait"] += 1
        _RUNNING["most"] = max(_RUNNING["most"], _RUNNING["wait"])
    try:
        return _EVENTS[name].wait(timeout=10.0)
    finally:
        with _LOCK:
            _RUNNING["wait"] -= 1


def _set(_shared: None, name: str) -> bool:
    _EVENTS[name].set()
    return True


def test_two_threads_overlap_two_kinds_of_task_but_never_two_of_one_kind() -> None:
    """Each waiting task is released by a task of the other kind: it returns True only if
    the two ran at the same time; the waiting kind never runs twice at once."""
    names = [f"e{i}" for i in range(3)]
    _EVENTS.update({n: threading.Event() for n in names})
    got: dict[Hashable, Any] = {}
    tasks: list[Task] = [(("wait", n), _wait_for_b, (n,)) for n in names]
    tasks += [(("set", n), _set, (n,)) for n in names]
    run_tasks(tasks, on_result=lambda k, r: got.__setitem__(k, r) or [], threads=2)
    assert all(got[("wait", n)] for n in names) and _RUNNING["most"] == 1
