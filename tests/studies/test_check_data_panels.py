"""check_data keeps the bar times of the last panel it saw: never those of another panel.

Reference: the number of distinct bar times of each cut, counted in the test.
"""

from __future__ import annotations

import gc
from datetime import UTC, datetime

import polars as pl
import pytest

from coinfactor import datasets
from coinfactor.errors import ConfigError
from coinfactor.studies import carry
from coinfactor.studies._params import check_data


def test_each_panel_is_checked_with_its_own_bars() -> None:
    full = datasets.load("hyperliquid-perp-1d")
    config = carry.Config(corr_window=120)
    check_data(config, full, "carry")  # long enough
    cut = full.filter(pl.col("ts") < datetime(2023, 5, 1, tzinfo=UTC))
    n_bars = cut.get_column("ts").n_unique()
    assert n_bars < 120
    with pytest.raises(ConfigError, match=f"which has {n_bars:,} bars"):
        check_data(config, cut, "carry")
    check_data(config, full, "carry")  # the first panel again: its own bars
    # a new frame in the place of a freed one is not mistaken for it
    del cut
    gc.collect()
    again = full.filter(pl.col("ts") < datetime(2023, 5, 1, tzinfo=UTC))
    with pytest.raises(ConfigError, match=f"which has {n_bars:,} bars"):
        check_data(config, again, "carry")
