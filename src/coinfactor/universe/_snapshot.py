"""Universe filters on a market snapshot (seed 002)."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from coinfactor.core.errors import DataError

SNAPSHOT_COLUMNS: dict[str, str] = {
    "symbol": "venue instrument id (String)",
    "volume_24h_usd": "traded notional over the last 24 hours, USD (Float64)",
    "open_interest_usd": "open interest in USD, contracts times mid (Float64)",
    "max_leverage": "maximum leverage the venue allows (Float64)",
    "mid": "mid price at the snapshot, quote currency (Float64)",
}
"""Columns of a market snapshot frame and their meaning (one row per symbol, optional ``ts``)."""


def snapshot_filter(
    snapshot: pl.DataFrame,
    *,
    min_volume_usd: float | None = None,
    min_open_interest_usd: float | None = None,
    min_max_leverage: float | None = None,
    exclude: Iterable[str] = (),
) -> pl.DataFrame:
    """Filter a market snapshot by liquidity, open interest and leverage.

    A symbol is in the universe when ``volume_24h_usd >= min_volume_usd``,
    ``open_interest_usd >= min_open_interest_usd``, ``max_leverage >= min_max_leverage`` (each
    test applied only when its threshold is given; a null value fails an applied test) and it
    is not in ``exclude``. Only the columns a given threshold needs must be present; see
    :data:`SNAPSHOT_COLUMNS`.

    Parameters
    ----------
    snapshot : pl.DataFrame
        One row per symbol (per ``ts`` if the snapshot has a ``ts`` column).
    min_volume_usd : float, optional
        Minimum 24h notional volume, USD.
    min_open_interest_usd : float, optional
        Minimum open interest, USD.
    min_max_leverage : float, optional
        Minimum venue maximum leverage.
    exclude : iterable of str, default ()
        Symbols to drop (stablecoins, the hedged coin, ...).

    Returns
    -------
    pl.DataFrame
        ``[ts,] symbol, in_universe`` in the snapshot's row order.
    """
    tests = {
        "volume_24h_usd": min_volume_usd,
        "open_interest_usd": min_open_interest_usd,
        "max_leverage": min_max_leverage,
    }
    needed = ["symbol"] + [c for c, v in tests.items() if v is not None]
    missing = [c for c in needed if c not in snapshot.columns]
    if missing:
        raise DataError(
            f"snapshot_filter: expected snapshot columns {missing}, got {snapshot.columns}",
            fix="pass a market snapshot with " + ", ".join(
                f"{c} ({SNAPSHOT_COLUMNS[c]})" for c in missing
            ),
        )
    excluded = list(exclude)
    if isinstance(exclude, str):
        excluded = [exclude]
    keep = ~pl.col("symbol").is_in(excluded)
    for col, threshold in tests.items():
        if threshold is not None:
            keep = keep & (pl.col(col) >= threshold).fill_null(False)
    keys = ["ts", "symbol"] if "ts" in snapshot.columns else ["symbol"]
    return snapshot.select(*keys, keep.fill_null(False).alias("in_universe"))
