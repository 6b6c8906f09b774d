"""Target positions -> exchange-valid orders, after each market's precision and limits.

A market's rules come from ccxt's market structure (``load_markets``): amount and price
precision read in the exchange's ``precisionMode`` (decimal places, significant digits or tick
size), minimum amount (contracts) and minimum cost (quote notional), contract size, maximum
leverage and the active flag; nothing is hard-coded per venue. Rounding is ccxt's own
``decimal_to_precision``.

Rules of :func:`orders`, per symbol, with ``q`` the current and ``q*`` the target quantity in
contracts:

* the trade never leaves more risk than the target: an order that adds to a position is
  rounded toward zero (``|q + Δ| <= |q*|``), one that reduces it is rounded away from zero but
  never past flat (reduce-only);
* a flip from long to short (or back) is two orders, each valid on its own: a reduce-only leg
  that closes ``q`` and an opening leg to ``q*`` (so no leg is checked against a minimum on
  the net delta and sent as a smaller one);
* an order below the market's minimum amount or minimum notional is skipped with its reason;
* an order above ``max_order_notional`` is split into equal child orders on the lot grid
  (at most :data:`MAX_CHILD_ORDERS`; a leg that needs more is skipped with its reason);
* an inactive market is closed (reduce-only) whatever its target.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl
from ccxt.base.decimal_to_precision import (
    DECIMAL_PLACES,
    NO_PADDING,
    ROUND,
    TICK_SIZE,
    TRUNCATE,
    decimal_to_precision,
)

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.data.sources import PRECISION_MODES, market_rules

_MODES = {name: mode for mode, name in PRECISION_MODES.items()}
MAX_CHILD_ORDERS = 100
"""Most orders one leg is split into under ``max_order_notional`` (more is refused)."""

ORDER_COLUMNS = ("symbol", "side", "quantity", "price_ref", "notional", "reduce_only", "status",
                 "reason")
"""Columns of :func:`orders`' frame."""


@dataclass(frozen=True)
class MarketRules:
    """What an order on one market must satisfy (from ccxt's market structure).

    Parameters
    ----------
    symbol : str
        The book's symbol of the market.
    precision_mode : int
        ccxt's ``DECIMAL_PLACES`` (2), ``SIGNIFICANT_DIGITS`` (3) or ``TICK_SIZE`` (4).
    amount_precision, price_precision : float, optional
        ccxt's ``precision["amount"]`` / ``precision["price"]`` in that mode (None: any).
    min_amount : float, optional
        Smallest order in contracts (``limits.amount.min``).
    min_cost : float, optional
        Smallest order notional in quote currency (``limits.cost.min``).
    contract_size : float, default 1.0
        Base units per contract (``contractSize``; 1 for linear perps quoted in coins).
    max_leverage : float, optional
        ``limits.leverage.max``.
    active : bool, default True
        Whether the market trades.
    """

    symbol: str
    precision_mode: int = TICK_SIZE
    amount_precision: float | None = None
    price_precision: float | None = None
    min_amount: float | None = None
    min_cost: float | None = None
    contract_size: float = 1.0
    max_leverage: float | None = None
    active: bool = True

    def __post_init__(self) -> None:
        if self.precision_mode not in PRECISION_MODES:
            raise ConfigError(f"MarketRules({self.symbol!r}): precision_mode must be one of "
                              f"{sorted(PRECISION_MODES)} (ccxt), got {self.precision_mode!r}")
        for name in ("amount_precision", "price_precision"):
            value = getattr(self, name)
            if value is not None and not ((math.isfinite(value) and value > 0)
                                          or (value == 0 and self.precision_mode != TICK_SIZE)):
                raise ConfigError(f"MarketRules({self.symbol!r}): {name} must be > 0 in tick "
                                  f"size mode (>= 0 digits otherwise), got {value!r}")
        if not (math.isfinite(self.contract_size) and self.contract_size > 0):
            raise ConfigError(f"MarketRules({self.symbol!r}): contract_size must be > 0, got "
                              f"{self.contract_size!r}")

    @classmethod
    def from_ccxt(cls, symbol: str, market: Mapping[str, Any],
                  precision_mode: int) -> MarketRules:
        """Read a ccxt market structure (one value of ``exchange.load_markets()``).

        The same reading as the store's market snapshot
        (:func:`coinfactor.data.sources.market_rules`), then :meth:`from_snapshot`.
        """
        if precision_mode not in PRECISION_MODES:
            raise ConfigError(f"MarketRules({symbol!r}): precisionMode must be one of "
                              f"{sorted(PRECISION_MODES)} (ccxt), got {precision_mode!r}")
        lev = ((market.get("limits") or {}).get("leverage") or {}).get("max")
        row = market_rules(dict(market), int(precision_mode)) | {
            "symbol": symbol, "max_leverage": _opt(lev), "active": market.get("active")}
        return cls.from_snapshot(row)

    @classmethod
    def from_snapshot(cls, row: Mapping[str, Any]) -> MarketRules:
        """Read one row of the store's market snapshot (``SNAPSHOT_SCHEMA``).

        ``precision_mode`` is ccxt's mode by name (:data:`PRECISION_MODES`); a null value
        is "no limit"; a null contract size is 1; ``active`` null is active.
        """
        name = row.get("precision_mode")
        if name not in _MODES:
            raise DataError(f"market {row.get('symbol')!r}: precision_mode must be one of "
                            f"{sorted(_MODES)}, got {name!r}",
                            fix="take a new snapshot (coinfactor book --update)")

        def opt(key: str) -> float | None:
            value = row.get(key)
            return None if value is None or not math.isfinite(value) else float(value)
        return cls(symbol=str(row["symbol"]), precision_mode=_MODES[str(name)],
                   amount_precision=opt("amount_precision"),
                   price_precision=opt("price_precision"), min_amount=opt("min_amount"),
                   min_cost=opt("min_cost"), contract_size=opt("contract_size") or 1.0,
                   max_leverage=opt("max_leverage"), active=row.get("active") is not False)

    def round_amount(self, x: float, *, away: bool = False) -> float:
        """``x`` (contracts) on the amount grid, toward zero, or away from zero with ``away``."""
        return _to_grid(x, self.amount_precision, self.precision_mode, away=away)

    def snap_amount(self, x: float) -> float:
        """``x`` (contracts) to the nearest point of the amount grid."""
        if self.amount_precision is None or x == 0.0:
            return x
        return _dtp(x, ROUND, self.amount_precision, self.precision_mode)

    def round_price(self, x: float) -> float:
        """``x`` to the nearest valid price."""
        if self.price_precision is None or not math.isfinite(x):
            return x
        return _dtp(x, ROUND, self.price_precision, self.precision_mode)

    def check(self, quantity: float, price: float) -> str:
        """``""`` if an order of ``quantity`` contracts at ``price`` is valid, else the reason."""
        amount = abs(quantity)
        if amount == 0.0:
            return "zero_after_rounding"
        if self.min_amount is not None and amount < self.min_amount * (1 - 1e-12):
            return "below_min_amount"
        if self.min_cost is not None and amount * price * self.contract_size \
                < self.min_cost * (1 - 1e-12):
            return "below_min_notional"
        return ""


