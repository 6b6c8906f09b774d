"""rolling_ols against independent references.

References: statsmodels ``RollingOLS`` (missing="drop"), ``np.linalg.lstsq`` on single
windows (including minimum-norm solutions of rank-deficient windows).
"""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.regression.rolling import RollingOLS

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.rolling import _fit, _levels, _ols, rolling_ols
from support.arrays import ragged_regression

RTOL = 1e-8
# elementwise relative error is undefined where a coefficient crosses zero: allow an absolute
# slack far below any coefficient's scale in these data (coefficients are O(1e-4 .. 1))
ATOL = 1e-12


def _statsmodels(y, x, window, min_nobs=None, add_constant=True):
    exog = np.column_stack([np.ones(len(y)), x]) if add_constant else x
    with np.errstate(divide="ignore", invalid="ignore"):
        return RollingOLS(y, exog, window=window, min_nobs=min_nobs, missing="drop").fit()


def _assert_matches(res, j, ref, *, col=None):
    """Compare column j of a rolling_ols result with a statsmodels RollingOLS result."""
    # statsmodels computes its statistics lazily and divides by df_resid = 0 where
    # nobs == k; those cells are excluded below
    with np.errstate(divide="ignore", invalid="ignore"):
        _compare(res, j, ref, col)


def _compare(res, j, ref, col):
    sel = (slice(None), j) if col is None else (slice(None),)
    params = res.params[sel]
    ref_params = np.asarray(ref.params)
    fitted = np.isfinite(ref_params[:, 0])
    # same cells fitted (NaN pattern identical)
    np.testing.assert_array_equal(np.isfinite(params[:, 0]), fitted)
    np.testing.assert_allclose(params[fitted], ref_params[fitted], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(res.rsquared[sel][fitted], np.asarray(ref.rsquared)[fitted],
                               rtol=RTOL)
    ok = fitted & (np.asarray(ref.df_resid) > 0)
    np.testing.assert_allclose(res.rsquared_adj[sel][ok], np.asarray(ref.rsquared_adj)[ok],
                               rtol=RTOL)
    np.testing.assert_allclose(res.resid_std[sel][ok], np.sqrt(np.asarray(ref.mse_resid))[ok],
                               rtol=RTOL)
    np.testing.assert_array_equal(res.nobs[sel][fitted], np.asarray(ref.nobs)[fitted])


@pytest.mark.parametrize("window", [60, 250])
def test_shared_x_matches_statsmodels(window):
    y, x = ragged_regression()
    res = rolling_ols(y, x, window)
    for j in range(y.shape[1]):
        _assert_matches(res, j, _statsmodels(y[:, j], x, window))


@pytest.mark.parametrize("min_nobs", [4, 30, 60])
def test_min_nobs_matches_statsmodels(min_nobs):
    y, x = ragged_regression(seed=1)
    res = rolling_ols(y, x, 60, min_nobs=min_nobs)
    assert res.min_nobs == min_nobs
    assert np.isfinite(res.rsquared).sum() > 100
    for j in range(y.shape[1]):
        _assert_matches(res, j, _statsmodels(y[:, j], x, 60, min_nobs=min_nobs))


def test_late_listing_and_gap_far_into_the_series_match_statsmodels():
    """Own sums are computed only over the blocks that need them (from one block before):
    a late listing and a late gap exercise that offset path."""
    y, x = ragged_regression(seed=13, n_rows=900)
    y, x = y[:, [0, 1, 4]], x.copy()
    x[250:253] = 0.001                   # no missing factor rows
    y[:, 0] = np.where(np.arange(900) == 700, np.nan, y[:, 0] + 0.0)
    y[:, 0][100:130] = 0.01
    res = rolling_ols(y, x, 60)
    for j in range(3):
        _assert_matches(res, j, _statsmodels(y[:, j], x, 60))


def test_per_series_x_matches_statsmodels():
    y, x = ragged_regression(seed=2)
    rng = np.random.default_rng(3)
    x3 = x[:, None, :] + 0.005 * rng.standard_normal((len(y), y.shape[1], x.shape[1]))
    x3[300:310, 4, 2] = np.nan       # a gap in one series' own regressor
    res = rolling_ols(y, x3, 80, min_nobs=20)
    for j in range(y.shape[1]):
        _assert_matches(res, j, _statsmodels(y[:, j], x3[:, j], 80, min_nobs=20))


def test_single_series_and_no_constant_match_statsmodels():
    y, x = ragged_regression(seed=4)
    res = rolling_ols(y[:, 2], x, 90, add_constant=False)
    assert res.params.shape == (len(y), 3)
    _assert_matches(res, None, _statsmodels(y[:, 2], x, 90, add_constant=False), col=True)


def test_constant_column_in_x_gives_centred_rsquared_like_statsmodels():
    y, x = ragged_regression(seed=5)
    x1 = np.column_stack([np.ones(len(y)), x])
    res = rolling_ols(y[:, 0], x1, 70, add_constant=False)
    assert res.has_constant
    ref = _statsmodels(y[:, 0], x1, 70, add_constant=False)
    _assert_matches(res, None, ref, col=True)
    # and identical to letting rolling_ols add the constant
    res2 = rolling_ols(y[:, 0], x, 70)
    fitted = np.isfinite(res.rsquared)
    np.testing.assert_allclose(res.rsquared[fitted], res2.rsquared[fitted], rtol=1e-10)


def test_infinite_values_count_as_missing():
    y, x = ragged_regression(seed=11)
    y_inf, x_inf = y.copy(), x.copy()
    y_inf[np.isnan(y_inf)] = np.inf
    x_inf[np.isnan(x_inf)] = -np.inf
    a, b = rolling_ols(y, x, 60), rolling_ols(y_inf, x_inf, 60)
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.nobs, b.nobs)


