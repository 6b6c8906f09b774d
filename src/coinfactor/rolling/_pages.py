"""Large result arrays whose memory pages are allocated in the background, ahead of the writers.

The first write to a fresh page of memory costs a page fault; on virtualised machines, faulting
in gigabytes of results can take as long as computing them. :class:`PageFiller` asks the kernel
to allocate the pages of the rows about to be written (``madvise(MADV_POPULATE_WRITE)``, one
system call per stretch instead of one fault per 4 kB page) from a background thread, while the
computing threads work, so the two overlap. Where the advice is not available (non-Linux, or a
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
    if nbytes < FILL_MIN_BYTES:
        return np.empty(shape, dt)
    region = mmap.mmap(-1, nbytes)   # anonymous, page aligned, no transparent huge pages
    return np.frombuffer(region, dtype=dt).reshape(shape)


class PageFiller:
    """Allocate, in a background thread, the pages of row ranges of arrays before they are written.

    Parameters
    ----------
    arrays : sequence of ndarray
        C-contiguous arrays sharing their first (row) axis; only those of at least
        :data:`FILL_MIN_BYTES` are filled.
    spans : sequence of (int, int, int)
        ``(writer, first_row, stop_row)`` in the order to fill them: the rows each writer
        (a computing thread) writes next, interleaved across writers.

    Notes
    -----
    Use as a context manager around the computation. Writers report the row they have reached
    with :meth:`reached`; a span a writer has already passed is skipped. Filling a page that is
    already allocated does not change its content, so the filler never races with a writer.
    """

    def __init__(self, arrays: Sequence[np.ndarray],
                 spans: Sequence[tuple[int, int, int]]) -> None:
        self._arrays = [a for a in arrays if a.nbytes >= FILL_MIN_BYTES and a.shape[0]]
        self._spans = list(spans)
        n_writers = 1 + max((s[0] for s in self._spans), default=0)
        self._reached = [0] * n_writers
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def reached(self, writer: int, row: int) -> None:
        """Record that ``writer`` has written every row of its stretch before ``row``."""
        self._reached[writer] = row

    def __enter__(self) -> PageFiller:
        if _MADVISE is not None and self._arrays and self._spans:
            self._thread = threading.Thread(target=self._run, name="coinfactor-page-filler",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        for writer, r0, r1 in self._spans:
            if self._stop.is_set():
                return
            if r1 <= self._reached[writer]:
                continue
            r0 = max(r0, self._reached[writer])
            if not all(fill_rows(arr, r0, r1) for arr in self._arrays):
                return   # advice unknown to this kernel: the writers fault pages in


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
    lo = (base + start * row_bytes) // page * page
    hi = base + stop * row_bytes
    return hi <= lo or _MADVISE(lo, hi - lo, _MADV_POPULATE_WRITE) == 0
