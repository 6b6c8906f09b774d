"""Covariance estimators against numpy, scikit-learn, statsmodels and naive loops."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from sklearn.covariance import LedoitWolf

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.risk import (
    EWMACovariance,
    FactorModelCovariance,
    LedoitWolfCovariance,
    SampleCovariance,
)


def _returns(n=300, p=6, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((p, p))
    x = 0.01 * rng.standard_normal((n, p)) @ a + 0.001
    return x


def test_sample_covariance_matches_numpy_and_drops_incomplete_rows():
    x = _returns()
    np.testing.assert_allclose(SampleCovariance().fit(x).covariance, np.cov(x.T), rtol=1e-12)
    xn = x.copy()
    xn[[3, 50], [1, 4]] = np.nan
    keep = np.ones(len(x), bool)
    keep[[3, 50]] = False
    got = SampleCovariance(ddof=0).fit(xn).covariance
    np.testing.assert_allclose(got, np.cov(x[keep].T, ddof=0), rtol=1e-12)


@pytest.mark.parametrize("n", [40, 300])
def test_ledoit_wolf_matches_sklearn(n):
    x = _returns(n=n, p=10, seed=1)
    ours = LedoitWolfCovariance().fit(x)
    ref = LedoitWolf().fit(x)
    np.testing.assert_allclose(ours.covariance, ref.covariance_, rtol=1e-10)
    assert ours.shrinkage == pytest.approx(ref.shrinkage_, rel=1e-10)
    assert 0.0 <= ours.shrinkage <= 1.0


@pytest.mark.parametrize("demean", [False, True], ids=["raw", "demeaned"])
def test_ewma_matches_naive_loop(demean):
    """Reference: explicit loop over bars with weights λ^(n-1-i) / Σ λ^j."""
    x = _returns(n=50, p=4, seed=2)
    est = EWMACovariance(halflife=10.0, demean=demean).fit(x)
    lam = 0.5 ** (1 / 10.0)
    w = [lam ** (len(x) - 1 - i) for i in range(len(x))]
    total = sum(w)
    mean = sum(wi * xi for wi, xi in zip(w, x, strict=True)) / total if demean else 0.0
    ref = np.zeros((4, 4))
    for wi, xi in zip(w, x, strict=True):
        d = xi - mean
        ref += wi / total * np.outer(d, d)
    np.testing.assert_allclose(est.covariance, ref, rtol=1e-12)


def test_factor_model_matches_statsmodels_ols():
    """Loadings and residual variances from statsmodels OLS per asset; Σ = B Σf B' + D."""
    rng = np.random.default_rng(3)
    f = 0.01 * rng.standard_normal((400, 2))
    b = rng.standard_normal((5, 2))
    r = f @ b.T + 0.005 * rng.standard_normal((400, 5))
    r[10, 2] = np.nan
    est = FactorModelCovariance().fit(r, f)
    keep = np.isfinite(r).all(axis=1)
    z = sm.add_constant(f[keep])
    loadings, spec = [], []
    for j in range(5):
        res = sm.OLS(r[keep, j], z).fit()
        loadings.append(res.params[1:])
        spec.append(res.mse_resid)
    np.testing.assert_allclose(est.loadings, np.array(loadings), rtol=1e-10)
    np.testing.assert_allclose(est.specific_variance, spec, rtol=1e-10)
    sf = np.cov(f[keep].T)
    np.testing.assert_allclose(est.factor_covariance, sf, rtol=1e-12)
    b_hat = np.array(loadings)
    np.testing.assert_allclose(est.covariance, b_hat @ sf @ b_hat.T + np.diag(spec),
                               rtol=1e-10)


def test_bad_inputs_raise():
    with pytest.raises(DataError, match="n_bars, n_assets"):
        SampleCovariance().fit(np.zeros(5))
    with pytest.raises(DataError, match="at least 2 bars"):
        LedoitWolfCovariance().fit(np.full((5, 2), np.nan))
    with pytest.raises(DataError, match="same n_bars"):
        FactorModelCovariance().fit(np.zeros((5, 2)), np.zeros((4, 1)))
    with pytest.raises(ConfigError, match="halflife"):
        EWMACovariance(halflife=0)
    assert repr(EWMACovariance(halflife=5.0)) == "EWMACovariance(halflife=5.0, demean=False)"


def test_results_are_immutable_and_fit_leaves_the_estimator_unchanged():
    x = _returns()
    est = LedoitWolfCovariance()
    res = est.fit(x)
    assert vars(est) == vars(LedoitWolfCovariance())
    with pytest.raises(AttributeError):
        res.shrinkage = 0.5  # type: ignore[misc]
    with pytest.raises(ValueError):
        res.covariance[0, 0] = 1.0
    assert res.n_obs == len(x)
    np.testing.assert_array_equal(res.covariance, est.fit(x).covariance)
    with pytest.raises(ConfigError, match="ddof"):
        SampleCovariance(ddof=-1)
