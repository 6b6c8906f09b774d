"""The rules of the canonical panel, checked over its rows: order, values, bar frequency.

:func:`coinfactor.data.validate_panel` runs them after coercion. Every rule is a polars mask
over the rows (``True`` where a row breaks it), defined once here: :func:`rows_pass` tells
in one compiled pass over the values whether any of them holds somewhere
(:mod:`coinfactor.data._checks_kernel`; its reference :func:`rows_pass_reference` evaluates
every mask in one ``select``), and only then do the checks below run, in their fixed
order, to count the offending rows, show the first of them and raise the same
:class:`~coinfactor.core.errors.DataError` they always raise. Masks are evaluated slice
by slice (:data:`_SLICE_ROWS` rows with one row of context), so a check's temporaries are
bounded by a slice, not by the panel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import cast

import numpy as np
import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.core.time import freq_to_timedelta, timedelta_to_freq

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
NUMERIC_COLUMNS: tuple[str, ...] = (
    "open", "high", "low", "close", "volume", "quote_volume", "funding_rate", "open_interest",
)
"""Float columns of the panel; every value must be finite (or null where nullable)."""

SHOW_ROWS = 5
_SLICE_ROWS = 1 << 21
"""Rows per slice of the row checks: a check's temporaries are bounded by a slice (about
2 M rows, tens of MB), not by the panel, so validating a 20 M-row panel stays within a
fraction of its own size."""


def _first_rows(df: pl.DataFrame, mask: pl.Expr, columns: list[str]) -> tuple[int, pl.DataFrame]:
    """Count the rows where ``mask`` holds; return the count and the first offending rows.

    ``mask`` is evaluated slice by slice with one row of context on each side, so masks that
    look at the previous or next row (``shift(1)``, ``shift(-1)``) see the same neighbours as
    on the whole frame; a null mask value counts as False.
    """
    cols = ["row"] + [c for c in ("symbol", "ts") if c in df.columns and c not in columns]
    total = 0
    shown: list[pl.DataFrame] = []
    n_shown = 0
    height = df.height
    for start in range(0, height, _SLICE_ROWS):
        length = min(_SLICE_ROWS, height - start)
        lo, hi = max(start - 1, 0), min(start + length + 1, height)
        sub = df.slice(lo, hi - lo)
        hit = sub.select(mask.fill_null(False).alias("m")).get_column("m")
        hit = hit.slice(start - lo, length)
        n = int(hit.sum())
        if not n:
            continue
        total += n
        if n_shown < SHOW_ROWS:
            part = (sub.slice(start - lo, length).with_row_index("row", offset=start)
                    .filter(hit).select(cols + columns).head(SHOW_ROWS - n_shown))
            shown.append(part)
            n_shown += part.height
    if not shown:
        return 0, df.head(0).with_row_index("row").select(cols + columns)
    return total, pl.concat(shown)



def check_nulls(df: pl.DataFrame) -> None:
    for name in ("ts", "symbol"):
        if not df.get_column(name).null_count():
            continue
        n, rows = _first_rows(df, pl.col(name).is_null(), [name])
        raise DataError(
            f"column {name!r}: expected no missing values, found {n} null row(s)",
            column=name,
            rows=rows,
            fix="drop rows without a bar time or symbol",
        )


def _same_symbol() -> pl.Expr:
    """Mark the rows that continue the previous row's symbol (rows sorted by symbol)."""
    return pl.col("symbol") == pl.col("symbol").shift(1)


def _unsorted() -> pl.Expr:
    """Rows that sort before the previous row (by symbol, then ts)."""
    prev_sym = pl.col("symbol").shift(1)
    return (pl.col("symbol") < prev_sym) | (
        (pl.col("symbol") == prev_sym) & (pl.col("ts") < pl.col("ts").shift(1))
    )


def _again() -> pl.Expr:
    """Rows whose key is the previous row's (a duplicate, on sorted rows)."""
    return _same_symbol() & (pl.col("ts") == pl.col("ts").shift(1))


