"""Shared fixtures: small hand-made canonical panels (builders in ``support.panels``)."""

from __future__ import annotations

import polars as pl
import pytest

from support.panels import make_panel


@pytest.fixture
def small_panel() -> pl.DataFrame:
    """Two symbols, hourly, with a gap in B and a late listing of C."""
    return make_panel({
        "A": [100.0, 101.0, 102.0, 101.0, 103.0, 104.0],
        "B": [10.0, 10.5, None, 10.2, 10.4, 10.1],
        "C": [None, None, 5.0, 5.5, 5.25, 5.5],
    })
