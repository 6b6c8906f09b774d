"""The one-pass verdict of the panel rules equals the rule-by-rule checks (the oracle).

:func:`coinfactor.data._checks.rows_pass` evaluates every row rule in one ``select``; the
reference is each check run on its own (``check_order``, ``check_finite``,
``check_values``, ``check_frequency``), which raise on the first broken rule. Faults of
every kind are injected at any row, with slices of a few rows so that rules looking at the
previous row are checked across slice boundaries too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinfactor.core.errors import DataError
from coinfactor.data import _checks, validate_panel

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NAN, INF = float("nan"), float("inf")

FAULTS: dict[str, dict[str, object]] = {
    "clean": {},
    "open NaN": {"open": NAN},
    "close null": {"close": None},
    "low zero": {"low": 0.0},
    "high below low": {"high": 8.0},
    "open above high": {"open": 20.0},
    "close below low": {"close": 1.0},
    "volume negative": {"volume": -1.0},
    "volume NaN": {"volume": NAN},
    "quote volume NaN": {"quote_volume": NAN},
    "trades negative": {"trades": -2},
    "open interest negative": {"open_interest": -5.0},
    "funding NaN": {"funding_rate": NAN},
    "funding +inf": {"funding_rate": INF},
    "quote volume -inf": {"quote_volume": -INF},
    "ts 30 s late": {"ts": timedelta(seconds=30)},
    "ts one bar back": {"ts": timedelta(minutes=-1)},
    "ts two bars back": {"ts": timedelta(minutes=-2)},
}


def _panel(n: int, symbols: int) -> pl.DataFrame:
    rows = []
    for s in range(symbols):
        for i in range(n):
            rows.append({"ts": T0 + timedelta(minutes=i + (i > n // 2)),  # one gap
                         "symbol": f"S{s}", "open": 10.0 + i, "high": 12.0 + i,
                         "low": 9.0 + i, "close": 11.0 + i, "volume": 5.0,
                         "quote_volume": 50.0, "trades": 3, "funding_rate": 1e-4,
                         "open_interest": 1e6})
    return validate_panel(pl.DataFrame(rows), freq="1m")


def _inject(df: pl.DataFrame, row: int, fault: dict[str, object]) -> pl.DataFrame:
    at = pl.int_range(pl.len()) == row
    out = []
    for col, value in fault.items():
        if col == "ts":
            out.append(pl.when(at).then(pl.col("ts") + value).otherwise(pl.col("ts")).alias("ts"))
        else:
            out.append(pl.when(at).then(pl.lit(value, dtype=df.schema[col]))
                       .otherwise(pl.col(col)).alias(col))
    return df.with_columns(out) if out else df


def _checks_pass(df: pl.DataFrame, freq: str | None) -> bool:
    """The reference: every check on its own, in validate_panel's order."""
    try:
        _checks.check_order(df)
        _checks.check_finite(df)
        _checks.check_values(df)
        _checks.check_frequency(df, freq)
    except DataError:
        return False
    return True


@settings(max_examples=150, deadline=None)
@given(fault=st.sampled_from(sorted(FAULTS)), row=st.integers(0, 23),
       symbols=st.integers(1, 3), slice_rows=st.integers(2, 9),
       freq=st.sampled_from(["1m", None]))
def test_one_pass_verdict_equals_the_checks(fault: str, row: int, symbols: int,
                                            slice_rows: int, freq: str | None) -> None:
    df = _inject(_panel(8, symbols), row % (8 * symbols), FAULTS[fault])
    old = _checks._SLICE_ROWS
    _checks._SLICE_ROWS = slice_rows  # hypothesis runs examples in one thread
    try:
        want = _checks_pass(df, freq)
        got = _checks.rows_pass(df, freq)
    finally:
        _checks._SLICE_ROWS = old
    if freq is not None:
        assert got == want, (fault, row)
    else:  # without a declared frequency the modal-step rule is not a row rule
        assert got or not want, (fault, row)


@pytest.mark.parametrize("fault", [f for f in FAULTS if f != "clean"])
def test_every_fault_raises_the_error_of_its_own_check(fault: str) -> None:
    df = _inject(_panel(8, 2), 11, FAULTS[fault])
    with pytest.raises(DataError) as by_rules:
        _checks.check_order(df)
        _checks.check_finite(df)
        _checks.check_values(df)
        _checks.check_frequency(df, "1m")
    with pytest.raises(DataError) as by_validate:
        validate_panel(df, freq="1m")
    assert str(by_validate.value) == str(by_rules.value)
    got, want = by_validate.value.rows, by_rules.value.rows
    assert got is not None and want is not None and got.equals(want)
