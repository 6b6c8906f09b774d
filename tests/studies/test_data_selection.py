"""The ``[data]`` table: sources (dataset, file, parquet, store) and filters (issue 16).

Each test names the input of a defect found in issue 16, what happened before, and the clear
error or the correct panel now: CSV files read through ``read_bars`` (``file``, and under the
old ``parquet`` key), lists that are lists, dates that parse, unknown symbols named with near
matches, and an empty selection that says which filter emptied it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from coinfactor import datasets
from coinfactor.core.errors import ConfigError, DataError
from coinfactor.data import FILLED_COLUMN, regularize
from coinfactor.data.store import Store
from coinfactor.studies import load_study_data, run_config
from support.panels import make_panel, store_panel

DATASET = "hyperliquid-perp-1d"


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    """Two symbols, every column set (a CSV cannot tell the type of an all-empty column)."""
    p = make_panel({"BTCUSDT": [100.0, 101.0, 102.0, 103.0],
                    "ETHUSDT": [10.0, 10.5, 10.2, 10.4]})
    return p.with_columns((pl.col("close") * 1000).alias("open_interest"))


def test_file_reads_csv_through_read_bars(panel: pl.DataFrame, tmp_path: Path) -> None:
    """Before: there was no way to give a CSV file (``file`` was an unknown key)."""
    panel.write_csv(tmp_path / "bars.csv")
    got, source = load_study_data({"file": "bars.csv"}, base_dir=tmp_path)
    assert_frame_equal(got, panel)
    assert source == f"file {tmp_path / 'bars.csv'}"


def test_parquet_key_reads_a_csv_file_by_its_extension(panel: pl.DataFrame,
                                                        tmp_path: Path) -> None:
    """Before: ``[data] parquet = "x.csv"`` failed with "must end with PAR1"."""
    panel.write_csv(tmp_path / "x.csv")
    got, _ = load_study_data({"parquet": str(tmp_path / "x.csv")})
    assert_frame_equal(got, panel)


def test_file_table_passes_reader_options(panel: pl.DataFrame, tmp_path: Path) -> None:
    """A one-symbol exchange CSV (``timestamp`` column, no symbol) with options."""
    one = panel.filter(pl.col("symbol") == "BTCUSDT").drop("symbol").rename({"ts": "time"})
    one.write_csv(tmp_path / "btc.csv")
    got, _ = load_study_data({"file": {"path": "btc.csv", "symbol": "BTCUSDT",
                                       "mapping": {"time": "ts"}}}, base_dir=tmp_path)
    assert_frame_equal(got, panel.filter(pl.col("symbol") == "BTCUSDT"))
    with pytest.raises(ConfigError, match=r"\[data\] file has unknown key\(s\) \['symbl'\]"
                                          r".*did you mean 'symbol'\?"):
        load_study_data({"file": {"path": "btc.csv", "symbl": "BTCUSDT"}}, base_dir=tmp_path)


def test_old_parquet_configs_keep_their_panel_and_filled_flags(tmp_path: Path) -> None:
    """``parquet = "panel.parquet"`` still reads the canonical panel as it is."""
    gappy = make_panel({"A": [1.0, None, 1.2, 1.3], "B": [2.0, 2.1, 2.2, 2.3]})
    filled = regularize(gappy, freq="1h")
    filled.write_parquet(tmp_path / "panel.parquet")
    got, source = load_study_data({"parquet": "panel.parquet"}, base_dir=tmp_path)
    assert_frame_equal(got, filled)
    assert got[FILLED_COLUMN].sum() == 1
    assert source == f"parquet {tmp_path / 'panel.parquet'}"


def test_an_unreadable_file_is_a_data_error_naming_it(tmp_path: Path) -> None:
    """Before: a corrupt Parquet file surfaced a raw polars error without the file name."""
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(DataError, match=r"\[data\] file: could not read '.*broken\.parquet'"):
        load_study_data({"file": str(bad)})


def test_symbols_must_be_a_list() -> None:
    """Before: ``symbols = "BTC"`` was iterated letter by letter and selected no bars."""
    with pytest.raises(ConfigError, match=r"\[data\] symbols: expected a list of symbols, got "
                                          r"the string 'BTC'; fix: write symbols = \[\"BTC\"\]"):
        load_study_data({"dataset": DATASET, "symbols": "BTC"})


def test_unknown_symbols_are_named_with_near_matches() -> None:
    """Before: ``symbols = ["BTC", "ETHH"]`` silently dropped ETHH and ran on BTC alone."""
    with pytest.raises(ConfigError, match=r"\[data\] symbols: 1 name\(s\) not in dataset "
                                          r"hyperliquid-perp-1d: 'ETHH' \(did you mean 'ETH'"):
        load_study_data({"dataset": DATASET, "symbols": ["BTC", "ETHH"]})


@pytest.mark.parametrize("key", ["start", "end"])
def test_dates_parse_with_a_clear_error(key: str) -> None:
    """Before: ``start = "yesterday"`` raised a raw polars ComputeError."""
    with pytest.raises(ConfigError, match=rf"\[data\] {key}: expected an ISO date or time "
                                          r"such as '2025-01-01'.*got 'yesterday'"):
        load_study_data({"dataset": DATASET, key: "yesterday"})


def test_toml_dates_and_datetimes_are_accepted() -> None:
    by_str, _ = load_study_data({"dataset": DATASET, "symbols": ["BTC"],
                                 "start": "2025-01-01", "end": "2025-02-01"})
    by_date, _ = load_study_data({"dataset": DATASET, "symbols": ["BTC"],
                                  "start": date(2025, 1, 1), "end": date(2025, 2, 1)})
    assert_frame_equal(by_str, by_date)
    assert by_str.height == 31


def test_start_after_end_is_an_error() -> None:
    """Before: ``start`` after ``end`` selected no bars without a word."""
    with pytest.raises(ConfigError, match=r"start = 2025-02-01 00:00 is not before end = "
                                          r"2025-01-01 00:00"):
        load_study_data({"dataset": DATASET, "start": "2025-02-01", "end": "2025-01-01"})


def test_an_empty_selection_names_the_filter_that_emptied_it() -> None:
    """Before: an empty selection reached the study and was reported as "cannot infer the bar
    frequency ... pass freq=" (and [data] has no such key)."""
    raw = {"study": "carry", "data": {"dataset": DATASET, "start": "2030-01-01"}}
    with pytest.raises(ConfigError) as info:
        run_config(raw)
    message = str(info.value)
    assert message.startswith("[data] start = 2030-01-01 00:00 (UTC) leaves no bars of dataset "
                              "hyperliquid-perp-1d: its bars run from 2023-02-26 00:00 to "
                              "2025-07-25 00:00 (UTC)")
    assert "freq" not in message
    with pytest.raises(ConfigError, match=r"end = 2020-01-01 00:00 \(UTC\) leaves no bars of "
                                          r"dataset hyperliquid-perp-1d for symbols \['BTC'\]"):
        load_study_data({"dataset": DATASET, "symbols": ["BTC"], "end": "2020-01-01"})


