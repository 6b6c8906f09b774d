"""Secret scrubbing: the one function every source passes its text through.

A source that holds a credential (the Tiingo token, the password of a ``base_url`` such as
``http://user:pass@proxy``) registers it with :func:`register_secret`. From then on
:func:`scrub` removes from any text every run of characters covered by a
:data:`FRAGMENT`-character piece of a registered secret (so the whole secret, and any part of
it six characters or longer, wherever it starts), and the credentials of any URL
(``user:pass@`` and the values of ``token=``, ``key=``, ``signature=``, ... query parameters).

Text is scrubbed *before* it is cut, logged or raised: :func:`clip` scrubs, then cuts. A
logging filter (:class:`ScrubFilter`) does the same for the records of the HTTP libraries the
sources use (``httpx``, ``httpcore``, ``urllib3``, ``ccxt``) and of coinfactor's own source
logger, whose debug logs may carry response headers a server filled with the secret.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, unquote, urlsplit

FRAGMENT = 6
"""Length of the shortest piece of a secret that is scrubbed."""
MASK = "***"
"""What a scrubbed run of characters becomes."""
LOGGERS = ("coinfactor.data.sources", "httpx", "httpcore.connection", "httpcore.http11",
           "httpcore.http2", "httpcore.proxy", "httpcore.socks", "urllib3.connectionpool",
           "urllib3.connection", "ccxt.base.exchange")
"""Loggers whose records are scrubbed once a secret is registered."""

_URL_USERINFO = re.compile(r"(?i)([a-z][a-z0-9+.-]*://)[^/\s:@]*:[^/\s@]*@")
_URL_PARAM = re.compile(
    r"(?i)([?&;](?:api[_-]?key|apikey|key|token|access[_-]?token|secret|signature|sig|"
    r"password|passwd|auth)=)[^&\s#\"'<>]*")
_AUTH_HEADER = re.compile(r"(?i)\b((?:authorization|x-api-key|api-key)\s*[:=]\s*)"
                          r"(?:(?:token|bearer|basic)\s+)?[^\s,;\"'}]+")

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()
_pattern: re.Pattern[str] | None = None


def register_secret(secret: str | None) -> None:
    """Scrub ``secret`` (and every piece of it of :data:`FRAGMENT` characters) from now on.

    Also registers its percent-encoded form. Secrets shorter than four characters are not
    registered (scrubbing them would blank ordinary words; no real credential is that short).
    The first registration installs :class:`ScrubFilter` on :data:`LOGGERS`.
    """
    global _secrets, _pattern
    if not secret or len(secret) < 4:
        return
    forms = {secret, quote(secret, safe="")}
    with _lock:
        if forms <= _secrets:
            return
        _secrets = _secrets | forms
        pieces = sorted({s[i:i + FRAGMENT] if len(s) >= FRAGMENT else s
                         for s in _secrets for i in range(max(1, len(s) - FRAGMENT + 1))},
                        key=len, reverse=True)
        # a lookahead finds every (overlapping) start of a piece in one pass
        _pattern = re.compile("(?=(" + "|".join(map(re.escape, pieces)) + "))")
    _install_filter()


def register_url_credentials(url: str | None) -> None:
    """Register the password (and the HTTP Basic token) of a URL's ``user:pass@`` part."""
    if not url:
        return
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    if parts.password:
        user, password = unquote(parts.username or ""), unquote(parts.password)
        register_secret(password)
        register_secret(base64.b64encode(f"{user}:{password}".encode()).decode())


def scrub(text: object, extra: Iterable[str] = ()) -> str:
    """Return ``str(text)`` without any registered secret, piece of one, or URL credential.

    Parameters
    ----------
    text : object
        Anything; its ``str()`` is scrubbed.
    extra : iterable of str, optional
        Further secrets for this call only (whole occurrences are removed).

    Returns
    -------
    str
        The text with every run of characters covered by a :data:`FRAGMENT`-character piece
        of a secret replaced by :data:`MASK`, URL passwords and credential query values too.

    Examples
    --------
    With ``register_secret("0123456789abcdef")`` called, ``"XX23456789abYY"`` becomes
    ``"XX***YY"``. URL credentials go whatever is registered:

    >>> scrub("GET http://u:pw@host/v1?token=abc&n=5")
    'GET http://***@host/v1?token=***&n=5'
    """
    out = str(text)
    for secret in extra:
        if secret:
            out = out.replace(secret, MASK)
    out = _URL_USERINFO.sub(lambda m: m.group(1) + MASK + "@", out)
    out = _URL_PARAM.sub(lambda m: m.group(1) + MASK, out)
    out = _AUTH_HEADER.sub(lambda m: m.group(1) + MASK, out)
    pattern = _pattern
    if pattern is None:
        return out
    # mask every position a piece covers, then replace each masked run; repeat in case the
    # mask itself completes a piece with its neighbours (each pass shortens the text)
    for _ in range(len(out) + 1):
        covered = bytearray(len(out))
        found = False
        for m in pattern.finditer(out):
            found = True
            start = m.start()
            covered[start:start + len(m.group(1))] = b"\x01" * len(m.group(1))
        if not found:
            return out
        pieces: list[str] = []
        i = 0
        while i < len(out):
            if covered[i]:
                while i < len(out) and covered[i]:
                    i += 1
                pieces.append(MASK)
            else:
                pieces.append(out[i])
                i += 1
        out = "".join(pieces)
    return out  # pragma: no cover


def clip(text: object, limit: int) -> str:
    """Scrub ``text``, keep its first line, then cut it to ``limit`` characters (``...``)."""
    out = scrub(text).strip()
    out = out.splitlines()[0] if out else ""
    return out if len(out) <= limit else out[: max(0, limit - 3)] + "..."


class ScrubFilter(logging.Filter):
    """A logging filter that scrubs a record's formatted message (and drops its args)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub ``record`` in place; always keep it."""
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep its parts, scrubbed
            message = f"{record.msg} {record.args}"
        clean = scrub(message)
        if clean != message or record.args:
            record.msg, record.args = clean, ()
        return True


_FILTER = ScrubFilter()


def _install_filter() -> None:
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
