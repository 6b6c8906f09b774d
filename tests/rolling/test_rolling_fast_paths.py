"""Oracle tests of the rolling window sums: equal to the plain cell-by-cell window loop."""

from __future__ import annotations

import numpy as np
import pytest

from coinfactor import rolling as k


def _naive_window(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums (added newest first, as the kernel documents) and counts, cell by cell."""
    n_t, n_s = x.shape
    sums, counts = np.zeros((n_t, n_s)), np.zeros((n_t, n_s), dtype=np.int64)
    for t in range(n_t):
        for j in range(n_s):
            acc = 0.0
            for lag in range(min(window, t + 1)):
                v = x[t - lag, j]
                acc += v if np.isfinite(v) else 0.0
                counts[t, j] += bool(np.isfinite(v))
            sums[t, j] = acc
    return sums, counts


@pytest.mark.parametrize("window", [1, 2, 7, 30, 33, 128])
def test_rolling_sum_and_mean_equal_the_plain_window_loop(window: int) -> None:
    rng = np.random.default_rng(window)
    x = rng.normal(size=(300, 4)) * 10.0 ** rng.uniform(-3, 3, 4)  # crosses row blocks
    x[rng.random(x.shape) < 0.25] = np.nan
    x[rng.random(x.shape) < 0.02] = np.inf  # non-finite counts as missing
    sums, counts = k.rolling_sum(x, window)
    ref_s, ref_c = _naive_window(x, window)
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts, ref_c)
    np.testing.assert_array_equal(sums, ref_s)  # the same additions in the same order
    need = max(1, window // 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        ref_mean = np.where(ref_c >= need, ref_s / ref_c, np.nan)
    np.testing.assert_array_equal(k.rolling_mean(x, window, need), ref_mean)


@pytest.mark.parametrize(("n_rows", "window"), [(300, 1), (300, 7), (300, 30), (301, 30),
                                             (29, 30), (30, 30), (61, 30), (300, 33)],
                         ids=["300rows-w1", "300rows-w7", "300rows-w30", "301rows-w30",
                              "29rows-w30", "30rows-w30", "61rows-w30", "300rows-w33"])
def test_blocked_rolling_mean_equals_the_plain_window_loop(n_rows: int, window: int) -> None:
    """Reference: the cell-by-cell window loop (exact counts, sums to rounding).

    Row counts on and off a block boundary (and shorter than one block); the tolerance is a
    few ulps of the largest value of two blocks, the documented error of blocked prefix sums.
    """
    rng = np.random.default_rng(n_rows + window)
    x = rng.lognormal(14, 0.3, size=(n_rows, 4)) * 10.0 ** rng.uniform(-3, 3, 4)
    x[rng.random(x.shape) < 0.1] = np.nan
    x[rng.random(x.shape) < 0.02] = np.inf  # non-finite counts as missing
    need = max(1, window // 2)
    ref_s, ref_c = _naive_window(x, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        ref_mean = np.where(ref_c >= need, ref_s / ref_c, np.nan)
    got = k.blocked_rolling_mean(x.copy(), window, need)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref_mean))  # exact counts
    scale = np.nanmax(np.where(np.isfinite(x), x, np.nan), axis=0)  # per column
    err = np.abs(got - ref_mean)[~np.isnan(ref_mean)]
    assert (err <= np.broadcast_to(64 * 2.3e-16 * scale, got.shape)[~np.isnan(ref_mean)]).all()
    # point in time: a truncated array gives the same values bit for bit
    for cut in (1, window - 1, window, window + 1, n_rows // 2):
        if 0 < cut <= n_rows:
            part = k.blocked_rolling_mean(x[:cut].copy(), window, need)
            np.testing.assert_array_equal(part, got[:cut])
