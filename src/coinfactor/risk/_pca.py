"""Principal component analysis of a returns panel: statistical factors, point in time.

:class:`PCA` holds the settings; ``PCA(k, window=...).fit(returns)`` decomposes the last window
of returns (all rows when expanding) into an immutable :class:`PCAResult`, and
``PCA.rolling`` re-estimates it through time (:class:`RollingPCAResult`) so that the value at
bar t uses bars ``<= t`` only. :func:`pca` is the kernel behind both (one window, internal).
Results carry the explained variance (ratio), loadings, scores, PC1 as a market portfolio,
R² of each component against a target series, and the PCA-cleaned (top-k kept) and residual
(top-k removed) returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.core.typing import CleanMode


def _as_array(returns: np.ndarray, symbols: Sequence[str] | None
              ) -> tuple[np.ndarray, tuple[str, ...] | None]:
    arr = np.asarray(returns, dtype=np.float64)
    names = None if symbols is None else tuple(symbols)
    if names is not None and arr.ndim == 2 and len(names) != arr.shape[1]:
        raise DataError(f"expected one symbol per column ({arr.shape[1]}), got {len(names)}",
                        fix="pass the symbols of the returns' columns (e.g. grid.symbols)")
    return arr, names


def _check_2d(arr: np.ndarray, what: str) -> None:
    if arr.ndim != 2:
        raise DataError(
            f"{what}: expected returns of shape (n_bars, n_symbols), got an array of shape "
            f"{arr.shape}",
            fix="pass a 2-D array with one column per symbol",
        )
    if np.isinf(arr).any():
        raise DataError(
            f"{what}: returns contain inf", fix="replace inf by NaN (missing) or drop the rows"
        )


def _orient(components: np.ndarray) -> np.ndarray:
    """Fix each component's sign: the sum of loadings is positive.

    Tie rule: when the sum is (numerically) zero, the largest absolute loading is made
    positive, the first such column winning ties. Deterministic for the same input.
    """
    out = components.copy()
    for i, row in enumerate(out):
        total = row.sum()
        scale = np.abs(row).sum()
        if abs(total) > 1e-12 * max(scale, 1e-300):
            sign = np.sign(total)
        else:
            sign = np.sign(row[int(np.argmax(np.abs(row)))]) or 1.0
        out[i] = sign * row
    return out


@dataclass(frozen=True)
class PCAResult:
    """One PCA fit (immutable).

    Attributes
    ----------
    components : ndarray of shape (n_components, n_symbols)
        Unit-norm loadings, one row per component, in decreasing order of variance. Sign rule:
        the loadings of each component sum to a positive number (so PC1 is long the market).
    explained_variance : ndarray of shape (n_components,)
        Variance of each component's scores (``ddof=1``, as scikit-learn), in return² per bar.
    explained_variance_ratio : ndarray of shape (n_components,)
        Share of the total variance of all components (sums to 1 when all are kept).
    singular_values : ndarray of shape (n_components,)
        Singular values of the centred window.
    mean : ndarray of shape (n_symbols,)
        Column means removed before the decomposition (zeros when ``center=False``).
    scores : ndarray of shape (n_obs, n_components)
        Component returns on the rows used.
    rows : ndarray of bool, shape (n_bars,)
        Which input rows were used (rows with any NaN are dropped).
    symbols : tuple of str, optional
        Column names, when the input carried them.
    """

    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    singular_values: np.ndarray
    mean: np.ndarray
    scores: np.ndarray
    rows: np.ndarray
    symbols: tuple[str, ...] | None = None

    @property
    def n_components(self) -> int:
        """Number of components kept."""
        return int(self.components.shape[0])

    @property
    def n_obs(self) -> int:
        """Number of rows the decomposition used."""
        return int(self.scores.shape[0])

    def transform(self, returns: np.ndarray) -> np.ndarray:
        """Scores of new rows: ``(X - mean) @ components.T``, shape (n, n_components)."""
        x = np.asarray(returns, dtype=np.float64)
        return (x - self.mean) @ self.components.T

    def clean(
        self, returns: np.ndarray, *, n_components: int | None = None, mode: CleanMode = "keep"
    ) -> np.ndarray:
        """PCA-cleaned returns.

        Parameters
        ----------
        returns : ndarray of shape (n, n_symbols)
            Returns to clean (usually the fitted window).
        n_components : int, optional
            Top components to use (default: all kept ones).
        mode : {"keep", "remove"}
            ``"keep"``: ``mean + (X - mean) V_kᵀ V_k`` (scikit-learn's ``inverse_transform`` of
            the top-k scores); ``"remove"``: ``X`` minus that (the residual returns).

        Returns
        -------
        ndarray of shape (n, n_symbols)
        """
        k = self.n_components if n_components is None else int(n_components)
        if not 0 <= k <= self.n_components:
            raise ConfigError(
                f"clean: n_components must be in [0, {self.n_components}], got {k}"
            )
        x = np.asarray(returns, dtype=np.float64)
        v = self.components[:k]
        kept = self.mean + ((x - self.mean) @ v.T) @ v
        if mode == "keep":
            return kept
        if mode == "remove":
            return x - kept
        raise ConfigError(f"clean: mode must be 'keep' or 'remove', got {mode!r}")

    def market_portfolio(self) -> np.ndarray:
        """PC1 as a market portfolio: PC1 loadings scaled to unit gross (``Σ|w| = 1``).

        Returns
        -------
        ndarray of shape (n_symbols,)
            Weights; by the sign rule their sum is positive.
        """
        v = self.components[0]
        return v / np.abs(v).sum()

    def r2(self, target: np.ndarray) -> np.ndarray:
        """R² of each component's scores against a target series (OLS with intercept).

        Parameters
        ----------
        target : ndarray of shape (n_bars,)
            Target returns on the same rows as the fitted input (all of them, not only the
            used ones); rows where the target is NaN are skipped.

        Returns
        -------
        ndarray of shape (n_components,)
            ``corr(score_i, target)²``, the R² of a one-regressor OLS with a constant.
        """
        y = np.asarray(target, dtype=np.float64)
        if y.shape != self.rows.shape:
            raise DataError(
                f"r2: expected a target of shape {self.rows.shape} (one value per input row), "
                f"got {y.shape}",
                fix="pass the target aligned to the returns the PCA was fitted on",
            )
        y = y[self.rows]
        ok = ~np.isnan(y)
        return self._corr(self.scores[ok], y[ok]) ** 2

    def correlation(self, target: np.ndarray) -> np.ndarray:
        """Correlation of each component's scores with a target (signed; see :meth:`r2`)."""
        y = np.asarray(target, dtype=np.float64)
        if y.shape != self.rows.shape:
            raise DataError(
                f"correlation: expected a target of shape {self.rows.shape}, got {y.shape}"
            )
        y = y[self.rows]
        ok = ~np.isnan(y)
        return self._corr(self.scores[ok], y[ok])

    @staticmethod
    def _corr(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
        if y.shape[0] < 3:
            return np.full(scores.shape[1], np.nan)
        sc = scores - scores.mean(axis=0)
        yc = y - y.mean()
        den = np.sqrt((sc**2).sum(axis=0) * (yc**2).sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            out: np.ndarray = (sc.T @ yc) / den
        return out

    def summary(self) -> str:
        """Plain-text table of explained variance per component."""
        lines = [f"PCA: {self.n_components} components on {self.n_obs} rows x "
                 f"{self.components.shape[1]} symbols"]
        cum = np.cumsum(self.explained_variance_ratio)
        for i, (r, c) in enumerate(zip(self.explained_variance_ratio, cum, strict=True)):
            lines.append(f"  PC{i + 1}: {r:7.2%} (cumulative {c:7.2%})")
        return "\n".join(lines)


def pca(
    returns: np.ndarray,
    n_components: int | None = None,
    *,
    center: bool = True,
    symbols: Sequence[str] | None = None,
) -> PCAResult:
    """Principal components of a window of returns (SVD of the centred data).

    Parameters
    ----------
    returns : ndarray of shape (n_bars, n_symbols)
        Returns; rows with any NaN are dropped (complete cases), so select symbols with full
        coverage of the window first.
    n_components : int, optional
        Components to keep (default: all, ``min(n_obs, n_symbols)``).
    center : bool, default True
        Remove column means first (as scikit-learn's ``PCA``).
    symbols : sequence of str, optional
        Names of the ``n_symbols`` columns (e.g. ``grid.symbols``), kept on the result.

    Returns
    -------
    PCAResult

    Raises
    ------
    DataError
        On a non-2-D input, inf values, or fewer than two complete rows.
    ConfigError
        If ``n_components`` is not in ``[1, min(n_obs, n_symbols)]``.

    Notes
    -----
    With ``X_c = U S Vᵀ`` the thin SVD of the centred rows, the loadings are the rows of ``Vᵀ``,
    the scores ``U S``, the explained variance ``S² / (n_obs - 1)`` and its ratio
    ``S² / Σ S²``. This is scikit-learn's ``PCA(svd_solver="full")`` up to the sign of each
    component, which here is fixed so that its loadings sum to a positive number.
    """
    arr, names = _as_array(returns, symbols)
    _check_2d(arr, "pca")
    rows = ~np.isnan(arr).any(axis=1)
    x = arr[rows]
    n_obs, n_sym = x.shape
    if n_obs < 2 or n_sym < 1:
        raise DataError(
            f"pca: expected at least 2 complete rows (no NaN in any column), got {n_obs} of "
            f"{arr.shape[0]} rows and {n_sym} columns",
            fix="drop symbols with missing data in the window or use a longer window",
        )
    k_max = min(n_obs, n_sym)
    k = k_max if n_components is None else int(n_components)
    if not 1 <= k <= k_max:
        raise ConfigError(
            f"pca: n_components must be in [1, min(n_obs, n_symbols)] = [1, {k_max}], got {k}"
        )
    mean = x.mean(axis=0) if center else np.zeros(n_sym)
    xc = x - mean
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    total = float((s**2).sum())
    comps = _orient(vt[:k])
    scores = xc @ comps.T
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (s[:k] ** 2) / total if total > 0 else np.full(k, np.nan)
    return PCAResult(
        components=comps,
        explained_variance=s[:k] ** 2 / (n_obs - 1),
        explained_variance_ratio=ratio,
        singular_values=s[:k].copy(),
        mean=mean,
        scores=scores,
        rows=rows,
        symbols=names,
    )


@dataclass(frozen=True)
class RollingPCAResult:
    """PCA re-estimated through time (immutable).

    Attributes
    ----------
    ts : pl.Series
        Evaluation times (length n_eval); the fit at ``ts[j]`` used bars with ts ``<= ts[j]``.
    index : ndarray of int, shape (n_eval,)
        Row positions of the evaluation times in the input.
    explained_variance_ratio : ndarray of shape (n_eval, n_components)
        NaN where the window had fewer than ``min_obs`` complete rows.
    components : ndarray of shape (n_eval, n_components, n_symbols)
        Loadings (sign rule of :func:`pca`).
    r2 : ndarray of shape (n_eval, n_components)
        R² of each component against the target (NaN without a target).
    pc1_correlation : ndarray of shape (n_eval,)
        Correlation of PC1's scores with the target in the window.
    n_obs : ndarray of int, shape (n_eval,)
        Complete rows in each window.
    symbols : tuple of str, optional
    """

    ts: pl.Series
    index: np.ndarray
    explained_variance_ratio: np.ndarray
    components: np.ndarray
    r2: np.ndarray
    pc1_correlation: np.ndarray
    n_obs: np.ndarray
    symbols: tuple[str, ...] | None = None

    def to_frame(self) -> pl.DataFrame:
        """Long frame ``ts, component, explained_variance_ratio, r2`` (component from 1)."""
        n_eval, k = self.explained_variance_ratio.shape
        return pl.DataFrame({
            "ts": pl.Series(np.repeat(self.ts.to_numpy(), k)).cast(self.ts.dtype),
            "component": np.tile(np.arange(1, k + 1), n_eval),
            "explained_variance_ratio": self.explained_variance_ratio.reshape(-1),
            "r2": self.r2.reshape(-1),
        }).with_columns(pl.col("explained_variance_ratio", "r2").fill_nan(None))

    def summary(self) -> str:
        """Plain-text: mean explained variance ratio and R² per component."""
        with np.errstate(invalid="ignore"):
            evr = np.nanmean(self.explained_variance_ratio, axis=0)
            r2 = np.nanmean(self.r2, axis=0) if not np.isnan(self.r2).all() else evr * np.nan
        lines = [f"rolling PCA: {len(self.ts)} fits"]
        for i in range(len(evr)):
            lines.append(f"  PC{i + 1}: mean EVR {evr[i]:7.2%}  mean R² {r2[i]:7.2%}")
        return "\n".join(lines)


class PCA:
    """PCA re-estimated point in time on a rolling or expanding window.

    Parameters
    ----------
    n_components : int or None, default 5
        Components kept; None keeps all, ``min(n_obs, n_symbols)`` (:meth:`fit` only).
    window : int, optional
        Rolling window in bars; ``None`` means expanding (all bars up to t).
    min_obs : int, optional
        Fewest complete rows for a fit (default: ``max(n_components + 1, 2)``); below it the
        outputs at that time are NaN.
    center : bool, default True
        Remove column means in each window.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(200, 4))
    >>> PCA(2, window=100).fit(x).n_obs
    100
    """

    def __init__(
        self,
        n_components: int | None = 5,
        *,
        window: int | None = None,
        min_obs: int | None = None,
        center: bool = True,
    ) -> None:
        self.n_components = n_components
        self.window = window
        self.min_obs = min_obs
        self.center = center
        self._check()

    def __repr__(self) -> str:
        return (f"PCA({self.n_components}, window={self.window}, min_obs={self.min_obs}, "
                f"center={self.center})")

    def _check(self) -> int:
        """Validate the settings; return the fewest complete rows for a fit."""
        if self.n_components is not None and int(self.n_components) < 1:
            raise ConfigError(f"PCA: n_components must be >= 1 or None, got "
                              f"{self.n_components}")
        if self.window is not None and int(self.window) < 2:
            raise ConfigError(f"PCA: window must be >= 2 bars or None, got {self.window}")
        k = 1 if self.n_components is None else int(self.n_components)
        return max(k + 1, 2) if self.min_obs is None else int(self.min_obs)

    def fit(self, returns: np.ndarray, *, symbols: Sequence[str] | None = None) -> PCAResult:
        """Fit on the last ``window`` rows (all rows when expanding).

        Parameters
        ----------
        returns : ndarray of shape (n_bars, n_symbols)
            Returns through the evaluation time (pass only past data).
        symbols : sequence of str, optional
            Names of the columns (e.g. ``grid.symbols``), kept on the result.

        Returns
        -------
        PCAResult
        """
        arr, names = _as_array(returns, symbols)
        _check_2d(arr, "PCA.fit")
        start = 0 if self.window is None else max(arr.shape[0] - int(self.window), 0)
        return pca(arr[start:], self.n_components, center=self.center, symbols=names)

    def rolling(
        self,
        returns: np.ndarray,
        *,
        target: np.ndarray | None = None,
        every: int = 1,
        ts: pl.Series | None = None,
        symbols: Sequence[str] | None = None,
    ) -> RollingPCAResult:
        """Re-estimate at every ``every``-th bar, each time on bars up to and including it.

        Parameters
        ----------
        returns : ndarray of shape (n_bars, n_symbols)
            Returns (NaN missing), e.g. on a :class:`coinfactor.data.Grid`.
        target : ndarray of shape (n_bars,), optional
            Target returns for the R² of each component.
        every : int, default 1
            Stride between re-estimations; fits happen at rows ``every-1, 2*every-1, ...``.
        ts : pl.Series, optional
            Time axis of the rows, length ``n_bars`` (e.g. ``grid.ts``; default: row
            numbers).
        symbols : sequence of str, optional
            Names of the columns (e.g. ``grid.symbols``), kept on the result.

        Returns
        -------
        RollingPCAResult
        """
        min_obs = self._check()
        if self.n_components is None:
            raise ConfigError("PCA.rolling: n_components must be an integer (None is for fit)")
        arr, names = _as_array(returns, symbols)
        _check_2d(arr, "PCA.rolling")
        if ts is None:
            ts = pl.Series("ts", np.arange(len(arr)))
        if len(ts) != arr.shape[0]:
            raise DataError(f"PCA.rolling: ts has {len(ts)} rows, returns {arr.shape[0]}")
        if target is not None and np.asarray(target).shape != (arr.shape[0],):
            raise DataError(
                f"PCA.rolling: expected target of shape ({arr.shape[0]},), got "
                f"{np.asarray(target).shape}"
            )
        if int(every) < 1:
            raise ConfigError(f"PCA.rolling: every must be >= 1, got {every}")
        k = int(self.n_components)
        idx = np.arange(int(every) - 1, arr.shape[0], int(every))
        n_eval, n_sym = len(idx), arr.shape[1]
        evr = np.full((n_eval, k), np.nan)
        comps = np.full((n_eval, k, n_sym), np.nan)
        r2 = np.full((n_eval, k), np.nan)
        pc1c = np.full(n_eval, np.nan)
        nobs = np.zeros(n_eval, dtype=np.int64)
        y_all = None if target is None else np.asarray(target, dtype=np.float64)
        for j, t in enumerate(idx):
            start = 0 if self.window is None else max(t + 1 - int(self.window), 0)
            window = arr[start : t + 1]
            complete = int((~np.isnan(window).any(axis=1)).sum())
            nobs[j] = complete
            if complete < min_obs or complete < k:
                continue
            res = pca(window, k, center=self.center)
            evr[j] = res.explained_variance_ratio
            comps[j] = res.components
            if y_all is not None:
                y = y_all[start : t + 1]
                r2[j] = res.r2(y)
                pc1c[j] = res.correlation(y)[0]
        return RollingPCAResult(
            ts=ts.gather(idx) if len(idx) else ts.head(0),
            index=idx,
            explained_variance_ratio=evr,
            components=comps,
            r2=r2,
            pc1_correlation=pc1c,
            n_obs=nobs,
            symbols=names,
        )
