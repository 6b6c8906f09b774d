"""``build_book``: a study's target at the last complete bar -> checked, exchange-valid orders.

The target comes from the study's own ``target(config, panel, as_of)`` (the functions its
backtest uses); quantities are in contracts at the last close; orders follow
:func:`coinfactor.book.orders`. Checks run before any order and each has a reason code; a
blocking check that fails leaves the order list empty.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from coinfactor.book._orders import ORDER_COLUMNS, MarketRules, orders
from coinfactor.book._venue import snapshot_rules, store_selection
from coinfactor.core.errors import ConfigError, DataError
from coinfactor.core.time import freq_to_timedelta
from coinfactor.data import infer_freq
from coinfactor.studies import (
    STUDIES,
    StudyTarget,
    complete_bars,
    config_from_dict,
    config_to_dict,
    load_study_data,
)

BOOK_STUDIES = ("carry", "reversion", "hedge_basket")
"""Studies that hold a book (the risk model's counterpart is its exposures table)."""


@dataclass(frozen=True)
class BookSettings:
    """Limits and tolerances of :func:`build_book`.

    Parameters
    ----------
    stale_tolerance : timedelta, default 10 minutes
        The last complete bar may close this long before ``as_of`` (plus one bar) before the
        data is stale.
    allow_stale : bool, default False
        Report stale data without blocking.
    max_market_age : timedelta, default 7 days
        Largest age of the market snapshot (precision and limits) at ``as_of``.
    max_gross : float, default 3.0
        Largest target gross exposure (Σ|w|).
    max_order_notional : float, optional
        Split orders above this notional (quote currency).
    """

    stale_tolerance: timedelta = timedelta(minutes=10)
    allow_stale: bool = False
    max_market_age: timedelta = timedelta(days=7)
    max_gross: float = 3.0
    max_order_notional: float | None = None


@dataclass(frozen=True)
class Check:
    """One check before any order: its reason code, outcome and whether it blocks."""

    code: str
    ok: bool
    blocking: bool
    detail: str


@dataclass(frozen=True)
class Book:
    """Today's book of one study (see :func:`build_book`)."""

    study: str
    as_of: datetime
    decided_at: datetime
    last_bar: datetime
    nav: float
    targets: pl.DataFrame
    orders: pl.DataFrame
    checks: tuple[Check, ...]
    config_hash: str
    data_fingerprint: str
    config: dict[str, Any] = field(repr=False)

    @property
    def blocked(self) -> bool:
        """Whether a blocking check failed (the order list is then empty)."""
        return any(not c.ok and c.blocking for c in self.checks)

    def summary(self) -> dict[str, Any]:
        """Return what ``book.json`` holds: times, NAV, hashes, checks and counts."""
        placed = self.orders.filter(pl.col("status") == "order")
        return {
            "study": self.study, "as_of": self.as_of.isoformat(),
            "decided_at": self.decided_at.isoformat(), "last_bar": self.last_bar.isoformat(),
            "nav": self.nav, "config_hash": self.config_hash,
            "data_fingerprint": self.data_fingerprint, "blocked": self.blocked,
            "checks": [c.__dict__ for c in self.checks],
            "n_targets": self.targets.height, "n_orders": placed.height,
            "n_skipped": self.orders.height - placed.height,
            "gross": float(self.targets["weight"].abs().sum()),
            "net": float(self.targets["weight"].sum()),
            "config": self.config,
        }


def build_book(
    raw: Mapping[str, Any],
    *,
    nav: float,
    positions: Mapping[str, float] | None = None,
    markets: Mapping[str, MarketRules] | None = None,
    markets_as_of: datetime | None = None,
    as_of: datetime | None = None,
    settings: BookSettings | None = None,
    base_dir: Path | None = None,
    panel: pl.DataFrame | None = None,
) -> Book:
    """Compute a study's book at ``as_of``: targets in contracts, checks, orders.

    Parameters
    ----------
    raw : mapping
        A parsed study config (``study``, ``[data]``, ``[params]``).
    nav : float
        Account equity in quote currency (USD).
    positions : mapping of str to float, optional
        Current positions in contracts (default: flat).
    markets : mapping of str to MarketRules, optional
        Each symbol's precision and limits. Default: the latest market snapshot of the
        store that ``[data] store = {exchange = ...}`` selects
        (:func:`~coinfactor.book._venue.snapshot_rules`; its time is ``markets_as_of``).
        Without either the check ``markets_unknown`` blocks.
    markets_as_of : datetime, optional
        When the market snapshot was taken (for ``stale_markets``); with ``markets`` given.
    as_of : datetime, optional
        The clock (default: now, UTC): the last complete bar and staleness are judged at it.
    settings : BookSettings, optional
        Limits and tolerances.
    base_dir : Path, optional
        Where relative paths of ``[data]`` are resolved.
    panel : pl.DataFrame, optional
        The data, if already loaded (else ``[data]`` is loaded).

    Returns
    -------
    Book
    """
    cfg = settings or BookSettings()
    clock = as_of or datetime.now(UTC)
    if clock.tzinfo is None:
        raise ConfigError(f"as_of must be timezone-aware (UTC), got {clock!r}")
    study, module, config, resolved = resolve_config(raw)
    if panel is None:
        panel, _ = load_study_data(raw.get("data", {}), base_dir=base_dir)
    note = "no market snapshot: precision and limits unknown (pass markets, or a [data] " \
        "store selection whose venue snapshot records them: coinfactor book --update)"
    if markets is None:
        selection = store_selection(raw, base_dir)
        if selection is not None and selection.exchange is not None:
            with selection.store() as store:
                markets, markets_as_of = snapshot_rules(store, selection.exchange,
                                                        selection.market)
            if markets is None and markets_as_of is not None:
                note = (f"the store's snapshot of {selection.exchange} at {markets_as_of} "
                        "records no order rules (taken by an older coinfactor): take a new "
                        "one with coinfactor book --update")
    cut = complete_bars(panel, clock)
    target: StudyTarget = module.target(config, cut, as_of=clock)
    freq = infer_freq(cut)
    last_bar = _max_ts(cut)
    prices = _last_prices(cut)
    held = {s: float(q) for s, q in (positions or {}).items() if q != 0}
    checks = _checks(cfg, clock, last_bar, freq, nav, target, markets, markets_as_of, held,
                     note)
    weights = dict(zip(target.weights["symbol"].to_list(), target.weights["weight"].to_list(),
                       strict=True))
    rules = dict(markets or {})
    if markets is None:  # no snapshot: plain contracts of 1 coin (the check blocks)
        rules = {s: MarketRules(s) for s in set(weights) | set(held)}
    targets = _target_frame(weights, prices, rules, nav)
    blocked = any(not c.ok and c.blocking for c in checks)
    if blocked:
        order_frame = pl.DataFrame(schema=dict.fromkeys(ORDER_COLUMNS, pl.String)).cast(
            {"quantity": pl.Float64, "price_ref": pl.Float64, "notional": pl.Float64,
             "reduce_only": pl.Boolean})
    else:
        want = dict(zip(targets["symbol"].to_list(), targets["quantity"].to_list(),
                        strict=True))
        order_frame = orders(want, held, prices, rules,
                             max_order_notional=cfg.max_order_notional)
    return Book(study=study, as_of=clock, decided_at=target.decided_at, last_bar=last_bar,
                nav=nav, targets=targets, orders=order_frame, checks=tuple(checks),
                config_hash=_hash(resolved), data_fingerprint=_fingerprint(cut),
                config=resolved)


def resolve_config(raw: Mapping[str, Any]) -> tuple[str, Any, Any, dict[str, Any]]:
    """Return a book study's name, module, typed config and resolved config (hashed).

    Raises
    ------
    ConfigError
        If the study holds no book, or on a bad parameter.
    """
    study = str(raw.get("study", ""))
    if study not in BOOK_STUDIES:
        raise ConfigError(f"book: study {study!r} holds no book; expected one of "
                          f"{list(BOOK_STUDIES)} (risk_model: use its exposures table)")
    module = importlib.import_module(STUDIES[study])
    config = config_from_dict(module.Config, raw.get("params", {}))
    resolved = {"study": study, "data": dict(raw.get("data", {})),
                "params": config_to_dict(config)}
    return study, module, config, resolved


def config_hash(raw: Mapping[str, Any]) -> str:
    """Return the configuration hash of a study config, as its books record it."""
    return _hash(resolve_config(raw)[3])


def _max_ts(panel: pl.DataFrame) -> datetime:
    value = panel.get_column("ts").max()
    assert isinstance(value, datetime)
    return value


def _last_prices(panel: pl.DataFrame) -> dict[str, float]:
    """Last real (unfilled) close of every symbol."""
    real = panel.filter(~pl.col("filled")) if "filled" in panel.columns else panel
    last = real.sort("ts").group_by("symbol").agg(pl.col("close").last())
    return dict(zip(last["symbol"].to_list(), last["close"].to_list(), strict=True))


def _target_frame(weights: Mapping[str, float], prices: Mapping[str, float],
                  rules: Mapping[str, MarketRules], nav: float) -> pl.DataFrame:
    """``symbol, weight, notional, quantity (contracts), price`` of the targets."""
    rows = []
    for sym in sorted(weights):
        price = prices.get(sym)
        if price is None:
            raise DataError(f"book: {sym!r} is in the target but has no bar",
                            fix="update the store for that symbol")
        size = rules[sym].contract_size if sym in rules else 1.0
        notional = weights[sym] * nav
        rows.append({"symbol": sym, "weight": weights[sym], "notional": notional,
                     "quantity": notional / (price * size), "price": price})
    schema = {"symbol": pl.String, "weight": pl.Float64, "notional": pl.Float64,
              "quantity": pl.Float64, "price": pl.Float64}
    return pl.DataFrame(rows, schema=schema)


def _checks(cfg: BookSettings, clock: datetime, last_bar: datetime, freq: str, nav: float,
            target: StudyTarget, markets: Mapping[str, MarketRules] | None,
            markets_as_of: datetime | None, held: Mapping[str, float],
            note: str) -> list[Check]:
    step = freq_to_timedelta(freq)
    closed = last_bar + step
    late = clock - closed
    out = [Check("stale_data", late <= step + cfg.stale_tolerance, not cfg.allow_stale,
                 f"last complete bar {last_bar} closed {late} before as_of {clock} "
                 f"(allowed: one bar {step} + {cfg.stale_tolerance})")]
    out.append(Check("nav_not_positive", math.isfinite(nav) and nav > 0, True,
                     f"nav = {nav!r} (quote currency)"))
    gross = float(target.weights["weight"].abs().sum())
    out.append(Check("gross_above_max", gross <= cfg.max_gross, True,
                     f"target gross {gross:.4g} (max {cfg.max_gross:g})"))
    names = sorted(set(target.weights["symbol"].to_list()) | set(held))
    if markets is None:
        out.append(Check("markets_unknown", False, True, note))
        return out
    missing = [s for s in names if s not in markets]
    out.append(Check("no_market_rules", not missing, True,
                     f"symbols without market rules: {missing[:10]} (not in the market "
                     "snapshot; take one of every market, delisted ones included, with "
                     "coinfactor book --update)" if missing
                     else "every symbol has market rules"))
    age = None if markets_as_of is None else clock - markets_as_of
    out.append(Check("stale_markets", age is not None and age <= cfg.max_market_age, True,
                     f"market snapshot taken {markets_as_of} ({age} before as_of; "
                     f"max {cfg.max_market_age})"))
    inactive = [s for s in names if s in markets and not markets[s].active]
    out.append(Check("inactive_market", not inactive, False,
                     f"not active on the venue (closed reduce-only): {inactive[:10]}"
                     if inactive else "every market is active"))
    return out


def _hash(config: Mapping[str, Any]) -> str:
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _fingerprint(panel: pl.DataFrame) -> str:
    """Digest of the bars the book saw (symbols, times and closes, in canonical order)."""
    h = hashlib.sha256()
    frame = panel.select("symbol", "ts", "close").sort("symbol", "ts")
    h.update("\n".join(frame["symbol"].to_list()).encode())
    h.update(frame["ts"].dt.epoch("us").to_numpy().tobytes())
    h.update(frame["close"].to_numpy().tobytes())
    return h.hexdigest()[:16]
