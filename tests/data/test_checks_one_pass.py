"""The one-pass verdicts of the panel rules equal the rule-by-rule checks (the oracle).

:func:`coinfactor.data._checks.rows_pass` (one compiled pass over the values,
:mod:`coinfactor.data._checks_kernel`) and :func:`~coinfactor.data._checks.rows_pass_reference`
(every polars mask in one ``select``) must both agree with the reference: each check run on
its own (``check_order``, ``check_finite``,
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
    "high +inf": {"high": INF},
    "close +inf": {"close": INF},
    "volume +inf": {"volume": INF},
    "open interest NaN": {"open_interest": NAN},
    "open interest +inf": {"open_interest": INF},
    "quote volume null": {"quote_volume": None},
    "trades null": {"trades": None},
    "funding null": {"funding_rate": None},
    "open interest null": {"open_interest": None},
    "volume null": {"volume": None},
    "symbol later": {"symbol": "S9"},
    "symbol earlier": {"symbol": "A0"},
    "symbol of the first": {"symbol": "S0"},
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
        if freq is not None:  # without one, the modal-step rule is not a row rule
            _checks.check_frequency(df, freq)
    except DataError:
        return False
    return True


@settings(max_examples=150, deadline=None)
@given(fault=st.sampled_from(sorted(FAULTS)), row=st.integers(0, 23),
       symbols=st.integers(1, 3), slice_rows=st.integers(2, 9),
       freq=st.sampled_from(["1m", None]), chunks=st.integers(1, 3),
       verdict=st.sampled_from(["rows_pass", "rows_pass_reference"]))
def test_one_pass_verdict_equals_the_checks(fault: str, row: int, symbols: int,
                                            slice_rows: int, freq: str | None, chunks: int,
                                            verdict: str) -> None:
    df = _inject(_panel(8, symbols), row % (8 * symbols), FAULTS[fault])
    if chunks > 1:  # a frame of several chunks (as read from row groups)
        step = -(-df.height // chunks)
        df = pl.concat([df.slice(i, step) for i in range(0, df.height, step)],
                       rechunk=False)
    old = _checks._SLICE_ROWS
    _checks._SLICE_ROWS = slice_rows  # hypothesis runs examples in one thread
    try:
        want = _checks_pass(df, freq)
        got = getattr(_checks, verdict)(df, freq)
    finally:
        _checks._SLICE_ROWS = old
    assert got == want, (fault, row)


@pytest.mark.parametrize("verdict", ["rows_pass", "rows_pass_reference"])
@pytest.mark.parametrize("freq", ["1m", None])
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_every_fault_at_fixed_rows(fault: str, freq: str | None, verdict: str) -> None:
    """Each fault inside a symbol, at its first row and at the panel's last row.

    Also on a frame of 3-row chunks, so that row 3 starts a chunk within a symbol (the
    compiled pass reads chunk by chunk and checks the step across chunk seams itself).
    """
    for row in (3, 8, 15):
        df = _inject(_panel(8, 2), row, FAULTS[fault])
        want = _checks_pass(df, freq)
        chunked = pl.concat([df.slice(i, 3) for i in range(0, df.height, 3)], rechunk=False)
        assert chunked.get_column("close").n_chunks() > 1
        for frame in (df, chunked):
            assert getattr(_checks, verdict)(frame, freq) == want, (fault, row)


ALLOWED = {"clean", "quote volume null", "trades null", "funding null", "open interest null"}
"""Changes that break no rule (an optional value may be unknown)."""


@pytest.mark.parametrize("fault", [f for f in FAULTS if f not in ALLOWED])
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
