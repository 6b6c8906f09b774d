"""The result of :func:`coinfactor.rolling.rolling_ols`: coefficients and fit statistics."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import numpy as np

from coinfactor.core.errors import ConfigError


class WindowCounts(Protocol):
    """Source of the ``(T, N)`` window counts, ranks and condition numbers of a result.

    Built on request; condition numbers are None when not computed.
    """

    def nobs(self) -> np.ndarray: ...

    def rank(self) -> np.ndarray: ...

    def cond(self) -> np.ndarray | None: ...


@dataclass(frozen=True, eq=False)
class RollingOLSResult:
    """Results of :func:`rolling_ols`; arrays are read-only.

    Shapes below are for ``y`` of shape ``(T, N)``; for ``y`` of shape ``(T,)`` the ``N`` axis
    is absent. Cells that are not fitted (an incomplete first window, or fewer than ``min_nobs``
    valid rows) hold NaN (``rank`` holds 0).

    Attributes
    ----------
    params : ndarray of shape (T, N, p)
        Coefficients, the constant first when ``add_constant`` (``p = k + 1``), else ``p = k``.
    rsquared : ndarray of shape (T, N)
        R²: centred (``1 - SSR / sum((y - mean(y))**2)``) when the model has a constant
        (``add_constant`` or a constant column in ``X``), else uncentred (``1 - SSR / y'y``),
        as statsmodels. NaN when the denominator is zero.
    ssr : ndarray of shape (T, N)
        Residual sum of squares, in squared units of ``y``.
    nobs : ndarray of int32, shape (T, N)
        Number of valid rows (finite ``y`` and finite ``X`` row) in each window, fitted or not.
        Built on first access from a compact form when ``X`` is shared.
    rank : ndarray of int32, shape (T, N)
        Numerical rank of the window's design, constant included; ``rank < p`` marks a
        rank-deficient window, whose ``params`` are the minimum-norm solution (see
        :func:`rolling_ols`, Notes). Built on first access from a compact form when ``X`` is
        shared.
    condition_number : ndarray of shape (T, N)
        Condition number ``max(eig C) / min(eig C)`` of the window's regressors, ``C`` their
        correlation matrix (with a constant; the cross-product matrix scaled to unit diagonal
        without); the window is rank deficient when it is at least ``1 / rank_tol``. inf for a
        singular ``C``, NaN where not fitted. Only when fitted with
        ``condition_number=True`` (else reading it raises ConfigError).
    has_constant : bool
        Whether the model has a constant (added, or a constant column of ``X``).
    counts : WindowCounts
        Where ``nobs`` and ``rank`` come from (internal).
    single : bool
        Whether ``y`` was one series (shape ``(T,)``).
    window : int
        Window length in rows.
    min_nobs : int
        Minimum number of valid rows for a fit.
    add_constant : bool
        Whether a constant was added.
    """

    params: np.ndarray
    rsquared: np.ndarray
    ssr: np.ndarray
    counts: WindowCounts
    single: bool
    window: int
    min_nobs: int
    add_constant: bool
    has_constant: bool

    def __post_init__(self) -> None:
        for name in ("params", "rsquared", "ssr"):
            getattr(self, name).flags.writeable = False

    def _shaped(self, a: np.ndarray) -> np.ndarray:
        out = a[:, 0] if self.single else a
        out.flags.writeable = False
        return out

    @cached_property
    def nobs(self) -> np.ndarray:
        """Valid rows per window, shape of ``rsquared`` (see the class docstring)."""
        return self._shaped(self.counts.nobs())

    @cached_property
    def rank(self) -> np.ndarray:
        """Numerical rank per window, shape of ``rsquared`` (see the class docstring)."""
        return self._shaped(self.counts.rank())

    @cached_property
    def condition_number(self) -> np.ndarray:
        """Condition number per window, shape of ``rsquared`` (see the class docstring)."""
        cond = self.counts.cond()
        if cond is None:
            raise ConfigError(
                "RollingOLSResult.condition_number: expected condition numbers, got a fit "
                "without them; fix: call rolling_ols(..., condition_number=True)")
        return self._shaped(cond)

    @cached_property
    def rsquared_adj(self) -> np.ndarray:
        """Adjusted R², shape of ``rsquared``.

        ``1 - (nobs - c) / (nobs - rank) * (1 - R²)`` with ``c = 1`` when the model has a
        constant, else 0 (statsmodels' definition); NaN when ``nobs <= rank``.
        """
        c = 1.0 if self.has_constant else 0.0
        df = (self.nobs - self.rank).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(df > 0, 1.0 - (self.nobs - c) / df * (1.0 - self.rsquared), np.nan)
        out.flags.writeable = False
        return out

    @cached_property
    def resid_std(self) -> np.ndarray:
        """Residual standard error ``sqrt(ssr / (nobs - rank))`` in units of ``y``."""
        df = (self.nobs - self.rank).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(df > 0, np.sqrt(self.ssr / df), np.nan)
        out.flags.writeable = False
        return out

    @property
    def n_regressors(self) -> int:
        """Number of coefficients per fit ``p`` (the constant included)."""
        return int(self.params.shape[-1])

    def summary(self) -> str:
        """Plain-text summary: shape, settings, share fitted, mean R², rank-deficient windows."""
        fitted = np.isfinite(self.rsquared)
        n_fit = int(fitted.sum())
        deficient = int(((self.rank < self.n_regressors) & (self.rank > 0)).sum())
        mean_r2 = float(np.mean(self.rsquared[fitted])) if n_fit else float("nan")
        extra = []
        if self.counts.cond() is not None and n_fit:
            c = self.condition_number[fitted]
            extra = [f"  median / max condition number  {np.median(c):.4g} / {np.max(c):.4g}"]
        return "\n".join([
            "RollingOLSResult",
            f"  shape (rows, [series,] params)  {self.params.shape}",
            f"  window / min_nobs               {self.window} / {self.min_nobs}",
            f"  constant added                  {self.add_constant}",
            f"  fitted cells                    {n_fit} of {self.rsquared.size}",
            f"  mean R²                         {mean_r2:.6g}",
            f"  rank-deficient fitted cells     {deficient}",
            *extra,
        ])