def test_shared_x_equals_broadcast_per_series_x():
    """The shared fast path (shared factorisation + own sums for gapped series) equals the
    general per-series path on the same regressors."""
    y, x = ragged_regression(seed=6)
    a = rolling_ols(y, x, 50)
    b = rolling_ols(y, np.broadcast_to(x[:, None, :], (*y.shape, x.shape[1])), 50)
    np.testing.assert_array_equal(np.isnan(a.params), np.isnan(b.params))
    np.testing.assert_allclose(a.params, b.params, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(a.rsquared, b.rsquared, rtol=1e-9)
    np.testing.assert_array_equal(a.nobs, b.nobs)
    # ranks: built from per-row values and the own windows' (shared), or stored per cell
    np.testing.assert_array_equal(a.rank, b.rank)
    assert (a.rank == 4).any() and (a.rank == 0).any()


def test_own_windows_do_not_depend_on_when_they_are_fitted(monkeypatch):
    """Windows with a missing y get their own sums, fitted while the shared pass runs; their
    cells are the same whether that fit ends before or after the shared pass (forced here to
    come first), and match statsmodels (reference)."""
    y, x = ragged_regression(seed=6)
    normal = rolling_ols(y, x, 50)
    fit_parallel = _ols.fit_parallel

    def own_fit_first(*args, also=None, **kwargs):
        if also is not None:
            also()
        fit_parallel(*args, **kwargs)

    monkeypatch.setattr(_ols, "fit_parallel", own_fit_first)
    first = rolling_ols(y, x, 50)
    np.testing.assert_array_equal(first.params, normal.params)
    np.testing.assert_array_equal(first.rsquared, normal.rsquared)
    np.testing.assert_array_equal(first.rank, normal.rank)
    for j in (0, 1, 2):        # a gap, a late listing, scattered missing bars
        _assert_matches(first, j, _statsmodels(y[:, j], x, 50))


def _window_lstsq(y, x, t, window):
    """Direct least squares on one window, rows with NaN dropped (np.linalg.lstsq)."""
    ys, xs = y[t - window + 1 : t + 1], x[t - window + 1 : t + 1]
    ok = np.isfinite(ys) & np.isfinite(xs).all(axis=1)
    ys, xs = ys[ok], xs[ok]
    z = np.column_stack([np.ones(len(ys)), xs])
    beta = np.linalg.lstsq(z, ys, rcond=None)[0]
    resid = ys - z @ beta
    r2 = 1 - resid @ resid / np.sum((ys - ys.mean()) ** 2)
    return beta, r2


def _long_series(n_rows, seed=7, level=5.0, scale=1.0):
    rng = np.random.default_rng(seed)
    k = 3
    # levels far from zero (shifted before summing): running sums of these would drift badly
    # over the series; level 0 is returns-like data (summed unshifted)
    x = level + scale * rng.standard_normal((n_rows, k))
    y = np.column_stack([level / 5 + x @ np.array([0.5, -1.0, 2.0]),
                         -3.0 * level / 5 + x @ np.array([0.1, 0.2, 0.3])])
    y += scale * rng.standard_normal(y.shape)
    y[n_rows // 2 : n_rows // 2 + 500, 1] = np.nan
    return y, x


def _check_long(n_rows, n_samples, **data):
    y, x = _long_series(n_rows, **data)
    window = 1000
    res = rolling_ols(y, x, window)
    rng = np.random.default_rng(8)
    ts = np.concatenate([rng.integers(window - 1, n_rows, n_samples), [n_rows - 1]])
    for t in ts:
        for j in range(2):
            beta, r2 = _window_lstsq(y[:, j], x, t, window)
            np.testing.assert_allclose(res.params[t, j], beta, rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(res.rsquared[t, j], r2, rtol=1e-9)


def test_no_drift_on_a_long_series_against_lstsq():
    _check_long(200_000, 40)


@pytest.mark.parametrize(("level", "scale"), [(5.0, 1.0), (0.0, 0.01)],
                         ids=["price-like", "returns-like"])
def test_no_drift_on_two_million_rows_against_lstsq(level, scale):
    _check_long(2_000_000, 100, level=level, scale=scale)


def test_rank_deficient_windows_get_minimum_norm_slopes():
    """Reference: np.linalg.lstsq on window-demeaned data (minimum-norm slopes, the constant
    fitted), and the full-rank regression on the independent columns for R²."""
    rng = np.random.default_rng(9)
    n_rows, window = 400, 100
    f = 0.01 * rng.standard_normal((n_rows, 2))
    x = np.column_stack([f, f.mean(axis=1)])           # exact collinearity (a "market")
    y = 0.001 + f @ np.array([0.8, 1.5]) + 0.005 * rng.standard_normal(n_rows)
    res = rolling_ols(y, x, window)
    full = rolling_ols(y, f, window)
    for t in range(window - 1, n_rows):
        xs, ys = x[t - window + 1 : t + 1], y[t - window + 1 : t + 1]
        xc, yc = xs - xs.mean(axis=0), ys - ys.mean()
        slopes = np.linalg.lstsq(xc, yc, rcond=1e-5)[0]
        const = ys.mean() - xs.mean(axis=0) @ slopes
        np.testing.assert_allclose(res.params[t, 1:], slopes, rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(res.params[t, 0], const, rtol=1e-7, atol=1e-12)
    np.testing.assert_array_equal(res.rank[window - 1 :], 3)   # const + 2 directions
    np.testing.assert_allclose(res.rsquared[window - 1 :], full.rsquared[window - 1 :],
                               rtol=1e-8)
    # adjusted R² and residual std use the rank: equal to the full-rank fit's
    np.testing.assert_allclose(res.rsquared_adj[window - 1 :],
                               full.rsquared_adj[window - 1 :], rtol=1e-8)
    np.testing.assert_allclose(res.resid_std[window - 1 :], full.resid_std[window - 1 :],
                               rtol=1e-7)


def test_zero_variance_regressor_gets_zero_slope():
    """A factor that is constant over a window (an empty bucket) is dropped: slope 0, and the
    fit equals the regression on the other factor (statsmodels on that factor alone)."""
    rng = np.random.default_rng(12)
    n_rows, window = 300, 50
    x = 0.01 * rng.standard_normal((n_rows, 2))
    x[100:200, 1] = 0.0
    y = 0.5 * x[:, 0] + 0.005 * rng.standard_normal(n_rows)
    res = rolling_ols(y, x, window)
    ref = _statsmodels(y, x[:, :1], window)
    inside = np.arange(149, 200)         # windows entirely inside the constant stretch
    np.testing.assert_array_equal(res.rank[inside], 2)
    np.testing.assert_array_equal(res.params[inside, 2], 0.0)
    np.testing.assert_allclose(res.params[inside, :2], np.asarray(ref.params)[inside],
                               rtol=1e-8)
    np.testing.assert_allclose(res.rsquared[inside], np.asarray(ref.rsquared)[inside],
                               rtol=1e-8)


def test_truncation_invariance():
    """Point in time: results at t do not change when rows after t are removed.

    Block boundaries and shifts never depend on later rows, so the window sums are identical;
    the batched solves may group cells differently (which series need their own sums depends
    on the whole sample), and BLAS may round a few cells 1 ulp differently: hence rtol 1e-13.
    """
    y, x = ragged_regression(seed=10, n_rows=900)
    full = rolling_ols(y, x, 75)
    for cut in (75, 200, 431, 899):
        part = rolling_ols(y[:cut], x[:cut], 75)
        np.testing.assert_array_equal(np.isnan(part.params), np.isnan(full.params[:cut]))
        np.testing.assert_allclose(part.params, full.params[:cut], rtol=1e-13, atol=1e-17)
        np.testing.assert_allclose(part.rsquared, full.rsquared[:cut], rtol=1e-13)
        np.testing.assert_array_equal(part.nobs, full.nobs[:cut])
        np.testing.assert_array_equal(part.rank, full.rank[:cut])


def test_only_columns_whose_level_dominates_are_shifted():
    """A price-like column (level >> variation) is shifted by its first valid value, a
    returns-like one is not; the choice reads the first window only, so results stay point in
    time (truncation, as above) and match np.linalg.lstsq on single windows (reference;
    statsmodels' running sums lose digits on this price level) either way."""
    rng = np.random.default_rng(17)
    n_rows, window = 400, 50
    x = np.column_stack([0.01 * rng.standard_normal(n_rows),
                         1e4 + np.cumsum(rng.standard_normal(n_rows))])
    x[:3, 1] = np.nan                               # first valid price at row 3
    y = np.column_stack([0.3 * x[:, 0] + 0.01 * rng.standard_normal(n_rows),
                         2e3 + 0.1 * x[:, 1] + rng.standard_normal(n_rows)])
    vx = np.isfinite(x).all(axis=1)[:, None]
    cell = vx & np.isfinite(y)
    sx, sy = _levels.shifts(x[:, None, :], vx, y, cell, window, enabled=True)
    assert sx[0, 0] == 0.0 and sx[0, 1] == x[3, 1]
    assert sy[0] == 0.0 and sy[1] == y[3, 1]
    full = rolling_ols(y, x, window)
    for t in (window - 1, 200, n_rows - 1):
        for j in range(2):
            beta, r2 = _window_lstsq(y[:, j], x, t, window)
            np.testing.assert_allclose(full.params[t, j], beta, rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(full.rsquared[t, j], r2, rtol=1e-9)
    for cut in (window, 123):
        part = rolling_ols(y[:cut], x[:cut], window)
        np.testing.assert_allclose(part.params, full.params[:cut], rtol=1e-13, atol=1e-17)


def test_result_is_read_only_and_summarises():
    y, x = ragged_regression()
    res = rolling_ols(y, x, 60)
    with pytest.raises(ValueError):
        res.params[0, 0, 0] = 1.0
    with pytest.raises(ValueError):
        res.rsquared_adj[0, 0] = 1.0
    text = res.summary()
    assert "window / min_nobs" in text and "60 / 4" in text


@pytest.mark.parametrize(
    ("y", "x", "exc"),
    [
        (np.zeros((10, 2, 2)), np.zeros((10, 1)), DataError),
        (np.zeros(10), np.zeros((10, 2, 1)), DataError),
        (np.zeros((10, 2)), np.zeros((10, 3, 1)), DataError),
        (np.zeros((10, 2)), np.zeros((9, 1)), DataError),
        (np.zeros((10, 2)), np.zeros((10, 0)), DataError),
    ],
    ids=["y-3d", "y-1d-x-3d", "x-wrong-n", "length-mismatch", "no-regressor"],
)
def test_bad_shapes_raise_data_error(y, x, exc):
    with pytest.raises(exc, match="rolling_ols"):
        rolling_ols(y, x, 5)


@pytest.mark.parametrize(("window", "min_nobs"), [(0, None), (2.5, None), (True, None),
                                                 (5, 1), (5, 6)],
                         ids=["window=0", "window=2.5", "window=True", "min_nobs=1",
                              "min_nobs_above_window"])
def test_bad_window_or_min_nobs_raise_config_error(window, min_nobs):
    with pytest.raises(ConfigError):
        rolling_ols(np.zeros(20), np.zeros((20, 1)), window, min_nobs=min_nobs)


@pytest.mark.parametrize("shared", [True, False], ids=["shared_x", "x_per_series"])
def test_threads_do_not_change_the_result(shared, monkeypatch):
    """Stretches of rows fitted in threads give bit-identical results to one thread (small
    chunks forced, so that the series splits into several stretches)."""
    monkeypatch.setattr(_fit, "_CHUNK_ELEMENTS", 2000)
    y, x = ragged_regression(seed=14, n_rows=1200)
    if not shared:
        x = np.repeat(x[:, None, :], y.shape[1], axis=1)
    one = rolling_ols(y, x, 20, n_threads=1)
    many = rolling_ols(y, x, 20, n_threads=3)
    np.testing.assert_array_equal(one.params, many.params)
    np.testing.assert_array_equal(one.rsquared, many.rsquared)
    np.testing.assert_array_equal(one.rank, many.rank)
    for j in (0, 1):
        _assert_matches(many, j, _statsmodels(y[:, j], x if shared else x[:, j], 20))


def test_large_outputs_filled_in_the_background_give_the_same_result(monkeypatch):
    """Outputs from 0 bytes get their own mapping and background page filling (the path of
    large results): the result is identical to plain arrays, and read-only."""
    from coinfactor.rolling import _pages

    y, x = ragged_regression(seed=15)
    x_own = np.repeat(x[:, None, :], y.shape[1], axis=1)
    plain = [rolling_ols(y, xx, 60, n_threads=2) for xx in (x, x_own)]
    monkeypatch.setattr(_pages, "FILL_MIN_BYTES", 0)
    mapped = [rolling_ols(y, xx, 60, n_threads=2) for xx in (x, x_own)]
    for a, b in zip(plain, mapped, strict=True):
        np.testing.assert_array_equal(a.params, b.params)
        np.testing.assert_array_equal(a.rsquared, b.rsquared)
        np.testing.assert_array_equal(a.rank, b.rank)
        np.testing.assert_array_equal(a.nobs, b.nobs)
        assert not b.params.flags.writeable


def test_exactly_duplicated_regressor_splits_the_slope():
    """An exact duplicate makes the batched inverse fail; the pivot fallback finds those
    windows. Reference: np.linalg.lstsq on window-demeaned data (minimum norm: the slope is
    shared equally by the two copies)."""
    rng = np.random.default_rng(16)
    n_rows, window = 200, 40
    f = 0.01 * rng.standard_normal(n_rows)
    x = np.column_stack([f, f, 0.01 * rng.standard_normal(n_rows)])
    y = 0.3 * f + 0.2 * x[:, 2] + 0.001 * rng.standard_normal(n_rows)
    res = rolling_ols(y, x, window)
    np.testing.assert_array_equal(res.rank[window - 1 :], 3)
    for t in (window - 1, 120, n_rows - 1):
        xs, ys = x[t - window + 1 : t + 1], y[t - window + 1 : t + 1]
        slopes = np.linalg.lstsq(xs - xs.mean(axis=0), ys - ys.mean(), rcond=1e-5)[0]
        np.testing.assert_allclose(res.params[t, 1:], slopes, rtol=1e-7)
        assert res.params[t, 1] == pytest.approx(res.params[t, 2], rel=1e-9)


def test_page_filler_keeps_what_writers_wrote() -> None:
    """Filling pages never changes content: rows written before the filler reaches them keep
    their values; waiting for rows returns once they are filled, and every row is writable
    (reference: the values written)."""
    from coinfactor.rolling import _pages
    from coinfactor.rolling._pages import FILL_MIN_BYTES, PageFiller, result_array

    n_rows = FILL_MIN_BYTES // (8 * 64) + 7           # not a whole number of pages
    arr = result_array((n_rows, 64))
    ints = result_array((n_rows, 2 * 64), dtype=np.int32)
    assert arr.flags.writeable and arr.ctypes.data % 4096 == 0
    arr[:100] = 3.0
    assert _pages.fill_rows(arr, np.int64(50), np.int64(150)) or _pages._MADVISE is None
    half = n_rows // 2
    with PageFiller([arr, ints], [(0, half), (half, n_rows)], 1000) as filler:
        filler.wait(1, n_rows)
        filler.wait(0, half)
    assert (arr[:100] == 3.0).all()
    arr[100:] = 1.5
    ints[-1] = 7
    assert float(arr.sum()) == 64 * (3.0 * 100 + 1.5 * (n_rows - 100))
    assert ints[-1].tolist() == [7] * 128


def test_page_filler_without_madvise_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without madvise (non-Linux) or with an advice the kernel rejects, waiting returns at
    once and writers fault pages in themselves: the array is still fully usable."""
    from coinfactor.rolling import _pages

    for patch in (("_MADVISE", None), ("_MADV_POPULATE_WRITE", 9999)):
        monkeypatch.setattr(_pages, *patch)
        arr = _pages.result_array((_pages.FILL_MIN_BYTES // 8,))
        with _pages.PageFiller([arr], [(0, arr.shape[0])], 4096) as filler:
            filler.wait(0, arr.shape[0])
        arr[:] = 2.0
        assert arr[-1] == 2.0
        monkeypatch.undo()


def test_spd_inverse_matches_numpy_inverse() -> None:
    """The Cholesky-based inverse of matrices stacked on the last axis against np.linalg.inv
    (reference), on well and badly scaled positive definite matrices, one matrix at a time
    equal to the batch bit for bit; a singular one gets a non-positive pivot."""
    from coinfactor.rolling._solve import spd_inverse_lastaxis

    rng = np.random.default_rng(21)
    a = rng.standard_normal((50, 30, 6))
    s = np.einsum("bti,btj->bij", a, a)
    scale = np.logspace(-6, 6, 6)
    s_scaled = s * scale[:, None] * scale[None, :]
    for m in (s, s_scaled):
        ref = np.linalg.inv(m)
        got, pivots = spd_inverse_lastaxis(np.ascontiguousarray(np.moveaxis(m, 0, -1)))
        got = np.moveaxis(got, -1, 0)
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=0)
        np.testing.assert_array_equal(got, np.swapaxes(got, -1, -2))
        assert (pivots > 0).all()
        one, _ = spd_inverse_lastaxis(np.ascontiguousarray(np.moveaxis(m[7:8], 0, -1)))
        np.testing.assert_array_equal(one[..., 0], got[7])
    singular = s.copy()
    singular[7, :, 0] = singular[7, 0, :] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        _, pivots = spd_inverse_lastaxis(np.ascontiguousarray(np.moveaxis(singular, 0, -1)))
    assert not (pivots[:, 7] > 0).all() and (np.delete(pivots, 7, axis=1) > 0).all()


@pytest.mark.parametrize("tail", [(), (3,), (40, 13)], ids=["40", "40x3", "40x40x13"])
def test_piece_window_sums_do_not_depend_on_the_pieces(tail: tuple[int, ...]) -> None:
    """Window sums fed in pieces of any size equal, bit for bit, those fed a whole block at a
    time, and match a naive loop over windows (reference) to rounding. The (40, 13) tail
    takes the row-by-row prefix path, the others the cumsum path."""
    from coinfactor.rolling._sums import PieceWindowSum

    rng = np.random.default_rng(22)
    window, n_rows = 7, 40
    values = rng.standard_normal((n_rows, *tail))
    blocked = PieceWindowSum(window, window, tail)
    ref = np.concatenate([blocked.window_sums_of(values[r0 : r0 + window]).copy()
                          for r0 in range(0, n_rows, window)])
    naive = np.stack([values[max(0, t - window + 1) : t + 1].sum(axis=0) for t in range(n_rows)])
    np.testing.assert_allclose(ref, naive, rtol=1e-12, atol=1e-12)
    for piece in (1, 2, 3, 7):
        sums = PieceWindowSum(window, piece, tail)
        got, r0 = [], 0
        while r0 < n_rows:
            n = min(piece, sums.rows_left_in_block, n_rows - r0)
            got.append(sums.window_sums_of(values[r0 : r0 + n]).copy())
            r0 += n
        np.testing.assert_array_equal(np.concatenate(got), ref)


def test_piece_window_sums_reject_a_piece_across_a_block() -> None:
    """A piece crossing a block boundary (or larger than the work buffer) is refused."""
    from coinfactor.rolling._sums import PieceWindowSum

    sums = PieceWindowSum(4, 4, (2,))
    sums.window_sums_of(np.ones((3, 2)))
    with pytest.raises(ValueError, match="block boundary"):
        sums.buffer(2)


@pytest.mark.parametrize("x_gaps", [False, True], ids=["x_complete", "x_gaps"])
def test_shared_counts_by_pieces_match_a_naive_count(x_gaps: bool) -> None:
    """Counts built piece by piece (and whole) equal a naive per-window count of valid rows
    (finite y on rows where every regressor is finite); the shared-pass mask is the complete
    windows with enough rows and no missing y (those get their own sums)."""
    from coinfactor.rolling._counts import SharedCounts

    rng = np.random.default_rng(23)
    n_rows, n_series, window, min_nobs = 90, 6, 10, 4
    y_finite = rng.random((n_rows, n_series)) > 0.08
    y_finite[:, :2] = True                      # two series never miss
    y_finite[:30, 5] = False                    # a late listing
    x_valid = np.ones((n_rows, 1), dtype=bool)
    if x_gaps:
        x_valid[rng.random(n_rows) < 0.1] = False
    counts = SharedCounts(x_valid, y_finite, window, min_nobs, np.zeros(n_rows, np.int32))
    masks = [counts.masks(a, min(a + 7, n_rows)) for a in range(0, n_rows, 7)]
    mask = np.concatenate([fit for fit, _ in masks])
    blank = np.concatenate([b for _, b in masks])
    own = np.zeros_like(mask)
    own[:, counts.cols] = counts.own
    np.testing.assert_array_equal(blank, ~mask & ~own)       # own windows are left alone
    assert own.any()
    nobs = np.concatenate([counts.nobs_rows(a, min(a + 7, n_rows))
                           for a in range(0, n_rows, 7)])
    np.testing.assert_array_equal(counts.nobs(), nobs)
    valid = x_valid & y_finite
    for t in range(n_rows):
        lo = max(0, t - window + 1)
        naive = valid[lo : t + 1].sum(axis=0)
        np.testing.assert_array_equal(nobs[t], naive)
        missing_y = (x_valid[lo : t + 1] & ~y_finite[lo : t + 1]).any(axis=0)
        expected = (t >= window - 1) & (naive >= min_nobs) & ~missing_y
        np.testing.assert_array_equal(mask[t], expected)
    assert set(counts.cols.tolist()) <= {2, 3, 4, 5} and 5 in counts.cols
