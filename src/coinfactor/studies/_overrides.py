"""``--set key=value`` overrides of a study config's ``[params]``, typed by the study's Config.

A value is read as a TOML value (``0.3``, ``14``, ``true``, ``"decay"``, ``[1, 2]``); a value
that is not valid TOML is taken as a string (``exit=decay``). A dotted key sets a field of a
nested table (``costs.impact=0.5`` is ``[params.costs] impact = 0.5``). Unknown keys are
rejected with the valid names, and the merged table is checked by
:func:`coinfactor.studies.config_from_dict` (types, literals) before any data is loaded.
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from coinfactor.core.errors import ConfigError
from coinfactor.studies._base import config_from_dict


def parse_value(text: str) -> Any:
    """Read one ``--set`` value: a TOML value, else the text itself as a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _nested_type(cls: Any, name: str) -> Any:
    hint = typing.get_type_hints(cls).get(name)
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def check_param_key(cls: Any, key: str, *, where: str = "--set") -> None:
    """Raise ConfigError unless ``key`` (dotted for nested tables) names a field of ``cls``.

    Parameters
    ----------
    cls : dataclass type
        The study's ``Config``.
    key : str
        ``"vol_target"`` or ``"costs.impact"``.
    where : str
        Where the key came from, for the message.
    """
    parts = key.split(".")
    current = cls
    for depth, part in enumerate(parts):
        names = [f.name for f in dataclasses.fields(current)]
        if part not in names:
            prefix = ".".join(parts[:depth])
            raise ConfigError(
                f"{where} {key}: unknown parameter {part!r}"
                f"{f' of [params.{prefix}]' if prefix else ''}; expected one of {sorted(names)}")
        nested = _nested_type(current, part)
        if depth < len(parts) - 1:
            if nested is None:
                raise ConfigError(f"{where} {key}: {part!r} is not a table; "
                                  f"set it as {part}=<value>")
            current = nested


def set_param(params: dict[str, Any], key: str, value: Any) -> None:
    """Set ``params[key]`` in place, a dotted key inside nested tables."""
    parts = key.split(".")
    table = params
    for part in parts[:-1]:
        inner = table.get(part)
        table[part] = dict(inner) if isinstance(inner, Mapping) else {}
        table = table[part]
    table[parts[-1]] = value


def apply_overrides(raw: Mapping[str, Any], sets: Iterable[str]) -> dict[str, Any]:
    """Return a copy of a parsed study config with ``key=value`` overrides in ``[params]``.

    Parameters
    ----------
    raw : mapping
        The parsed TOML file (``study``, ``[data]``, ``[params]``, optional ``[sweep]``).
    sets : iterable of str
        ``"key=value"`` strings, applied in order (a later one wins).

    Returns
    -------
    dict
        The config with the overrides merged into ``params``.

    Raises
    ------
    ConfigError
        On a malformed override, an unknown key (naming the valid ones) or a value of the
        wrong type for the study's ``Config``.
    """
    from coinfactor.studies import STUDIES  # the registry lives in the package root
    from coinfactor.studies._trial import study_module

    out = copy.deepcopy(dict(raw))
    sets = list(sets)
    if not sets:
        return out
    if "study" not in out:
        raise ConfigError(f"config needs study = one of {sorted(STUDIES)} to apply --set")
    module = study_module(str(out["study"]), STUDIES)
    params = out.get("params", {})
    if not isinstance(params, Mapping):
        raise ConfigError(f"[params] must be a table, got {params!r}")
    params = copy.deepcopy(dict(params))
    for item in sets:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set vol_target=0.3")
        check_param_key(module.Config, key)
        set_param(params, key, parse_value(text.strip()))
    try:
        config_from_dict(module.Config, params)
    except ConfigError as exc:
        exc.add_note(f"from --set {' '.join(sets)}")
        raise
    out["params"] = params
    return out
