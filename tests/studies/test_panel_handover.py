"""run_config hands the loaded panel to the study's run: the call holds its only reference."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import polars as pl

from coinfactor.studies import _call_run


def test_the_study_holds_the_only_reference_to_the_panel() -> None:
    freed: list[bool] = []

    def run(config: Any, panel: pl.DataFrame, progress: Any = None,
            scheduler: Any = None) -> str:
        ref = weakref.ref(panel)
        del panel  # a study freeing the columns it no longer reads
        gc.collect()
        freed.append(ref() is None)
        return "done"

    for kwargs in ({}, {"progress": print}, {"scheduler": "tcp://x"},
                   {"progress": print, "scheduler": "tcp://x"}):
        loaded = [pl.DataFrame({"ts": [1], "symbol": ["A"]})]
        assert _call_run(run, None, loaded, kwargs) == "done"
        assert loaded == []
    assert freed == [True] * 4
