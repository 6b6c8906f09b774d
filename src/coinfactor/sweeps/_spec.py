"""The ``[sweep]`` table of a study config and the trials it expands to.

::

    [sweep]
    select = "sharpe_ratio"                     # metric that ranks and selects (higher wins)
    grid = { vol_target = [0.1, 0.2, 0.3], carry_window = [3, 7, 14] }   # Cartesian
    [sweep.random]                              # optional: n random draws (crossed with grid)
    n = 20
    seed = 0
    risk_aversion = { low = 0.5, high = 8.0, log = true }
    max_weight = { low = 0.05, high = 0.3 }
    exit = ["close", "decay"]                   # a list: uniform choice

Keys name ``[params]`` fields (dotted for nested tables: ``"costs.impact"``). Grid values
are lists; random ranges are ``{ low, high, log }`` (uniform, or log-uniform with ``log``;
an ``int`` field draws integers in ``[low, high]``) or lists of choices. Draws come from one
``numpy.random.Generator(PCG64(seed))`` in a fixed order (parameters sorted by name), so a
spec always expands to the same trials. Every trial's parameters are checked against the
study's ``Config`` when its config is built; the spec itself is checked for names and shapes
here, before any work.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from coinfactor.core.errors import ConfigError
from coinfactor.studies import check_param_key, set_param

SPEC_KEYS = frozenset({"select", "grid", "random"})
RANDOM_KEYS = frozenset({"n", "seed"})
RANGE_KEYS = frozenset({"low", "high", "log"})


@dataclass(frozen=True)
class Range:
    """A random range of one parameter: uniform in ``[low, high]`` (log-uniform with ``log``)."""

    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class SweepSpec:
    """A parsed ``[sweep]`` table.

    Attributes
    ----------
    select : str
        Metric that ranks the trials (higher is better).
    grid : dict of str to tuple
        Cartesian grid: parameter -> values.
    n_random : int
        Random draws (0: grid only).
    seed : int
        Seed of the draws.
    ranges : dict of str to Range or tuple
        Random parameters: a :class:`Range` or a tuple of choices.
    """

    select: str = "sharpe_ratio"
    grid: dict[str, tuple[Any, ...]] = dataclasses.field(default_factory=dict)
    n_random: int = 0
    seed: int = 0
    ranges: dict[str, Range | tuple[Any, ...]] = dataclasses.field(default_factory=dict)

    @property
    def swept(self) -> list[str]:
        """Swept parameter names: the grid's, then the random ones, each sorted."""
        return sorted(self.grid) + sorted(k for k in self.ranges if k not in self.grid)


