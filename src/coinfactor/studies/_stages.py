"""Stages of a study's pipeline, the parameters each depends on, and a memo of their outputs.

A study that declares ``PIPELINE`` (a tuple of :class:`Stage`) lets a sweep compute each distinct
upstream stage once and reuse it across the trials that share it: the key of a stage is the
values of its own parameters and the keys of the stages it reads (``after``), so two configs
share a stage's output exactly when every input of that stage is equal. A config field that
no stage names is counted in every stage (a new parameter invalidates all reuse until it is
declared, never reuses wrongly). A sweep places the trials that share every stage but the last
two on one worker, next to each other: declare the stages in pipeline order with the
per-trial ones last (carry: allocation, backtest; reversion: baskets, backtest; hedge_basket:
backtest, metrics).

:class:`StageCache` holds the outputs, bounded per stage (least recently used dropped first),
for one panel. Cached arrays are made read-only, so a downstream step that would modify an
output in place raises instead of corrupting the next trial.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import numpy as np

from coinfactor.core.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Stage:
    """One stage of a study's pipeline.

    Attributes
    ----------
    name : str
        Stage name (``"universe"``, ``"signal"``, ...).
    params : tuple of str
        Config fields the stage reads itself.
    after : tuple of str
        Stages whose outputs it reads (their parameters count in its key).
    """

    name: str
    params: tuple[str, ...]
    after: tuple[str, ...] = ()


def stage_keys(stages: Iterable[Stage], config: Any) -> dict[str, tuple[Any, ...]]:
    """Key of every stage for ``config``: its parameters' values and its upstream keys.

    Parameters
    ----------
    stages : iterable of Stage
        In pipeline order (a stage only names earlier stages in ``after``).
    config : dataclass instance
        The study's config.

    Returns
    -------
    dict of str to tuple
        Hashable keys; equal keys mean equal inputs (values compared by ``repr``, exact for
        floats).

    Raises
    ------
    ConfigError
        If a stage names an unknown field or a stage not declared before it.
    """
    stages = tuple(stages)
    fields = [f.name for f in dataclasses.fields(config)]
    declared = {p for s in stages for p in s.params}
    unknown = sorted(declared - set(fields))
    if unknown:
        raise ConfigError(f"stages name unknown config field(s) {unknown}; "
                          f"expected some of {sorted(fields)}")
    undeclared = tuple(f for f in fields if f not in declared)  # counted in every stage
    keys: dict[str, tuple[Any, ...]] = {}
    for stage in stages:
        missing = [a for a in stage.after if a not in keys]
        if missing:
            raise ConfigError(f"stage {stage.name!r} reads {missing}, not declared before it")
        own = tuple((p, repr(getattr(config, p))) for p in (*stage.params, *undeclared))
        keys[stage.name] = (stage.name, own, tuple(keys[a] for a in stage.after))
    return keys


def _freeze(value: Any) -> Any:
    """Make the ndarrays of a stage output (and of its dataclass fields) read-only."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, tuple | list):
        for v in value:
            _freeze(v)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if isinstance(v, np.ndarray | tuple | list):
                _freeze(v)
    return value


@dataclass
class StageCache:
    """Outputs of stages for one panel, keyed by :func:`stage_keys`, LRU-bounded per stage.

    Parameters
    ----------
    max_entries : int
        Outputs kept per stage (the least recently used is dropped first); 0 keeps none
        (one run: each output lives only as long as its caller holds it).

    Attributes
    ----------
    computed, reused : dict of str to int
        How many times each stage was computed, and served from the cache.
    """

    max_entries: int = 16
    computed: dict[str, int] = field(default_factory=dict)
    reused: dict[str, int] = field(default_factory=dict)
    _store: dict[str, OrderedDict[Any, Any]] = field(default_factory=dict, repr=False)
    _panel: tuple[int, int] | None = field(default=None, repr=False)

    def bind(self, panel: Any) -> None:
        """Tie the cache to one panel; a different panel object is an error."""
        token = (id(panel), int(getattr(panel, "height", 0)))
        if self._panel is None:
            self._panel = token
        elif self._panel != token:
            raise ConfigError("a StageCache holds the stages of one panel; got another panel "
                              "(use one cache per panel)")

    def get(self, stage: str, key: Any, compute: Callable[[], T]) -> T:
        """Return the output of ``stage`` for ``key``, computing it (once) if absent."""
        store = self._store.setdefault(stage, OrderedDict())
        if key in store:
            store.move_to_end(key)
            self.reused[stage] = self.reused.get(stage, 0) + 1
            return cast(T, store[key])
        value = _freeze(compute())
        self.computed[stage] = self.computed.get(stage, 0) + 1
        store[key] = value
        while len(store) > self.max_entries:
            store.popitem(last=False)
        return value

    def counts(self) -> dict[str, dict[str, int]]:
        """``{stage: {"computed": n, "reused": m}}`` so far."""
        names = sorted(set(self.computed) | set(self.reused))
        return {s: {"computed": self.computed.get(s, 0), "reused": self.reused.get(s, 0)}
                for s in names}


def check_stages(stages: Iterable[Stage], fields: Iterable[str]) -> list[str]:
    """Config fields no stage declares (each then counts in every stage's key)."""
    declared = {p for s in stages for p in s.params}
    return [f for f in fields if f not in declared]


def stage_params(stages: Iterable[Stage]) -> Mapping[str, tuple[str, ...]]:
    """``{stage name: its own parameters}``, in order."""
    return {s.name: s.params for s in stages}
