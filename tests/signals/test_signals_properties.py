"""Hypothesis properties of the signals and universes on ragged panels.

- relabelling symbols (which permutes the symbol axis) permutes the outputs;
- multiplying every price by a constant leaves scale-free signals unchanged;
- the output has exactly the input's (symbol, ts) rows: no row for a pair the input lacks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coinfactor import signals, universe
from coinfactor.data import PANEL_SCHEMA

SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
START = datetime(2024, 1, 1, tzinfo=UTC)
PARAMS: dict[str, dict] = {"momentum": {"windows": (1, 3)}, "returns": {}}
SMALL = {"window": 3}

finite = {"allow_nan": False, "allow_infinity": False}


@st.composite
def ragged_panels(draw) -> pl.DataFrame:
    """1-5 symbols over 3-24 hourly bars, each with its own listing mask (gaps allowed)."""
    n_sym = draw(st.integers(1, 5))
    n_bars = draw(st.integers(3, 24))
    rows = []
    for j in range(n_sym):
        present = draw(st.lists(st.booleans(), min_size=n_bars, max_size=n_bars))
        if not any(present):
            present[draw(st.integers(0, n_bars - 1))] = True
        steps = draw(st.lists(st.floats(-0.2, 0.2, **finite), min_size=n_bars, max_size=n_bars))
        price = draw(st.floats(0.01, 1e4, **finite))
        for i in range(n_bars):
            o = price
            price = price * float(np.exp(steps[i]))
            if not present[i]:
                continue
            wick = draw(st.floats(0.0, 0.05, **finite))
            # volumes are 0 or >= 1e-9: a subnormal volume (5e-324) times a price scaled by
            # 1e-3 underflows to 0, which is float arithmetic, not a market
            vol = draw(st.one_of(st.just(0.0), st.floats(1e-9, 1e6, **finite)))
            rows.append({
                "ts": START + i * timedelta(hours=1), "symbol": f"S{j}", "open": o,
                "high": max(o, price) * (1 + wick), "low": min(o, price) / (1 + wick),
                "close": price, "volume": vol,
                "quote_volume": draw(st.one_of(st.none(), st.just(vol * price))),
                "trades": draw(st.integers(0, 1000)),
                "funding_rate": draw(st.one_of(st.none(), st.floats(-1e-3, 1e-3, **finite))),
            })
    # Built in the canonical schema directly: validate_panel judges each symbol by its modal
    # step, and a very sparse random symbol (e.g. bars 2h apart) would be refused as "another
    # frequency" even with freq="1h".
    frame = pl.DataFrame(rows, schema_overrides={
        "quote_volume": pl.Float64, "funding_rate": pl.Float64})
    return frame.with_columns(
        pl.lit(None, dtype=pl.Float64).alias("open_interest")
    ).select(pl.col(c).cast(t) for c, t in PANEL_SCHEMA.items()).sort("symbol", "ts")


def _run(name: str, panel: pl.DataFrame) -> pl.DataFrame:
    return signals.compute(name, panel, **{**PARAMS.get(name, SMALL), "freq": "1h"})


def _close(a: pl.DataFrame, b: pl.DataFrame, col: str, rtol: float, atol: float = 1e-12) -> None:
    assert a.select("ts", "symbol").equals(b.select("ts", "symbol"))
    x = a.get_column(col).to_numpy().astype(float)
    y = b.get_column(col).to_numpy().astype(float)
    np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=col)
    np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=col)


@SETTINGS
@given(panel=ragged_panels(), data=st.data())
def test_relabelling_symbols_permutes_outputs(panel: pl.DataFrame, data) -> None:
    syms = sorted(panel.get_column("symbol").unique().to_list())
    perm = data.draw(st.permutations(syms))
    mapping = {s: f"Z{p}" for s, p in zip(syms, perm, strict=True)}
    back = {v: k for k, v in mapping.items()}
    renamed = panel.with_columns(pl.col("symbol").replace_strict(mapping)).sort("symbol", "ts")
    for name in signals.available():
        base = _run(name, panel)
        other = _run(name, renamed).with_columns(pl.col("symbol").replace_strict(back))
        # the equal-weighted market in rolling_beta sums symbols in another order: rounding only
        _close(base, other.sort("symbol", "ts"), name, rtol=1e-9)
    for fn in (
        lambda p: universe.volume_decile(p, window=2, min_decile=5, freq="1h"),
        lambda p: universe.min_listing_age(p, 2, freq="1h"),
        # top_n is left out: it breaks exact ties by symbol name, which relabelling changes
    ):
        base = fn(panel)
        other = fn(renamed).with_columns(pl.col("symbol").replace_strict(back))
        assert base.equals(other.sort("symbol", "ts"))


SCALE_FREE = ["returns", "rolling_return", "momentum", "vwap_distance", "realized_vol",
              "sharpe_proxy", "rolling_beta", "funding_carry", "half_range_spread",
              "corwin_schultz", "abdi_ranaldo"]


@SETTINGS
@given(panel=ragged_panels(), scale=st.sampled_from([1e-3, 0.37, 3.0, 2.0**10]))
def test_scaling_prices_leaves_scale_free_signals_unchanged(panel, scale) -> None:
    prices = ["open", "high", "low", "close"]
    scaled = panel.with_columns(
        *[pl.col(c) * scale for c in prices], pl.col("quote_volume") * scale
    )
    for name in SCALE_FREE:
        # Ratios of scaled prices agree to rounding, not bit for bit (short windows are summed
        # directly, so no prefix-sum cancellation enters). Abdi-Ranaldo takes the square root
        # of a mean that can be zero up to rounding (1e-17 -> ~3e-9): 1e-7 for it.
        atol = 1e-7 if name == "abdi_ranaldo" else 1e-12
        _close(_run(name, panel), _run(name, scaled), name, rtol=1e-6, atol=atol)


@SETTINGS
@given(panel=ragged_panels())
def test_no_output_row_the_input_lacks(panel: pl.DataFrame) -> None:
    keys = panel.select("ts", "symbol")
    for name in signals.available():
        if name == "liquidity":
            out = signals.compute(name, panel, measure="notional", window=2, freq="1h")
        else:
            out = _run(name, panel)
        assert out.select("ts", "symbol").equals(keys), name
        assert out.columns == ["ts", "symbol", name]
    for out in (universe.volume_decile(panel, window=2, freq="1h"),
                universe.top_n(panel, 2, window=2, freq="1h"),
                universe.min_listing_age(panel, 1, freq="1h")):
        assert out.select("ts", "symbol").equals(keys)
        assert out.get_column("in_universe").null_count() == 0
    fwd = signals.forward_returns(panel, (1, 2), freq="1h")
    assert fwd.select("ts", "symbol").equals(keys)