def parse_sweep(table: Any, config_cls: Any) -> SweepSpec:
    """Parse and check a ``[sweep]`` table against a study's ``Config`` type.

    Parameters
    ----------
    table : mapping
        The ``[sweep]`` table.
    config_cls : dataclass type
        The study's ``Config`` (parameter names are checked against its fields).

    Returns
    -------
    SweepSpec

    Raises
    ------
    ConfigError
        On unknown keys, unknown parameters (with the valid names), empty grids, bad ranges.
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"[sweep] must be a table, got {table!r}")
    unknown = sorted(set(table) - SPEC_KEYS)
    if unknown:
        raise ConfigError(f"[sweep] has unknown key(s) {unknown}; expected some of "
                          f"{sorted(SPEC_KEYS)}")
    select = table.get("select", "sharpe_ratio")
    if not isinstance(select, str) or not select:
        raise ConfigError(f"[sweep] select: expected a metric name such as \"sharpe_ratio\", "
                          f"got {select!r}")
    grid_raw = table.get("grid", {})
    if not isinstance(grid_raw, Mapping):
        raise ConfigError(f"[sweep] grid: expected a table of lists, e.g. grid = "
                          f"{{ vol_target = [0.1, 0.2] }}, got {grid_raw!r}")
    grid: dict[str, tuple[Any, ...]] = {}
    for key, values in grid_raw.items():
        check_param_key(config_cls, key, where="[sweep] grid")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"[sweep] grid {key}: expected a non-empty list of values, "
                              f"got {values!r}")
        grid[key] = tuple(values)
    rand_raw = table.get("random", {})
    if not isinstance(rand_raw, Mapping):
        raise ConfigError(f"[sweep] random: expected a table such as random = {{ n = 50, "
                          f"seed = 0, vol_target = {{ low = 0.1, high = 0.4 }} }}, "
                          f"got {rand_raw!r}")
    n_random, seed = 0, 0
    ranges: dict[str, Range | tuple[Any, ...]] = {}
    if rand_raw:
        n_raw, seed = rand_raw.get("n"), rand_raw.get("seed", 0)
        if not isinstance(n_raw, int) or isinstance(n_raw, bool) or n_raw < 1:
            raise ConfigError(f"[sweep] random.n: expected a number of draws >= 1, "
                              f"got {n_raw!r}")
        n_random = n_raw
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ConfigError(f"[sweep] random.seed: expected an integer, got {seed!r}")
        for key, value in rand_raw.items():
            if key in RANDOM_KEYS:
                continue
            check_param_key(config_cls, key, where="[sweep] random")
            if key in grid:
                raise ConfigError(f"[sweep] {key} is both in grid and random; keep one")
            ranges[key] = _parse_range(key, value)
        if not ranges:
            raise ConfigError("[sweep] random: no parameter to draw; add ranges such as "
                              "vol_target = { low = 0.1, high = 0.4 }")
    if not grid and not ranges:
        raise ConfigError("[sweep] needs a grid = { ... } or a [sweep.random] table of "
                          "parameters to vary")
    return SweepSpec(select=select, grid=grid, n_random=n_random, seed=seed, ranges=ranges)


def _parse_range(key: str, value: Any) -> Range | tuple[Any, ...]:
    if isinstance(value, list):
        if not value:
            raise ConfigError(f"[sweep] random {key}: empty list of choices")
        return tuple(value)
    if not isinstance(value, Mapping) or not {"low", "high"} <= set(value) \
            or set(value) - RANGE_KEYS:
        raise ConfigError(f"[sweep] random {key}: expected {{ low = ..., high = ..., "
                          f"log = false }} or a list of choices, got {value!r}")
    low, high, log = value["low"], value["high"], value.get("log", False)
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
    if not numbers or not low <= high or not isinstance(log, bool):
        raise ConfigError(f"[sweep] random {key}: expected numbers low <= high and log a "
                          f"boolean, got {value!r}")
    if log and not low > 0:
        raise ConfigError(f"[sweep] random {key}: a log range needs low > 0, got {low}")
    return Range(float(low), float(high), log)


def _field_type(config_cls: Any, key: str) -> Any:
    cls = config_cls
    parts = key.split(".")
    for part in parts[:-1]:
        cls = typing.get_type_hints(cls)[part]
    hint = typing.get_type_hints(cls).get(parts[-1])
    args = typing.get_args(hint)
    if args and type(None) in args:  # Optional[X] -> X
        hint = next(a for a in args if a is not type(None))
    return hint


def _draw(rng: np.random.Generator, rng_spec: Range | tuple[Any, ...], kind: Any) -> Any:
    if isinstance(rng_spec, tuple):
        return rng_spec[int(rng.integers(len(rng_spec)))]
    if kind is int:
        if rng_spec.log:
            value = math.exp(rng.uniform(math.log(rng_spec.low), math.log(rng_spec.high + 1)))
            return int(min(max(math.floor(value), rng_spec.low), rng_spec.high))
        return int(rng.integers(math.ceil(rng_spec.low), math.floor(rng_spec.high) + 1))
    if rng_spec.log:
        return float(math.exp(rng.uniform(math.log(rng_spec.low), math.log(rng_spec.high))))
    return float(rng.uniform(rng_spec.low, rng_spec.high))


def expand(spec: SweepSpec, config_cls: Any) -> list[dict[str, Any]]:
    """Every trial's swept values, in sweep order: grid points (last key fastest) x draws.

    Parameters
    ----------
    spec : SweepSpec
        The parsed spec.
    config_cls : dataclass type
        The study's ``Config`` (integer fields draw integers).

    Returns
    -------
    list of dict
        ``{parameter: value}`` per trial (dotted keys for nested tables); duplicates (a
        random draw equal to another) are kept once, at their first position.
    """
    keys = sorted(spec.grid)
    points = [dict(zip(keys, combo, strict=True))
              for combo in itertools.product(*(spec.grid[k] for k in keys))] or [{}]
    if spec.n_random:
        rng = np.random.default_rng(np.random.PCG64(spec.seed))
        names = sorted(spec.ranges)
        kinds = {k: _field_type(config_cls, k) for k in names}
        draws = [{k: _draw(rng, spec.ranges[k], kinds[k]) for k in names}
                 for _ in range(spec.n_random)]
        points = [{**p, **d} for p in points for d in draws]
    seen: set[str] = set()
    out = []
    for p in points:
        token = repr(sorted(p.items()))
        if token not in seen:
            seen.add(token)
            out.append(p)
    return out


def trial_params(base: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Build one trial's ``[params]`` table: ``base`` with the swept ``values`` set in it."""
    params: dict[str, Any] = {k: (dict(v) if isinstance(v, Mapping) else v)
                              for k, v in base.items()}
    for key, value in values.items():
        set_param(params, key, value)
    return params
