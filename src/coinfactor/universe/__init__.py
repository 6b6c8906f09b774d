"""Point-in-time universes: ``ts, symbol, in_universe`` from trailing data only.

Notional volume is ``coalesce(quote_volume, volume * close)`` (Hyperliquid has no quote volume).
"""

from coinfactor.universe._snapshot import SNAPSHOT_COLUMNS, snapshot_filter
from coinfactor.universe._trailing import (
    min_listing_age,
    top_n,
    volume_decile,
)

__all__ = [
    "SNAPSHOT_COLUMNS",
    "min_listing_age",
    "snapshot_filter",
    "top_n",
    "volume_decile",
]
