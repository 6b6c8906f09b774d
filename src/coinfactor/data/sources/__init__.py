"""Remote sources: ccxt venues (Binance USDⓈ-M, Hyperliquid, any ccxt id) and Tiingo.

:func:`download` and :func:`update` pull them into the :class:`~coinfactor.data.store.Store`.
"""

from coinfactor.data.sources._ccxt import VENUE_LIMITS, CcxtSource, rewrite_urls
from coinfactor.data.sources._ingest import (
    IngestReport,
    Progress,
    SymbolReport,
    download,
    make_source,
    update,
)
from coinfactor.data.sources._retry import RetryPolicy, TransientError
from coinfactor.data.sources._tiingo import TiingoSource

__all__ = [
    "VENUE_LIMITS",
    "CcxtSource",
    "IngestReport",
    "Progress",
    "RetryPolicy",
    "SymbolReport",
    "TiingoSource",
    "TransientError",
    "download",
    "make_source",
    "rewrite_urls",
    "update",
]
