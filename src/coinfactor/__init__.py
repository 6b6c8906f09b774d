"""coinfactor: systematic research on crypto spot and perpetual futures.

Exchange data in; point-in-time universes, factors, risk exposures, portfolios and honest
backtests out. Every subpackage is reachable as ``coinfactor.<name>`` and imported on first
access (PEP 562), so ``import coinfactor`` is cheap: it loads no DuckDB, cvxpy, matplotlib or
ccxt until a module that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

SUBPACKAGES = (
    "analytics", "backtest", "book", "core", "data", "datasets", "errors", "plots", "portfolio",
    "report", "risk", "rolling", "signals", "studies", "sweeps", "universe", "xs",
)
"""Subpackages reachable as attributes of the root package."""

_NAMES = {
    "DataError": "coinfactor.core.errors",
    "periods_per_year": "coinfactor.core.time",
    "validate_panel": "coinfactor.data",
}

__all__ = [
    "DataError",
    "__version__",
    "analytics",
    "backtest",
    "book",
    "core",
    "data",
    "datasets",
    "errors",
    "periods_per_year",
    "plots",
    "portfolio",
    "report",
    "risk",
    "rolling",
    "signals",
    "studies",
    "sweeps",
    "universe",
    "validate_panel",
    "xs",
]

if TYPE_CHECKING:
    from coinfactor import (
        analytics,
        backtest,
        book,
        core,
        data,
        datasets,
        errors,
        plots,
        portfolio,
        report,
        risk,
        rolling,
        signals,
        studies,
        sweeps,
        universe,
        xs,
    )
    from coinfactor.core.errors import DataError
    from coinfactor.core.time import periods_per_year
    from coinfactor.data import validate_panel


def __getattr__(name: str) -> Any:
    """Import a subpackage (or a root-level name) on first access."""
    if name in SUBPACKAGES:
        module = importlib.import_module(f"coinfactor.{name}")
    elif name in _NAMES:
        module = getattr(importlib.import_module(_NAMES[name]), name)
    else:
        raise AttributeError(f"module 'coinfactor' has no attribute {name!r}")
    globals()[name] = module
    return module


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