def check_order(df: pl.DataFrame) -> None:
    """One row per (symbol, ts), sorted by (symbol, ts).

    On sorted rows a duplicate is the previous row again, so the check needs no hash of the
    keys; the hash is only built to report duplicates of unsorted rows.
    """
    n_unsorted, unsorted_rows = _first_rows(df, _unsorted(), ["symbol", "ts"])
    if n_unsorted:
        dup = df.select(pl.struct("symbol", "ts").is_duplicated().alias("d"))["d"]
        n_dup = int(dup.sum())
        dup_rows = (df.with_row_index("row").filter(dup).select("row", "symbol", "ts")
                    .head(SHOW_ROWS))
    else:
        again = _again()
        n_dup, dup_rows = _first_rows(df, again | again.shift(-1), ["symbol", "ts"])
    if n_dup:
        raise DataError(
            f"expected one row per (symbol, ts), found {n_dup} duplicated row(s)",
            column="ts",
            rows=dup_rows,
            fix="drop duplicates, e.g. df.unique(['symbol', 'ts'], keep='last', "
            "maintain_order=True), after checking which copy is right",
        )
    if n_unsorted:
        raise DataError(
            f"expected rows sorted by (symbol, ts), found {n_unsorted} row(s) out of order",
            column="ts",
            rows=unsorted_rows,
            fix="sort first: df.sort('symbol', 'ts')",
        )


@dataclass(frozen=True)
class _Rule:
    """A rule on single rows: the mask of the rows breaking it and how to report them."""

    mask: pl.Expr
    """True where a row breaks the rule (null counts as False)."""
    shown: tuple[str, ...]
    """Columns shown beside ``row`` (and symbol, ts) for the first offending rows."""
    column: str
    message: str
    """The error's first line, ``{n}`` standing for the number of offending rows."""
    fix: str


def _finite_rules() -> list[_Rule]:
    return [
        _Rule(pl.col(name).is_infinite(), (name,), name,
              f"column {name!r}: expected finite numbers, found {{n}} row(s) with +inf/-inf",
              "repair or drop those bars (an overflowed or unparsed venue value?); use null "
              "for an unknown optional value")
        for name in NUMERIC_COLUMNS
    ]


def _value_rules() -> list[_Rule]:
    c = pl.col
    rules = [
        _Rule(c(name).is_null() | c(name).is_nan() | (c(name) <= 0), (name,), name,
              f"column {name!r}: expected prices > 0 and not NaN/null, found {{n}} bad row(s)",
              "drop or repair those bars; a missing bar should be absent, not NaN (use "
              "coinfactor.data.regularize to add flagged filler bars when needed)")
        for name in PRICE_COLUMNS
    ]
    rules.append(_Rule(c("high") < c("low"), ("low", "high"), "high",
                       "columns 'high'/'low': expected high >= low, found {n} bar(s) with "
                       "high < low",
                       "check the column mapping (high and low swapped?) or drop those bars"))
    rules += [
        _Rule((c(name) < c("low")) | (c(name) > c("high")), ("low", name, "high"), name,
              f"column {name!r}: expected low <= {name} <= high, found {{n}} bar(s) outside "
              "the range",
              "drop or repair those bars (check the column mapping)")
        for name in ("open", "close")
    ]
    rules.append(_Rule(c("volume").is_null() | c("volume").is_nan() | (c("volume") < 0),
                       ("volume",), "volume",
                       "column 'volume': expected base volume >= 0 and not NaN/null, found "
                       "{n} bad row(s)", "drop or repair those bars"))
    for name in ("quote_volume", "trades", "open_interest"):
        neg = c(name) < 0
        if name != "trades":
            neg = neg | c(name).is_nan()
        rules.append(_Rule(neg, (name,), name,
                           f"column {name!r}: expected values >= 0 (or null), found {{n}} bad "
                           "row(s)",
                           "set unknown values to null; negative values are errors"))
    rules.append(_Rule(c("funding_rate").is_nan(), ("funding_rate",), "funding_rate",
                       "column 'funding_rate': expected a rate or null, found {n} NaN row(s)",
                       "use null for unknown funding"))
    return rules


