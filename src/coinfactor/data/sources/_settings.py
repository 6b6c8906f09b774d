""":class:`SourceSettings`: the client options every ingest entry point shares.

:func:`~coinfactor.data.sources.download`, :func:`~coinfactor.data.sources.update`,
:func:`~coinfactor.data.sources.make_source` and the ``coinfactor download`` / ``update``
commands all take them as one object (or as keyword overrides of its fields).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from coinfactor.core.errors import ConfigError
from coinfactor.data.sources._retry import RetryPolicy


@dataclass(frozen=True)
class SourceSettings:
    """How a source talks to its venue: host, timeout, rate limit, retries, page sizes.

    Parameters
    ----------
    base_url : str, optional
        Stand-in for the venue's host, an ``http(s)://`` URL (a proxy or a test server);
        default ``None``, the venue's own hosts.
    timeout_ms : int, default 10000
        Per-request timeout, milliseconds.
    rate_limit_ms : float, optional
        Milliseconds between two requests. On a ccxt venue it is ccxt's ``rateLimit``, the
        wait after a request of cost 1 (a request of cost c waits ``c * rate_limit_ms``);
        default ``None``, the venue's ccxt setting. On Tiingo it is the minimum gap between
        two requests; default ``None``, no wait.
    retry : RetryPolicy, default RetryPolicy()
        Attempts per request (default 6) and backoff, seconds (default 0.5 doubled per
        retry, with jitter), before a symbol is reported failed; ``None`` means the default.
    page_limit : int, optional
        Bars asked per request, >= 1. On a ccxt venue capped at (and by default equal to) the
        venue's maximum (:data:`~coinfactor.data.sources.VENUE_LIMITS`: Binance 1500,
        Hyperliquid 5000, 500 elsewhere); on Tiingo default 5000, rounded to whole days.
    funding_page_limit : int, optional
        Funding events asked per request, >= 1 (ccxt venues); capped at and by default the
        venue's maximum (Binance 1000, Hyperliquid 500, 500 elsewhere).
    tiingo_exchanges : sequence of str, optional
        Tiingo only: build bars from these exchanges (``("BINANCE",)``); default ``None``,
        all of Tiingo's venues. Stored as a tuple.
    seed : int, optional
        Seed of the backoff jitter (reproducible retry timing); default ``None``, random.

    Examples
    --------
    >>> settings = SourceSettings(base_url="http://127.0.0.1:8080", rate_limit_ms=0)
    >>> settings.with_options(timeout_ms=5000).timeout_ms
    5000
    """

    base_url: str | None = None
    timeout_ms: int = 10_000
    rate_limit_ms: float | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    page_limit: int | None = None
    funding_page_limit: int | None = None
    tiingo_exchanges: Sequence[str] | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.retry is None:
            object.__setattr__(self, "retry", RetryPolicy())
        elif not isinstance(self.retry, RetryPolicy):
            raise ConfigError(f"retry must be a RetryPolicy, got {type(self.retry).__name__}")
        if self.timeout_ms <= 0:
            raise ConfigError(f"timeout_ms must be > 0, got {self.timeout_ms}")
        if self.rate_limit_ms is not None and self.rate_limit_ms < 0:
            raise ConfigError(f"rate_limit_ms must be >= 0, got {self.rate_limit_ms}")
        for name in ("page_limit", "funding_page_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
        venues = self.tiingo_exchanges
        if isinstance(venues, str):
            venues = [venues]
        object.__setattr__(self, "tiingo_exchanges", None if venues is None else tuple(venues))

    def with_options(self, **options: Any) -> SourceSettings:
        """Return a copy with the given fields replaced.

        Raises
        ------
        TypeError
            When an option is not a field of :class:`SourceSettings`.
        """
        unknown = sorted(set(options) - _FIELDS)
        if unknown:
            raise TypeError(f"unknown source setting(s) {', '.join(map(repr, unknown))}; "
                            f"expected any of {', '.join(sorted(_FIELDS))}")
        return dataclasses.replace(self, **options) if options else self


_FIELDS = frozenset(f.name for f in dataclasses.fields(SourceSettings))


def resolve_settings(settings: SourceSettings | None,
                     options: Mapping[str, Any]) -> SourceSettings:
    """Return ``settings`` (default ``SourceSettings()``) with ``options`` overriding fields."""
    return (settings if settings is not None else SourceSettings()).with_options(**options)
