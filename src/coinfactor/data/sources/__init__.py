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

Nothing hangs and no symbol stops the others: every request has a total deadline
(``request_deadline_ms``; a server trickling bytes defeats the per-read ``timeout_ms``), a
symbol may have one (``symbol_deadline_ms``), and any error while a symbol is fetched is
reported for that symbol (``failed``, or ``incomplete`` when it has no bars yet or hit its
deadline; ``update`` continues both). Venue values are checked on the way in: an unusable
optional value (a trade count beyond 64 bits, a quote volume of ``1e400``) is stored as null
and counted, an invalid bar fails its symbol with the rows named, or is set aside and counted
with ``skip_bad_bars=True`` (``--skip-bad-bars``). Secrets (the Tiingo token, URL passwords)
are scrubbed from every message, log record and report before anything is cut::

    report = sources.download("binanceusdm", symbols=["BTCUSDT", "ETHUSDT"],
                              since="2025-01-01", request_deadline_ms=30_000,
                              symbol_deadline_ms=600_000, skip_bad_bars=True)
    report.incomplete, report.failed   # update() completes them later

Any other source implements the :class:`Source` protocol (bars, and funding, open interest
or a market snapshot as its :class:`Capabilities` declare) and is ingested with
``download(..., source=my_source)``; nothing in coinfactor needs editing.
"""

from coinfactor.data.sources._ccxt import CcxtSource, rewrite_urls
from coinfactor.data.sources._ingest import download, make_source, update
from coinfactor.data.sources._protocol import Capabilities, Source
from coinfactor.data.sources._report import IngestReport, Progress, SymbolReport
from coinfactor.data.sources._retry import RetryPolicy, TransientError
from coinfactor.data.sources._settings import SourceSettings
from coinfactor.data.sources._tiingo import TiingoSource
from coinfactor.data.sources._venues import PRECISION_MODES, VENUE_LIMITS, market_rules

__all__ = [
    "PRECISION_MODES",
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
    "market_rules",
    "rewrite_urls",
    "update",
]
