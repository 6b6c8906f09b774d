"""The book's ties to the store and the venue: market rules, ``--update``, ``--from-venue``.

* :func:`store_selection` reads a study config's ``[data] store = {...}`` (the same keys
  :func:`coinfactor.studies.load_study_data` reads);
* :func:`snapshot_rules` turns the store's latest market snapshot into
  :class:`~coinfactor.book.MarketRules` (ccxt's precision and limits as ``load_markets``
  reported them when the snapshot was taken);
* :func:`update_selection` runs the store's incremental update for that selection, then
  records a snapshot of every market of the venue (active or not, so a delisted market is
  seen as such);
* :func:`venue_positions` reads current positions through ccxt (keys from the environment,
  never logged nor stored).

Nothing here sends an order.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from coinfactor.book._orders import MarketRules
from coinfactor.core.errors import ConfigError
from coinfactor.data import sources
from coinfactor.data.store import Store


@dataclass(frozen=True)
class StoreSelection:
    """The store a study config reads (``[data] store = {...}``).

    Attributes
    ----------
    path : Path or None
        The store file (None: ``$COINFACTOR_HOME``).
    exchange, market, freq : str or None
        The selectors (``market`` defaults to ``"swap"`` where a venue is asked).
    symbols : tuple of str or None
        The symbols selected (None: every stored one).
    """

    path: Path | None
    exchange: str | None
    market: str | None
    freq: str | None
    symbols: tuple[str, ...] | None

    def store(self) -> Store:
        """Open (lazily) the selected store."""
        return Store(self.path)


def store_selection(raw: Mapping[str, Any], base_dir: Path | None = None
                    ) -> StoreSelection | None:
    """Read the ``[data] store`` table of a study config (None when ``[data]`` is no store).

    Malformed values are reported by :func:`coinfactor.studies.load_study_data` when the data
    is loaded; here only what the book needs is read.
    """
    data = raw.get("data")
    table = data.get("store") if isinstance(data, Mapping) else None
    if not isinstance(table, Mapping):
        return None
    path = table.get("path")
    p = None
    if isinstance(path, str):
        p = Path(path).expanduser()
        if not p.is_absolute() and base_dir is not None:
            p = base_dir / p
    symbols = table.get("symbols")
    return StoreSelection(
        path=p, exchange=_opt_str(table.get("exchange")), market=_opt_str(table.get("market")),
        freq=_opt_str(table.get("freq")),
        symbols=tuple(str(s) for s in symbols) if isinstance(symbols, list) else None)


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def snapshot_rules(store: Store, exchange: str, market: str | None = None
                   ) -> tuple[dict[str, MarketRules] | None, datetime | None]:
    """Market rules of the store's latest snapshot of ``exchange``.

    Parameters
    ----------
    store : Store
        The store.
    exchange : str
        The venue id.
    market : str, optional
        Market type (default: any).

    Returns
    -------
    (dict of str to MarketRules or None, datetime or None)
        The rules of every market of the latest snapshot that records them, and the
        snapshot's time; ``(None, time)`` when it records none (taken by an older coinfactor:
        the book then blocks with ``markets_unknown``), ``(None, None)`` without a snapshot.
    """
    snap = store.query_snapshots(exchange=exchange, market=market, latest=True)
    if snap.height == 0:
        return None, None
    taken = typing.cast(datetime, snap.get_column("ts").max())
    known = snap.filter(pl.col("precision_mode").is_not_null())
    if known.height == 0:
        return None, taken
    rules = {r["symbol"]: MarketRules.from_snapshot(r) for r in known.iter_rows(named=True)}
    return rules, taken


@dataclass(frozen=True)
class UpdateResult:
    """What :func:`update_selection` did: the ingest report and the snapshot rows written."""

    report: sources.IngestReport
    snapshot_rows: int


def _venue_of(selection: StoreSelection | None, what: str) -> str:
    if selection is None or selection.exchange is None:
        raise ConfigError(f"{what} needs [data] store = {{ exchange = \"...\", freq = "
                          "\"1h\" }} in the study config (a store selection naming its venue)")
    return selection.exchange


def update_selection(selection: StoreSelection | None, *,
                     settings: sources.SourceSettings | None = None,
                     until: datetime | None = None) -> UpdateResult:
    """Run the incremental store update of a study's selection, then snapshot its venue.

    The update is :func:`coinfactor.data.sources.update` for the selection's exchange,
    symbols (default: those stored) and frequency; the snapshot lists every market of the
    venue, active or not, with its order rules (:func:`coinfactor.data.sources.CcxtSource.
    snapshot` with ``active_only=False``), so a book sees a delisting.

    Raises
    ------
    ConfigError
        When the config has no store selection naming an exchange and a frequency.
    """
    exchange = _venue_of(selection, "--update")
    assert selection is not None
    if selection.freq is None:
        raise ConfigError("--update needs [data] store.freq (the bar frequency to update)")
    src = sources.make_source(exchange, settings)
    store = selection.store()
    try:
        report = sources.update(exchange, symbols=list(selection.symbols)
                                if selection.symbols else None, timeframe=selection.freq,
                                until=until, store=store, source=src, settings=settings)
        if isinstance(src, sources.CcxtSource):
            snap = src.snapshot(active_only=False, open_interest=False)
        else:
            snap = src.snapshot(active_only=False)
        rows = store.write_snapshots(snap, exchange=exchange,
                                     market=selection.market or src.market_type) \
            if snap.height else 0
    finally:
        src.close()
        store.close()
    return UpdateResult(report, rows)


def venue_positions(selection: StoreSelection | None, *,
                    settings: sources.SourceSettings | None = None,
                    env: Mapping[str, str] | None = None) -> dict[str, float]:
    """Read current positions (contracts, short < 0) on the selection's venue through ccxt.

    Keys come from ``COINFACTOR_<EXCHANGE>_<CREDENTIAL>`` environment variables
    (:meth:`coinfactor.data.sources.CcxtSource.credential_names`).
    """
    exchange = _venue_of(selection, "--from-venue")
    src = sources.make_source(exchange, settings)
    try:
        if not isinstance(src, sources.CcxtSource):
            raise ConfigError(f"--from-venue reads positions through ccxt; {exchange!r} is "
                              "no ccxt venue")
        return src.positions(env)
    finally:
        src.close()
