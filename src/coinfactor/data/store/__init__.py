"""The local DuckDB store of bars, funding events and market snapshots."""

from coinfactor.data.store._frames import to_utc
from coinfactor.data.store._names import (
    SYMBOL_RE,
    check_exchange,
    check_freq,
    check_input_symbols,
    check_market,
    check_symbol,
    check_symbols,
)
from coinfactor.data.store._schema import (
    BOOK_SCHEMA,
    SCHEMA_VERSION,
    SNAPSHOT_RULES,
    SNAPSHOT_SCHEMA,
)
from coinfactor.data.store._store import DB_FILENAME, Store, WriteCounts, default_home

__all__ = [
    "BOOK_SCHEMA",
    "DB_FILENAME",
    "SCHEMA_VERSION",
    "SNAPSHOT_RULES",
    "SNAPSHOT_SCHEMA",
    "SYMBOL_RE",
    "Store",
    "WriteCounts",
    "check_exchange",
    "check_freq",
    "check_input_symbols",
    "check_market",
    "check_symbol",
    "check_symbols",
    "default_home",
    "to_utc",
]
