"""Today's book: target positions and exchange-valid orders (DESIGN.md, "Today's book").

:func:`build_book` computes a study's target at the last complete bar with the same functions
as its backtest, runs the checks (stale data, stale markets, inactive markets, NAV, gross) and
turns targets and current positions into orders (:func:`orders`) that satisfy each market's
precision and limits (:class:`MarketRules`, read from ccxt's market structures, by default
from the store's latest market snapshot). :func:`write_book` writes the book directory;
:func:`record` appends the book to the store's paper ledger, :func:`history` lists it and
:func:`replay_study` marks the recorded books to later bars next to the study's backtest.
:func:`update_selection` and :func:`venue_positions` are ``--update`` and ``--from-venue``.
No order is sent to a venue.
"""

from coinfactor.book._book import (
    BOOK_STUDIES,
    Book,
    BookSettings,
    Check,
    build_book,
    config_hash,
    resolve_config,
)
from coinfactor.book._ledger import (
    CHANGE_COLUMNS,
    changes,
    history,
    ledger_row,
    ledger_weights,
    previous,
    record,
    targets_of,
)
from coinfactor.book._orders import ORDER_COLUMNS, PRECISION_MODES, MarketRules, orders
from coinfactor.book._replay import LEDGER_COLUMNS, Replay, replay, replay_study, study_decisions
from coinfactor.book._venue import (
    StoreSelection,
    UpdateResult,
    snapshot_rules,
    store_selection,
    update_selection,
    venue_positions,
)
from coinfactor.book._write import BOOK_FILES, read_positions, write_book

__all__ = [
    "BOOK_FILES",
    "BOOK_STUDIES",
    "CHANGE_COLUMNS",
    "LEDGER_COLUMNS",
    "ORDER_COLUMNS",
    "PRECISION_MODES",
    "Book",
    "BookSettings",
    "Check",
    "MarketRules",
    "Replay",
    "StoreSelection",
    "UpdateResult",
    "build_book",
    "changes",
    "config_hash",
    "history",
    "ledger_row",
    "ledger_weights",
    "orders",
    "previous",
    "read_positions",
    "record",
    "replay",
    "replay_study",
    "resolve_config",
    "snapshot_rules",
    "store_selection",
    "study_decisions",
    "targets_of",
    "update_selection",
    "venue_positions",
    "write_book",
]
