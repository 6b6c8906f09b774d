"""What :func:`~coinfactor.data.sources.download` / ``update`` report: per symbol and in total."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from coinfactor.core.typing import Status as SymbolStatus
from coinfactor.data.sources._secrets import scrub


@dataclass(frozen=True)
class SymbolReport:
    """What one symbol's ingestion did.

    Attributes
    ----------
    symbol : str
        The store symbol (or the name asked for, when the venue has no such market).
    status : {"ok", "incomplete", "skipped", "failed"}
        See :data:`coinfactor.core.typing.Status`.
    bars, bars_new, funding, funding_new, open_interest : int
        Rows written and, of them, new.
    nulled : int
        Venue values that were not usable (not finite, out of range) in optional fields,
        stored as null.
    bad : int
        Invalid bars and funding events set aside (``skip_bad_bars``).
    reason : str
        Why it failed, is incomplete or was skipped; a note otherwise. Scrubbed of secrets.
    """

    symbol: str
    status: SymbolStatus
    bars: int = 0
    bars_new: int = 0
    funding: int = 0
    funding_new: int = 0
    open_interest: int = 0
    nulled: int = 0
    bad: int = 0
    reason: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", scrub(self.reason))


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

    @property
    def incomplete(self) -> list[SymbolReport]:
        """Symbols without bars yet, or stopped at their deadline (``update`` continues)."""
        return [s for s in self.symbols if s.status == "incomplete"]

    def table(self) -> pl.DataFrame:
        """One row per symbol: status, rows written and new, nulled, set aside, reason."""
        schema = {"symbol": pl.String, "status": pl.String, "bars": pl.Int64,
                  "bars_new": pl.Int64, "funding": pl.Int64, "funding_new": pl.Int64,
                  "open_interest": pl.Int64, "nulled": pl.Int64, "bad": pl.Int64,
                  "reason": pl.String}
        return pl.DataFrame([s.__dict__ for s in self.symbols], schema=schema, orient="row")

    def summary(self) -> str:
        """Plain-text summary: totals, then the symbols that failed or are incomplete."""
        count = {k: sum(s.status == k for s in self.symbols)
                 for k in ("ok", "incomplete", "skipped", "failed")}
        nulled = sum(s.nulled for s in self.symbols)
        bad = sum(s.bad for s in self.symbols)
        lines = [
            f"{self.exchange} {self.market} {self.timeframe}: {len(self.symbols)} symbol(s), "
            f"{count['ok']} ok, {count['incomplete']} incomplete, {count['skipped']} skipped, "
            f"{count['failed']} failed; "
            f"{sum(s.bars_new for s in self.symbols):,} new bars, "
            f"{sum(s.funding_new for s in self.symbols):,} new funding events, "
            f"{self.snapshot_rows} snapshot rows in {self.seconds:.1f}s"
            + (f"; {nulled:,} unusable venue value(s) stored as null" if nulled else "")
            + (f"; {bad:,} invalid row(s) set aside" if bad else ""),
        ]
        lines += [f"  failed {s.symbol}: {s.reason}" for s in self.failed]
        lines += [f"  incomplete {s.symbol}: {s.reason}" for s in self.incomplete]
        return "\n".join(lines)


@dataclass(frozen=True)
class Progress:
    """A progress event: ``done`` of ``total`` symbols finished; ``symbol`` is the current one."""

    symbol: str
    done: int
    total: int
    rows: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
