"""Covariance estimators: sample, EWMA, Ledoit-Wolf shrinkage, factor model.

Each estimator stores its settings in ``__init__``; ``fit(returns)`` estimates from a
``(n_bars, n_assets)`` array of returns and sets ``covariance_`` (``(n_assets, n_assets)``, in
squared return units per bar). Rows with any missing value are dropped (complete cases), so
every estimate is positive semi-definite.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coinfactor.core.errors import ConfigError, DataError


def _complete_rows(returns: Any, name: str, min_rows: int) -> np.ndarray:
    arr = np.asarray(returns, dtype=np.float64)
    if arr.ndim != 2:
        raise DataError(f"{name}: expected returns of shape (n_bars, n_assets), got {arr.shape}")
    arr = arr[np.isfinite(arr).all(axis=1)]
    if arr.shape[0] < min_rows:
        raise DataError(
            f"{name}: needs at least {min_rows} bars where every asset has a return, got "
            f"{arr.shape[0]}", fix="pass a longer window or drop assets with missing data")
    return arr


class SampleCovariance:
    """Sample covariance ``X_c' X_c / (n - ddof)`` of demeaned returns.

    Parameters
    ----------
    ddof : int, default 1
        Delta degrees of freedom.

    Attributes
    ----------
    covariance_ : ndarray of shape (n_assets, n_assets)
    location_ : ndarray of shape (n_assets,)
        Mean return per bar.
    """

    def __init__(self, *, ddof: int = 1) -> None:
        self.ddof = ddof

    def __repr__(self) -> str:
        return f"SampleCovariance(ddof={self.ddof})"

    def fit(self, returns: Any) -> SampleCovariance:
        """Estimate from returns of shape (n_bars, n_assets); returns self."""
        x = _complete_rows(returns, "SampleCovariance", self.ddof + 1)
        self.location_ = x.mean(axis=0)
        xc = x - self.location_
        self.covariance_ = xc.T @ xc / (x.shape[0] - self.ddof)
        return self


class EWMACovariance:
    """Exponentially weighted covariance (RiskMetrics style).

    Weights ``w_i ∝ λ^(n-1-i)`` (newest bar weight 1) with ``λ = 0.5 ** (1 / halflife)``,
    normalised to sum to one. With ``demean=False`` (RiskMetrics) the mean return is taken as
    zero: ``Σ = Σ_i w_i x_i x_i'``; with ``demean=True`` the weighted mean is removed first.

    Parameters
    ----------
    halflife : float
        Half-life in bars (> 0).
    demean : bool, default False
        Remove the weighted mean.

    Attributes
    ----------
    covariance_ : ndarray of shape (n_assets, n_assets)
    weights_ : ndarray of shape (n_bars_used,)
    """

    def __init__(self, *, halflife: float, demean: bool = False) -> None:
        if not halflife > 0:
            raise ConfigError(f"EWMACovariance: halflife must be > 0 bars, got {halflife!r}")
        self.halflife = halflife
        self.demean = demean

    def __repr__(self) -> str:
        return f"EWMACovariance(halflife={self.halflife!r}, demean={self.demean!r})"

    def fit(self, returns: Any) -> EWMACovariance:
        """Estimate from returns of shape (n_bars, n_assets), oldest first; returns self."""
        x = _complete_rows(returns, "EWMACovariance", 1)
        lam = 0.5 ** (1.0 / self.halflife)
        w = lam ** np.arange(x.shape[0] - 1, -1, -1, dtype=np.float64)
        w /= w.sum()
        if self.demean:
            x = x - w @ x
        self.weights_ = w
        self.covariance_ = (x * w[:, None]).T @ x
        return self


class LedoitWolfCovariance:
    """Ledoit-Wolf shrinkage of the sample covariance towards a scaled identity.

    ``Σ = (1 - δ) S + δ μ I`` with ``S`` the (1/n) covariance of demeaned returns,
    ``μ = trace(S) / p`` and the optimal shrinkage ``δ = min(b̄², d²) / d²``, where
    ``d² = ||S - μ I||²_F`` and ``b̄² = (1/n²) Σ_k ||x_k x_k' - S||²_F`` (Ledoit and Wolf,
    2004), as scikit-learn's ``LedoitWolf``.

    Attributes
    ----------
    covariance_ : ndarray of shape (n_assets, n_assets)
    shrinkage_ : float
        ``δ`` in [0, 1].
    location_ : ndarray of shape (n_assets,)

    References
    ----------
    O. Ledoit and M. Wolf, "A well-conditioned estimator for large-dimensional covariance
    matrices", Journal of Multivariate Analysis 88 (2004) 365-411.
    """

    def __repr__(self) -> str:
        return "LedoitWolfCovariance()"

    def fit(self, returns: Any) -> LedoitWolfCovariance:
        """Estimate from returns of shape (n_bars, n_assets); returns self."""
        x = _complete_rows(returns, "LedoitWolfCovariance", 2)
        n, p = x.shape
        self.location_ = x.mean(axis=0)
        xc = x - self.location_
        s = xc.T @ xc / n
        mu = np.trace(s) / p
        target = s - mu * np.eye(p)
        d2 = float(np.sum(target * target))
        sq = xc * xc
        b2_bar = float((np.sum(sq.T @ sq) / n - np.sum(s * s)) / n)
        self.shrinkage_ = 0.0 if d2 == 0 else min(b2_bar, d2) / d2
        self.covariance_ = (1.0 - self.shrinkage_) * s + self.shrinkage_ * mu * np.eye(p)
        return self


class FactorModelCovariance:
    """Factor-model covariance ``B Σ_f B' + D``.

    Each asset's returns are regressed (OLS with a constant) on the factor returns; ``B`` holds
    the slopes, ``Σ_f`` is the sample covariance of the factors (ddof 1) and ``D`` the diagonal
    of residual variances (``SSR / (n - k - 1)``).

    Attributes
    ----------
    loadings_ : ndarray of shape (n_assets, n_factors)
    factor_covariance_ : ndarray of shape (n_factors, n_factors)
    specific_variance_ : ndarray of shape (n_assets,)
    covariance_ : ndarray of shape (n_assets, n_assets)
    """

    def __repr__(self) -> str:
        return "FactorModelCovariance()"

    def fit(self, returns: Any, factors: Any) -> FactorModelCovariance:
        """Estimate from returns (n_bars, n_assets) and factor returns (n_bars, n_factors)."""
        r = np.asarray(returns, dtype=np.float64)
        f = np.asarray(factors, dtype=np.float64)
        if f.ndim == 1:
            f = f[:, None]
        if r.ndim != 2 or f.ndim != 2 or r.shape[0] != f.shape[0]:
            raise DataError(
                f"FactorModelCovariance: expected returns (n_bars, n_assets) and factors "
                f"(n_bars, n_factors) with the same n_bars, got {r.shape} and {f.shape}")
        k = f.shape[1]
        both = _complete_rows(np.hstack([r, f]), "FactorModelCovariance", k + 2)
        r, f = both[:, : r.shape[1]], both[:, r.shape[1] :]
        z = np.column_stack([np.ones(len(f)), f])
        coef, *_ = np.linalg.lstsq(z, r, rcond=None)
        resid = r - z @ coef
        self.loadings_ = coef[1:].T
        fc = f - f.mean(axis=0)
        self.factor_covariance_ = fc.T @ fc / (len(f) - 1)
        self.specific_variance_ = np.sum(resid * resid, axis=0) / (len(f) - k - 1)
        self.covariance_ = (self.loadings_ @ self.factor_covariance_ @ self.loadings_.T
                            + np.diag(self.specific_variance_))
        return self
