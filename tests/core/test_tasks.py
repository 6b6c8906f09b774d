"""run_tasks here: follow-up tasks run before the tasks not started, on one or two threads."""

from __future__ import annotations

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
