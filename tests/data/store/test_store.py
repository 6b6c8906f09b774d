"""The DuckDB store: idempotent transactional upserts, queries, coverage, Parquet round trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.data import PANEL_SCHEMA, attach_funding
from coinfactor.data.store import Store, _store
from support.panels import make_panel, store_panel

T0 = datetime(2024, 1, 1, tzinfo=UTC)
EX = {"exchange": "binanceusdm", "market": "swap"}


def _rows(store: Store) -> dict[str, int]:
    with store._connect() as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
                for t in ("bars", "funding", "snapshots")}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "db.duckdb")


def test_default_path_follows_coinfactor_home(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINFACTOR_HOME", str(tmp_path / "home"))
    assert Store().path == tmp_path / "home" / "coinfactor.duckdb"
    assert Store(tmp_path / "x.duckdb").path == tmp_path / "x.duckdb"


def test_upsert_query_round_trip_is_exact(store: Store) -> None:
    panel = store_panel()
    store.write_bars(panel, **EX, freq="1h")
    out = store.query_bars(exchange="binanceusdm", freq="1h")
    assert dict(out.schema) == PANEL_SCHEMA
    assert out.equals(panel)


def test_same_and_overlapping_writes_never_duplicate(store: Store) -> None:
    panel = store_panel()
    assert store.write_bars(panel, **EX, freq="1h") == panel.height
    assert store.write_bars(panel, **EX, freq="1h") == 0
    # overlapping: the last 3 bars of A again with a new close, plus 2 new bars
    later = make_panel({"AUSDT": [101.0, 103.0, 105.0, 106.0, 107.0]},
                       start=T0 + timedelta(hours=3))
    assert store.write_bars(later, **EX, freq="1h") == 2
    assert _rows(store)["bars"] == panel.height + 2
    out = store.query_bars(exchange="binanceusdm", symbols=["AUSDT"])
    assert out["close"].to_list() == [100.0, 101.0, 102.0, 101.0, 103.0, 105.0, 106.0, 107.0]
    # a bar the later write did not carry keeps every field, open interest included
    assert out["open_interest"][0] == 100_000.0


def test_injected_failure_mid_write_leaves_store_unchanged(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    panel = store_panel()
    store.write_bars(panel, **EX, freq="1h")
    before = store.query_bars(exchange="binanceusdm", freq="1h")
    counts = _rows(store)
    real_insert = _store._insert
    calls: list[str] = []

    def failing(con, table, frame):  # type: ignore[no-untyped-def]
        real_insert(con, table, frame)  # the rows really went in, inside the transaction
        calls.append(table)
        if table == "funding":
            raise RuntimeError("disk on fire")
        return 0

    monkeypatch.setattr(_store, "_insert", failing)
    new_bars = make_panel({"AUSDT": [1.0, 2.0], "ZUSDT": [3.0, 4.0]},
                          start=T0 + timedelta(hours=2))
    events = pl.DataFrame({"symbol": ["AUSDT"], "ts": [T0 + timedelta(hours=1)],
                           "funding_rate": [1e-4]})
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.write(**EX, freq="1h", bars=new_bars, funding=events)
    assert calls == ["bars", "funding"], "bars were written before the failure"
    assert _rows(store) == counts
    assert store.query_bars(exchange="binanceusdm", freq="1h").equals(before)


def test_query_filters_symbols_and_range(store: Store) -> None:
    panel = store_panel()
    store.write_bars(panel, **EX, freq="1h")
    out = store.query_bars(exchange="binanceusdm", symbols=["BUSDT", "CUSDT"],
                           start=T0 + timedelta(hours=3), end="2024-01-01T05:00:00Z")
    expected = panel.filter(
        pl.col("symbol").is_in(["BUSDT", "CUSDT"])
        & (pl.col("ts") >= T0 + timedelta(hours=3)) & (pl.col("ts") < T0 + timedelta(hours=5))
    )
    assert out.equals(expected)


def test_query_fills_funding_from_events_with_attach_funding(store: Store) -> None:
    panel = store_panel()
    events = pl.DataFrame({
        "symbol": ["AUSDT", "AUSDT", "BUSDT"],
        # jittered settlement times; 01:00:00.105 belongs to the bar opening at 00:00
        "ts": [T0 + timedelta(hours=1, milliseconds=105), T0 + timedelta(hours=4),
               T0 + timedelta(hours=2)],
        "funding_rate": [1e-4, -2e-4, 3e-4],
        "mark_price": [100.0, 101.0, 10.0],
    })
    store.write(**EX, freq="1h", bars=panel, funding=events)
    out = store.query_bars(exchange="binanceusdm", freq="1h")
    # reference: the foundation's attach_funding on the same events
    expected = attach_funding(panel, events.drop("mark_price"), "1h")
    assert out.equals(expected)
    a = out.filter(pl.col("symbol") == "AUSDT")["funding_rate"].to_list()
    assert a == [1e-4, 0.0, 0.0, -2e-4, None, None]  # by hand: events in (ts, ts+1h]
    # a bar that carries its own funding keeps it
    own = panel.with_columns(pl.lit(5e-5).alias("funding_rate"))
    store.write_bars(own, **EX, freq="1h")
    assert (store.query_bars(exchange="binanceusdm")["funding_rate"] == 5e-5).all()
    assert store.query_bars(exchange="binanceusdm", funding=False)["funding_rate"][0] == 5e-5


def test_coverage_counts_gaps(store: Store) -> None:
    store.write_bars(store_panel(), **EX, freq="1h")
    store.write_funding(pl.DataFrame({"symbol": ["AUSDT"] * 2,
                                      "ts": [T0, T0 + timedelta(hours=8)],
                                      "funding_rate": [1e-4, 1e-4]}), **EX)
    cov = store.coverage(exchange="binanceusdm")
    rows = {r["symbol"]: r for r in cov.iter_rows(named=True)}
    # by hand: B has 5 bars over 6 hourly slots (one gap); C starts at hour 2
    assert (rows["BUSDT"]["bars"], rows["BUSDT"]["gaps"]) == (5, 1)
    assert (rows["CUSDT"]["bars"], rows["CUSDT"]["gaps"]) == (4, 0)
    assert rows["CUSDT"]["first"] == T0 + timedelta(hours=2)
    assert rows["AUSDT"]["last"] == T0 + timedelta(hours=5)
    assert rows["AUSDT"]["funding_events"] == 2
    assert rows["BUSDT"]["funding_events"] is None


def test_export_import_round_trip_and_idempotent_import(store: Store, tmp_path: Path) -> None:
    panel = store_panel()
    store.write_bars(panel, **EX, freq="1h")
    out = tmp_path / "panel.parquet"
    exported = store.export_parquet(out, exchange="binanceusdm", freq="1h")
    assert pl.read_parquet(out).equals(panel) and exported.equals(panel)
    other = Store(tmp_path / "other.duckdb")
    first = other.import_parquet(out, exchange="binanceusdm", market="swap", freq="1h")
    second = other.import_parquet(out, exchange="binanceusdm", market="swap", freq="1h")
    assert (first.bars_new, second.bars_new) == (panel.height, 0)
    assert _rows(other)["bars"] == panel.height
    assert other.query_bars().equals(panel)


def test_import_rejects_a_bad_file(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    store_panel().with_columns(pl.lit(-1.0).alias("close")).write_parquet(bad)
    with pytest.raises(DataError, match="column 'close': expected prices > 0"):
        store.import_parquet(bad, exchange="binanceusdm")
    with pytest.raises(DataError, match="does not exist"):
        store.import_parquet(tmp_path / "nope.parquet", exchange="binanceusdm")
    assert _rows(store)["bars"] == 0


@pytest.mark.parametrize("symbol", ["BTC'; DROP TABLE bars; --", "../../etc/passwd", "",
                                    "a b", "BTC/USDT"],
                         ids=["sql_injection", "path_traversal", "empty", "space", "slash"])
def test_symbols_are_allow_listed(store: Store, symbol: str) -> None:
    panel = store_panel().with_columns(pl.lit(symbol).alias("symbol")).filter(
        pl.col("ts") == T0).head(1)
    with pytest.raises(ConfigError, match="invalid symbol"):
        store.write_bars(panel, **EX, freq="1h")
    store.write_bars(store_panel(), **EX, freq="1h")
    with pytest.raises(ConfigError, match="invalid symbol"):
        store.query_bars(exchange="binanceusdm", symbols=[symbol])
    assert _rows(store)["bars"] == store_panel().height


def test_bad_names_and_ambiguous_queries(store: Store) -> None:
    with pytest.raises(ConfigError, match="invalid exchange"):
        store.write_bars(store_panel(), exchange="Binance;--", market="swap", freq="1h")
    with pytest.raises(DataError, match="has no bars matching"):
        store.query_bars(exchange="binanceusdm")
    store.write_bars(store_panel(), **EX, freq="1h")
    store.write_bars(store_panel(), exchange="hyperliquid", market="swap", freq="1h")
    with pytest.raises(DataError, match="pass exchange="):
        store.query_bars(freq="1h")
    with pytest.raises(DataError, match="needs freq="):
        store.write(**EX, bars=store_panel())


def test_snapshots_latest(store: Store) -> None:
    snap = pl.DataFrame({"symbol": ["AUSDT", "BUSDT"], "ts": [T0, T0],
                         "volume_24h_usd": [1e6, 2e6], "mid": [100.0, 10.0]})
    store.write_snapshots(snap, **EX)
    store.write_snapshots(snap.with_columns(pl.col("ts") + timedelta(days=1)), **EX)
    assert store.write_snapshots(snap, **EX) == 0
    latest = store.query_snapshots(exchange="binanceusdm")
    assert latest["ts"].to_list() == [T0 + timedelta(days=1)] * 2
    assert store.query_snapshots(exchange="binanceusdm", latest=False).height == 4


def test_last_timestamps(store: Store) -> None:
    store.write_bars(store_panel(), **EX, freq="1h")
    last = store.last_timestamps("bars", **EX, freq="1h")
    assert last == {s: T0 + timedelta(hours=5) for s in ("AUSDT", "BUSDT", "CUSDT")}
    assert store.last_timestamps("funding", **EX) == {}


def test_open_interest_is_set_on_stored_bars(store: Store) -> None:
    store.write_bars(store_panel().with_columns(pl.lit(None, pl.Float64).alias("open_interest")),
                     **EX, freq="1h")
    oi = pl.DataFrame({"symbol": ["AUSDT", "AUSDT", "BUSDT", "ZUSDT"],
                       "ts": [T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2), T0],
                       "open_interest": [5.0, 6.0, 7.0, 8.0]})
    counts = store.write(**EX, freq="1h", open_interest=oi)
    # by hand: AUSDT 00:00 and 01:00 exist; BUSDT 02:00 is its gap; ZUSDT has no bars
    assert counts.open_interest_rows == 2
    out = store.query_bars(exchange="binanceusdm")
    a = out.filter(pl.col("symbol") == "AUSDT")["open_interest"].to_list()
    assert a == [5.0, 6.0, None, None, None, None]
    assert out.filter(pl.col("symbol") != "AUSDT")["open_interest"].null_count() == 9
    assert store.last_timestamps("open_interest", **EX, freq="1h") == {
        "AUSDT": T0 + timedelta(hours=1)}
    # rewriting the bars without open interest keeps it
    store.write_bars(store_panel().with_columns(pl.lit(None, pl.Float64).alias("open_interest")),
                     **EX, freq="1h")
    assert store.query_bars(exchange="binanceusdm")["open_interest"].to_list()[:2] == [5.0, 6.0]
    with pytest.raises(DataError, match="expected values >= 0"):
        store.write(**EX, freq="1h", open_interest=oi.with_columns(pl.lit(-1.0)
                                                                   .alias("open_interest")))


def test_funding_events_round_trip_with_mark_prices(store: Store) -> None:
    events = pl.DataFrame({
        "symbol": ["BUSDT", "AUSDT", "AUSDT", "AUSDT"],
        "ts": [T0 + timedelta(hours=8), T0 + timedelta(hours=8, milliseconds=3), T0, T0],
        "funding_rate": [3e-4, 2e-4, 1e-4, 1.5e-4],
        "mark_price": [10.0, None, 100.0, 101.0],
    })
    assert store.write_funding(events, **EX) == 3
    out = store.query_funding(exchange="binanceusdm")
    # by hand: sorted by (symbol, ts); the duplicated AUSDT event at T0 keeps its last row
    assert out.rows() == [
        ("AUSDT", T0, 1.5e-4, 101.0),
        ("AUSDT", T0 + timedelta(hours=8, milliseconds=3), 2e-4, None),
        ("BUSDT", T0 + timedelta(hours=8), 3e-4, 10.0),
    ]
    assert store.write_funding(events, **EX) == 0
