"""The local store: DuckDB tables of bars, funding events and snapshots; minute partitions.

One-minute bars live in Parquet partitions listed in the DuckDB file (see
:mod:`coinfactor.data.store._minutes` for the layout and why); :func:`import_minutes` streams
files and folders of them in, keeping their 1h and 1d rollups exact.
"""

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
from coinfactor.data.store._sources import SourceFile
from coinfactor.data.store._sources import discover as find_minute_files
from coinfactor.data.store._store import (
    DB_FILENAME,
    Store,
    WriteCounts,
    default_home,
    import_minutes,
)

__all__ = [
    "BOOK_SCHEMA",
    "DB_FILENAME",
    "SCHEMA_VERSION",
    "SNAPSHOT_RULES",
    "SNAPSHOT_SCHEMA",
    "SYMBOL_RE",
    "SourceFile",
    "Store",
    "WriteCounts",
    "check_exchange",
    "check_freq",
    "check_input_symbols",
    "check_market",
    "check_symbol",
    "check_symbols",
    "default_home",
    "find_minute_files",
    "import_minutes",
    "to_utc",
]
