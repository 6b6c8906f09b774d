"""Covariance estimators: sample, EWMA, Ledoit-Wolf shrinkage, factor model.

Each estimator takes its settings in ``__init__`` (checked there); ``fit(returns)`` estimates
from a ``(n_bars, n_assets)`` array of returns and returns an immutable result:
:class:`CovarianceResult` (:class:`FactorCovarianceResult` for the factor model) whose
``covariance`` is ``(n_assets, n_assets)``, in squared return units per bar. The estimator is
not changed by ``fit``. Rows with any missing value are dropped (complete cases), so every
estimate is positive semi-definite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from coinfactor.core.errors import ConfigError, DataError


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class CovarianceResult:
    """A covariance estimate (immutable; arrays are read-only).

    Attributes
    ----------
    covariance : ndarray of shape (n_assets, n_assets)
        Covariance of returns per bar (squared return units).
    n_obs : int
        Complete rows (bars where every asset has a return) used.
    location : ndarray of shape (n_assets,), optional
        Mean return per bar removed before the estimate (None when none was removed).
    weights : ndarray of shape (n_obs,), optional
        Weight of each complete row, oldest first, summing to one (EWMA only).
    shrinkage : float, optional
        Shrinkage intensity ``δ`` in [0, 1] (Ledoit-Wolf only).
    """

    covariance: np.ndarray
    n_obs: int
    location: np.ndarray | None = None
    weights: np.ndarray | None = None
    shrinkage: float | None = None

    def __post_init__(self) -> None:
        for a in (self.covariance, self.location, self.weights):
            if a is not None:
                _frozen(a)


@dataclass(frozen=True, eq=False)
class FactorCovarianceResult:
    """A factor-model covariance estimate ``B Σ_f B' + D`` (immutable; arrays are read-only).

    Attributes
    ----------
    covariance : ndarray of shape (n_assets, n_assets)
        Covariance of returns per bar (squared return units).
    n_obs : int
        Complete rows (every asset and factor present) used.
    loadings : ndarray of shape (n_assets, n_factors)
        ``B``, the OLS slopes of each asset on the factors (return per unit factor return).
    factor_covariance : ndarray of shape (n_factors, n_factors)
        ``Σ_f``, the sample covariance of the factor returns (ddof 1).
    specific_variance : ndarray of shape (n_assets,)
        Diagonal of ``D``, residual variances ``SSR / (n - k - 1)``.
    """

    covariance: np.ndarray
    n_obs: int
    loadings: np.ndarray
    factor_covariance: np.ndarray
    specific_variance: np.ndarray

    def __post_init__(self) -> None:
        for a in (self.covariance, self.loadings, self.factor_covariance,
                  self.specific_variance):
            _frozen(a)


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

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(50, 3))
    >>> SampleCovariance().fit(x).covariance.shape
    (3, 3)
    """

    def __init__(self, *, ddof: int = 1) -> None:
        if isinstance(ddof, bool) or not isinstance(ddof, int | np.integer) or ddof < 0:
            raise ConfigError(f"SampleCovariance: ddof must be an integer >= 0, got {ddof!r}")
        self.ddof = ddof

    def __repr__(self) -> str:
        return f"SampleCovariance(ddof={self.ddof})"

    def fit(self, returns: Any) -> CovarianceResult:
        """Estimate from returns of shape (n_bars, n_assets).

        Returns
        -------
        CovarianceResult
            ``covariance``, ``location`` (mean return per bar), ``n_obs``.
        """
        x = _complete_rows(returns, "SampleCovariance", self.ddof + 1)
        location = x.mean(axis=0)
        xc = x - location
        return CovarianceResult(xc.T @ xc / (x.shape[0] - self.ddof), x.shape[0],
                                location=location)


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

    """

    def __init__(self, *, halflife: float, demean: bool = False) -> None:
        if not halflife > 0:
            raise ConfigError(f"EWMACovariance: halflife must be > 0 bars, got {halflife!r}")
        self.halflife = halflife
        self.demean = demean

    def __repr__(self) -> str:
        return f"EWMACovariance(halflife={self.halflife!r}, demean={self.demean!r})"

    def fit(self, returns: Any) -> CovarianceResult:
        """Estimate from returns of shape (n_bars, n_assets), oldest first.

        Returns
        -------
        CovarianceResult
            ``covariance``, ``weights`` (per complete row), ``location`` (the weighted mean,
            with ``demean=True``), ``n_obs``.
        """
        x = _complete_rows(returns, "EWMACovariance", 1)
        lam = 0.5 ** (1.0 / self.halflife)
        w = lam ** np.arange(x.shape[0] - 1, -1, -1, dtype=np.float64)
        w /= w.sum()
        location = None
        if self.demean:
            location = w @ x
            x = x - location
        return CovarianceResult((x * w[:, None]).T @ x, x.shape[0], location=location,
                                weights=w)


class LedoitWolfCovariance:
    """Ledoit-Wolf shrinkage of the sample covariance towards a scaled identity.

    ``Σ = (1 - δ) S + δ μ I`` with ``S`` the (1/n) covariance of demeaned returns,
    ``μ = trace(S) / p`` and the optimal shrinkage ``δ = min(b̄², d²) / d²``, where
    ``d² = ||S - μ I||²_F`` and ``b̄² = (1/n²) Σ_k ||x_k x_k' - S||²_F`` (Ledoit and Wolf,
    2004), as scikit-learn's ``LedoitWolf``.

    References
    ----------
    O. Ledoit and M. Wolf, "A well-conditioned estimator for large-dimensional covariance
    matrices", Journal of Multivariate Analysis 88 (2004) 365-411.
    """

    def __repr__(self) -> str:
        return "LedoitWolfCovariance()"

    def fit(self, returns: Any) -> CovarianceResult:
        """Estimate from returns of shape (n_bars, n_assets).

        Returns
        -------
        CovarianceResult
            ``covariance``, ``shrinkage`` (``δ``), ``location`` (mean return per bar),
            ``n_obs``.
        """
        x = _complete_rows(returns, "LedoitWolfCovariance", 2)
        n, p = x.shape
        location = x.mean(axis=0)
        xc = x - location
        s = xc.T @ xc / n
        mu = np.trace(s) / p
        target = s - mu * np.eye(p)
        d2 = float(np.sum(target * target))
        sq = xc * xc
        b2_bar = float((np.sum(sq.T @ sq) / n - np.sum(s * s)) / n)
        shrinkage = 0.0 if d2 == 0 else min(b2_bar, d2) / d2
        return CovarianceResult((1.0 - shrinkage) * s + shrinkage * mu * np.eye(p), n,
                                location=location, shrinkage=shrinkage)


class FactorModelCovariance:
    """Factor-model covariance ``B Σ_f B' + D``.

    Each asset's returns are regressed (OLS with a constant) on the factor returns; ``B`` holds
    the slopes, ``Σ_f`` is the sample covariance of the factors (ddof 1) and ``D`` the diagonal
    of residual variances (``SSR / (n - k - 1)``).
    """

    def __repr__(self) -> str:
        return "FactorModelCovariance()"

    def fit(self, returns: Any, factors: Any) -> FactorCovarianceResult:
        """Estimate from returns (n_bars, n_assets) and factor returns (n_bars, n_factors).

        Returns
        -------
        FactorCovarianceResult
            ``covariance``, ``loadings``, ``factor_covariance``, ``specific_variance``,
            ``n_obs``.
        """
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
        loadings = coef[1:].T
        fc = f - f.mean(axis=0)
        factor_cov = fc.T @ fc / (len(f) - 1)
        specific = np.sum(resid * resid, axis=0) / (len(f) - k - 1)
        return FactorCovarianceResult(
            covariance=loadings @ factor_cov @ loadings.T + np.diag(specific), n_obs=len(f),
            loadings=loadings, factor_covariance=factor_cov, specific_variance=specific)
