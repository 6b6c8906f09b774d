"""The rank rule of rolling_ols: relative, on the correlation matrix, with condition numbers.

References, each named in its test: ``np.linalg.pinv`` / ``np.linalg.lstsq`` on
window-demeaned rows (minimum-norm least squares of exactly collinear sets); statsmodels
``RollingOLS`` on an independent basis of the same span (R² of collinear sets), and on the
full set (full-rank fits); ``np.linalg.cond`` of ``np.corrcoef`` of the window's rows
(condition numbers); a per-window construction written out in the test with
``np.linalg.eigh`` and ``np.linalg.pinv`` plus scikit-learn's ``PCA`` and
``LinearRegression`` (nearly collinear sets); and the package's plain reference
``rolling_ols_reference``, which must follow the same rule.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression
from statsmodels.regression.rolling import RollingOLS

from coinfactor.core.errors import ConfigError
from coinfactor.rolling import DEFAULT_RANK_TOL, rolling_ols, rolling_ols_reference
from coinfactor.rolling import _fit as fit_module

WINDOW = 60
SHARES = np.array([0.3, 0.3, 0.4])       # bucket shares of the market, per family


def _seed000(n_rows: int, seed: int, *, scales=(1.0, 1.0, 1.0), leak=None):
    """Seed 000's ten factors: a market and three families of three buckets each, every
    family's buckets summing to the market with weights ``SHARES`` (exactly collinear, three
    dependencies), each family in its own unit (``scales``). ``leak`` (n_rows,) adds
    ``leak * 0.01 * noise`` to each family's third bucket, making the three dependencies
    near instead of exact (the smallest eigenvalues of the correlation matrix grow like
    ``leak**2``). Returns ``x`` (T, 10) and the independent basis (market + two buckets per
    family)."""
    rng = np.random.default_rng(seed)
    market = 0.01 * rng.standard_normal(n_rows)
    cols, basis = [market], [market]
    for scale in scales:
        b1 = market + 0.006 * rng.standard_normal(n_rows)
        b2 = market + 0.006 * rng.standard_normal(n_rows)
        b3 = (market - SHARES[0] * b1 - SHARES[1] * b2) / SHARES[2]
        if leak is not None:
            b3 = b3 + leak * 0.01 * rng.standard_normal(n_rows)
        cols += [scale * b1, scale * b2, scale * b3]
        basis += [b1, b2]
    return np.column_stack(cols), np.column_stack(basis)


def _coins(basis: np.ndarray, n_series: int, seed: int) -> np.ndarray:
    """Coin returns on the basis, with a gap, a late listing and scattered missing bars."""
    rng = np.random.default_rng(seed)
    betas = rng.uniform(-1.0, 2.0, (basis.shape[1], n_series))
    y = 0.0003 + basis @ betas + 0.004 * rng.standard_normal((basis.shape[0], n_series))
    gaps = [(slice(90, 100), 1), (slice(None, 150), 2),
            (rng.random(basis.shape[0]) < 0.1, 3)]
    for rows, j in gaps[: n_series - 1]:
        y[rows, j] = np.nan
    return y


def _window(y: np.ndarray, x: np.ndarray, t: int, window: int = WINDOW):
    rows = slice(t - window + 1, t + 1)
    ys, xs = y[rows], x[rows]
    ok = np.isfinite(ys) & np.isfinite(xs).all(axis=1)
    return ys[ok], xs[ok]


@pytest.mark.parametrize("shared", [True, False])
def test_exactly_collinear_seed000_set_gives_the_pinv_solution(shared):
    """Market = weighted sum of each family's three buckets, families in units 1, 100 and
    0.01: every window has rank 1 + 7; slopes equal ``np.linalg.pinv`` of the
    window-demeaned rows (minimum norm; singular values below 1e-10 of the largest, the
    exact dependencies at rounding level, dropped), the constant ``mean(y) - mean(x) b``,
    and R², adjusted R² and residual std equal statsmodels ``RollingOLS`` on the
    independent basis (same column span, 8 coefficients)."""
    n_rows = 300
    x, basis = _seed000(n_rows, seed=1, scales=(1.0, 100.0, 0.01))
    y = _coins(basis, 4, seed=2)
    x_in = x if shared else np.repeat(x[:, None, :], y.shape[1], axis=1)
    res = rolling_ols(y, x_in, WINDOW, condition_number=True)
    fitted = np.isfinite(res.rsquared)
    assert (res.rank[fitted] == 8).all()
    assert (res.condition_number[fitted] >= 1.0 / DEFAULT_RANK_TOL).all()
    for j in range(y.shape[1]):
        for t in range(WINDOW - 1, n_rows, 7):
            if not fitted[t, j]:
                continue
            ys, xs = _window(y[:, j], x, t)
            xc = xs - xs.mean(axis=0)
            slopes = np.linalg.pinv(xc, rcond=1e-10) @ (ys - ys.mean())
            np.testing.assert_allclose(res.params[t, j, 1:], slopes, rtol=1e-7, atol=1e-10)
            np.testing.assert_allclose(res.params[t, j, 0], ys.mean() - xs.mean(axis=0) @ slopes,
                                       rtol=1e-7, atol=1e-12)
        exog = np.column_stack([np.ones(n_rows), basis])
        with np.errstate(divide="ignore", invalid="ignore"):
            ref = RollingOLS(y[:, j], exog, window=WINDOW, min_nobs=11, missing="drop").fit()
        ok = fitted[:, j]
        np.testing.assert_array_equal(np.isfinite(np.asarray(ref.rsquared)), ok)
        np.testing.assert_allclose(res.rsquared[ok, j], np.asarray(ref.rsquared)[ok], rtol=1e-8)
        np.testing.assert_allclose(res.rsquared_adj[ok, j], np.asarray(ref.rsquared_adj)[ok],
                                   rtol=1e-8)
        np.testing.assert_allclose(res.resid_std[ok, j], np.sqrt(np.asarray(ref.mse_resid))[ok],
                                   rtol=1e-7)


def test_exactly_collinear_set_without_constant_gives_the_lstsq_solution():
    """Without a constant the rule runs on the raw ``X'X``: the coefficients equal
    ``np.linalg.lstsq`` on the raw rows (minimum norm, rcond 1e-10)."""
    x, basis = _seed000(200, seed=3)
    y = _coins(basis, 4, seed=4)[:, 0]
    res = rolling_ols(y, x, WINDOW, add_constant=False)
    assert (res.rank[WINDOW - 1 :] == 7).all()
    for t in range(WINDOW - 1, 200, 11):
        ys, xs = _window(y, x, t)
        np.testing.assert_allclose(res.params[t], np.linalg.lstsq(xs, ys, rcond=1e-10)[0],
                                   rtol=1e-7, atol=1e-10)


def _kept_design(xs: np.ndarray, tol: float):
    """The window's centred design with the standardised directions of eigenvalue at most
    ``tol`` times the largest removed (written out with np.linalg.eigh), and the number kept."""
    xc = xs - xs.mean(axis=0)
    std = np.linalg.norm(xc, axis=0)
    w, v = np.linalg.eigh((xc / std).T @ (xc / std))
    keep = w > tol * w[-1]
    return (xc / std) @ v[:, keep] @ v[:, keep].T * std, int(keep.sum()), xc / std


def test_nearly_collinear_windows_are_deficient_under_the_default_and_not_under_1e_10():
    """The market leaks from its buckets by 3e-4 of its size: the smallest eigenvalue of the
    window correlation matrix is ~1e-7 of the largest. Default: rank 8, slopes =
    ``np.linalg.pinv`` of the design with the dropped directions removed (written out in
    the test), R² = that of scikit-learn's PCR (PCA on the standardised rows, the kept
    components, LinearRegression); rank_tol = 1e-10: rank 11 and the coefficients of
    ``np.linalg.lstsq`` on the window's rows and all ten factors, betas in the hundreds."""
    n_rows = 240
    x, basis = _seed000(n_rows, seed=5, leak=np.full(n_rows, 3e-4))
    y = _coins(basis, 1, seed=6)[:, 0]
    res = rolling_ols(y, x, WINDOW)
    loose = rolling_ols(y, x, WINDOW, rank_tol=1e-10)
    fitted = np.arange(WINDOW - 1, n_rows)
    assert (res.rank[fitted] == 8).all() and (loose.rank[fitted] == 11).all()
    assert np.abs(res.params[fitted, 1:]).max() < 5.0 < np.abs(loose.params[fitted, 1:]).max()
    for t in fitted[::9]:
        ys, xs = _window(y, x, t)
        x_kept, r, x_std = _kept_design(xs, DEFAULT_RANK_TOL)
        assert r == 7
        yc = ys - ys.mean()
        slopes = np.linalg.pinv(x_kept, rcond=1e-10) @ yc
        np.testing.assert_allclose(res.params[t, 1:], slopes, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(res.params[t, 0], ys.mean() - xs.mean(axis=0) @ slopes,
                                   rtol=1e-6, atol=1e-10)
        scores = PCA(n_components=r).fit_transform(x_std)
        pcr = LinearRegression().fit(scores, ys).score(scores, ys)
        np.testing.assert_allclose(res.rsquared[t], pcr, rtol=1e-8)
        z = np.column_stack([np.ones(ys.size), xs])
        b_all = np.linalg.lstsq(z, ys, rcond=None)[0]
        np.testing.assert_allclose(loose.params[t], b_all, rtol=1e-5, atol=1e-6)
        r2 = 1.0 - np.sum((ys - z @ b_all) ** 2) / np.sum(yc**2)
        np.testing.assert_allclose(loose.rsquared[t], r2, rtol=1e-6)   # cond(C) ~ 1e8


def test_rank_decision_at_the_threshold_follows_the_eigenvalues():
    """A leak growing over time sweeps the smallest eigenvalue ratio of the windows across
    rank_tol = 1e-4; the rank (kernel and reference) is 1 + the number of eigenvalues of
    ``np.corrcoef`` of the window's rows above 1e-4 times the largest (np.linalg.eigvalsh),
    in every window not within 5% of the threshold."""
    n_rows = 900
    x, basis = _seed000(n_rows, seed=7, leak=np.logspace(-4.5, -0.5, n_rows))
    y = _coins(basis, 1, seed=8)[:, 0]
    res = rolling_ols(y, x, WINDOW)
    ref = rolling_ols_reference(y, x, WINDOW)
    np.testing.assert_array_equal(res.rank, ref.rank)
    ranks, near = [], 0
    for t in range(WINDOW - 1, n_rows):
        w = np.linalg.eigvalsh(np.corrcoef(x[t - WINDOW + 1 : t + 1], rowvar=False))
        ratio = w / w[-1]
        if (np.abs(ratio / DEFAULT_RANK_TOL - 1.0) < 0.05).any():
            near += 1
            continue
        expect = 1 + int((ratio > DEFAULT_RANK_TOL).sum())
        assert res.rank[t] == expect, t
        ranks.append(expect)
    assert {8, 9, 11} <= set(ranks) and near < 50


def test_the_rule_does_not_depend_on_units():
    """Multiplying a factor by 1e6 and another by 1e-3 leaves ranks, condition numbers and R²
    unchanged, and divides a full-rank window's slope by that factor (reference: the fit in
    the original units)."""
    n_rows = 400
    x, basis = _seed000(n_rows, seed=9, leak=np.logspace(-4.0, 0.5, n_rows))
    y = _coins(basis, 2, seed=10)
    units = np.ones(x.shape[1])
    units[2], units[7] = 1e6, 1e-3
    a = rolling_ols(y, x, WINDOW, condition_number=True)
    b = rolling_ols(y, x * units, WINDOW, condition_number=True)
    np.testing.assert_array_equal(a.rank, b.rank)
    finite = np.isfinite(a.condition_number) & (a.condition_number < 1e8)   # 1e-8 accuracy
    np.testing.assert_allclose(b.condition_number[finite], a.condition_number[finite],
                               rtol=1e-6)
    np.testing.assert_allclose(b.rsquared, a.rsquared, rtol=1e-8)
    full = a.rank == 11
    assert full.sum() > 100
    np.testing.assert_allclose(b.params[full][:, 1:] * units, a.params[full][:, 1:],
                               rtol=1e-6)


@pytest.mark.parametrize("shared", [True, False])
def test_condition_numbers_match_numpy_cond_of_the_window_correlation(shared):
    """``condition_number`` against ``np.linalg.cond(np.corrcoef(rows))`` per window and
    series (rows with a missing y dropped, as the fit does), on factors whose condition
    number runs from ~10 to ~1e6 over time."""
    n_rows = 500
    x, basis = _seed000(n_rows, seed=11, leak=np.logspace(-2.5, 0.5, n_rows))
    y = _coins(basis, 4, seed=12)
    x_in = x if shared else np.repeat(x[:, None, :], y.shape[1], axis=1)
    res = rolling_ols(y, x_in, WINDOW, condition_number=True, rank_tol=1e-12)
    ref = rolling_ols_reference(y, x_in, WINDOW, rank_tol=1e-12)
    fitted = np.isfinite(res.rsquared)
    np.testing.assert_array_equal(np.isfinite(res.condition_number), fitted)
    np.testing.assert_allclose(res.condition_number[fitted], ref.condition_number[fitted],
                               rtol=1e-6)
    seen = []
    for j in range(y.shape[1]):
        for t in range(WINDOW - 1, n_rows, 5):
            if fitted[t, j]:
                _, xs = _window(y[:, j], x, t)
                expect = np.linalg.cond(np.corrcoef(xs, rowvar=False))
                np.testing.assert_allclose(res.condition_number[t, j], expect, rtol=1e-6)
                seen.append(expect)
    assert min(seen) < 1e3 and max(seen) > 1e5


def test_condition_numbers_without_constant_and_of_singular_windows():
    """Without a constant: ``np.linalg.cond`` of ``X'X`` scaled to unit diagonal (reference);
    an exactly collinear window reports at least 1 / rank_tol (inf when singular to
    rounding), an unfitted one NaN."""
    n_rows = 200
    rng = np.random.default_rng(13)
    x = 0.01 * rng.standard_normal((n_rows, 3)) + 0.003
    y = x @ np.array([0.5, 1.0, -1.0]) + 0.002 * rng.standard_normal(n_rows)
    res = rolling_ols(y, x, WINDOW, add_constant=False, condition_number=True)
    assert np.isnan(res.condition_number[: WINDOW - 1]).all()
    for t in range(WINDOW - 1, n_rows, 13):
        s = x[t - WINDOW + 1 : t + 1].T @ x[t - WINDOW + 1 : t + 1]
        d = 1.0 / np.sqrt(np.diag(s))
        np.testing.assert_allclose(res.condition_number[t], np.linalg.cond(s * np.outer(d, d)),
                                   rtol=1e-8)
    dup = rolling_ols(y, np.column_stack([x, x[:, 0]]), WINDOW, condition_number=True)
    assert (dup.condition_number[WINDOW - 1 :] >= 1.0 / DEFAULT_RANK_TOL).all()
    assert (dup.rank[WINDOW - 1 :] == 4).all()


def test_kernel_equals_the_reference_on_collinear_and_near_collinear_sets():
    """The plain reference follows the same rule: equal ranks, coefficients and fit
    statistics to rounding, shared and per-series regressors, with and without a constant."""
    n_rows = 260
    # exact, then near (eigenvalue ratio ~1e-5: dropped), then clear (~1e-2: kept)
    leak = np.select([np.arange(n_rows) < 90, np.arange(n_rows) < 180], [0.0, 0.01], 0.3)
    x, basis = _seed000(n_rows, seed=14, scales=(1.0, 50.0, 1.0), leak=leak)
    y = _coins(basis, 4, seed=15)
    for x_in in (x, np.repeat(x[:, None, :], y.shape[1], axis=1)):
        for const in (True, False):
            fast = rolling_ols(y, x_in, WINDOW, add_constant=const, condition_number=True)
            ref = rolling_ols_reference(y, x_in, WINDOW, add_constant=const)
            np.testing.assert_array_equal(fast.rank, ref.rank)
            assert len(set(np.unique(fast.rank)) - {0}) >= 2
            np.testing.assert_array_equal(np.isnan(fast.params), np.isnan(ref.params))
            np.testing.assert_allclose(fast.params, ref.params, rtol=1e-6, atol=1e-9)
            np.testing.assert_allclose(fast.rsquared, ref.rsquared, rtol=1e-8)
            with np.errstate(invalid="ignore"):
                np.testing.assert_allclose(fast.resid_std, ref.resid_std, rtol=1e-6)
            # accurate to ~cond * 1e-16 (relative): compared where below 1e8, and singular to
            # rounding (>= 1e14 or inf) in the same windows
            small = ref.condition_number < 1e8
            np.testing.assert_allclose(fast.condition_number[small],
                                       ref.condition_number[small], rtol=1e-6)
            np.testing.assert_array_equal(fast.condition_number >= 1e14,
                                          ref.condition_number >= 1e14)


@pytest.mark.parametrize("shared", [True, False])
def test_threads_and_chunks_do_not_change_deficient_fits(shared, monkeypatch):
    """Near-collinear windows (eigendecomposed, corrected) and condition numbers are bit
    for bit the same in one thread and in three stretches of small chunks."""
    n_rows = 1500
    x, basis = _seed000(n_rows, seed=16, leak=np.logspace(-5, -1, n_rows))
    y = _coins(basis, 4, seed=17)
    x_in = x if shared else np.repeat(x[:, None, :], y.shape[1], axis=1)
    one = rolling_ols(y, x_in, 30, n_threads=1, condition_number=True)
    monkeypatch.setattr(fit_module, "_CHUNK_ELEMENTS", 3000)
    many = rolling_ols(y, x_in, 30, n_threads=3, condition_number=True)
    for name in ("params", "rsquared", "rank", "condition_number"):
        np.testing.assert_array_equal(getattr(one, name), getattr(many, name), err_msg=name)
    assert len(set(np.unique(one.rank)) - {0}) >= 3


@pytest.mark.parametrize("tol", [0, 0.0, 1.0, -1e-4, float("nan"), True, "1e-4"])
def test_bad_rank_tol_raises_config_error(tol):
    with pytest.raises(ConfigError, match="rank_tol"):
        rolling_ols(np.zeros(50), np.ones((50, 1)), 10, rank_tol=tol)


def test_condition_numbers_not_asked_for_raise_config_error():
    rng = np.random.default_rng(18)
    res = rolling_ols(rng.standard_normal(50), rng.standard_normal((50, 2)), 10)
    with pytest.raises(ConfigError, match="condition_number=True"):
        _ = res.condition_number
    assert "condition number" not in res.summary()
    asked = rolling_ols(rng.standard_normal(50), rng.standard_normal((50, 2)), 10,
                        condition_number=True)
    assert "condition number" in asked.summary()
