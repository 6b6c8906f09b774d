"""``Store.scan_minutes``: the stored minutes as a lazy frame, equal to ``query_bars``.

The reference is the eager query (``query_bars(freq="1m")``, which reads the same month files
and attaches the funding events with :func:`coinfactor.data.attach_funding`); the data are
the real fixture minutes (tests/fixtures/minutes_1m, no funding of their own) plus funding
events every 8 hours with millisecond jitter, and a regularised symbol whose filler bars
carry the ``filled`` flag.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from coinfactor.data import read_bars, regularize
from coinfactor.data.store import Store
from coinfactor.errors import DataError

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "minutes_1m"
EX = {"exchange": "binanceusdm", "market": "swap"}
T0 = datetime(2023, 7, 31, tzinfo=UTC)


def _events() -> pl.DataFrame:
    """Funding every 8 hours (00:00, 08:00, 16:00 UTC), stamped a few ms late, Jul 28-Aug 4."""
    rows = []
    for sym, rate in (("BTCUSDT", 1e-4), ("ETHUSDT", -5e-5)):
        for k in range(3 * 8):
            at = datetime(2023, 7, 28, tzinfo=UTC) + timedelta(hours=8 * k, milliseconds=7 + k)
            rows.append({"symbol": sym, "ts": at, "funding_rate": rate * (1 + k % 3)})
    return pl.DataFrame(rows)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    s = Store(tmp_path_factory.mktemp("scan") / "db.duckdb")
    s.import_minutes(FIXTURE, **EX)
    s.write_funding(_events(), **EX)
    # a regularised symbol: filler bars for its missing minutes, flagged
    gappy = read_bars(FIXTURE / "XMRUSDT.csv.gz", freq="1m").with_columns(
        pl.lit("ZZZUSDT").alias("symbol"))
    gappy = gappy.filter(~pl.col("ts").dt.hour().is_between(3, 4))
    s.write(**EX, freq="1m", bars=regularize(gappy, freq="1m"))
    return s


SELECTIONS = {
    "all": {},
    "two symbols": {"symbols": ["XMRUSDT", "BTCUSDT"]},
    "a day across the month end": {"start": "2023-07-31 12:00", "end": "2023-08-01T12:00Z"},
    "from a time": {"start": datetime(2023, 8, 1, 7, 59, tzinfo=UTC)},
    "filled symbol, to a time": {"symbols": ["ZZZUSDT"], "end": "2023-07-31 05:30"},
}


@pytest.mark.parametrize("selection", list(SELECTIONS))
def test_the_scan_collected_equals_the_eager_query(store: Store, selection: str) -> None:
    q = SELECTIONS[selection]
    got = store.scan_minutes(**EX, **q).collect()
    want = store.query_bars(**EX, freq="1m", **q)
    if "filled" not in want.columns:  # the eager panel drops a flag no bar sets
        want = want.with_columns(pl.lit(False).alias("filled"))
    assert_frame_equal(got, want)
    assert got.height > 0


def test_funding_and_filler_flags_come_through_the_scan(store: Store) -> None:
    got = store.scan_minutes(**EX).collect()
    btc = got.filter(pl.col("symbol") == "BTCUSDT")
    # the 1m bar opening 07:59 holds the 08:00 settlement (stamped 08:00:00.0xx)
    settles = btc.filter(pl.col("funding_rate") != 0.0)
    assert settles.get_column("ts").dt.strftime("%H:%M").unique().sort().to_list() == [
        "07:59", "15:59", "23:59"]
    assert btc.get_column("funding_rate").null_count() == 0  # inside the coverage: 0
    assert got.filter(pl.col("symbol") == "DASHUSDT").get_column("funding_rate").is_null().all()
    z = got.filter(pl.col("symbol") == "ZZZUSDT")
    assert z.get_column("filled").sum() == 2 * 120 and not z.get_column("filled").is_null().any()
    assert z.filter(pl.col("filled")).get_column("ts").dt.hour().unique().sort().to_list() == [
        3, 4]


@pytest.mark.parametrize("cut", ["2023-07-31 00:01", "2023-07-31 16:00", "2023-08-01 00:00",
                                 "2023-08-01 07:59:30", "2023-08-01 23:59"])
def test_a_scan_cut_at_t_equals_the_full_scan_before_t(store: Store, cut: str) -> None:
    """Point in time: a scan ending at T gives the full scan's rows before T, bit for bit."""
    full = store.scan_minutes(**EX).collect()
    t = datetime.fromisoformat(cut).replace(tzinfo=UTC)
    cut_scan = store.scan_minutes(**EX, end=cut).collect()
    assert_frame_equal(cut_scan, full.filter(pl.col("ts") < t))


def test_the_scan_is_lazy_and_needs_no_open_connection(store: Store, tmp_path: Path) -> None:
    scan = store.scan_minutes(**EX, symbols=["ETHUSDT"])
    assert isinstance(scan, pl.LazyFrame)
    want = store.query_bars(**EX, freq="1m", symbols=["ETHUSDT"])
    store.close()  # nothing of the scan depends on the DuckDB connection
    assert store._con is None
    got = scan.filter(pl.col("ts") >= T0 + timedelta(hours=30)).collect()
    assert_frame_equal(got.drop("filled"), want.filter(pl.col("ts") >= T0 + timedelta(hours=30)))
    # a filter on ts reaches the Parquet reader (the files outside it are skipped)
    plan = scan.filter(pl.col("ts") >= T0 + timedelta(hours=30)).explain()
    assert "SELECTION" in plan or "PREDICATE" in plan.upper()
    assert scan.collect_schema()["ts"] == pl.Datetime("us", "UTC")


def test_a_scan_of_nothing_is_named_or_empty(store: Store) -> None:
    with pytest.raises(DataError, match="no bars matching"):
        store.scan_minutes(exchange="hyperliquid")
    empty = store.scan_minutes(**EX, start="2030-01-01").collect()
    assert empty.height == 0 and empty.columns[-1] == "filled"
