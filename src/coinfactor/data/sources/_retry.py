"""Retries with exponential backoff and jitter for remote sources.

A call that fails with a transient fault (timeout, HTTP 429, 5xx, connection reset, malformed
or unexpectedly empty page) is retried after ``min(max_delay, base_delay * 2**attempt)``
seconds, stretched by a random jitter factor in ``[1, 1 + jitter]``; an HTTP 429's
``Retry-After`` is honoured (capped at ``max_retry_after``). After ``max_attempts`` calls the
fault becomes a :class:`~coinfactor.core.errors.SourceError`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from coinfactor.core.errors import ConfigError, SourceError

T = TypeVar("T")
log = logging.getLogger("coinfactor.data.sources")


class TransientError(Exception):
    """A fault worth retrying.

    Parameters
    ----------
    reason : str
        Short description (``"HTTP 503"``, ``"timeout"``, ``"empty page"``), already scrubbed
        of secrets.
    retry_after : float, optional
        Seconds the server asked us to wait (HTTP ``Retry-After``).
    """

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a source retries transient faults.

    Parameters
    ----------
    max_attempts : int, default 6
        Calls in total (the first one included) before giving up.
    base_delay : float, default 0.5
        Seconds before the first retry; doubled on each further retry.
    max_delay : float, default 30.0
        Cap on one backoff delay, seconds.
    jitter : float, default 0.5
        Each delay is multiplied by a uniform factor in ``[1, 1 + jitter]``.
    max_retry_after : float, default 120.0
        Cap on a server's ``Retry-After``, seconds.
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.5
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if min(self.base_delay, self.max_delay, self.jitter, self.max_retry_after) < 0:
            raise ConfigError("retry delays and jitter must be >= 0")

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        backoff = min(self.max_delay, self.base_delay * 2.0**attempt)
        backoff *= 1.0 + self.jitter * rng.random()
        if retry_after is not None:
            backoff = max(backoff, min(retry_after, self.max_retry_after))
        return backoff


def call_with_retry(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    classify: Callable[[Exception], TransientError | None],
    what: str,
    rng: random.Random,
    sleep: Callable[[float], None] = time.sleep,
    scrub: Callable[[str], str] = str,
) -> T:
    """Call ``fn`` until it succeeds, retrying what ``classify`` calls transient.

    Parameters
    ----------
    fn : callable
        The request.
    policy : RetryPolicy
        Attempts and delays.
    classify : callable
        Maps an exception to a :class:`TransientError` (retry) or ``None`` (give up now).
    what : str
        Description for messages (``"klines BTCUSDT"``); must hold no secret.
    rng : random.Random
        Jitter source.
    sleep : callable, default time.sleep
        Waits between attempts.
    scrub : callable, default str
        Applied to every fault text before it is logged or raised (removes secrets).

    Raises
    ------
    SourceError
        When the attempts are exhausted or the fault is not transient; the message names the
        request and the last fault.
    """
    for attempt in range(policy.max_attempts):
        fatal: str | None = None
        try:
            return fn()
        except TransientError as exc:
            fault: TransientError | None = exc
        except Exception as exc:
            fault = classify(exc)
            if fault is None:
                fatal = scrub(f"{what}: {_describe(exc)}")
        if fatal is not None:
            # raised outside the except block: no __context__ keeps the original error (and a
            # request that might hold a secret) alive
            raise SourceError(fatal)
        assert fault is not None
        if attempt + 1 >= policy.max_attempts:
            raise SourceError(scrub(
                f"{what}: gave up after {policy.max_attempts} attempts; last fault: "
                f"{fault.reason}"
            ))
        wait = policy.delay(attempt, rng, fault.retry_after)
        log.info("%s: %s; retry %d/%d in %.2fs", what, scrub(fault.reason), attempt + 1,
                 policy.max_attempts - 1, wait)
        sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def _describe(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__
