"""``download`` and ``update``: pull venue data into the store, page by page, resumably.

Every page goes through the store's idempotent transactional upsert as soon as it arrives (on a
background writer thread, so the write overlaps the next request), so an interrupted run loses
at most the pages in flight and a rerun (or :func:`update`) neither
duplicates nor misses a row.

One symbol never stops the others: every exception raised while a symbol is fetched is
caught, classified and reported for that symbol (an error in the store itself still stops the
run). Every page is checked first (:mod:`coinfactor.data.sources._clean`): unusable optional
values are nulled and counted, invalid bars reject the symbol or, with ``skip_bad_bars``, are
set aside and counted. A symbol runs within ``symbol_deadline_ms`` when one is set. Symbols
without bars are remembered beside the store (:mod:`coinfactor.data.sources._pending`) and
retried by :func:`update` until they have bars.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from coinfactor.core.errors import ConfigError, DataError, SourceError
from coinfactor.core.time import freq_to_timedelta
from coinfactor.data.sources._ccxt import CcxtSource
from coinfactor.data.sources._clean import clean_bars, clean_funding, clean_open_interest
from coinfactor.data.sources._pending import PendingSymbols
from coinfactor.data.sources._protocol import Source
from coinfactor.data.sources._report import (
    IngestReport,
    Progress,
    SymbolReport,
    SymbolStatus,
)
from coinfactor.data.sources._retry import (
    SymbolDeadline,
    check_number,
    check_symbol_deadline,
    symbol_deadline,
)
from coinfactor.data.sources._secrets import clip, scrub
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

__all__ = ["IngestReport", "Progress", "SymbolReport", "download", "make_source", "update"]


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
    deadline = cfg.request_deadline_ms
    if exchange == "tiingo":
        return TiingoSource(base_url=cfg.base_url, exchanges=cfg.tiingo_exchanges,
                            timeout_s=cfg.timeout_ms / 1000,
                            request_deadline_s=None if deadline is None else deadline / 1000,
                            rate_limit_ms=cfg.rate_limit_ms or 0.0,
                            page_limit=cfg.page_limit or 5000, retry=cfg.retry, seed=cfg.seed)
    return CcxtSource(exchange, base_url=cfg.base_url, rate_limit_ms=cfg.rate_limit_ms,
                      timeout_ms=cfg.timeout_ms, request_deadline_ms=deadline, retry=cfg.retry,
                      page_limit=cfg.page_limit, funding_page_limit=cfg.funding_page_limit,
                      seed=cfg.seed)


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
        Filter on 24h notional volume in USD (needs the venue snapshot); finite, >= 0.
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
        A ready source, anything implementing the :class:`Source` protocol (then the client
        settings are not used to build one; ``skip_bad_bars`` and ``symbol_deadline_ms``
        still apply); it stays open. Default: built by :func:`make_source` from
        ``exchange`` and the settings.
    settings : SourceSettings, optional
        Client settings (base URL, timeout, deadlines, rate limit, retries, page sizes) and
        the page checks (``skip_bad_bars``); default ``SourceSettings()``.
    progress : callable, optional
        Called with a :class:`Progress` after every page and symbol.
    **options
        Fields of :class:`SourceSettings` overriding those of ``settings`` (``base_url=``,
        ``timeout_ms=``, ``rate_limit_ms=``, ``retry=``, ...); an unknown name is a
        ``TypeError``.

    Returns
    -------
    IngestReport
        Per symbol: status (``ok``, ``incomplete``, ``skipped``, ``failed``), rows written and
        new, venue values nulled and rows set aside, and the reason.

    Raises
    ------
    ConfigError
        On a bad option (before any request): a frequency, symbol or number out of range.
    SourceError
        When the symbol universe comes from the venue's snapshot and that fails.
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
    symbols already stored for (exchange, timeframe) are updated, and so are the symbols an
    earlier download asked for that have no bars yet (failed or empty: reported
    ``incomplete`` until they have bars). A symbol with nothing stored starts at ``since``, or
    at the ``since`` it was first asked from (skipped, with a reason, if neither is known).
    Running it after an interrupted :func:`download` completes that download.
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
    if min_volume is not None:
        check_number("min_volume", min_volume, option="--min-volume")
    if since is not None and until is not None and until <= since:
        raise ConfigError(f"until ({until}) must be after since ({since})")
    src = source if source is not None else make_source(exchange, settings)
    target = store if store is not None else Store()
    job = _Job(src, target, settings=settings, timeframe=timeframe, since=since, until=until,
               bars=bars, funding=funding and src.capabilities.funding,
               open_interest=open_interest and bars and src.capabilities.open_interest,
               resume=resume, progress=progress)
    try:
        snap_rows, wanted = job.universe(wanted, min_volume=min_volume, quote=quote,
                                         snapshot=snapshot)
        reports = job.ingest(wanted)
        return IngestReport(exchange=src.exchange, market=src.market_type,
                            timeframe=timeframe, symbols=tuple(reports),
                            snapshot_rows=snap_rows, seconds=time.perf_counter() - t0)
    finally:  # close what this call opened; the caller's objects stay open
        if source is None:
            src.close()
        if store is None:
            target.close()


class _WriteFailed(Exception):
    """A store write failed: not a symbol's fault, the run stops (``error`` is re-raised)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class _Counts:
    bars: int = 0
    bars_new: int = 0
    funding: int = 0
    funding_new: int = 0
    open_interest: int = 0
    nulled: int = 0
    bad: int = 0

    def tally(self, w: WriteCounts) -> None:
        self.bars += w.bars_rows
        self.bars_new += w.bars_new
        self.funding += w.funding_rows
        self.funding_new += w.funding_new
        self.open_interest += w.open_interest_rows

    def report(self, symbol: str, status: SymbolStatus, reason: str) -> SymbolReport:
        return SymbolReport(symbol, status, bars=self.bars, bars_new=self.bars_new,
                            funding=self.funding, funding_new=self.funding_new,
                            open_interest=self.open_interest, nulled=self.nulled,
                            bad=self.bad, reason=reason)


