"""Oracle tests of the step inference: ``mode_step`` against a polars ``group_by``, and
``infer_freq`` on a panel with gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from coinfactor.data import infer_freq
from coinfactor.data._schema import mode_step


def _durations(values: list[int]) -> pl.Series:
    return pl.Series("step", values, dtype=pl.Int64).cast(pl.Duration("us"))


@pytest.mark.parametrize("values", [
    [60] * 5 + [120] * 2,  # a majority
    [60, 120, 60, 120, 180],  # a tie: the smallest wins
    [180, 120, 120, 60, 60, 60, 180, 180, 180],  # no majority, a clear mode
    [3_600_000_000] * 3000 + [60] * 2000 + [7] * 1500,  # the sample's mode is no majority
    [7] * 1100 + [5] * 2000,  # the sample sees only one value
    [42],
], ids=["majority", "tie_smallest_wins", "no_majority", "sample_mode_no_majority",
        "sample_sees_one_value", "one_step"])
def test_mode_step_equals_group_by(values: list[int]) -> None:
    steps = _durations(values)
    ref = (steps.to_frame().group_by("step").len()
           .sort(["len", "step"], descending=[True, False])["step"][0])
    assert mode_step(steps) == ref


def test_infer_freq_on_a_panel_with_gaps() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    hours = [0, 1, 2, 3, 5, 6, 9]
    panel = pl.DataFrame({"ts": [t0 + timedelta(hours=h) for h in hours] * 2,
                          "symbol": ["A"] * 7 + ["B"] * 7})
    assert infer_freq(panel) == "1h"