def _dtp(x: float, rounding: int, precision: float, mode: int) -> float:
    """Round ``|x|`` with ccxt's ``decimal_to_precision``, then put the sign back.

    Rounding is symmetric about zero, and ccxt 4.5 fails on some negative inputs in
    significant-digits mode (``-10`` to one digit).
    """
    out = float(decimal_to_precision(repr(abs(x)), rounding, _ccxt_precision(precision, mode),
                                     mode, NO_PADDING))
    return math.copysign(out, x) if out != 0.0 else 0.0


def _ccxt_precision(precision: float, mode: int) -> float | int:
    """Return the precision as ccxt wants it: a tick size as a number, digits as integers."""
    return precision if mode == TICK_SIZE else int(precision)


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


def _to_grid(x: float, precision: float | None, mode: int, *, away: bool) -> float:
    """Round ``x`` with ccxt's ``decimal_to_precision`` (toward zero; one step away if asked)."""
    if precision is None or x == 0.0:
        return x
    down = _dtp(x, TRUNCATE, precision, mode)
    if not away or down == x:
        return down
    sign = math.copysign(1.0, x)
    if mode == TICK_SIZE:
        step = precision
    elif mode == DECIMAL_PLACES:
        step = 10.0 ** -precision
    else:  # significant digits: the step of the rounded value's magnitude
        base = abs(down) if down != 0.0 else abs(x)
        step = 10.0 ** (math.floor(math.log10(base)) - int(precision) + 1)
    up = down + sign * step
    return _dtp(up, ROUND, precision, mode)


