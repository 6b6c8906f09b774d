"""``replay``: recorded books marked to the bars that followed, against the study's backtest.

The paper account trades to each recorded book at its decision bar and holds it (drifting)
until the next one, with the same accounting and cost model as
:func:`coinfactor.backtest.backtest` (fees, spread, impact, funding). Compared with the
backtest of the study's own decisions over the same bars, the tracking difference per bar is
split into price, funding and cost parts, so it says where a gap comes from (books decided on
other data, books missing, other sizes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from coinfactor.backtest import BacktestResult, backtest
from coinfactor.book._book import resolve_config
from coinfactor.book._ledger import ledger_weights
from coinfactor.core.errors import DataError
from coinfactor.studies import StudyResult, load_study_data

LEDGER_COLUMNS = ("decided_at", "symbol", "weight")
"""The columns of recorded books :func:`replay` reads (one row per symbol and book)."""


@dataclass(frozen=True)
class Replay:
    """Paper NAV of recorded books next to the backtest over the same bars.

    Attributes
    ----------
    paper : BacktestResult
        The recorded books traded at their decision bars.
    backtest : BacktestResult or None
        The study's decisions over the same bars (None when not given).
    tracking : pl.DataFrame or None
        ``ts, nav_paper, nav_backtest, difference, ret_difference, price_difference,
        funding_difference, cost_difference`` (returns as fractions of NAV).
    """

    paper: BacktestResult
    backtest: BacktestResult | None
    tracking: pl.DataFrame | None

    def summary(self) -> dict[str, float]:
        """Tracking difference at the end and its largest absolute value, and the parts."""
        if self.tracking is None:
            return {}
        t = self.tracking
        return {"final_nav_difference": float(t["difference"][-1]),
                "max_abs_nav_difference": float(t["difference"].abs().max()),  # type: ignore[arg-type]
                "price_difference_total": float(t["price_difference"].sum()),
                "funding_difference_total": float(t["funding_difference"].sum()),
                "cost_difference_total": float(t["cost_difference"].sum())}


def replay(books: pl.DataFrame, panel: pl.DataFrame, *, nav: float,
           reference: pl.DataFrame | None = None, **execution: Any) -> Replay:
    """Mark recorded books to the panel's later bars and compare with the backtest.

    Parameters
    ----------
    books : pl.DataFrame
        ``decided_at, symbol, weight``: the recorded target weights of each book (a book's
        absent symbols are flat).
    panel : pl.DataFrame
        Canonical panel covering the books and the bars after them.
    nav : float
        Paper NAV at the first book, in quote currency.
    reference : pl.DataFrame, optional
        ``ts, symbol, weight``: the study's decisions (its backtest's weights at decision
        bars); the backtest of those from the first book on is the comparison.
    **execution
        Passed to :func:`coinfactor.backtest.backtest` for both runs (``costs``,
        ``maintenance_margin``, ``funding_missing``, ...).

    Returns
    -------
    Replay
    """
    missing = [c for c in LEDGER_COLUMNS if c not in books.columns]
    if missing or books.height == 0:
        raise DataError(f"replay: books need columns {list(LEDGER_COLUMNS)} and at least one "
                        f"row; missing {missing}, got {books.height} rows",
                        fix="read them with coinfactor book history")
    weights = books.select(pl.col("decided_at").alias("ts"), "symbol", "weight")
    paper = backtest(panel, weights, initial_nav=nav, **execution)
    if reference is None:
        return Replay(paper, None, None)
    start = weights.get_column("ts").min()
    ref = backtest(panel, reference.filter(pl.col("ts") >= start), initial_nav=nav,
                   **execution)
    cols = ("nav", "ret", "ret_price", "ret_funding", "ret_cost")
    joined = paper.nav.select("ts", *cols).join(
        ref.nav.select("ts", *cols), on="ts", how="inner", suffix="_bt")
    tracking = joined.select(
        "ts", pl.col("nav").alias("nav_paper"), pl.col("nav_bt").alias("nav_backtest"),
        (pl.col("nav") - pl.col("nav_bt")).alias("difference"),
        (pl.col("ret") - pl.col("ret_bt")).alias("ret_difference"),
        (pl.col("ret_price") - pl.col("ret_price_bt")).alias("price_difference"),
        (pl.col("ret_funding") - pl.col("ret_funding_bt")).alias("funding_difference"),
        (pl.col("ret_cost") - pl.col("ret_cost_bt")).alias("cost_difference"))
    return Replay(paper, ref, tracking)


def study_decisions(result: StudyResult) -> pl.DataFrame:
    """``ts, symbol, weight``: a study run's decisions, from its backtest tables.

    A study's ``weights`` table holds the weights after every close (drifted between
    decisions) and its ``trades`` table the bars at which it traded: the weights at those bars
    are its decisions (a decision that trades nothing leaves the drifted weights, which is
    what the backtest holds without it).

    Raises
    ------
    DataError
        If the result has no ``weights`` or ``trades`` table.
    """
    missing = [t for t in ("weights", "trades") if t not in result.tables]
    if missing:
        raise DataError(f"replay: study {result.study!r} returned no {missing} table(s); a "
                        "study that holds a book returns its backtest's weights and trades")
    at = result.frame("trades").select("ts").unique()
    return result.frame("weights").join(at, on="ts", how="semi").select(
        "ts", "symbol", "weight").sort("ts", "symbol")


def replay_study(raw: Mapping[str, Any], books: pl.DataFrame, *,
                 base_dir: Path | None = None, panel: pl.DataFrame | None = None) -> Replay:
    """Replay a study config's recorded books against its own backtest over the same bars.

    The study is run on its ``[data]`` (or ``panel``); its decisions
    (:func:`study_decisions`) from the first recorded book on are backtested next to the
    books, both with the config's cost model and margins (``[params.costs]``) and the NAV of
    the first book.

    Parameters
    ----------
    raw : mapping
        The parsed study config.
    books : pl.DataFrame
        Rows of the store's ``books`` table of that config (``Store.query_books``).
    base_dir : Path, optional
        Where relative paths of ``[data]`` are resolved.
    panel : pl.DataFrame, optional
        The data, if already loaded.

    Returns
    -------
    Replay
    """
    _, module, config, _ = resolve_config(raw)
    weights = ledger_weights(books)
    live = books.filter(~pl.col("blocked")).sort("as_of")
    nav = float(live["nav"][0])
    if panel is None:
        panel, _ = load_study_data(raw.get("data", {}), base_dir=base_dir)
    first, last = panel.get_column("ts").min(), panel.get_column("ts").max()
    outside = weights.join(panel.select(pl.col("ts").alias("decided_at")).unique(),
                           on="decided_at", how="anti")
    if outside.height:
        raise DataError(f"replay: {outside['decided_at'].n_unique()} recorded book(s) were "
                        "decided at bars the study's data does not hold (first: "
                        f"{outside['decided_at'].min()!s}); the data runs from "
                        f"{first!s} to {last!s}",
                        fix="point [data] at the data the books were computed on (or update "
                        "the store)")
    decisions = study_decisions(module.run(config, panel))
    execution = {"costs": config.costs.model(), **config.costs.backtest_settings()}
    return replay(weights, panel, nav=nav, reference=decisions, **execution)
