"""``download`` and ``update``: pull venue data into the store, page by page, resumably.

Every page goes through the store's idempotent transactional upsert as soon as it arrives (on a
background writer thread, so the write overlaps the next request), so an interrupted run loses
at most the pages in flight and a rerun (or :func:`update`) neither
duplicates nor misses a row. A symbol whose requests keep failing is reported and the others
continue.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from coinfactor.core.errors import ConfigError, DataError, SourceError
from coinfactor.core.time import freq_to_timedelta
from coinfactor.core.typing import Status
from coinfactor.data.sources._ccxt import CcxtSource
from coinfactor.data.sources._protocol import Source
from coinfactor.data.sources._settings import SourceSettings, resolve_settings
from coinfactor.data.sources._tiingo import TiingoSource
from coinfactor.data.sources._writer import PageWriter
from coinfactor.data.store import (
    Store,
    WriteCounts,
    check_exchange,
    check_freq,
    check_input_symbols,
    to_utc,
)

log = logging.getLogger("coinfactor.data.sources")

@dataclass(frozen=True)
class SymbolReport:
    """What one symbol's ingestion did."""

    symbol: str
    status: Status
    bars: int = 0
    bars_new: int = 0
    funding: int = 0
    funding_new: int = 0
    open_interest: int = 0
    reason: str = ""


@dataclass(frozen=True)
class IngestReport:
    """Result of :func:`download` / :func:`update`: one :class:`SymbolReport` per symbol."""

    exchange: str
    market: str
    timeframe: str
    symbols: tuple[SymbolReport, ...]
    snapshot_rows: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> list[SymbolReport]:
        """Symbols that failed, with their reasons."""
        return [s for s in self.symbols if s.status == "failed"]

    def table(self) -> pl.DataFrame:
        """One row per symbol: status, rows written and new, reason."""
        schema = {"symbol": pl.String, "status": pl.String, "bars": pl.Int64,
                  "bars_new": pl.Int64, "funding": pl.Int64, "funding_new": pl.Int64,
                  "open_interest": pl.Int64, "reason": pl.String}
        return pl.DataFrame([s.__dict__ for s in self.symbols], schema=schema, orient="row")

    def summary(self) -> str:
        """Plain-text summary: totals and failures."""
        ok = sum(s.status == "ok" for s in self.symbols)
        skipped = sum(s.status == "skipped" for s in self.symbols)
        lines = [
            f"{self.exchange} {self.market} {self.timeframe}: {len(self.symbols)} symbol(s), "
            f"{ok} ok, {skipped} skipped, {len(self.failed)} failed; "
            f"{sum(s.bars_new for s in self.symbols):,} new bars, "
            f"{sum(s.funding_new for s in self.symbols):,} new funding events, "
            f"{self.snapshot_rows} snapshot rows in {self.seconds:.1f}s",
        ]
        lines += [f"  failed {s.symbol}: {s.reason}" for s in self.failed]
        return "\n".join(lines)


@dataclass(frozen=True)
class Progress:
    """A progress event: ``done`` of ``total`` symbols finished; ``symbol`` is the current one."""

    symbol: str
    done: int
    total: int
    rows: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def make_source(exchange: str, settings: SourceSettings | None = None,
                **options: Any) -> Source:
    """Build the source for ``exchange``: ``"tiingo"`` or a ccxt exchange id.

    Parameters
    ----------
    exchange : str
        ``"tiingo"`` (:class:`TiingoSource`) or a ccxt exchange id (:class:`CcxtSource`).
    settings : SourceSettings, optional
        Client settings; default ``SourceSettings()``.
    **options
        Fields of :class:`SourceSettings` overriding those of ``settings``
        (``base_url=...``, ``rate_limit_ms=0``).

    Returns
    -------
    Source
        A new source; the caller closes it.
    """
    check_exchange(exchange)
    cfg = resolve_settings(settings, options)
    if exchange == "tiingo":
        return TiingoSource(base_url=cfg.base_url, exchanges=cfg.tiingo_exchanges,
                            timeout_s=cfg.timeout_ms / 1000,
                            rate_limit_ms=cfg.rate_limit_ms or 0.0,
                            page_limit=cfg.page_limit or 5000, retry=cfg.retry, seed=cfg.seed)
    return CcxtSource(exchange, base_url=cfg.base_url, rate_limit_ms=cfg.rate_limit_ms,
                      timeout_ms=cfg.timeout_ms, retry=cfg.retry, page_limit=cfg.page_limit,
                      funding_page_limit=cfg.funding_page_limit, seed=cfg.seed)


