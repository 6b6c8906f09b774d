"""Oracle tests of the EWMA variance kernels: equal to the recursion written out per bar."""

from __future__ import annotations

import numpy as np
import pytest

from coinfactor.risk._volatility import ema_blend_variance, ewma_variance


def _naive_ewma(sq: np.ndarray, span: float) -> np.ndarray:
    lam = 1.0 - 2.0 / (span + 1.0)
    out = np.full_like(sq, np.nan)
    state = np.full(sq.shape[1], np.nan)
    for t in range(sq.shape[0]):
        x = sq[t]
        new = np.where(np.isnan(state), x, lam * state + (1.0 - lam) * x)
        state = np.where(~np.isnan(x), new, state)
        out[t] = state
    return out


def test_ewma_kernels_equal_the_per_column_recursion() -> None:
    """Reference: the recursion written out per bar, one span at a time (bit for bit)."""
    rng = np.random.default_rng(4)
    r = rng.normal(0, 0.03, (150, 9))
    r[rng.random(r.shape) < 0.3] = np.nan
    r[:40, 2] = np.nan
    sq = r * r
    for span in (1.0, 7.0, 90.0):
        np.testing.assert_array_equal(ewma_variance(sq, span), _naive_ewma(sq, span))
    blend = 0.3 * _naive_ewma(sq, 5) + 0.7 * _naive_ewma(sq, 30)
    seen = np.cumsum(~np.isnan(r), axis=0)
    np.testing.assert_array_equal(
        ema_blend_variance(r, short_span=5, long_span=30, blend=0.3, min_periods=10),
        np.where(seen >= 10, blend, np.nan))


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_ewma_gaps_equal_the_per_column_recursion(seed: int) -> None:
    """Reference: the per-bar recursion; gaps, a late first observation, an empty column."""
    rng = np.random.default_rng(seed)
    r = rng.normal(0, 0.03, (150, 9))
    r[rng.random(r.shape) < 0.3] = np.nan
    r[:40, 2] = np.nan  # a late first observation
    r[:, 5] = np.nan  # never observed
    sq = r * r
    np.testing.assert_array_equal(ewma_variance(sq, 7.0), _naive_ewma(sq, 7.0))
    blend = 0.3 * _naive_ewma(sq, 5) + 0.7 * _naive_ewma(sq, 30)
    seen = np.cumsum(~np.isnan(r), axis=0)
    np.testing.assert_array_equal(
        ema_blend_variance(r, short_span=5, long_span=30, blend=0.3, min_periods=10),
        np.where(seen >= 10, blend, np.nan))
