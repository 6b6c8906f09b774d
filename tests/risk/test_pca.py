"""PCA against scikit-learn and numpy, with point-in-time checks."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.decomposition import PCA as SkPCA

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.data import Grid
from coinfactor.risk import PCA


def _factor_returns(seed: int, t: int = 300, n: int = 8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    market = rng.normal(0, 0.02, size=(t, 1))
    beta = rng.uniform(0.5, 1.5, size=(1, n))
    return market @ beta + rng.normal(0, 0.01, size=(t, n))


def _align_signs(ours: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Flip reference rows to our sign (PCA components are defined up to sign)."""
    signs = np.sign((ours * ref).sum(axis=1))
    return ref * signs[:, None]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pca_matches_sklearn(seed: int) -> None:
    """Reference: sklearn PCA(svd_solver='full') on the same data, up to component sign."""
    x = _factor_returns(seed)
    ours = PCA(4).fit(x)
    sk = SkPCA(n_components=4, svd_solver="full").fit(x)
    comps = _align_signs(ours.components, sk.components_)
    np.testing.assert_allclose(ours.components, comps, atol=1e-10)
    np.testing.assert_allclose(ours.explained_variance, sk.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(ours.explained_variance_ratio, sk.explained_variance_ratio_,
                               rtol=1e-10)
    np.testing.assert_allclose(ours.singular_values, sk.singular_values_, rtol=1e-10)
    scores_sk = sk.transform(x) * np.sign((ours.components * sk.components_).sum(axis=1))
    np.testing.assert_allclose(ours.scores, scores_sk, atol=1e-12)
    np.testing.assert_allclose(ours.transform(x), ours.scores, atol=1e-14)


def test_clean_keep_and_remove_match_sklearn_inverse_transform() -> None:
    """Reference: sklearn inverse_transform(transform(x)) with k=2 is the 'keep' cleaning."""
    x = _factor_returns(3)
    res = PCA(None).fit(x)
    sk = SkPCA(n_components=2, svd_solver="full").fit(x)
    kept = sk.inverse_transform(sk.transform(x))
    np.testing.assert_allclose(res.clean(x, n_components=2, mode="keep"), kept, atol=1e-12)
    np.testing.assert_allclose(res.clean(x, n_components=2, mode="remove"), x - kept,
                               atol=1e-12)
    # rank of the kept part is k (centred), the removed part is orthogonal to the top-k loadings
    centred_kept = res.clean(x, n_components=2) - res.mean
    assert np.linalg.matrix_rank(centred_kept, tol=1e-10) == 2
    np.testing.assert_allclose(res.clean(x, n_components=2, mode="remove") @
                               res.components[:2].T, 0.0, atol=1e-12)


def test_sign_rule_market_portfolio() -> None:
    """PC1 of one-factor data with positive betas is long everything; weights gross to 1."""
    x = _factor_returns(4)
    w = PCA(1).fit(x).market_portfolio()
    assert (w > 0).all()
    assert np.abs(w).sum() == pytest.approx(1.0)
    np.testing.assert_allclose(PCA(1).fit(-x).components, PCA(1).fit(x).components,
                               atol=1e-12)


def test_r2_against_target_matches_ols() -> None:
    """Reference: numpy lstsq of the target on [1, score_i] gives the same R²."""
    x = _factor_returns(5)
    rng = np.random.default_rng(9)
    y = x[:, :3].mean(axis=1) + rng.normal(0, 0.01, size=len(x))
    y[7] = np.nan
    res = PCA(3).fit(x)
    r2 = res.r2(y)
    ok = ~np.isnan(y)
    for i in range(3):
        a = np.column_stack([np.ones(ok.sum()), res.scores[ok, i]])
        coef, *_ = np.linalg.lstsq(a, y[ok], rcond=None)
        resid = y[ok] - a @ coef
        ref = 1 - resid @ resid / ((y[ok] - y[ok].mean()) ** 2).sum()
        assert r2[i] == pytest.approx(ref, rel=1e-10)
    assert r2[0] > 0.5


def test_nan_rows_dropped() -> None:
    x = _factor_returns(6)
    x[[3, 10], 2] = np.nan
    res = PCA(2).fit(x)
    assert res.n_obs == len(x) - 2
    assert not res.rows[3] and not res.rows[10]
    ref = PCA(2).fit(x[res.rows])
    np.testing.assert_allclose(res.components, ref.components)


def test_bad_input() -> None:
    with pytest.raises(DataError, match="shape"):
        PCA(None).fit(np.zeros(5))
    with pytest.raises(DataError, match="complete rows"):
        PCA(None).fit(np.full((5, 3), np.nan))
    with pytest.raises(ConfigError, match="n_components"):
        PCA(4).fit(np.ones((5, 3)) + np.arange(15).reshape(5, 3) ** 2)
    with pytest.raises(DataError, match="inf"):
        PCA(None).fit(np.array([[1.0, np.inf], [0.0, 1.0], [2.0, 3.0]]))
    with pytest.raises(ConfigError, match="window"):
        PCA(2, window=1).fit(np.ones((5, 3)))


def test_rolling_matches_direct_fits_and_is_point_in_time() -> None:
    """Reference: a direct PCA(2).fit() on each window; truncation leaves earlier fits unchanged."""
    x = _factor_returns(7, t=120, n=5)
    y = x.mean(axis=1)
    ts = pl.Series("ts", np.arange(120))
    est = PCA(2, window=40)
    full = est.rolling(x, target=y, every=10, ts=ts)
    for j, t in enumerate(full.index):
        lo = max(t + 1 - 40, 0)
        ref = PCA(2).fit(x[lo : t + 1])
        np.testing.assert_allclose(full.explained_variance_ratio[j],
                                   ref.explained_variance_ratio, rtol=1e-12)
        np.testing.assert_allclose(full.r2[j], ref.r2(y[lo : t + 1]), rtol=1e-12)
    cut = 75
    trunc = est.rolling(x[:cut], target=y[:cut], every=10, ts=ts[:cut])
    m = len(trunc.index)
    np.testing.assert_array_equal(trunc.index, full.index[:m])
    np.testing.assert_array_equal(trunc.explained_variance_ratio,
                                  full.explained_variance_ratio[:m])
    np.testing.assert_array_equal(trunc.components, full.components[:m])
    frame = full.to_frame()
    assert frame.columns == ["ts", "component", "explained_variance_ratio", "r2"]
    assert frame.height == 2 * len(full.index)


def test_expanding_and_min_obs() -> None:
    x = _factor_returns(8, t=30, n=4)
    res = PCA(2, min_obs=10).rolling(x)
    assert np.isnan(res.explained_variance_ratio[:9]).all()
    assert not np.isnan(res.explained_variance_ratio[9:]).any()
    np.testing.assert_allclose(res.explained_variance_ratio[-1],
                               PCA(2).fit(x).explained_variance_ratio)


def test_grid_input_keeps_symbols(small_panel: pl.DataFrame) -> None:
    grid = Grid.from_panel(small_panel)
    close = grid.wide(small_panel, "close")
    rets = close[1:] / close[:-1] - 1

    res = PCA(1).fit(rets, symbols=grid.symbols)
    assert res.symbols == ("A", "B", "C")
    assert res.n_obs == 2  # rows with a return for every symbol
    assert "PC1" in res.summary()
