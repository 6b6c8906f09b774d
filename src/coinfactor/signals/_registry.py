"""Registry of point-in-time signals: ``available()`` and ``compute(name, panel, **params)``.

Every signal has two forms: the public long-frame function (``panel -> ts, symbol, <name>``)
and its array form (``panel, grid -> (n_bars, n_symbols)`` values on the panel's grid), which
the long form melts (:meth:`coinfactor.data.Grid.long`). :func:`compute` runs the first by
name, :func:`compute_array` the second (for callers that read a signal at a few bars only,
such as :func:`coinfactor.signals.features_at`: no long frame of every panel row is built).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import polars as pl

from coinfactor.core.errors import ConfigError
from coinfactor.data import Grid

SignalFn = Callable[..., pl.DataFrame]
ArrayFn = Callable[..., np.ndarray]
F = TypeVar("F", bound=SignalFn)
A = TypeVar("A", bound=ArrayFn)

_REGISTRY: dict[str, SignalFn] = {}
_ARRAYS: dict[str, ArrayFn] = {}


def register(fn: F) -> F:
    """Register a signal under its function name (decorator)."""
    _REGISTRY[fn.__name__] = fn
    return fn


def register_array(name: str) -> Callable[[A], A]:
    """Register ``fn(panel, grid, **params) -> ndarray`` as the array form of signal ``name``.

    The array form takes the long form's keyword parameters except ``freq`` (the grid's) and
    returns its values on ``grid``, of shape ``(n_bars, n_symbols)``, NaN where undefined.
    """
    def decorate(fn: A) -> A:
        _ARRAYS[name] = fn
        return fn
    return decorate


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


def _check_params(name: str, fn: Callable[..., Any], params: dict[str, Any]) -> None:
    accepted = [
        p.name for p in inspect.signature(fn).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ConfigError(
            f"signal {name!r} got unknown parameter(s) {unknown}; it takes {accepted}"
        )


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
    _check_params(name, fn, params)
    return fn(panel, **params)


def compute_array(name: str, panel: pl.DataFrame, grid: Grid, **params: Any) -> np.ndarray:
    """Run the signal ``name`` and return its values on the panel's grid.

    The values of ``compute(name, panel, **params)`` before they are melted into a long frame:
    ``grid.long({name: values})`` is that frame.

    Parameters
    ----------
    name, panel
        As for :func:`compute`.
    grid : Grid
        ``Grid.from_panel(panel, freq)``.
    **params
        Keyword parameters of that signal, except ``freq`` (the grid's).

    Returns
    -------
    ndarray of float64, shape (n_bars, n_symbols)
        The signal's values; NaN where undefined (a value that is not finite is null in the
        long frame).

    Raises
    ------
    ConfigError
        As :func:`compute`.
    """
    get(name)  # an unknown name is named with the signals available
    fn = _ARRAYS[name]
    _check_params(name, fn, params)
    return fn(panel, grid, **params)
