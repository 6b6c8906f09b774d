"""Symbols asked for that have no bars stored yet: remembered so that ``update`` retries them.

``update`` without ``symbols=`` continues the symbols the store holds bars of; a symbol whose
first download failed (or found nothing) before a single bar was stored would be forgotten.
Such symbols are kept in a small JSON file beside the store (``<store file>.pending.json``),
each with the ``since`` it was asked from, until they have bars. A download marks every symbol
without bars before it starts (so a killed run is remembered too) and, when it ends, clears
those that have bars now.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from coinfactor.data.sources._secrets import clip

log = logging.getLogger("coinfactor.data.sources")
VERSION = 1


def pending_path(store_path: str | Path) -> Path:
    """Path of the pending-symbol file of the store at ``store_path``."""
    p = Path(store_path)
    return p.with_name(p.name + ".pending.json")


class PendingSymbols:
    """The pending symbols of one (exchange, market, timeframe) in one store.

    Parameters
    ----------
    store_path : str or Path
        The store's database file.
    exchange, market, timeframe : str
        Whose symbols.

    Notes
    -----
    Reading a damaged file is a warning (the file is then rewritten); failing to write it is a
    warning too: the download itself does not depend on it.
    """

    def __init__(self, store_path: str | Path, *, exchange: str, market: str,
                 timeframe: str) -> None:
        self.path = pending_path(store_path)
        self.key = f"{exchange}|{market}|{timeframe}"
        self._all: dict[str, dict[str, dict[str, Any]]] = self._load()
        self._dirty = False

    def _load(self) -> dict[str, dict[str, dict[str, Any]]]:
        if not self.path.exists():
            return {}
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            entries = raw["pending"]
            if raw.get("version") != VERSION or not isinstance(entries, dict):
                raise ValueError(f"unknown layout (version {raw.get('version')!r})")
            return {str(k): dict(v) for k, v in entries.items() if isinstance(v, dict)}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("ignoring the unreadable pending-symbol file %s (%s); symbols without "
                        "bars are not retried until named again", self.path, clip(exc, 200))
            return {}

    @property
    def symbols(self) -> dict[str, datetime | None]:
        """Pending symbol -> the ``since`` it was asked from (``None`` if unknown)."""
        out: dict[str, datetime | None] = {}
        for symbol, entry in self._all.get(self.key, {}).items():
            try:
                out[symbol] = datetime.fromisoformat(entry["since"]) if entry.get("since") \
                    else None
            except (TypeError, ValueError):
                out[symbol] = None
        return out

    def mark(self, symbol: str, since: datetime | None, reason: str = "") -> None:
        """Remember ``symbol`` (asked from ``since``) as pending."""
        entries = self._all.setdefault(self.key, {})
        old = entries.get(symbol, {})
        entry = {"since": since.isoformat() if since is not None else old.get("since"),
                 "reason": clip(reason, 300) if reason else old.get("reason", "")}
        if entry != old:
            entries[symbol] = entry
            self._dirty = True

    def clear(self, symbol: str) -> None:
        """Forget ``symbol``: it has bars now."""
        entries = self._all.get(self.key, {})
        if symbol in entries:
            del entries[symbol]
            if not entries:
                del self._all[self.key]
            self._dirty = True

    def save(self) -> None:
        """Write the file (atomically; removed when nothing is pending)."""
        if not self._dirty:
            return
        try:
            if not self._all:
                self.path.unlink(missing_ok=True)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_name(self.path.name + ".tmp")
                tmp.write_text(json.dumps({"version": VERSION, "pending": self._all},
                                          sort_keys=True), encoding="utf-8")
                os.replace(tmp, self.path)
            self._dirty = False
        except OSError as exc:
            log.warning("could not write the pending-symbol file %s: %s", self.path,
                        clip(exc, 200))
