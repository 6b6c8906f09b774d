"""coinfactor: systematic research on crypto spot and perpetual futures.

Exchange data in; point-in-time universes, factors, risk exposures, portfolios and honest
backtests out.
"""

from coinfactor import data, datasets, signals, universe, xs
from coinfactor.core.errors import DataError
from coinfactor.core.time import periods_per_year
from coinfactor.data import validate_panel

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "__version__",
    "data",
    "datasets",
    "periods_per_year",
    "signals",
    "universe",
    "validate_panel",
    "xs",
]