def orders(
    targets: Mapping[str, float],
    current: Mapping[str, float],
    prices: Mapping[str, float],
    markets: Mapping[str, MarketRules],
    *,
    max_order_notional: float | None = None,
) -> pl.DataFrame:
    """Orders that take the current positions to the targets, valid on every market.

    Parameters
    ----------
    targets : mapping of str to float
        Target quantity per symbol, in contracts (signed; absent: 0).
    current : mapping of str to float
        Current quantity per symbol, in contracts (signed; absent: 0).
    prices : mapping of str to float
        Reference price per symbol (quote currency per base unit), > 0.
    markets : mapping of str to MarketRules
        Rules of each symbol's market; every symbol of ``targets`` and ``current`` needs one.
    max_order_notional : float, optional
        Largest notional of one order (quote currency); larger orders are split.

    Returns
    -------
    pl.DataFrame
        ``symbol, side ("buy"/"sell"), quantity (contracts, > 0), price_ref (on the price
        grid), notional (quote), reduce_only, status ("order"/"skipped"), reason`` sorted by
        symbol; ``reason`` says why an order is skipped, or what an order does
        (``open``, ``increase``, ``reduce``, ``close``, ``flip_close``, ``flip_open``,
        ``market_inactive``).

    Raises
    ------
    DataError
        On a symbol without market rules or without a positive price.
    """
    if max_order_notional is not None and not (math.isfinite(max_order_notional)
                                               and max_order_notional > 0):
        raise ConfigError(f"orders: max_order_notional must be > 0, got {max_order_notional!r}")
    rows: list[dict[str, Any]] = []
    for sym in sorted(set(targets) | set(current)):
        if sym not in markets:
            raise DataError(f"orders: no market rules for {sym!r}",
                            fix="load the venue's markets (coinfactor download --snapshot)")
        market, price = markets[sym], float(prices.get(sym, math.nan))
        if not (math.isfinite(price) and price > 0):
            raise DataError(f"orders: {sym!r} needs a positive reference price, got {price!r}",
                            fix="update the store so the symbol has a recent bar")
        q, want = float(current.get(sym, 0.0)), float(targets.get(sym, 0.0))
        tag = ""
        if not market.active:
            want, tag = 0.0, "market_inactive"
        skip_rest = False
        for leg, reduce, reason in _legs(q, want, market):
            if skip_rest:  # the closing leg of a flip was skipped: do not open on top of it
                rows.append({"symbol": sym, "side": "buy" if leg > 0 else "sell",
                             "quantity": abs(leg), "price_ref": market.round_price(price),
                             "notional": abs(leg) * market.round_price(price)
                             * market.contract_size, "reduce_only": False,
                             "status": "skipped", "reason": "flip_close_skipped"})
                continue
            emitted = _emit(sym, leg, reduce, tag or reason, market, price, max_order_notional)
            rows.extend(emitted)
            skip_rest = reason == "flip_close" and emitted[0]["status"] == "skipped"
    schema = {"symbol": pl.String, "side": pl.String, "quantity": pl.Float64,
              "price_ref": pl.Float64, "notional": pl.Float64, "reduce_only": pl.Boolean,
              "status": pl.String, "reason": pl.String}
    return pl.DataFrame(rows, schema=schema)


def _legs(q: float, want: float, market: MarketRules) -> list[tuple[float, bool, str]]:
    """Signed order quantities (on the grid) from ``q`` to ``want``: (quantity, reduce, what)."""
    if want == q:
        return []
    if q != 0.0 and want != 0.0 and (q > 0) != (want > 0):  # a flip: close, then open
        return [(-q, True, "flip_close"),
                (market.round_amount(want), False, "flip_open")]
    if want == 0.0:
        return [(-q, True, "close")]
    if abs(want) > abs(q):  # adds risk: toward zero, so |q + Δ| <= |want|
        what = "open" if q == 0.0 else "increase"
        return [(market.round_amount(want - q), False, what)]
    # reduces risk: away from zero (ends at or inside the target), never past flat
    delta = market.round_amount(want - q, away=True)
    if abs(delta) >= abs(q):
        return [(-q, True, "close")]
    return [(delta, True, "reduce")]


def _emit(sym: str, leg: float, reduce: bool, reason: str, market: MarketRules, price: float,
          cap: float | None) -> list[dict[str, Any]]:
    """One leg as order rows (split under the notional cap), or a skipped row with the reason."""
    price_ref = market.round_price(price)
    side = "buy" if leg > 0 else "sell"
    unit = price_ref * market.contract_size  # notional of one contract

    def row(qty: float, status: str, why: str) -> dict[str, Any]:
        return {"symbol": sym, "side": side, "quantity": abs(qty), "price_ref": price_ref,
                "notional": abs(qty) * unit, "reduce_only": reduce, "status": status,
                "reason": why}
    invalid = market.check(leg, price_ref)
    if invalid:
        return [row(leg, "skipped", invalid)]
    if cap is None or abs(leg) * unit <= cap:
        return [row(leg, "order", reason)]
    # split: equal children on the lot grid, each within the cap, then the remainder
    child = market.round_amount(math.copysign(cap / unit, leg))
    if child == 0.0 or market.check(child, price_ref):
        return [row(leg, "skipped", "cap_below_min_order")]
    k = math.ceil(leg / child - 1e-9) - 1  # full children before the remainder
    if k + 1 > MAX_CHILD_ORDERS:
        return [row(leg, "skipped", "cap_needs_too_many_orders")]
    # leg and child are on the grid, so is the remainder: snap away the float error
    last = market.snap_amount(leg - k * child)
    out = [row(child, "order", reason) for _ in range(k)]
    if last != 0.0:
        why = market.check(last, price_ref)
        out.append(row(last, "skipped", "remainder_" + why) if why else row(last, "order",
                                                                              reason))
    return out
