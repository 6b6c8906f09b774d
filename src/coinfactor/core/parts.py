"""Tables written as Parquet parts in a directory and read lazily.

Long runs write their large outputs block by block (one Parquet file per block, named in
block order) instead of holding them in memory; a :class:`PartitionedTable` names such a
directory, scans it lazily (polars ``scan_parquet``) and places it into a run directory by
hard links (a copy across file systems).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

__all__ = ["PartitionedTable", "WorkDir", "part_name"]


def part_name(*index: int) -> str:
    """File name of a part: its block indices, zero-padded so names sort in block order.

    Examples
    --------
    >>> part_name(3, 0)
    'part-000003-0000.parquet'
    """
    return "part-" + "-".join(f"{i:0{6 if k == 0 else 4}d}" for k, i in enumerate(index)) \
        + ".parquet"


@dataclass(frozen=True)
class PartitionedTable:
    """A table stored as Parquet parts ``part-*.parquet`` in one directory.

    Attributes
    ----------
    directory : Path
        The directory of parts.
    sort_by : tuple of str
        Row order of :meth:`scan` and :meth:`collect` (e.g. ``("symbol", "ts")``); empty:
        the parts' order.
    schema : dict of str to polars dtype, optional
        Columns of an empty table (a directory without parts).
    owner : object, optional
        Whatever keeps the directory alive (e.g. a :class:`WorkDir`): held, never used.
    """

    directory: Path
    sort_by: tuple[str, ...] = ()
    schema: dict[str, pl.DataType] | None = None
    owner: Any = field(default=None, compare=False, repr=False)

    def parts(self) -> list[Path]:
        """Return the part files, in block order."""
        return sorted(self.directory.glob("part-*.parquet"))

    def scan(self) -> pl.LazyFrame:
        """Lazy frame over every part (nothing is read until collected)."""
        parts = self.parts()
        if not parts:
            return pl.LazyFrame(schema=self.schema or {})
        lf = pl.scan_parquet(parts)
        return lf.sort(list(self.sort_by)) if self.sort_by else lf

    def collect(self) -> pl.DataFrame:
        """Read the whole table into memory (in :attr:`sort_by` order)."""
        return self.scan().collect()

    @property
    def height(self) -> int:
        """Number of rows (from the parts' metadata)."""
        parts = self.parts()
        return int(pl.scan_parquet(parts).select(pl.len()).collect().item()) if parts else 0

    def link_into(self, target: Path) -> PartitionedTable:
        """Place the parts in directory ``target`` (hard links, or copies across devices).

        Returns
        -------
        PartitionedTable
            The same table at ``target``.
        """
        target.mkdir(parents=True, exist_ok=True)
        for part in self.parts():
            dest = target / part.name
            try:
                os.link(part, dest)
            except OSError:
                shutil.copy2(part, dest)
        return PartitionedTable(target, self.sort_by, self.schema)


class WorkDir:
    """A temporary directory removed when the last object holding this one is collected.

    Parameters
    ----------
    prefix : str
        Name prefix.
    parent : str or Path, optional
        Where to make it (default: the system's temporary directory).
    """

    def __init__(self, prefix: str, parent: str | Path | None = None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.path, True)

    def remove(self) -> None:
        """Remove the directory now."""
        self._finalizer()
