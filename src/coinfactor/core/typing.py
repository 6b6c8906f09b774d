"""Typed options shared across modules (``Literal`` aliases)."""

from __future__ import annotations

from typing import Literal

PartialBars = Literal["drop", "mark"]
"""What resampling does with a coarse bar built from fewer fine bars than it spans."""

FailurePolicy = Literal["raise", "keep_previous", "fallback"]
"""What a walk-forward optimiser does when one solve fails."""

ReturnKind = Literal["simple", "log"]
"""Simple returns ``p1/p0 - 1`` or log returns ``log(p1/p0)``."""
