"""Total deadlines: per request and per symbol, whatever the server does.

An HTTP client's timeout bounds each read, so a server that trickles one byte at a time
holds a request forever. :func:`call_within` runs the blocking request in a worker thread and
returns (raising :class:`DeadlineExceeded`, a transient fault) when the deadline passes; the
sockets the request used are then shut down, which ends the worker's blocked read. The
sockets are known through the connection classes the sources install:
:func:`requests_session` (ccxt's ``requests`` session) and :func:`httpx_transport` (Tiingo's
``httpx`` client).

The ingest loop sets a per-symbol deadline (:func:`~coinfactor.data.sources._retry.
symbol_deadline`); every request and retry wait of the built-in sources is bounded by what is
left of it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from coinfactor.data.sources._retry import DeadlineExceeded

T = TypeVar("T")
GRACE_S = 0.5
"""Seconds a request's worker gets to unwind after its sockets are shut down."""

_local = threading.local()


class _Used:
    """Connections (anything with ``abort()`` or a ``sock``) one request has used."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.lock = threading.Lock()

    def add(self, item: Any) -> None:
        with self.lock:
            if not any(x is item for x in self.items):
                self.items.append(item)

    def abort(self) -> None:
        with self.lock:
            items = list(self.items)
        for item in items:
            sock = item.get_extra_info("socket") if hasattr(item, "get_extra_info") \
                else getattr(item, "sock", None)
            if sock is None:
                continue
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a read blocked in another thread
            except OSError:
                pass


def track(connection: Any) -> None:
    """Record that the current request uses ``connection`` (called by the connection classes)."""
    used = getattr(_local, "used", None)
    if used is not None:
        used.add(connection)


def call_within(fn: Callable[[], T], seconds: float | None, *, what: str) -> T:
    """Return ``fn()``, or raise :class:`DeadlineExceeded` after ``seconds`` in total.

    Parameters
    ----------
    fn : callable
        The blocking request.
    seconds : float or None
        Total deadline; ``None`` calls ``fn`` directly.
    what : str
        Description for the message (holds no secret).

    Raises
    ------
    DeadlineExceeded
        When ``fn`` has not returned in time (its sockets are shut down).
    """
    if seconds is None:
        return fn()
    if seconds <= 0:
        raise DeadlineExceeded(f"{what}: no time left before the symbol's deadline")
    box: dict[str, Any] = {}
    used = _Used()
    done = threading.Event()

    def work() -> None:
        _local.used = used
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc
        finally:
            _local.used = None
            done.set()

    worker = threading.Thread(target=work, name="coinfactor-request", daemon=True)
    worker.start()
    if not done.wait(seconds):
        used.abort()
        done.wait(GRACE_S)
        raise DeadlineExceeded(f"no complete answer within the {seconds:.3g}s deadline "
                               "(the server is too slow or trickles its answer)")
    if "error" in box:
        error: BaseException = box.pop("error")
        raise error
    return box["value"]  # type: ignore[no-any-return]


# ---------------------------------------------------------------------- requests (ccxt)
def requests_session() -> Any:
    """Return a ``requests.Session`` whose connections are known to :func:`call_within`."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class _HTTPPool(HTTPConnectionPool):
        def _get_conn(self, timeout: float | None = None) -> Any:
            conn = super()._get_conn(timeout)
            track(conn)
            return conn

    class _HTTPSPool(HTTPSConnectionPool):
        def _get_conn(self, timeout: float | None = None) -> Any:
            conn = super()._get_conn(timeout)
            track(conn)
            return conn

    class _Adapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool,
                                                       "https": _HTTPSPool}

    session = requests.Session()
    session.mount("http://", _Adapter())
    session.mount("https://", _Adapter())
    return session


# ---------------------------------------------------------------------- httpx (Tiingo)
def httpx_transport() -> Any:
    """Return an ``httpx.HTTPTransport`` whose sockets are known to :func:`call_within`.

    Best effort: if httpx's internals differ from those expected, the plain transport is
    returned (the deadline still holds for the caller; only the clean-up is lost).
    """
    import httpcore
    import httpx

    class _Stream(httpcore.NetworkStream):
        def __init__(self, inner: httpcore.NetworkStream) -> None:
            self._inner = inner

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            track(self)
            return self._inner.read(max_bytes, timeout)

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            track(self)
            self._inner.write(buffer, timeout)

        def close(self) -> None:
            self._inner.close()

        def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
            return _Stream(self._inner.start_tls(*args, **kwargs))

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class _Backend(httpcore.SyncBackend):
        def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
            return _Stream(super().connect_tcp(*args, **kwargs))

    transport = httpx.HTTPTransport()
    pool = getattr(transport, "_pool", None)
    if isinstance(pool, httpcore.ConnectionPool) and hasattr(pool, "_network_backend"):
        pool._network_backend = _Backend()
    return transport