def test_unknown_dataset_and_keys_name_near_matches() -> None:
    with pytest.raises(ConfigError, match=r"unknown embedded dataset 'hyperliquid-perp-1D' "
                                          r"\(did you mean 'hyperliquid-perp-1d'\?\)"):
        load_study_data({"dataset": "hyperliquid-perp-1D"})
    with pytest.raises(ConfigError, match=r"\[data\] has unknown key\(s\) \['symbol'\].*"
                                          r"did you mean 'symbols'\?"):
        load_study_data({"dataset": DATASET, "symbol": ["BTC"]})
    assert datasets.available().height  # the names come from the catalog


@pytest.fixture()
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "db.duckdb"
    with Store(path) as store:
        store.write_bars(store_panel(), exchange="binanceusdm", market="swap", freq="1h")
    return path


def test_store_symbols_are_checked_with_near_matches(store_path: Path) -> None:
    """Before: an unknown symbol in ``store.symbols`` was silently left out."""
    spec = {"store": {"path": str(store_path), "freq": "1h", "symbols": ["AUSDT", "BUSD"]}}
    with pytest.raises(ConfigError, match=r"store.symbols: 1 name\(s\) not in the store .*"
                                          r"'BUSD' \(did you mean 'BUSDT'"):
        load_study_data(spec)
    with pytest.raises(ConfigError, match=r"store.symbols: expected a list of symbols, got "
                                          r"the string 'AUSDT'"):
        load_study_data({"store": {"path": str(store_path), "symbols": "AUSDT"}})


def test_store_date_selection_that_is_empty_names_the_range(store_path: Path) -> None:
    """Before: the store returned an empty panel and the study failed on its frequency."""
    spec = {"store": {"path": str(store_path), "freq": "1h"}, "start": "2030-01-01"}
    with pytest.raises(ConfigError, match=r"start = 2030-01-01 00:00 \(UTC\) leaves no bars of "
                                          r"store .*: its bars run from 2024-01-01 00:00 to "
                                          r"2024-01-01 05:00"):
        load_study_data(spec)
    got, _ = load_study_data({"store": {"path": str(store_path), "freq": "1h"},
                              "symbols": ["AUSDT"]})
    assert got["symbol"].unique().to_list() == ["AUSDT"]
