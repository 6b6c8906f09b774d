"""``[data] store = { ..., freq = "1m" }``: a one-minute study reads the store lazily.

``studies/risk_model_1m.toml`` is run twice on the same synthetic minutes: from a folder of
per-symbol Parquet files (``parquet_dir``, scanned lazily: the reference, itself held equal
to the whole-panel computation in test_risk_model_1m_study.py) and from a store the folder
was imported into. Exposures, factor returns and memberships must be equal bit for bit, and
the store run must never read the panel eagerly (``query_bars`` is not called).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import polars as pl
import pytest
import tomli_w

from coinfactor.core.errors import ConfigError
from coinfactor.data.store import Store
from coinfactor.studies import load_study_data, run_config_file
from support import ROOT
from support.minute_panels import minute_panel, write_folder

TOML = ROOT / "studies" / "risk_model_1m.toml"


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The synthetic folder and a store holding the same minutes."""
    root = tmp_path_factory.mktemp("store_minutes")
    folder = write_folder(minute_panel(6, 3 * 1440 + 200, seed=11), root / "bars")
    db = root / "db.duckdb"
    with Store(db) as store:
        store.import_minutes(folder, exchange="synthetic")
    return folder, db


def _run(data: dict[str, object], out: Path) -> None:
    raw = tomllib.loads(TOML.read_text("utf-8"))
    raw["data"] = data
    cfg = out.parent / f"{out.name}.toml"
    cfg.write_text(tomli_w.dumps(raw), "utf-8")
    run_config_file(cfg, out)


def test_the_study_from_the_store_equals_the_study_from_the_files(
        sources: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, db = sources
    _run({"parquet_dir": str(folder)}, tmp_path / "files")

    def eager(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the one-minute store source must be scanned, not queried")

    monkeypatch.setattr(Store, "query_bars", eager)
    _run({"store": {"path": str(db), "exchange": "synthetic", "freq": "1m"}},
         tmp_path / "store")
    for table in ("factor_returns.parquet", "exposures_daily.parquet"):
        assert pl.read_parquet(tmp_path / "store" / table).equals(
            pl.read_parquet(tmp_path / "files" / table)), table
    for parts in ("exposures", "memberships"):
        got = pl.read_parquet(tmp_path / "store" / parts / "*.parquet").sort("symbol", "ts")
        want = pl.read_parquet(tmp_path / "files" / parts / "*.parquet").sort("symbol", "ts")
        assert got.height > 0 and got.equals(want), parts


def test_the_lazy_store_source_keeps_the_filters_and_their_errors(
        sources: tuple[Path, Path]) -> None:
    db = sources[1]
    store = {"path": str(db), "exchange": "synthetic", "freq": "1m"}
    spec = {"store": store, "symbols": ["C001", "C004"], "start": "2024-03-02",
            "end": "2024-03-03 12:00"}
    scan, source = load_study_data(spec, lazy=True)
    assert isinstance(scan, pl.LazyFrame) and "synthetic" in source
    eager, _ = load_study_data(spec)  # an eager study gets the panel itself
    assert isinstance(eager, pl.DataFrame)
    assert scan.collect().drop("filled").equals(eager)
    with pytest.raises(ConfigError, match=r"its bars run from 2024-03-01"):
        load_study_data({"store": store, "start": "2031-01-01"}, lazy=True)
    with pytest.raises(ConfigError, match=r"store.symbols: 1 name\(s\) not in the store"):
        load_study_data({"store": {**store, "symbols": ["C001", "NOPE"]}}, lazy=True)
