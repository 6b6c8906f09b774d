"""Typed options shared across modules (``Literal`` aliases)."""

from __future__ import annotations

from typing import Literal

PartialBars = Literal["drop", "mark"]
"""What resampling does with a coarse bar built from fewer fine bars than it spans."""

FailurePolicy = Literal["raise", "keep_previous", "fallback"]
"""What a walk-forward optimiser does when one solve fails."""

ReturnKind = Literal["simple", "log"]
"""Simple returns ``p1/p0 - 1`` or log returns ``log(p1/p0)``."""

BootstrapMethod = Literal["moving", "stationary"]
"""Block scheme: fixed-length moving blocks or geometric-length (stationary) blocks."""

BootstrapMetric = Literal["annual_return", "annual_volatility", "sharpe_ratio", "max_drawdown"]
"""A bootstrap distribution, named after the :mod:`coinfactor.analytics` function."""
