"""Today's book: target positions and exchange-valid orders (DESIGN.md, "Today's book").

:func:`build_book` computes a study's target at the last complete bar with the same functions
as its backtest, runs the checks (stale data, stale markets, inactive markets, NAV, gross) and
turns targets and current positions into orders (:func:`orders`) that satisfy each market's
precision and limits (:class:`MarketRules`, read from ccxt's market structures).
:func:`write_book` writes the book directory. No order is sent to a venue.
"""

from coinfactor.book._book import BOOK_STUDIES, Book, BookSettings, Check, build_book
from coinfactor.book._orders import ORDER_COLUMNS, PRECISION_MODES, MarketRules, orders
from coinfactor.book._replay import LEDGER_COLUMNS, Replay, replay
from coinfactor.book._write import BOOK_FILES, read_positions, write_book

__all__ = [
    "BOOK_FILES",
    "BOOK_STUDIES",
    "LEDGER_COLUMNS",
    "ORDER_COLUMNS",
    "PRECISION_MODES",
    "Book",
    "BookSettings",
    "Check",
    "MarketRules",
    "Replay",
    "build_book",
    "orders",
    "read_positions",
    "replay",
    "write_book",
]
