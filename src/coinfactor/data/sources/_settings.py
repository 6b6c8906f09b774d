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
from coinfactor.data.sources._retry import RetryPolicy, check_number


@dataclass(frozen=True)
class SourceSettings:
    """How a source talks to its venue: host, timeouts, deadlines, rate limit, retries, pages.

    Every number is checked when the settings are made (finite, in range; a bool is not a
    number), with the setting and its CLI option named in the message.

    Parameters
    ----------
    base_url : str, optional
        Stand-in for the venue's host, an ``http(s)://`` URL (a proxy or a test server);
        default ``None``, the venue's own hosts.
    timeout_ms : int, default 10000
        Per-read timeout, milliseconds, > 0 (a server that keeps sending a byte now and then
        never trips it: ``request_deadline_ms`` bounds the whole request).
    request_deadline_ms : float, optional
        Total milliseconds one request may take, connection and a trickled answer included,
        > 0; past it the request is abandoned (its connection shut) and retried like a
        timeout. Default ``None``: ``max(60000, 2 * timeout_ms)``.
    symbol_deadline_ms : float, optional
        Total milliseconds one symbol (its bars, funding and open interest, retries
        included) may take, > 0; past it the symbol stops and is reported ``incomplete``
        (what was fetched is kept; ``update`` continues it). Default ``None``: no limit.
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
    skip_bad_bars : bool, default False
        Set invalid bars and funding events from the venue (a missing, non-finite or
        out-of-range value, ``high < low``, ...) aside with a count in the report, instead of
        failing the symbol at its first bad page.

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
    request_deadline_ms: float | None = None
    symbol_deadline_ms: float | None = None
    skip_bad_bars: bool = False

    def __post_init__(self) -> None:
        if self.retry is None:
            object.__setattr__(self, "retry", RetryPolicy())
        elif not isinstance(self.retry, RetryPolicy):
            raise ConfigError(f"retry: expected a RetryPolicy, got {type(self.retry).__name__}; "
                              "fix: pass retry=RetryPolicy(max_attempts=..., base_delay=...)")
        check_number("timeout_ms", self.timeout_ms, strict=True, option="--timeout-ms")
        if self.rate_limit_ms is not None:
            check_number("rate_limit_ms", self.rate_limit_ms, option="--rate-limit-ms")
        for name, option in (("request_deadline_ms", "--request-deadline-ms"),
                             ("symbol_deadline_ms", "--symbol-deadline-ms")):
            if getattr(self, name) is not None:
                check_number(name, getattr(self, name), strict=True, option=option)
        for name in ("page_limit", "funding_page_limit"):
            value = getattr(self, name)
            if value is not None:
                check_number(name, value, minimum=1, integer=True)
        if self.seed is not None:
            check_number("seed", self.seed, integer=True)
        if not isinstance(self.skip_bad_bars, bool):
            raise ConfigError(f"skip_bad_bars must be True or False, got "
                              f"{self.skip_bad_bars!r}; fix: pass a bool")
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
