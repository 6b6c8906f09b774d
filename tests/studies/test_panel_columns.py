"""The ``[data]`` loader keeps the columns a study reads (``panel_columns``), and the study's
results do not change: reference, the same study on the whole panel."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest

from coinfactor import datasets
from coinfactor.studies import _module, load_study_data, run_config
from coinfactor.studies._base import config_from_dict

CASES = [
    ("carry", {}),
    ("carry", {"spread_model": "half_range"}),
    ("reversion", {}),
    ("hedge_basket", {}),
]


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


@pytest.mark.filterwarnings("ignore::coinfactor.core.errors.DataWarning")  # reversion's funding
@pytest.mark.parametrize(("study", "params"), CASES, ids=lambda v: str(v) if v else "default")
def test_study_on_its_columns_equals_the_whole_panel(study: str, params: dict) -> None:
    module = _module(study)
    config = config_from_dict(module.Config, params)
    name = module.DEFAULT_DATA["dataset"]
    whole = datasets.load(name)
    reads = module.panel_columns(config)
    projected, _ = load_study_data({"dataset": name}, columns=reads)
    assert set(projected.columns) < set(whole.columns)  # something was left out
    assert set(projected.columns) == set(whole.columns) & (reads | {"ts", "symbol", "filled"})
    expected = module.run(config, whole).metrics
    got = run_config({"study": study, "data": {"dataset": name}, "params": params}).metrics
    assert got.keys() == expected.keys()
    assert all(_same(got[k], expected[k]) for k in expected), [
        k for k in expected if not _same(got[k], expected[k])]


def test_parquet_file_is_read_with_the_columns_asked_and_those_validation_needs(
        tmp_path: Path) -> None:
    panel = datasets.load("binance-perp-4h")
    assert {"trades", "open_interest"} & set(panel.columns)
    path = tmp_path / "panel.parquet"
    panel.write_parquet(path)
    got, _ = load_study_data({"file": str(path)}, columns={"close", "funding_rate"})
    assert got.columns == [c for c in panel.columns
                           if c in {"ts", "symbol", "close", "funding_rate", "filled"}]
    assert got.equals(panel.select(got.columns))
    whole, _ = load_study_data({"file": str(path)})
    assert whole.columns == panel.columns


def test_a_column_the_study_reads_but_the_data_lacks_is_not_invented() -> None:
    got, _ = load_study_data({"dataset": "binance-perp-4h"}, columns={"close", "not_a_column"})
    assert "not_a_column" not in got.columns
    assert isinstance(got, pl.DataFrame)
