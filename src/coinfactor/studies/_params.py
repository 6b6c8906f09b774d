"""Declared types and ranges of study parameters, checked before any work.

A study's ``Config`` derives from :class:`Params` and declares what each parameter accepts
in its annotation, with one of the markers of this module::

    @dataclass(frozen=True)
    class Config(Params):
        corr_window: Annotated[int, Bars(2)] = 90        # an integer number of bars >= 2
        vol_target: Annotated[float, Range(0, 10, low_open=True)] = 0.2
        lookback: Annotated[str, Duration(window=True)] = "21d"
        start: Annotated[str, When()] = "2025-03-03T12:00:00"
        target: Annotated[str, Symbol()] = "BERA"

The same declaration serves three checks, so a value is judged by one rule wherever it comes
from:

- :func:`check_value`, called per key by :func:`coinfactor.studies.config_from_dict` (the
  TOML ``[params]`` table) and per field by ``Params.__post_init__`` (a Python caller's
  ``Config(...)``, ``dataclasses.replace``): the type (booleans are not numbers, strings are
  neither numbers nor lists), finiteness, and the range, with the allowed values and the
  default in the message;
- :func:`check_data`, called by each study's ``run`` before any work: windows in bars at
  most the panel's bars, durations at most the panel's span, symbols present in the panel
  (unknown names are listed with their near matches);
- the class docstring: ``Params`` appends a section listing every parameter's allowed
  values, so ``help(Config)`` documents the ranges that are enforced.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import types
import typing
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

import polars as pl

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.core.time import freq_to_timedelta

__all__ = ["MAX_BARS", "Bars", "Duration", "Params", "Range", "Symbol", "When", "check_data",
           "check_value", "near_matches", "parse_time", "unknown_names"]

MAX_BARS = 10_000_000
"""Largest window in bars any study accepts (19 years of one-minute bars); the panel's own
length bounds it further when the study runs."""


@dataclass(frozen=True)
class Range:
    """Allowed values of a number: ``low <= x <= high`` (``<`` where the end is open).

    Parameters
    ----------
    low, high : float, optional
        Bounds (None: unbounded on that side; every number must still be finite).
    low_open, high_open : bool, default False
        Exclude the bound itself.
    unit : str, default ""
        Unit shown in messages and docs (``"bars"``, ``"USD"``, ``"bps"``).
    bars : bool, default False
        A number of bars: also at most the panel's bars (:func:`check_data`).
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    unit: str = ""
    bars: bool = False

    def contains(self, value: float) -> bool:
        """Return whether ``value`` lies in the range."""
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or not (value > self.high
                                         or (self.high_open and value == self.high))

    def __str__(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.low is not None and self.high is not None:
            return (f"{'(' if self.low_open else '['}{_num(self.low)}, {_num(self.high)}"
                    f"{')' if self.high_open else ']'}{unit}")
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_num(self.low)}{unit}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {_num(self.high)}{unit}"
        return f"any finite number{unit}"


def Bars(low: int = 1, high: int = MAX_BARS) -> Range:
    """Return the range of a window or lag in bars: ``[low, high]``, at most the panel's bars."""
    return Range(low, high, unit="bars", bars=True)


@dataclass(frozen=True)
class Duration:
    """A duration string such as ``"7d"`` or ``"4h"`` (see ``core.time.freq_to_timedelta``).

    Parameters
    ----------
    window : bool, default False
        A trailing window of data: also at most the panel's span (:func:`check_data`).
    """

    window: bool = False

    def __str__(self) -> str:
        text = "a duration such as '1h', '4h', '1d' or '7d'"
        return text + (", at most the panel's span" if self.window else "")


@dataclass(frozen=True)
class When:
    """An ISO date or time string, UTC unless it carries an offset (``"2025-03-03T12:00"``)."""

    def __str__(self) -> str:
        return "an ISO date or time such as '2025-03-03' or '2025-03-03T12:00:00' (UTC)"


