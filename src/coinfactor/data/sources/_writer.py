"""A single background thread that writes pages to the store while the next page downloads.

DuckDB and polars release the GIL while they work, so a page's upsert overlaps the network wait
of the next request instead of adding to it. Writes keep their order; an error raised by a
write (or a ``BaseException`` such as ``KeyboardInterrupt``) is re-raised in the caller's thread
at the next :meth:`PageWriter.submit` or :meth:`PageWriter.flush`. Only this thread touches the
store while pages are in flight.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from coinfactor.data.store import Store, WriteCounts


class PageWriter:
    """Ordered asynchronous ``Store.write`` calls with a bounded queue.

    Parameters
    ----------
    store : Store
        Target store.
    depth : int, default 4
        Pages that may wait in the queue before :meth:`submit` blocks.
    """

    def __init__(self, store: Store, *, depth: int = 4) -> None:
        self.store = store
        self._queue: queue.Queue[tuple[dict[str, Any], Callable[[WriteCounts], None]] | None]
        self._queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="coinfactor-store-writer",
                                        daemon=True)
        self._thread.start()

    def __enter__(self) -> PageWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, on_done: Callable[[WriteCounts], None], **kwargs: Any) -> None:
        """Queue ``store.write(**kwargs)``; ``on_done(counts)`` runs after it commits."""
        self._reraise()
        self._queue.put((kwargs, on_done))

    def flush(self) -> None:
        """Wait until every queued write has committed; re-raise a write's error."""
        self._queue.join()
        self._reraise()

    def close(self) -> None:
        """Finish the queued writes and stop the thread (errors are dropped; call flush)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _reraise(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                kwargs, on_done = item
                if self._error is None:  # after a failure, drop pages until it is seen
                    on_done(self.store.write(**kwargs))
            except BaseException as exc:  # handed to the caller's thread, kill included
                self._error = exc
            finally:
                self._queue.task_done()
