"""Large result arrays whose memory pages are allocated in the background, ahead of the writers.

The first write to a fresh page of memory costs a page fault; on virtualised machines, faulting
in gigabytes of results can take as long as computing them. :class:`PageFiller` asks the kernel
to allocate the pages of the rows about to be written (``madvise(MADV_POPULATE_WRITE)``, one
system call per run of rows instead of one fault per 4 kB page) from background threads, while
the computing threads work, so the two overlap. Where the advice is not available (non-Linux, or a
Linux kernel before 5.14) nothing is done and the writers fault pages in themselves: results
never depend on it.
"""

from __future__ import annotations

import ctypes
import math
import mmap
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

FILL_MIN_BYTES = 1 << 26
"""Arrays from this size (64 MB) get their own mapping and background page allocation."""

_MADV_POPULATE_WRITE = 23
"""Linux >= 5.14: allocate (write-fault) the pages of a range in one call."""


def _load_madvise() -> Callable[[int, int, int], int] | None:
    """``madvise`` from the C library, called through ctypes (which releases the GIL)."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError, TypeError):   # no C library symbols (e.g. Windows)
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


_MADVISE = _load_madvise()


def result_array(shape: tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
    """Uninitialised writable array; from 64 MB in its own page-aligned anonymous mapping.

    Parameters
    ----------
    shape : tuple of int
        Array shape.
    dtype : data-type, default float64
        Element type.

    Returns
    -------
    ndarray
        Uninitialised; the pages of a large array are not allocated until written or filled
        by a :class:`PageFiller`.
    """
    dt = np.dtype(dtype)
    nbytes = math.prod(shape) * dt.itemsize
    if nbytes < max(FILL_MIN_BYTES, 1):
        return np.empty(shape, dt)
    if not hasattr(mmap, "MAP_PRIVATE"):   # Windows: no page filling there anyway
        return np.empty(shape, dt)
    # private anonymous memory (as malloc's): the kernel allocates its pages much faster
    # than those of the shared memory mmap.mmap(-1, n) gives by default
    region = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return np.frombuffer(region, dtype=dt).reshape(shape)


class PageFiller:
    """Allocate, in background threads, the pages of arrays' rows ahead of the threads writing them.

    Parameters
    ----------
    arrays : sequence of ndarray
        C-contiguous arrays sharing their first (row) axis; only those of at least
        :data:`FILL_MIN_BYTES` are filled.
    stretches : sequence of (int, int)
        ``(first_row, stop_row)`` written by each writer (a computing thread), in order.
    chunk_rows : int
        Rows filled at a time.

    Notes
    -----
    Use as a context manager around the computation. One filler thread per stretch allocates
    its pages from the first row on; a writer calls :meth:`wait` before writing rows, and so
    never faults pages in itself (allocating pages in long runs costs the kernel less than
    page by page, and the writers' caches stay theirs). Where pages cannot be allocated ahead
    (see :func:`fill_rows`), :meth:`wait` returns at once and writers fault pages in as usual.
    Filling a page never changes its content.
    """

    def __init__(self, arrays: Sequence[np.ndarray], stretches: Sequence[tuple[int, int]],
                 chunk_rows: int) -> None:
        self._arrays = [a for a in arrays if a.nbytes >= FILL_MIN_BYTES and a.shape[0]]
        self._stretches = list(stretches)
        self._chunk = max(1, chunk_rows)
        self._filled = [start for start, _ in self._stretches]
        self._finished = [False] * len(self._stretches)
        self._cond = threading.Condition()
        self._stop = False
        self._threads: list[threading.Thread] = []

    def wait(self, writer: int, row: int) -> None:
        """Block until the pages of ``writer``'s rows before ``row`` are allocated.

        Returns at once when nothing is being filled or the filler of that stretch ended.
        """
        if not self._threads:
            return
        with self._cond:
            self._cond.wait_for(lambda: self._filled[writer] >= row or self._finished[writer])

    def __enter__(self) -> PageFiller:
        if _MADVISE is not None and self._arrays:
            self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True,
                                              name=f"coinfactor-page-filler-{i}")
                             for i in range(len(self._stretches))]
            for thread in self._threads:
                thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._stop = True
        for thread in self._threads:
            thread.join()

    def _run(self, writer: int) -> None:
        row, stop = self._stretches[writer]
        try:
            while row < stop and not self._stop:
                end = min(stop, row + self._chunk)
                if not all(fill_rows(arr, row, end) for arr in self._arrays):
                    return   # advice unknown to this kernel: the writer faults pages in
                with self._cond:
                    self._filled[writer] = row = end
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._finished[writer] = True
                self._cond.notify_all()


def fill_rows(arr: np.ndarray, start: int, stop: int) -> bool:
    """Allocate now the memory pages of rows ``start:stop`` of a C-contiguous array.

    Parameters
    ----------
    arr : ndarray
        C-contiguous array; its content is not changed.
    start, stop : int
        Row range.

    Returns
    -------
    bool
        False when the platform or kernel cannot do it (the pages are then allocated on first
        write, as usual).
    """
    if _MADVISE is None or not arr.shape[0]:
        return False
    page = mmap.PAGESIZE
    row_bytes = arr.nbytes // arr.shape[0]
    base = arr.ctypes.data
    lo = (base + int(start) * row_bytes) // page * page
    hi = base + int(stop) * row_bytes
    return hi <= lo or _MADVISE(lo, hi - lo, _MADV_POPULATE_WRITE) == 0
