"""The paper ledger: books recorded in the store, what changed, and their replay.

References: the study's own backtest (``carry.run``) of its decisions over the same bars, fed
independently of the ledger (its ``weights`` and ``trades`` tables); hand-made targets for the
changes between two books.
"""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from ccxt.base.decimal_to_precision import TICK_SIZE
from typer.testing import CliRunner

from coinfactor.book import (
    MarketRules,
    build_book,
    changes,
    ledger_weights,
    previous,
    record,
    replay_study,
    targets_of,
    write_book,
)
from coinfactor.cli import app
from coinfactor.core.errors import DataError
from coinfactor.data.store import Store
from coinfactor.studies import load_study_data
from support import ROOT

N_BOOKS = 8
"""Daily books recorded (each one a full carry target on the embedded data)."""


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, pl.DataFrame, Path]:
    """The carry config on the embedded daily data cut 20 days before its end, the panel,
    and a store holding one book per day for the last :data:`N_BOOKS` days."""
    raw = tomllib.loads((ROOT / "studies" / "carry.toml").read_text("utf-8"))
    raw["params"]["costs"]["capacity_navs"] = []
    full, _ = load_study_data(raw["data"])
    days = sorted(full["ts"].unique().to_list())
    raw["data"]["end"] = days[-20].isoformat()  # bars ts < end
    panel, _ = load_study_data(raw["data"])
    db = tmp_path_factory.mktemp("ledger") / "db.duckdb"
    markets = {s: MarketRules(s, TICK_SIZE, 1e-6, 1e-6, None, None)
               for s in panel["symbol"].unique().to_list()}
    decided = sorted(panel["ts"].unique().to_list())[-N_BOOKS:]
    with Store(db) as store:
        for day in decided:
            as_of = day + timedelta(days=1, minutes=5)
            book = build_book(raw, nav=1e6, markets=markets, markets_as_of=as_of,
                              panel=panel, as_of=as_of)
            assert not book.blocked and book.decided_at == day
            assert record(book, store)
            assert not record(book, store)  # the same book again: not a second row
    return raw, panel, db


def test_replay_of_recorded_books_reproduces_the_backtest(
        setting: tuple[dict, pl.DataFrame, Path]) -> None:
    raw, panel, db = setting
    with Store(db) as store:
        books = store.query_books(study="carry")
    assert books.height == N_BOOKS
    rep = replay_study(raw, books, panel=panel)
    t = rep.tracking
    assert t is not None and t.height == N_BOOKS  # the first book's bar to the panel's end
    # the books are the backtest's decisions: the paper NAV is the backtest's
    assert t["difference"].abs().max() < 1e-10 * 1e6
    for part in ("price_difference", "funding_difference", "cost_difference"):
        assert t[part].abs().max() < 1e-12
    # every other book missing: the paper book drifts on those days and pays no trades;
    # the tracking difference says so, split into its sources
    sparse = books.filter(pl.col("as_of").is_in(books["as_of"].to_list()[::2]))
    gap = replay_study(raw, sparse, panel=panel)
    assert gap.tracking is not None and gap.tracking["difference"].abs().max() > 1.0
    s = gap.summary()
    assert s["cost_difference_total"] > 0  # fewer trades: the paper paid less
    assert abs(s["price_difference_total"]) > 0
    # data that ends before the books: refused, naming the range
    early = panel.filter(pl.col("ts") < books["decided_at"].min())
    with pytest.raises(DataError, match="decided at bars the study's data does not hold"):
        replay_study(raw, books, panel=early)


