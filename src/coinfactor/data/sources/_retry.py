"""Retries with exponential backoff and jitter for remote sources, within deadlines.

A call that fails with a transient fault (timeout, HTTP 429, 5xx, connection reset, malformed
or unexpectedly empty page, a request past its total deadline) is retried after
``min(max_delay, base_delay * 2**attempt)`` seconds, stretched by a random jitter factor in
``[1, 1 + jitter]``; an HTTP 429's ``Retry-After`` is honoured (capped at
``max_retry_after``). After ``max_attempts`` calls the fault becomes a
:class:`~coinfactor.core.errors.SourceError`.

The ingest loop bounds each symbol with :func:`symbol_deadline`: no retry waits past it, and
every request is given at most what is left of it (:func:`budget`).
"""

from __future__ import annotations

import contextvars
import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from coinfactor.core.errors import ConfigError, SourceError
from coinfactor.data.sources._secrets import clip
from coinfactor.data.sources._secrets import scrub as scrub_secrets

T = TypeVar("T")
log = logging.getLogger("coinfactor.data.sources")


class TransientError(Exception):
    """A fault worth retrying.

    Parameters
    ----------
    reason : str
        Short description (``"HTTP 503"``, ``"timeout"``, ``"empty page"``); scrubbed of
        secrets here.
    retry_after : float, optional
        Seconds the server asked us to wait (HTTP ``Retry-After``).
    """

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        reason = scrub_secrets(reason)
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class DeadlineExceeded(TransientError):
    """A request ran past its total deadline (retried like any transient fault)."""


class SymbolDeadline(SourceError):
    """The symbol's total deadline passed: what was fetched is kept, the rest waits."""


def check_number(name: str, value: Any, *, minimum: float = 0.0, strict: bool = False,
                 integer: bool = False, option: str | None = None) -> None:
    """Raise a :class:`ConfigError` unless ``value`` is a finite number ``>= minimum``.

    Parameters
    ----------
    name : str
        The setting's name, for the message.
    value : Any
        The value given.
    minimum : float, default 0.0
        Smallest value allowed (excluded when ``strict``).
    strict : bool, default False
        Require ``value > minimum``.
    integer : bool, default False
        Require an ``int``.
    option : str, optional
        The CLI option that sets it (``--timeout-ms``), named in the message.
    """
    kind = "an integer" if integer else "a finite number"
    bound = f"{'>' if strict else '>='} {minimum:g}"
    where = f", option {option}" if option else ""
    ok = (not isinstance(value, bool) and isinstance(value, int | float)
          and (not integer or isinstance(value, int))
          and math.isfinite(value)
          and (value > minimum if strict else value >= minimum))
    if not ok:
        raise ConfigError(f"{name} must be {bound} ({kind}{where}), got {value!r}; "
                          f"fix: pass {kind} {bound}")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a source retries transient faults.

    Parameters
    ----------
    max_attempts : int, default 6
        Calls in total (the first one included) before giving up; >= 1.
    base_delay : float, default 0.5
        Seconds before the first retry; doubled on each further retry. Finite, >= 0.
    max_delay : float, default 30.0
        Cap on one backoff delay, seconds. Finite, >= 0.
    jitter : float, default 0.5
        Each delay is multiplied by a uniform factor in ``[1, 1 + jitter]``. Finite, >= 0.
    max_retry_after : float, default 120.0
        Cap on a server's ``Retry-After``, seconds. Finite, >= 0.
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.5
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        check_number("max_attempts", self.max_attempts, minimum=1, integer=True,
                     option="--retries")
        check_number("base_delay", self.base_delay, option="--backoff")
        for name in ("max_delay", "jitter", "max_retry_after"):
            check_number(name, getattr(self, name))

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        backoff = min(self.max_delay, self.base_delay * 2.0**min(attempt, 64))
        backoff *= 1.0 + self.jitter * rng.random()
        if retry_after is not None and math.isfinite(retry_after) and retry_after > 0:
            backoff = max(backoff, min(retry_after, self.max_retry_after))
        return backoff


_symbol_end: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "coinfactor_symbol_deadline", default=None)


@contextmanager
def symbol_deadline(seconds: float | None) -> Iterator[None]:
    """Bound the requests and retry waits of the built-in sources inside the block."""
    token = _symbol_end.set(None if seconds is None else time.monotonic() + seconds)
    try:
        yield
    finally:
        _symbol_end.reset(token)


def remaining() -> float | None:
    """Seconds left of the current symbol's deadline; ``None`` without one."""
    end = _symbol_end.get()
    return None if end is None else end - time.monotonic()


def check_symbol_deadline(what: str) -> None:
    """Raise :class:`SymbolDeadline` if the current symbol's deadline has passed."""
    left = remaining()
    if left is not None and left <= 0:
        raise SymbolDeadline(f"{what}: stopped at the symbol's deadline; what was fetched is "
                             "kept and `update` continues from there")


def budget(request_s: float | None) -> float | None:
    """Seconds one request may take: its own deadline, capped by the symbol's."""
    left = remaining()
    if left is None:
        return request_s
    return max(0.0, left) if request_s is None else max(0.0, min(request_s, left))


def call_with_retry(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    classify: Callable[[Exception], TransientError | None],
    what: str,
    rng: random.Random,
    sleep: Callable[[float], None] = time.sleep,
    scrub: Callable[[str], str] = scrub_secrets,
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
    scrub : callable, default :func:`~coinfactor.data.sources._secrets.scrub`
        Applied to every fault text before it is cut, logged or raised (removes secrets);
        the registered secrets are scrubbed in any case.

    Raises
    ------
    SourceError
        When the attempts are exhausted, the fault is not transient, or the symbol's deadline
        leaves no time for the next attempt; the message names the request and the last fault.
    """
    for attempt in range(policy.max_attempts):
        check_symbol_deadline(what)
        fatal: str | None = None
        try:
            return fn()
        except TransientError as exc:
            fault: TransientError | None = exc
        except Exception as exc:
            fault = classify(exc)
            if fault is None:
                fatal = clip(scrub(f"{what}: {_describe(exc)}"), 400)
        if fatal is not None:
            # raised outside the except block: no __context__ keeps the original error (and a
            # request that might hold a secret) alive
            raise SourceError(fatal)
        assert fault is not None
        reason = clip(scrub(fault.reason), 300)
        if attempt + 1 >= policy.max_attempts:
            raise SourceError(f"{what}: gave up after {policy.max_attempts} attempts; "
                              f"last fault: {reason}")
        wait = policy.delay(attempt, rng, fault.retry_after)
        left = remaining()
        if left is not None and wait >= left:
            raise SymbolDeadline(f"{what}: stopped at the symbol's deadline after "
                                 f"{attempt + 1} attempt(s); last fault: {reason}")
        log.info("%s: %s; retry %d/%d in %.2fs", what, reason, attempt + 1,
                 policy.max_attempts - 1, wait)
        sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def _describe(exc: Exception) -> str:
    """``Type: first line of the message``, scrubbed before anything is cut."""
    text = clip(exc, 300)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