@dataclass(frozen=True)
class Symbol:
    """A symbol that must be in the panel (checked by :func:`check_data`, near matches named)."""

    def __str__(self) -> str:
        return "a symbol of the panel"


Marker = Range | Duration | When | Symbol


class Params:
    """Base of the studies' frozen ``Config`` dataclasses: declared types and ranges enforced.

    On construction every field is checked against its annotation (:func:`check_value`;
    integers are accepted for floats and lists for tuples, and normalised), then the
    subclass's :meth:`check` runs for rules across fields. The TOML table a subclass is read
    from is given as a class keyword (``class CostConfig(Params, table="params.costs")``) and
    names the parameters in messages.
    """

    __config_table__: ClassVar[str] = "params"

    def __init_subclass__(cls, table: str = "params", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__config_table__ = table
        section = _allowed_values_doc(cls)
        if section:
            doc = (cls.__doc__ or "").rstrip()
            lines = [ln for ln in doc.splitlines()[1:] if ln.strip()]
            indent = min((len(ln) - len(ln.lstrip()) for ln in lines), default=0) * " "
            cls.__doc__ = doc + "\n\n" + "\n".join(
                (indent + ln) if ln else ln for ln in section.splitlines())

    def __post_init__(self) -> None:
        where = self.__config_table__
        hints = type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            checked = check_value(f.name, value, hints.get(f.name, Any), where=where,
                                  default=f.default)
            if checked is not value:
                object.__setattr__(self, f.name, checked)
        self.check()

    def check(self) -> None:
        """Rules across fields (e.g. ``low < high``); raise :class:`ConfigError` when broken."""


_HINTS: dict[type, dict[str, Any]] = {}


def type_hints(cls: type) -> dict[str, Any]:
    """Return the resolved annotations of a class, ``Annotated`` markers kept (cached)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls, include_extras=True)
    return _HINTS[cls]


def _num(x: float) -> str:
    if abs(x) >= 1e8:
        return f"{x:.0e}".replace("e+", "e")
    if float(x).is_integer() and abs(x) >= 1e4:
        return f"{int(x):,}"
    return f"{x:g}"


def _split(hint: Any) -> tuple[Any, tuple[Any, ...]]:
    """Return ``(type, markers)`` of a possibly ``Annotated`` hint."""
    if typing.get_origin(hint) is typing.Annotated:
        base, *extras = typing.get_args(hint)
        return base, tuple(m for m in extras if isinstance(m, Marker))
    return hint, ()


def _is_optional(hint: Any) -> tuple[bool, list[Any]]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = list(typing.get_args(hint))
        return type(None) in args, [a for a in args if a is not type(None)]
    return False, [hint]


def describe(hint: Any) -> str:
    """Return the allowed values of a hint in words (for messages and docs)."""
    optional, options = _is_optional(hint)
    words = " or ".join(_describe_one(a) for a in options)
    return words + (" (or leave the key out)" if optional else "")


def _describe_one(hint: Any) -> str:
    base, markers = _split(hint)
    origin = typing.get_origin(base)
    if origin is typing.Literal:
        return f"one of {list(typing.get_args(base))}"
    if origin in (tuple, list):
        inner = typing.get_args(base)[0] if typing.get_args(base) else Any
        if typing.get_origin(inner) is typing.Literal:
            return f"a list of values from {list(typing.get_args(inner))}"
        return f"a list of {_plural(describe(inner))}"
    if isinstance(base, type) and dataclasses.is_dataclass(base):
        return "a table"
    text = {bool: "true or false", int: "an integer", float: "a number",
            str: "a string"}.get(base, getattr(base, "__name__", str(base)))
    for m in markers:
        if isinstance(m, Range):
            text += f" in {m}" if m.low is not None and m.high is not None else f" {m}"
            if m.bars:
                text += ", at most the panel's bars"
        else:
            text = str(m)
    return text


def _plural(text: str) -> str:
    for one, many in (("an integer", "integers"), ("a number", "numbers"),
                      ("a string", "strings"), ("a symbol", "symbols"),
                      ("a duration", "durations")):
        if text.startswith(one):
            return many + text[len(one):]
    return text


def _allowed_values_doc(cls: type[Params]) -> str:
    hints = type_hints(cls)
    defaults = {name: value for name, value in cls.__dict__.items() if name in hints}
    rows = []
    for name, hint in hints.items():
        if typing.get_origin(hint) is ClassVar:
            continue
        default = defaults.get(name, dataclasses.MISSING)
        shown = ("" if default is dataclasses.MISSING or default is None
                 else f" (default {_toml(default)})")
        rows.append(f"    ``{name}``: {describe(hint)}{shown}.")
    if not rows:
        return ""
    table = cls.__config_table__
    return ("Notes\n-----\n"
            f"Allowed values, checked when the config is built (from ``[{table}]`` or in "
            "Python) and, for windows and symbols, against the panel before the study runs:\n\n"
            + "\n".join(rows))


def _fail(where: str, name: str, hint: Any, value: Any, default: Any,
          why: str = "") -> typing.NoReturn:
    fix = (f"; fix: e.g. {name} = {_toml(default)} (the default)"
           if default is not dataclasses.MISSING and default is not None else "")
    raise ConfigError(f"[{where}] {name}: expected {describe(hint)}, got {_shown(value)}"
                      f"{why}{fix}")


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def _shown(value: Any) -> str:
    kind = {bool: "a boolean", str: "a string", float: "a float", int: "an integer",
            list: "a list", tuple: "a list", dict: "a table"}.get(type(value))
    return f"{value!r} ({kind})" if kind else repr(value)


def check_value(name: str, value: Any, hint: Any, *, where: str = "params",
                default: Any = dataclasses.MISSING) -> Any:
    """Check a parameter against its declared hint and return it normalised.

    Parameters
    ----------
    name : str
        Parameter name (for messages).
    value : Any
        The value given.
    hint : type hint
        The field's annotation, possibly ``Annotated`` with a marker of this module.
    where : str, default "params"
        The TOML table, for messages.
    default : Any, optional
        The field's default, suggested in the fix.

    Returns
    -------
    Any
        ``value`` with integers made floats for float fields and lists made tuples for
        tuple fields (the same object when nothing changes).

    Raises
    ------
    ConfigError
        On a value of the wrong type (a boolean for a number, a string for a number or a
        list), a non-finite number, or a value outside the declared range.
    """
    if hint is Any:
        return value
    optional, options = _is_optional(hint)
    if value is None:
        if optional:
            return None
        _fail(where, name, hint, value, default)
    errors: list[ConfigError] = []
    for option in options:
        try:
            return _check_one(name, value, option, where, default, hint)
        except ConfigError as exc:
            errors.append(exc)
    raise errors[0]


def _check_one(name: str, value: Any, hint: Any, where: str, default: Any,
               whole: Any) -> Any:
    base, markers = _split(hint)
    origin = typing.get_origin(base)
    if origin is typing.Literal:
        allowed = typing.get_args(base)
        if isinstance(value, bool) or not any(value == a and type(value) is type(a)
                                              for a in allowed):
            near = near_matches(value, [str(a) for a in allowed]) if isinstance(value, str) \
                else []
            _fail(where, name, whole, value, default,
                  f" (did you mean {near[0]!r}?)" if near else "")
        return value
    if origin in (tuple, list):
        if isinstance(value, str) or not isinstance(value, list | tuple):
            hint_text = f" (a single value is a list of one: {name} = [{_toml(value)}])" \
                if isinstance(value, str | int | float) and not isinstance(value, bool) else ""
            _fail(where, name, whole, value, default, hint_text)
        inner = typing.get_args(base)[0] if typing.get_args(base) else Any
        items = [check_value(f"{name}[{i}]", v, inner, where=where)
                 for i, v in enumerate(value)]
        out = tuple(items) if origin is tuple else items
        same = type(out) is type(value) and all(a is b for a, b in zip(out, value, strict=True))
        return value if same else out
    if isinstance(base, type) and dataclasses.is_dataclass(base):
        if not isinstance(value, base):
            _fail(where, name, whole, value, default, f" (a [{where}.{name}] table)")
        return value
    if base is bool:
        if not isinstance(value, bool):
            _fail(where, name, whole, value, default)
        return value
    if base is str:
        if isinstance(value, date) and any(isinstance(m, When) for m in markers):
            value = value.isoformat()  # a TOML date or datetime, written as its ISO string
        if not isinstance(value, str):
            _fail(where, name, whole, value, default)
        for m in markers:
            _check_string(name, value, m, where, whole, default)
        return value
    if base in (int, float):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or (
                base is int and not isinstance(value, numbers.Integral)):
            why = " (booleans are not numbers)" if isinstance(value, bool) else (
                " (write the number without quotes)" if isinstance(value, str) else "")
            _fail(where, name, whole, value, default, why)
        number = int(typing.cast(Any, value)) if base is int else float(value)
        if not math.isfinite(number):
            _fail(where, name, whole, value, default, " (numbers must be finite)")
        for m in markers:
            if isinstance(m, Range) and not m.contains(number):
                _fail(where, name, whole, value, default)
        return value if type(value) is type(number) else number
    return value


def _check_string(name: str, value: str, marker: Marker, where: str, whole: Any,
                  default: Any) -> None:
    if isinstance(marker, Duration):
        try:
            freq_to_timedelta(value)
        except ConfigError:
            calendar = value.strip().lower().endswith(("mo", "y", "month", "months", "year"))
            _fail(where, name, whole, value, default,
                  " (months and years have no fixed length: use days, e.g. '30d')"
                  if calendar else "")
    elif isinstance(marker, When):
        parse_time(value, f"[{where}] {name}")


def parse_time(value: Any, what: str) -> datetime:
    """Parse an ISO date or time (str, ``date`` or ``datetime``) to an aware UTC datetime.

    Naive times are UTC; a time with an offset is converted. ``what`` names the key in the
    error (``"[data] start"``).

    Raises
    ------
    ConfigError
        If the value is not a date or time, naming the key, the value and the expected form.
    """
    if isinstance(value, datetime):
        stamp = value
    elif isinstance(value, date):
        stamp = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                f"{what}: expected an ISO date or time such as '2025-01-01' or "
                f"'2025-01-01T12:00:00' (UTC unless it gives an offset), got {value!r}"
            ) from None
    else:
        raise ConfigError(f"{what}: expected an ISO date or time such as '2025-01-01', got "
                          f"{_shown(value)}")
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def near_matches(name: Any, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` candidates close to ``name`` (``difflib``), case-insensitively."""
    pool = list(candidates)
    lower = {c.lower(): c for c in pool}
    found = difflib.get_close_matches(str(name).lower(), list(lower), n=n, cutoff=0.6)
    return [lower[f] for f in found]


def unknown_names(asked: Sequence[str], have: Iterable[str], what: str, source: str) -> None:
    """Raise :class:`ConfigError` naming every name of ``asked`` not in ``have``.

    Each unknown name is listed with its near matches among ``have``; ``what`` names the key
    (``"[data] symbols"``) and ``source`` the data searched (``"dataset binance-perp-1h"``).
    """
    pool = sorted(set(have))
    present = set(pool)
    missing = [s for s in asked if s not in present]
    if not missing:
        return
    parts = []
    for s in missing:
        near = near_matches(s, pool)
        parts.append(f"{s!r} (did you mean {', '.join(map(repr, near))}?)" if near else repr(s))
    sample = ", ".join(pool[:12]) + (", ..." if len(pool) > 12 else "")
    raise ConfigError(
        f"{what}: {len(missing)} name(s) not in {source}: {'; '.join(parts)}; it has "
        f"{len(pool)} symbols ({sample or 'none'}); fix: correct or remove the name(s)")


def check_data(config: Any, panel: pl.DataFrame, study: str) -> None:
    """Check a config against the panel a study is about to run on, before any work.

    Parameters
    ----------
    config : Params
        The study's config.
    panel : pl.DataFrame
        The canonical panel.
    study : str
        Study name, for messages.

    Raises
    ------
    DataError
        If the panel has no bars.
    ConfigError
        If a window in bars (:func:`Bars`) is longer than the panel's bars, a duration
        window (:class:`Duration` ``window=True``) longer than its span, or a
        :class:`Symbol` is not in the panel (near matches named).
    """
    if panel.height == 0:
        raise DataError(f"{study}: expected a panel with bars, got an empty frame",
                        fix="check the [data] table (dataset, symbols, start, end)")
    first, last, n_bars, step = _bar_times(panel)
    span = last - first + step  # the last bar covers [last, last + step)
    symbols: list[str] | None = None
    for name, value, marker, where in _markers(config):
        shown = f"panel ({first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC)"
        if isinstance(marker, Range) and marker.bars:
            for v in _values(value):
                if v > n_bars:
                    raise ConfigError(
                        f"[{where}] {name} = {v} bars is longer than the {shown}, which has "
                        f"{n_bars:,} bars; fix: lower {name} to at most {n_bars:,} or load "
                        "more data")
        elif isinstance(marker, Duration) and marker.window:
            for v in _values(value):
                if freq_to_timedelta(v) > span:
                    raise ConfigError(
                        f"[{where}] {name} = {v!r} is longer than the {shown}, which spans "
                        f"{_span(span)}; fix: shorten {name} or load more data")
        elif isinstance(marker, Symbol):
            if symbols is None:
                symbols = panel.get_column("symbol").unique().to_list()
            unknown_names(list(_values(value)), symbols, f"[{where}] {name}",
                          f"the {study} panel")


_BarTimes = tuple[datetime, datetime, int, timedelta]
_LAST_PANEL: list[tuple[weakref.ref[pl.DataFrame], int, _BarTimes]] = []


def _bar_times(panel: pl.DataFrame) -> _BarTimes:
    """First and last bar time, number of distinct bar times and the smallest step.

    Kept for the last panel seen (by identity, while it lives): a sweep checks every trial's
    config against one panel, and polars frames are immutable.
    """
    if _LAST_PANEL:
        ref, height, facts = _LAST_PANEL[0]
        if ref() is panel and height == panel.height:
            return facts
    stamps = panel.get_column("ts").unique().sort()
    first, last = stamps[0], stamps[-1]
    assert isinstance(first, datetime) and isinstance(last, datetime)
    steps = stamps.diff().drop_nulls()
    step = steps.min() if steps.len() else timedelta(0)
    assert isinstance(step, timedelta)
    facts = (first, last, stamps.len(), step)
    _LAST_PANEL[:] = [(weakref.ref(panel), panel.height, facts)]
    return facts


def _span(span: timedelta) -> str:
    days = span / timedelta(days=1)
    return f"{days:,.1f} days" if days >= 1 else f"{span.total_seconds() / 3600:g} hours"


def _values(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, tuple | list) else (value,)


def _markers(config: Any) -> list[tuple[str, Any, Marker, str]]:
    """Return ``(name, value, marker, table)`` of every marked field, nested tables included."""
    out: list[tuple[str, Any, Marker, str]] = []
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        return out
    where = getattr(config, "__config_table__", "params")
    hints = type_hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out += _markers(value)
            continue
        for option in _is_optional(hints.get(f.name, Any))[1]:
            base, markers = _split(option)
            if typing.get_origin(base) in (tuple, list) and typing.get_args(base):
                markers = _split(typing.get_args(base)[0])[1]
            out += [(f.name, value, m, where) for m in markers]
    return out
