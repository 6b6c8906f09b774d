"""Today's book: target positions and exchange-valid orders (DESIGN.md, "Today's book").

:func:`orders` turns target and current quantities into orders that satisfy each market's
precision and limits (:class:`MarketRules`, read from ccxt's market structures). No order is
sent to a venue.
"""

from coinfactor.book._orders import ORDER_COLUMNS, PRECISION_MODES, MarketRules, orders

__all__ = ["ORDER_COLUMNS", "PRECISION_MODES", "MarketRules", "orders"]