def test_ledger_weights_skip_blocked_and_keep_the_latest_per_bar(
        setting: tuple[dict, pl.DataFrame, Path]) -> None:
    _, _, db = setting
    with Store(db) as store:
        books = store.query_books(study="carry")
    first = books.row(0, named=True)
    blocked = books.with_columns(pl.when(pl.col("as_of") == first["as_of"])
                                 .then(True).otherwise(pl.col("blocked")).alias("blocked"))
    w = ledger_weights(blocked)
    assert first["decided_at"] not in w["decided_at"].to_list()
    assert w["decided_at"].n_unique() == N_BOOKS - 1
    # a second book of one bar (a later as-of, other targets): it replaces the first
    again = books.head(1).with_columns(
        (pl.col("as_of") + timedelta(hours=1)).alias("as_of"),
        pl.lit('[{"symbol":"BTC","weight":0.25,"notional":0.0,"quantity":0.0,'
               '"price":1.0}]').alias("targets"))
    w = ledger_weights(pl.concat([books, again]))
    one = w.filter(pl.col("decided_at") == first["decided_at"])
    assert one.select("symbol", "weight").rows() == [("BTC", 0.25)]


def test_changes_since_the_last_book(setting: tuple[dict, pl.DataFrame, Path],
                                     tmp_path: Path) -> None:
    raw, panel, db = setting
    before = pl.DataFrame({"symbol": ["A", "B", "C"], "weight": [0.5, -0.25, 0.1],
                           "quantity": [5.0, -2.0, 1.0]})
    after = pl.DataFrame({"symbol": ["B", "C", "D"], "weight": [-0.5, 0.1, 0.2],
                          "quantity": [-4.0, 1.0, 3.0]})
    # by hand: A closed (-0.5), B doubled (-0.25), D opened (+0.2), C unchanged
    assert changes(before, after).select("symbol", "weight_before", "weight_after",
                                         "change").rows() == [
        ("A", 0.5, 0.0, -0.5), ("B", -0.25, -0.5, -0.25), ("D", 0.0, 0.2, 0.2)]
    assert changes(None, after)["change"].to_list() == [-0.5, 0.2, 0.1]  # all opened
    with Store(db) as store:
        books = store.query_books(study="carry")
        last = books.row(books.height - 1, named=True)
        probe = build_book(raw, nav=1e6, panel=panel, markets={
            s: MarketRules(s) for s in panel["symbol"].unique().to_list()},
            markets_as_of=last["as_of"], as_of=last["as_of"] + timedelta(hours=1))
        prev = previous(store, probe)
    assert prev is not None and prev["as_of"] == last["as_of"]
    diff = changes(targets_of(prev), probe.targets)
    assert diff.height == 0  # the same bar, the same data: nothing changed
    out = write_book(probe, tmp_path / "b", changes=diff, previous=prev["as_of"])
    html = (out / "book.html").read_text("utf-8")
    assert "What changed since the last book" in html and "no change since the book" in html
    assert "Gross and net" in html and "Exposures by coin" in html


def test_replay_and_history_commands(setting: tuple[dict, pl.DataFrame, Path],
                                     tmp_path: Path) -> None:
    raw, _, db = setting
    config = tmp_path / "carry.toml"
    text = (ROOT / "studies" / "carry.toml").read_text("utf-8")
    config.write_text(text.replace('dataset = "hyperliquid-perp-1d"',
                                   f'dataset = "hyperliquid-perp-1d"\nend = "{raw["data"]["end"]}"')
                      .replace("impact_window_days = 30.0",
                               "impact_window_days = 30.0\ncapacity_navs = []"), "utf-8")
    runner = CliRunner()
    res = runner.invoke(app, ["book", "replay", str(config), "--db", str(db), "--out",
                              str(tmp_path / "tracking.parquet")])
    assert res.exit_code == 0, res.output
    assert f"replay of {N_BOOKS} book(s)" in res.output and "tracking difference" in res.output
    tracking = pl.read_parquet(tmp_path / "tracking.parquet")
    assert tracking["difference"].abs().max() < 1e-10 * 1e6
    res = runner.invoke(app, ["book", "history", "--db", str(db), "--study", "carry"])
    assert res.exit_code == 0 and f"{N_BOOKS} book(s)" in res.output, res.output
    res = runner.invoke(app, ["book", "replay", str(config), "--db", str(tmp_path / "x.db")])
    assert res.exit_code == 2 and "no recorded book" in res.output, res.output