class _Job:
    """One download or update: the symbol universe, then each symbol in turn."""

    def __init__(self, src: Source, store: Store, *, settings: SourceSettings,
                 timeframe: str, since: datetime | None, until: datetime | None, bars: bool,
                 funding: bool, open_interest: bool, resume: bool,
                 progress: Callable[[Progress], None] | None) -> None:
        self.src, self.store, self.settings = src, store, settings
        self.name, self.market = src.exchange, src.market_type
        self.timeframe, self.step = timeframe, freq_to_timedelta(timeframe)
        self.since, self.until = since, until
        self.bars, self.funding, self.with_oi = bars, funding, open_interest
        self.resume, self.progress = resume, progress
        self.pending = PendingSymbols(store.path, exchange=self.name, market=self.market,
                                      timeframe=timeframe)

    def _last(self, table: str, *, freq: bool = True) -> dict[str, datetime]:
        return self.store.last_timestamps(table, exchange=self.name, market=self.market,
                                          freq=self.timeframe if freq else None)

    def universe(self, wanted: list[str] | None, *, min_volume: float | None,
                 quote: str | None, snapshot: bool) -> tuple[int, list[str]]:
        """Take the snapshot (if asked or needed) and return its rows and the symbols."""
        src, caps, name = self.src, self.src.capabilities, self.name
        snap_rows = 0
        snap = None
        needs_universe = wanted is None and (min_volume is not None or not self.resume)
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
                log.warning("%s snapshot failed, continuing with the symbols given: %s", name,
                            clip(exc, 300))
            if snapshot and snap is not None and snap.height:
                snap_rows = self.store.write(exchange=name, market=self.market,
                                             snapshots=snap).snapshots_rows
        if wanted is None:
            if snap is not None and (min_volume is not None or not self.resume):
                wanted = snap["symbol"].to_list()
            else:  # the stored symbols, and those asked for earlier that have no bars yet
                wanted = sorted(set(self._last("bars")) | set(self.pending.symbols))
            if not wanted:
                raise ConfigError(f"no symbols to fetch from {name}: pass symbols=, or a "
                                  "min_volume filter, or download some first")
        return snap_rows, wanted

    def ingest(self, wanted: list[str]) -> list[SymbolReport]:
        """Fetch every symbol in turn; one report each."""
        name, market = self.name, self.market
        keys = {sym: self.src.store_symbol(sym) for sym in wanted}
        last_bar = self._last("bars") if self.resume else {}
        self.last_funding = self._last("funding", freq=False) \
            if self.resume and self.funding else {}
        self.last_oi = self._last("open_interest") if self.resume and self.with_oi else {}
        self.first_bar: dict[str, datetime] = {}
        if self.resume and (self.funding or self.with_oi) and self.since is None:
            cov = self.store.coverage(exchange=name, market=market, freq=self.timeframe)
            self.first_bar = dict(zip(cov["symbol"].to_list(), cov["first"].to_list(),
                                      strict=True))
        asked = self.pending.symbols
        starts: dict[str, datetime | None] = {}
        for key in dict.fromkeys(k for k in keys.values() if k is not None):
            starts[key] = last_bar[key] + self.step if key in last_bar \
                else self.since or asked.get(key)
            if key not in last_bar and starts[key] is not None and self.bars:
                self.pending.mark(key, starts[key])  # remembered until it has bars
        self.pending.save()

        try:
            return self._each(wanted, keys, starts, last_bar)
        finally:  # the marks were saved first; what is left pending is saved at the end
            self.pending.save()

    def _each(self, wanted: list[str], keys: dict[str, str | None],
              starts: dict[str, datetime | None],
              last_bar: dict[str, datetime]) -> list[SymbolReport]:
        name, market = self.name, self.market
        reports: list[SymbolReport] = []
        total = len(wanted)
        done: set[str] = set()
        with PageWriter(self.store) as writer:
            for i, sym in enumerate(wanted):
                key = keys[sym]
                if key is None:
                    reports.append(SymbolReport(sym, "failed", reason=f"{name} has no "
                                                f"{market} market {sym!r}"))
                elif key in done:  # the same market asked twice
                    pass
                elif starts[key] is None:
                    done.add(key)
                    reports.append(SymbolReport(key, "skipped", reason="nothing stored yet; "
                                                "pass since= to start it"))
                else:
                    done.add(key)
                    rep = self._symbol(writer, key, starts[key], i, total,
                                       has_bars=key in last_bar)
                    reports.append(rep)
                    if rep.status == "ok" or key in last_bar or rep.bars:
                        self.pending.clear(key)
                    elif self.bars:
                        self.pending.mark(key, starts[key], rep.reason)
                self._emit(key or sym, i + 1, total,
                           reports[-1].bars if reports and reports[-1].symbol == key else 0)
        return reports

    def _emit(self, symbol: str, done: int, total: int, rows: int = 0) -> None:
        if self.progress is not None:
            self.progress(Progress(symbol=symbol, done=done, total=total, rows=rows))

    def _submit(self, writer: PageWriter, counts: _Counts, **kwargs: Any) -> None:
        try:
            writer.submit(counts.tally, exchange=self.name, market=self.market, **kwargs)
        except Exception as exc:
            raise _WriteFailed(exc) from exc

    def _flush(self, writer: PageWriter) -> None:
        try:
            writer.flush()
        except Exception as exc:
            raise _WriteFailed(exc) from exc

    def _symbol(self, writer: PageWriter, key: str, bar_start: datetime | None, i: int,
                total: int, *, has_bars: bool) -> SymbolReport:
        """Fetch one symbol: every fault is caught and reported here, a write error stops."""
        counts = _Counts()
        note = ""
        status: SymbolStatus = "ok"
        seconds = self.settings.symbol_deadline_ms
        try:
            try:
                with symbol_deadline(None if seconds is None else seconds / 1000):
                    note = self._fetch(writer, key, bar_start, counts, i, total)
                self._flush(writer)
            except _WriteFailed:
                raise
            except SymbolDeadline as exc:
                self._flush(writer)  # keep what was fetched before the deadline
                status, note = "incomplete", clip(exc, 300)
                log.warning("%s %s incomplete: %s", self.name, key, note)
            except Exception as exc:  # any fault of this symbol's fetch: reported, go on
                self._flush(writer)  # keep what was fetched before the failure
                status, note = "failed", _reason(exc)
                log.warning("%s %s failed: %s", self.name, key, scrub(exc))
        except _WriteFailed as failed:  # the store itself failed: stop the run
            raise failed.error from None
        if status == "ok" and self.bars and not has_bars and not counts.bars:
            status = "incomplete"
            note = "the venue returned no bars yet; `update` asks again"
        return counts.report(key, status, note)

    def _fetch(self, writer: PageWriter, key: str, bar_start: datetime | None,
               counts: _Counts, i: int, total: int) -> str:
        """Fetch bars, funding and open interest of one symbol; return a note."""
        src, tf, skip = self.src, self.timeframe, self.settings.skip_bad_bars
        note = ""
        fetched = 0
        if self.bars and bar_start is not None:
            for page in src.iter_bars(key, tf, since=bar_start, until=self.until):
                checked = clean_bars(page, tf, skip_bad=skip, what=f"bars {key}")
                counts.nulled += checked.nulled
                counts.bad += checked.bad
                if checked.frame.height:
                    self._submit(writer, counts, freq=tf, bars=checked.frame, validated=True)
                fetched += checked.frame.height
                self._emit(key, i, total, fetched)
                check_symbol_deadline(f"bars {key}")
        # funding continues after its last event; a symbol with bars but no funding yet
        # (a run killed between the two) starts at its first bar
        fund_start = (self.last_funding[key] + timedelta(milliseconds=1)
                      if key in self.last_funding
                      else self.since or self.first_bar.get(key) or bar_start)
        if self.funding and fund_start is not None:
            for page in src.iter_funding(key, since=fund_start, until=self.until):
                checked = clean_funding(page, skip_bad=skip, what=f"funding {key}")
                counts.nulled += checked.nulled
                counts.bad += checked.bad
                if checked.frame.height:
                    self._submit(writer, counts, funding=checked.frame)
                self._emit(key, i, total, fetched)
                check_symbol_deadline(f"funding {key}")
        oi_start = (self.last_oi[key] + self.step if key in self.last_oi
                    else self.since or self.first_bar.get(key) or bar_start)
        if self.with_oi and oi_start is not None:
            try:  # optional data: a refusal is noted, the symbol still succeeds
                for page in src.iter_open_interest(key, tf, since=oi_start, until=self.until):
                    checked = clean_open_interest(page)
                    counts.nulled += checked.nulled
                    if checked.frame.height:
                        self._submit(writer, counts, freq=tf, open_interest=checked.frame)
                    check_symbol_deadline(f"open interest {key}")
            except SymbolDeadline:
                raise
            except SourceError as exc:
                note = f"open interest unavailable: {clip(exc, 200)}"
        return note


def _reason(exc: BaseException) -> str:
    """One line for the report: the error's first line (scrubbed, then cut), and its fix."""
    if isinstance(exc, SourceError | DataError | ConfigError):
        text = clip(exc, 300)
    else:  # not one of ours: a bug or a venue answer nothing expected; name its type
        text = f"unexpected {type(exc).__name__}: {clip(exc, 260)}"
    fix = getattr(exc, "fix", None)
    return f"{text}; fix: {clip(fix, 200)}" if fix else text
