"""The :class:`Source` protocol: what :func:`~coinfactor.data.sources.download` needs of a source.

A new data source is a class with these attributes and methods; it is ingested by passing an
instance as ``download(..., source=...)`` / ``update(..., source=...)``, with no edit to
coinfactor. Its :class:`Capabilities` say what the ingest loop asks of it: funding history,
open-interest history and the market snapshot are requested only from a source that declares
them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

import polars as pl


@dataclass(frozen=True)
class Capabilities:
    """What a source can serve beyond bars (every source serves bars).

    Parameters
    ----------
    funding : bool, default False
        Funding-rate history: :meth:`Source.iter_funding` yields events.
    open_interest : bool, default False
        Open-interest history: :meth:`Source.iter_open_interest` yields values per bar.
    snapshot : bool, default False
        A market snapshot (24h volume, open interest, mid, max leverage per market):
        :meth:`Source.snapshot` lists the venue's markets, so the symbols may come from it
        (``min_volume=``, or no ``symbols=`` on a first download).
    quote_volume : bool, default False
        Bars carry the venue's quote volume (``quote_volume`` is null otherwise). Informative:
        the ingest loop stores whatever the bars hold.
    """

    funding: bool = False
    open_interest: bool = False
    snapshot: bool = False
    quote_volume: bool = False


@runtime_checkable
class Source(Protocol):
    """A remote source of bars (and, as its :attr:`capabilities` declare, more).

    Implemented by :class:`~coinfactor.data.sources.CcxtSource` and
    :class:`~coinfactor.data.sources.TiingoSource`. Times are aware UTC datetimes; every
    ``iter_*`` method yields polars pages as they arrive (the ingest loop writes each page
    before it asks for the next) and handles its own paging, rate limiting and retries,
    raising :class:`~coinfactor.core.errors.SourceError` when a request keeps failing.

    Pages need not be validated: the ingest loop checks each one
    (:mod:`coinfactor.data.sources._clean`), nulling unusable optional values and rejecting
    (or, with ``skip_bad_bars``, setting aside) invalid rows, with counts in the report. Any
    exception a source raises fails only the symbol it was fetching; the built-in sources keep
    every request within a total deadline and the symbol's deadline.

    Attributes
    ----------
    exchange : str
        The store's exchange name of the data (``binanceusdm``, ``tiingo_binance``).
    market_type : str
        The store's market type (``swap``, ``spot``).
    default_quote : str or None
        Settlement currency the symbol universe is filtered on when the caller gives none
        (``USDT`` on Binance USDⓈ-M); ``None`` keeps every quote.
    capabilities : Capabilities
        What the source serves beyond bars.
    """

    @property
    def exchange(self) -> str:
        """The store's exchange name of the data."""
        ...

    @property
    def market_type(self) -> str:
        """The store's market type."""
        ...

    @property
    def default_quote(self) -> str | None:
        """Settlement currency of the default universe (``None``: every quote)."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """What the source serves beyond bars."""
        ...

    def store_symbol(self, symbol: str) -> str | None:
        """Return the store symbol of a user symbol, ``None`` if the source does not list it."""
        ...

    def snapshot(
        self,
        *,
        quote: str | None = None,
        active_only: bool = True,
        min_volume_usd: float | None = None,
    ) -> pl.DataFrame:
        """One row per market, :data:`~coinfactor.data.store.SNAPSHOT_SCHEMA`.

        Asked only when ``capabilities.snapshot``.
        """
        ...

    def iter_bars(
        self, symbol: str, timeframe: str, *, since: datetime, until: datetime | None = None
    ) -> Iterator[pl.DataFrame]:
        """Yield pages of closed bars with ``since <= ts`` (close ``<= until``).

        Columns of :data:`~coinfactor.data.PANEL_SCHEMA` (optional ones may be missing;
        numbers may be floats, ``NaN`` or ``inf``: the ingest loop checks them).
        """
        ...

    def iter_funding(
        self, symbol: str, *, since: datetime, until: datetime | None = None
    ) -> Iterator[pl.DataFrame]:
        """Yield pages of ``symbol, ts, funding_rate, mark_price``.

        Asked only when ``capabilities.funding``.
        """
        ...

    def iter_open_interest(
        self, symbol: str, timeframe: str, *, since: datetime, until: datetime | None = None
    ) -> Iterator[pl.DataFrame]:
        """Yield pages of ``symbol, ts, open_interest`` (quote units) for bars at ``timeframe``.

        Asked only when ``capabilities.open_interest``.
        """
        ...

    def close(self) -> None:
        """Release the source's connections."""
        ...