def _utc(value: datetime | date | str | None, name: str) -> datetime | None:
    """Parse a time bound to an aware UTC datetime (:func:`to_utc`'s parsing, a ConfigError)."""
    try:
        parsed = to_utc(value, name)
    except DataError as exc:
        raise ConfigError(str(exc)) from exc
    return None if parsed is None else parsed.replace(tzinfo=UTC)


def download(
    exchange: str = "binanceusdm",
    *,
    symbols: Sequence[str] | None = None,
    min_volume: float | None = None,
    quote: str | None = None,
    timeframe: str = "1h",
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
    bars: bool = True,
    funding: bool = True,
    snapshot: bool = True,
    open_interest: bool = True,
    store: Store | None = None,
    source: Source | None = None,
    settings: SourceSettings | None = None,
    progress: Callable[[Progress], None] | None = None,
    **options: Any,
) -> IngestReport:
    """Download bars, funding events and a market snapshot into the store.

    Parameters
    ----------
    exchange : str, default "binanceusdm"
        ccxt exchange id (``binanceusdm``, ``hyperliquid``, any ccxt id) or ``"tiingo"``.
    symbols : sequence of str, optional
        Venue ids (``BTCUSDT``, ``BTC``) or ccxt symbols. When omitted, every active market
        of the snapshot (quote ``quote``, 24h USD volume >= ``min_volume``).
    min_volume : float, optional
        Filter on 24h notional volume in USD (needs the venue snapshot).
    quote : str, optional
        Settlement currency filter; default USDT on Binance, USDC on Hyperliquid.
    timeframe : str, default "1h"
        Bar frequency.
    since, until : datetime, date or ISO str
        Bars with ``since <= ts`` and close ``ts + timeframe <= until`` (default: the venue's
        clock; still-open bars are never stored). ``since`` is required.
    bars, funding, snapshot, open_interest : bool, default True
        What to fetch, as far as the source's :class:`Capabilities` allow (a source without
        funding history is asked for none). Open-interest history fills the bars'
        ``open_interest`` where the venue serves it (Binance: the last 30 days; Hyperliquid:
        none, its current open interest is in the snapshot).
    store : Store, optional
        Target store; default ``Store()`` (``COINFACTOR_HOME``).
    source : Source, optional
        A ready source, anything implementing the :class:`Source` protocol (then
        ``settings`` and ``options`` are ignored); it stays open. Default: built by
        :func:`make_source` from ``exchange`` and the settings.
    settings : SourceSettings, optional
        Client settings (base URL, timeout, rate limit, retries, page sizes); default
        ``SourceSettings()``.
    progress : callable, optional
        Called with a :class:`Progress` after every page and symbol.
    **options
        Fields of :class:`SourceSettings` overriding those of ``settings`` (``base_url=``,
        ``timeout_ms=``, ``rate_limit_ms=``, ``retry=``, ...); an unknown name is a
        ``TypeError``.

    Returns
    -------
    IngestReport
        Per-symbol rows written / new and failures with their reasons.
    """
    start = _utc(since, "since")
    if start is None:
        raise ConfigError("download needs since= (the first bar time), e.g. '2025-01-01'; "
                          "use update() to continue what the store holds")
    return _run(exchange, symbols=symbols, min_volume=min_volume, quote=quote,
                timeframe=timeframe, since=start, until=_utc(until, "until"), bars=bars,
                funding=funding, snapshot=snapshot, open_interest=open_interest, store=store,
                source=source, resume=False, progress=progress,
                settings=resolve_settings(settings, options))


