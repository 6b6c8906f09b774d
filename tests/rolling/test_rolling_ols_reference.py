"""Oracle tests of ``rolling_ols`` against the package's plain per-window reference.

Reference: :func:`coinfactor.rolling.rolling_ols_reference` (every window fitted on its own
rows, the rank rule written out), itself checked against statsmodels ``RollingOLS`` and
``np.linalg.lstsq`` on window-demeaned data (minimum-norm slopes) below. The fast kernel solves
from window sums, so the two agree to rounding, not bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.regression.rolling import RollingOLS

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.rolling import rolling_ols, rolling_ols_reference
from support.arrays import ragged_regression


def _assert_same(fast, ref, *, rtol=1e-8, atol=1e-12):
    np.testing.assert_array_equal(fast.nobs, ref.nobs)
    np.testing.assert_array_equal(fast.rank, ref.rank)
    np.testing.assert_array_equal(np.isnan(fast.params), np.isnan(ref.params))
    np.testing.assert_allclose(fast.params, ref.params, rtol=rtol, atol=atol)
    np.testing.assert_allclose(fast.rsquared, ref.rsquared, rtol=rtol, atol=atol)
    np.testing.assert_allclose(fast.ssr, ref.ssr, rtol=1e-6, atol=1e-14)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(fast.rsquared_adj, ref.rsquared_adj, rtol=rtol, atol=atol)
        np.testing.assert_allclose(fast.resid_std, ref.resid_std, rtol=1e-6)
    assert fast.has_constant == ref.has_constant


@pytest.mark.parametrize("min_nobs", [None, 45], ids=["min_nobs_default", "min_nobs=45"])
def test_shared_x_equals_the_reference(min_nobs):
    y, x = ragged_regression(seed=3)
    _assert_same(rolling_ols(y, x, 50, min_nobs=min_nobs),
                 rolling_ols_reference(y, x, 50, min_nobs=min_nobs))


def test_per_series_x_single_series_and_no_constant_equal_the_reference():
    y, x = ragged_regression(seed=4)
    x_own = np.repeat(x[:, None, :], 5, axis=1) * np.linspace(-1.0, 2.0, 5)[None, :, None]
    _assert_same(rolling_ols(y, x_own, 40), rolling_ols_reference(y, x_own, 40))
    _assert_same(rolling_ols(y[:, 2], x, 40), rolling_ols_reference(y[:, 2], x, 40))
    _assert_same(rolling_ols(y, x, 40, add_constant=False),
                 rolling_ols_reference(y, x, 40, add_constant=False))
    with_const = np.column_stack([np.ones(len(x)), x])
    _assert_same(rolling_ols(y, with_const, 40, add_constant=False),
                 rolling_ols_reference(y, with_const, 40, add_constant=False))


def test_rank_deficient_and_flat_regressors_equal_the_reference():
    """A "market" equal to the mean of two factors (exact collinearity), an exact duplicate, and
    a factor constant over a stretch (an empty bucket: slope 0)."""
    rng = np.random.default_rng(9)
    n_rows, window = 260, 60
    f = 0.01 * rng.standard_normal((n_rows, 2))
    flat = 0.01 * rng.standard_normal(n_rows)
    flat[100:200] = 0.0
    x = np.column_stack([f, f.mean(axis=1), f[:, 0], flat])
    y = np.column_stack([0.001 + f @ np.array([0.8, 1.5]), 0.3 * flat])
    y += 0.005 * rng.standard_normal(y.shape)
    fast, ref = rolling_ols(y, x, window), rolling_ols_reference(y, x, window)
    assert set(np.unique(ref.rank[window - 1 :])) == {3, 4}
    _assert_same(fast, ref, rtol=1e-7, atol=1e-10)


def test_reference_matches_statsmodels_and_min_norm_lstsq():
    y, x = ragged_regression(seed=5)
    ref = rolling_ols_reference(y, x, 60)
    exog = np.column_stack([np.ones(len(y)), x])
    for j in (0, 1, 2):
        with np.errstate(divide="ignore", invalid="ignore"):
            sm = RollingOLS(y[:, j], exog, window=60, missing="drop").fit()
        sm_params = np.asarray(sm.params)
        np.testing.assert_array_equal(np.isnan(ref.params[:, j]), np.isnan(sm_params))
        ok = np.isfinite(sm_params[:, 0])
        np.testing.assert_allclose(ref.params[ok, j], sm_params[ok], rtol=1e-9, atol=1e-13)
        np.testing.assert_allclose(ref.rsquared[ok, j], np.asarray(sm.rsquared)[ok], rtol=1e-9)
    rng = np.random.default_rng(1)
    f = 0.01 * rng.standard_normal((120, 2))
    xd = np.column_stack([f, f.sum(axis=1)])
    yd = f @ np.array([1.0, -0.5]) + 0.001 * rng.standard_normal(120)
    res = rolling_ols_reference(yd, xd, 40)
    for t in (39, 80, 119):
        xs, ys = xd[t - 39 : t + 1], yd[t - 39 : t + 1]
        slopes = np.linalg.lstsq(xs - xs.mean(axis=0), ys - ys.mean(), rcond=1e-5)[0]
        np.testing.assert_allclose(res.params[t, 1:], slopes, rtol=1e-9)
        assert res.rank[t] == 3


def test_reference_rejects_bad_inputs():
    with pytest.raises(DataError):
        rolling_ols_reference(np.zeros(10), np.zeros((10, 2, 1)), 5)
    with pytest.raises(ConfigError):
        rolling_ols_reference(np.zeros(10), np.zeros((10, 1)), 5, min_nobs=6)