def _check_rules(df: pl.DataFrame, rules: list[_Rule]) -> None:
    """Raise for the first rule of ``rules`` that some row of ``df`` breaks."""
    for rule in rules:
        n, rows = _first_rows(df, rule.mask, list(rule.shown))
        if n:
            raise DataError(rule.message.format(n=n), column=rule.column, rows=rows,
                            fix=rule.fix)


def check_finite(df: pl.DataFrame) -> None:
    _check_rules(df, _finite_rules())


def check_values(df: pl.DataFrame) -> None:
    _check_rules(df, _value_rules())


def _off_grid(step_us: int) -> pl.Expr:
    """Rows whose step from the previous bar of their symbol is not a positive multiple."""
    step = (pl.col("ts") - pl.col("ts").shift(1)).dt.total_microseconds()
    return _same_symbol() & ((step % step_us != 0) | (step <= 0))


def rows_pass(df: pl.DataFrame, freq: str | None) -> bool:
    """Whether every row rule holds on ``df`` (coerced, no null keys): nothing reported.

    The rules are those of :func:`check_order`, :func:`check_finite`,
    :func:`check_values` and, with a declared ``freq``, :func:`check_frequency` (with it
    every step must be a positive multiple of ``freq``; a symbol whose usual step is shorter
    has such steps too). On False the checks themselves run and raise. One compiled pass
    over the values (:func:`coinfactor.data._checks_kernel.rows_hold`; its reference, the
    polars masks, is :func:`rows_pass_reference`).
    """
    from coinfactor.core.compiled import frozen as _frozen  # numba: imported on first use
    from coinfactor.data._checks_kernel import rows_hold

    if df.height == 0:
        return True
    required = [*PRICE_COLUMNS, "volume"]
    if any(df.get_column(name).null_count() for name in required):
        return False
    symbols, n = df.get_column("symbol"), df.height
    first_rows = symbol_runs(symbols)
    if first_rows.size > 1:
        runs = symbols.gather(first_rows)
        if not (runs.slice(1) > runs.slice(0, runs.len() - 1)).all():
            return False  # the runs' symbols must increase: each symbol one run
    bounds = np.append(first_rows, np.int64(n))
    step = 0 if freq is None else int(freq_to_timedelta(freq) // timedelta(microseconds=1))
    ts_all = df.get_column("ts")
    if ts_all.dtype != pl.Datetime("us", ts_all.dtype.time_zone):  # type: ignore[attr-defined]
        ts_all = ts_all.dt.cast_time_unit("us")
    ts_all = ts_all.to_physical()
    for a, b in _chunks(df):  # column chunks read in place (no copy of the panel)
        if a and a not in bounds:  # a row continuing the symbol of the chunk before
            d = int(ts_all[a]) - int(ts_all[a - 1])
            if d <= 0 or (step and d % step):
                return False
        sub = df.slice(a, b - a)

        def values(name: str, dtype: type, sub: pl.DataFrame = sub) -> np.ndarray:
            col = sub.get_column(name)
            if col.null_count():
                col = col.fill_null(0)  # a value no rule of a nullable column refuses
            return _frozen(col.to_physical().to_numpy(), dtype)

        inner = bounds[(bounds > a) & (bounds < b)] - a
        if not rows_hold(
                _frozen(ts_all.slice(a, b - a).to_numpy(), np.int64),
                np.concatenate([[0], inner, [b - a]]).astype(np.int64), step,
                tuple(values(name, np.float64) for name in PRICE_COLUMNS),
                values("volume", np.float64),
                (values("quote_volume", np.float64), values("open_interest", np.float64)),
                values("trades", np.int64), values("funding_rate", np.float64)):
            return False
    return True


def symbol_runs(symbols: pl.Series) -> np.ndarray:
    """First row of each run of one symbol in ``symbols`` (non-empty), int64, shape (r,)."""
    first = symbols[0]
    if symbols[-1] == first and (symbols == first).all():  # one symbol (a per-symbol file)
        return np.zeros(1, dtype=np.int64)
    changes = (symbols.slice(1) != symbols.slice(0, symbols.len() - 1)).arg_true() + 1
    return np.concatenate([[0], changes.to_numpy()]).astype(np.int64)


_KERNEL_COLUMNS = ("ts", *NUMERIC_COLUMNS, "trades")


def _chunks(df: pl.DataFrame) -> list[tuple[int, int]]:
    """Row ranges within which each column the pass reads is one chunk (read in place)."""
    cuts = {df.height}
    for name in _KERNEL_COLUMNS:
        cuts.update(np.cumsum(df.get_column(name).chunk_lengths()).tolist())
    ends = sorted(c for c in cuts if c > 0)
    return list(zip([0, *ends[:-1]], ends, strict=True))


def rows_pass_reference(df: pl.DataFrame, freq: str | None) -> bool:
    """Whether every row rule holds on ``df``: every polars mask evaluated (the reference).

    What :func:`rows_pass` answers with one compiled pass; the two are held equal by
    ``tests/data/test_checks_one_pass.py``.

    The rules are those of :func:`check_order`, :func:`check_finite`,
    :func:`check_values` and, with a declared ``freq``, :func:`check_frequency` (with it
    every step must be a positive multiple of ``freq``; a symbol whose usual step is shorter
    has such steps too). On False the checks themselves run and raise.
    """
    masks = [_unsorted() | _again(), *[r.mask for r in (*_finite_rules(), *_value_rules())]]
    if freq is not None:
        masks.append(_off_grid(int(freq_to_timedelta(freq).total_seconds() * 1_000_000)))
    hit = pl.any_horizontal([m.fill_null(False) for m in masks]).any().alias("hit")
    height = df.height
    for start in range(0, height, _SLICE_ROWS):
        lo = max(start - 1, 0)  # the previous row: the context of shift(1)
        sub = df.slice(lo, min(start + _SLICE_ROWS, height) - lo)
        if sub.select(hit).item():
            return False
    return True


def _step_counts(df: pl.DataFrame, by_symbol: bool) -> pl.DataFrame:
    """Count the positive steps between consecutive bars of one symbol.

    Rows are sorted by (symbol, ts). Returns ``[symbol,] step, len`` (``step`` a Duration),
    accumulated slice by slice so that no panel-sized column of steps is built.
    """
    keys = ["symbol", "step"] if by_symbol else ["step"]
    step = pl.col("ts") - pl.col("ts").shift(1)
    parts = []
    height = df.height
    for start in range(0, height, _SLICE_ROWS):
        lo = max(start - 1, 0)
        sub = df.slice(lo, min(start + _SLICE_ROWS, height) - lo).select("symbol", "ts")
        steps = sub.select(
            "symbol", step.alias("step"), (_same_symbol() & (step > timedelta(0))).alias("ok")
        ).filter(pl.col("ok"))
        parts.append(steps.group_by(keys).len())
    schema: dict[str, pl.DataType] = {"symbol": pl.String(), "step": pl.Duration("us"),
                                      "len": pl.UInt32()}
    if not parts:
        return pl.DataFrame(schema={k: schema[k] for k in [*keys, "len"]})
    return pl.concat(parts).group_by(keys).agg(pl.col("len").sum())


def _symbol_steps(df: pl.DataFrame) -> pl.DataFrame:
    """Per symbol: the modal step between consecutive bars (the smallest on a tie)."""
    counts = _step_counts(df, by_symbol=True)
    if counts.height == 0:
        return pl.DataFrame(schema={"symbol": pl.String, "step": pl.Duration("us")})
    return (
        counts.sort(["symbol", "len", "step"], descending=[False, True, False])
        .group_by("symbol", maintain_order=True)
        .first()
        .select("symbol", "step")
    )


def infer_freq(panel: pl.DataFrame) -> str:
    """Infer a panel's bar frequency: the most common step between consecutive bars.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel, sorted by (symbol, ts).

    Returns
    -------
    str
        Frequency string such as ``"1h"``.

    Raises
    ------
    DataError
        If no symbol has two bars, so no step can be seen.
    """
    # rows are sorted by (symbol, ts): a step is a diff between neighbours of one symbol
    counts = _step_counts(panel, by_symbol=False)
    if counts.height == 0:
        raise DataError(
            "cannot infer the bar frequency: no symbol has two bars",
            fix="pass freq= explicitly",
        )
    mode = counts.sort(["len", "step"], descending=[True, False])
    return timedelta_to_freq(cast(timedelta, mode["step"][0]))


def mode_step(steps: pl.Series) -> timedelta:
    """Most common value of a non-empty Duration series; the smallest one on a tie.

    A value taking more than half of the entries is the mode (no other value can tie it):
    the most common value of a leading sample is checked for that with one comparison pass,
    and only when it fails are the values grouped and counted.
    """
    raw = steps.cast(pl.Int64).to_numpy()  # the duration in its own time unit
    values, counts = np.unique(raw[:1024], return_counts=True)
    candidate = values[np.argmax(counts)]
    if 2 * np.count_nonzero(raw == candidate) > raw.size:
        return cast(timedelta, pl.Series([candidate], dtype=pl.Int64).cast(steps.dtype)[0])
    frame = steps.alias("step").to_frame()
    mode = frame.group_by("step").len().sort(["len", "step"], descending=[True, False])
    return cast(timedelta, mode["step"][0])


def check_frequency(df: pl.DataFrame, freq: str | None) -> None:
    steps = _symbol_steps(df)
    if steps.height == 0:
        return
    expected = freq_to_timedelta(freq) if freq is not None else None
    if expected is None:
        counts = steps.group_by("step").len().sort(["len", "step"], descending=[True, False])
        expected = counts["step"][0]
        # without a declared frequency, a symbol whose usual step differs is another frequency
        odd = steps.filter(pl.col("step") != expected)
    else:
        # a declared frequency: sparse symbols (mostly gaps) are fine; only the grid matters
        odd = steps.filter(pl.col("step") < expected)
    if odd.height:
        raise DataError(
            f"expected one bar frequency ({timedelta_to_freq(expected)}) for every symbol, "
            f"found {odd.height} symbol(s) at another frequency",
            column="ts",
            rows=odd.with_columns(
                pl.col("step").map_elements(timedelta_to_freq, return_dtype=pl.String)
            ).head(SHOW_ROWS),
            fix="resample every symbol to one frequency (coinfactor.data.resample) or split "
            "the panel",
        )
    n, rows = _first_rows(df, _off_grid(int(expected.total_seconds() * 1_000_000)),
                          ["symbol", "ts"])
    if n:
        raise DataError(
            f"mixed bar frequency: expected steps that are whole multiples of "
            f"{timedelta_to_freq(expected)} (gaps allowed), found {n} bar(s) off that grid",
            column="ts",
            rows=rows,
            fix="resample to one frequency (coinfactor.data.resample) or drop the stray bars",
        )



def check_declared(df: pl.DataFrame, freq: str) -> None:
    """Refuse a declared frequency other than the data's (the most common step)."""
    counts = _step_counts(df, by_symbol=False)
    if counts.height == 0:
        return  # no symbol has two bars: nothing to compare with
    mode = cast(timedelta, counts.sort(["len", "step"], descending=[True, False])["step"][0])
    declared = freq_to_timedelta(freq)
    if mode != declared:
        data = timedelta_to_freq(mode)
        shape = ("bars with most of them missing" if mode > declared
                 else "bars shorter than they are")
        raise DataError(
            f"declared bar frequency {timedelta_to_freq(declared)!r}, but the data's bars are "
            f"{data} apart (the most common step between a symbol's bars): stored as "
            f"{timedelta_to_freq(declared)} they would read as {shape}",
            column="ts",
            fix=f"declare {data!r} (freq={data!r}, --freq {data}) or omit the frequency to use "
            "the data's; to store another frequency, resample first (coinfactor.data.resample)",
        )


def check_rows(df: pl.DataFrame, freq: str | None) -> None:
    """Check the row rules of a coerced panel; raise the first broken one.

    Order and keys, finite numbers, values, then the bar frequency (``freq`` declared, or
    the panel's modal step), each raising a :class:`~coinfactor.core.errors.DataError` that
    names the column, the offending rows and the fix; :func:`rows_pass` first tells in one
    pass whether any of them can fail.
    """
    if rows_pass(df, freq):
        if freq is None:  # the modal step is not a row rule: the symbols' steps are compared
            check_frequency(df, None)
        return
    check_order(df)
    check_finite(df)
    check_values(df)
    check_frequency(df, freq)