def update(
    exchange: str = "binanceusdm",
    *,
    symbols: Sequence[str] | None = None,
    min_volume: float | None = None,
    quote: str | None = None,
    timeframe: str = "1h",
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
    bars: bool = True,
    funding: bool = True,
    snapshot: bool = False,
    open_interest: bool = True,
    store: Store | None = None,
    source: Source | None = None,
    settings: SourceSettings | None = None,
    progress: Callable[[Progress], None] | None = None,
    **options: Any,
) -> IngestReport:
    """Fetch only what the store is missing after each symbol's last bar and funding event.

    Same parameters as :func:`download`. Without ``symbols`` (and without ``min_volume``) the
    symbols already stored for (exchange, timeframe) are updated. A symbol with nothing
    stored starts at ``since`` (skipped, with a reason, if ``since`` is not given). Running it
    after an interrupted :func:`download` completes that download.
    """
    return _run(exchange, symbols=symbols, min_volume=min_volume, quote=quote,
                timeframe=timeframe, since=_utc(since, "since"), until=_utc(until, "until"),
                bars=bars, funding=funding, snapshot=snapshot, open_interest=open_interest,
                store=store, source=source, resume=True, progress=progress,
                settings=resolve_settings(settings, options))


def _run(
    exchange: str,
    *,
    symbols: Sequence[str] | None,
    min_volume: float | None,
    quote: str | None,
    timeframe: str,
    since: datetime | None,
    until: datetime | None,
    bars: bool,
    funding: bool,
    snapshot: bool,
    open_interest: bool,
    store: Store | None,
    source: Source | None,
    resume: bool,
    progress: Callable[[Progress], None] | None,
    settings: SourceSettings,
) -> IngestReport:
    t0 = time.perf_counter()
    check_freq(timeframe)
    wanted = check_input_symbols(symbols) if symbols is not None else None
    if wanted is not None and not wanted:
        raise ConfigError("symbols is empty; pass at least one symbol or omit it")
    if since is not None and until is not None and until <= since:
        raise ConfigError(f"until ({until}) must be after since ({since})")
    src = source if source is not None else make_source(exchange, settings)
    target = store if store is not None else Store()
    try:
        return _ingest_all(src, target, wanted=wanted, min_volume=min_volume, quote=quote,
                           timeframe=timeframe, since=since, until=until, bars=bars,
                           funding=funding, snapshot=snapshot, open_interest=open_interest,
                           resume=resume, progress=progress, t0=t0)
    finally:  # close what this call opened; the caller's objects stay open
        if source is None:
            src.close()
        if store is None:
            target.close()


