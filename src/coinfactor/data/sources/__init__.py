"""Remote sources: ccxt venues (Binance USDⓈ-M, Hyperliquid, any ccxt id) and Tiingo.

:func:`download` and :func:`update` pull them into the :class:`~coinfactor.data.store.Store`
page by page (idempotent upserts), retrying transient faults and reporting per symbol.

Examples
--------
Hourly bars and funding of the liquid USDT perps, then the missing tail a day later::

    from coinfactor.data import sources
    report = sources.download("binanceusdm", min_volume=50e6, timeframe="1h",
                              since="2025-01-01")
    print(report.summary())
    sources.update("binanceusdm", timeframe="1h")   # only what is missing, per symbol

Hyperliquid coins by name, Tiingo 4h bars from one exchange (token in ``TIINGO_API_KEY``)::

    sources.download("hyperliquid", symbols=["BTC", "ETH", "BERA"], since="2025-06-01")
    sources.download("tiingo", symbols=["btcusdt"], timeframe="4h", since="2025-01-01",
                     tiingo_exchanges=["BINANCE"])

The same from the shell: ``coinfactor download --exchange binanceusdm --min-volume 5e7
--since 2025-01-01``, ``coinfactor update``, ``coinfactor store info``. ``base_url=`` /
``--base-url`` point any of them at a proxy or a test server.

Client options are one :class:`SourceSettings` (``settings=``), or keyword overrides of its
fields as above (``base_url=``, ``timeout_ms=``, ``rate_limit_ms=``, ``retry=``, ...)::

    fast = sources.SourceSettings(rate_limit_ms=0, retry=sources.RetryPolicy(max_attempts=3))
    sources.update("binanceusdm", settings=fast)

Any other source implements the :class:`Source` protocol (bars, and funding, open interest
or a market snapshot as its :class:`Capabilities` declare) and is ingested with
``download(..., source=my_source)``; nothing in coinfactor needs editing.
"""

from coinfactor.data.sources._ccxt import CcxtSource, rewrite_urls
from coinfactor.data.sources._ingest import (
    IngestReport,
    Progress,
    SymbolReport,
    download,
    make_source,
    update,
)
from coinfactor.data.sources._protocol import Capabilities, Source
from coinfactor.data.sources._retry import RetryPolicy, TransientError
from coinfactor.data.sources._settings import SourceSettings
from coinfactor.data.sources._tiingo import TiingoSource
from coinfactor.data.sources._venues import VENUE_LIMITS

__all__ = [
    "VENUE_LIMITS",
    "Capabilities",
    "CcxtSource",
    "IngestReport",
    "Progress",
    "RetryPolicy",
    "Source",
    "SourceSettings",
    "SymbolReport",
    "TiingoSource",
    "TransientError",
    "download",
    "make_source",
    "rewrite_urls",
    "update",
]
