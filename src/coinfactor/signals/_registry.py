"""Registry of point-in-time signals: ``available()`` and ``compute(name, panel, **params)``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import polars as pl

from coinfactor.core.errors import ConfigError

SignalFn = Callable[..., pl.DataFrame]
F = TypeVar("F", bound=SignalFn)

_REGISTRY: dict[str, SignalFn] = {}


def register(fn: F) -> F:
    """Register a signal under its function name (decorator)."""
    _REGISTRY[fn.__name__] = fn
    return fn


def available() -> list[str]:
    """Names of the registered point-in-time signals, sorted.

    ``forward_returns`` is not listed: it is a forward-looking research label, not a signal.
    """
    return sorted(_REGISTRY)


def get(name: str) -> SignalFn:
    """Return the signal function registered as ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown signal {name!r}; expected one of {available()}"
        ) from None


def compute(name: str, panel: pl.DataFrame, **params: Any) -> pl.DataFrame:
    """Run the signal ``name`` on a canonical panel.

    Parameters
    ----------
    name : str
        One of :func:`available`.
    panel : pl.DataFrame
        Canonical panel.
    **params
        Keyword parameters of that signal (see its docstring).

    Returns
    -------
    pl.DataFrame
        ``ts, symbol, <name>``, one row per panel row.

    Raises
    ------
    ConfigError
        For an unknown name or a parameter the signal does not take.
    """
    fn = get(name)
    accepted = [
        p.name for p in inspect.signature(fn).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ConfigError(
            f"signal {name!r} got unknown parameter(s) {unknown}; it takes {accepted}"
        )
    return fn(panel, **params)