def _ingest_all(
    src: Source,
    store: Store,
    *,
    wanted: list[str] | None,
    min_volume: float | None,
    quote: str | None,
    timeframe: str,
    since: datetime | None,
    until: datetime | None,
    bars: bool,
    funding: bool,
    snapshot: bool,
    open_interest: bool,
    resume: bool,
    progress: Callable[[Progress], None] | None,
    t0: float,
) -> IngestReport:
    name, market, caps = src.exchange, src.market_type, src.capabilities
    funding = funding and caps.funding  # asked only of a source that serves it
    step = freq_to_timedelta(timeframe)

    snap_rows = 0
    snap = None
    needs_universe = wanted is None and (min_volume is not None or not resume)
    if needs_universe and not caps.snapshot:
        raise ConfigError(f"{name} has no market snapshot to pick symbols from "
                          "(min_volume=, or no symbols= on a download): pass symbols=")
    if (snapshot or needs_universe) and caps.snapshot:
        try:
            snap = src.snapshot(quote=quote or src.default_quote, active_only=True,
                                min_volume_usd=min_volume)
        except SourceError as exc:
            if needs_universe:  # the symbols come from it: nothing to do without it
                raise
            log.warning("%s snapshot failed, continuing with the symbols given: %s", name, exc)
        if snapshot and snap is not None and snap.height:
            snap_rows = store.write(exchange=name, market=market, snapshots=snap).snapshots_rows
    if wanted is None:
        if snap is not None and (min_volume is not None or not resume):
            wanted = snap["symbol"].to_list()
        else:
            wanted = sorted(store.last_timestamps("bars", exchange=name, market=market,
                                                  freq=timeframe))
        if not wanted:
            raise ConfigError(f"no symbols to fetch from {name}: pass symbols=, or a "
                              "min_volume filter, or download some first")
    keys = {sym: src.store_symbol(sym) for sym in wanted}
    last_bar = store.last_timestamps("bars", exchange=name, market=market, freq=timeframe) \
        if resume else {}
    last_funding = store.last_timestamps("funding", exchange=name, market=market) \
        if resume and funding else {}
    with_oi = open_interest and bars and caps.open_interest
    last_oi = store.last_timestamps("open_interest", exchange=name, market=market,
                                    freq=timeframe) if resume and with_oi else {}
    first_bar: dict[str, datetime] = {}
    if resume and (funding or with_oi) and since is None:
        cov = store.coverage(exchange=name, market=market, freq=timeframe)
        first_bar = dict(zip(cov["symbol"].to_list(), cov["first"].to_list(), strict=True))

    reports: list[SymbolReport] = []
    total = len(wanted)
    with PageWriter(store) as writer:
        for i, sym in enumerate(wanted):
            resolved = keys[sym]
            if resolved is None:
                reports.append(SymbolReport(sym, "failed", reason=f"{name} has no "
                                            f"{market} market {sym!r}"))
                _emit(progress, sym, i + 1, total)
                continue
            key: str = resolved
            if any(r.symbol == key for r in reports):  # the same market asked twice
                _emit(progress, key, i + 1, total)
                continue
            bar_start = last_bar[key] + step if key in last_bar else since
            # funding continues after its last event; a symbol with bars but no funding yet
            # (a run killed between the two) starts at its first bar
            fund_start = (last_funding[key] + timedelta(milliseconds=1)
                          if key in last_funding else since or first_bar.get(key))
            if bar_start is None:
                reports.append(SymbolReport(key, "skipped", reason="nothing stored yet; pass "
                                            "since= to start it"))
                _emit(progress, key, i + 1, total)
                continue
            counts = {"bars": 0, "bars_new": 0, "funding": 0, "funding_new": 0,
                      "open_interest": 0}
            note = ""

            def tally(w: WriteCounts, c: dict[str, int] = counts) -> None:
                c["bars"] += w.bars_rows
                c["bars_new"] += w.bars_new
                c["funding"] += w.funding_rows
                c["funding_new"] += w.funding_new
                c["open_interest"] += w.open_interest_rows

            try:
                fetched = 0
                if bars:
                    for page in src.iter_bars(key, timeframe, since=bar_start, until=until):
                        writer.submit(tally, exchange=name, market=market, freq=timeframe,
                                      bars=page, validated=True)
                        fetched += page.height
                        _emit(progress, key, i, total, fetched)
                if funding and fund_start is not None:
                    for page in src.iter_funding(key, since=fund_start, until=until):
                        writer.submit(tally, exchange=name, market=market, funding=page)
                        _emit(progress, key, i, total, fetched)
                oi_start = last_oi[key] + step if key in last_oi else since or first_bar.get(key)
                if with_oi and oi_start is not None:
                    try:  # optional data: a refusal is noted, the symbol still succeeds
                        for page in src.iter_open_interest(key, timeframe, since=oi_start,
                                                           until=until):
                            writer.submit(tally, exchange=name, market=market, freq=timeframe,
                                          open_interest=page)
                    except SourceError as exc:
                        note = f"open interest unavailable: {str(exc).splitlines()[0][:200]}"
                writer.flush()
            except (SourceError, DataError, ConfigError) as exc:
                writer.flush()  # keep what was fetched before the failure
                log.warning("%s %s failed: %s", name, key, exc)
                reports.append(_report(key, "failed", counts, str(exc).splitlines()[0][:300]))
            else:
                reports.append(_report(key, "ok", counts, note))
            _emit(progress, key, i + 1, total, counts["bars"])
    return IngestReport(exchange=name, market=market, timeframe=timeframe,
                        symbols=tuple(reports), snapshot_rows=snap_rows,
                        seconds=time.perf_counter() - t0)


def _report(symbol: str, status: Status, counts: dict[str, int], reason: str) -> SymbolReport:
    return SymbolReport(symbol, status, bars=counts["bars"], bars_new=counts["bars_new"],
                        funding=counts["funding"], funding_new=counts["funding_new"],
                        open_interest=counts["open_interest"], reason=reason)


def _emit(progress: Callable[[Progress], None] | None, symbol: str, done: int, total: int,
          rows: int = 0) -> None:
    if progress is not None:
        progress(Progress(symbol=symbol, done=done, total=total, rows=rows))
