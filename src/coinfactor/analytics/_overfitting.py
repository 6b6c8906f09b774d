"""Statistics that tell an edge from luck after many trials (backtest overfitting).

- :func:`probabilistic_sharpe_ratio` and :func:`minimum_track_record_length` (Bailey & López
  de Prado 2012): the probability that the true Sharpe ratio exceeds a benchmark given the
  track record's length, skewness and kurtosis, and the length needed for a given confidence;
- :func:`expected_maximum_sharpe` and :func:`deflated_sharpe_ratio` (Bailey & López de Prado
  2014): the PSR against the best Sharpe ratio that ``N`` skill-less trials are expected to
  reach;
- :func:`probability_of_backtest_overfitting` (Bailey, Borwein, López de Prado & Zhu 2015):
  combinatorially symmetric cross-validation (CSCV) of a matrix of trial returns;
- :func:`spa_test`: Hansen's (2005) test of superior predictive ability and White's (2000)
  reality check, through :class:`arch.bootstrap.SPA`.

Units: Sharpe ratios here are **per bar** (not annualised: ``mean / std`` of the bar returns),
as in the papers; divide an annualised Sharpe ratio by ``sqrt(periods_per_year)`` first.
Kurtosis is the plain (not excess) fourth standardised moment: 3 for a normal distribution.

References
----------
.. [1] Bailey, D. H. and López de Prado, M. (2012). "The Sharpe ratio efficient frontier".
   Journal of Risk 15(2), 3-44.
.. [2] Bailey, D. H. and López de Prado, M. (2014). "The deflated Sharpe ratio: correcting for
   selection bias, backtest overfitting and non-normality". Journal of Portfolio Management
   40(5), 94-107.
.. [3] Bailey, D. H., Borwein, J., López de Prado, M. and Zhu, Q. J. (2015). "The probability
   of backtest overfitting". Journal of Computational Finance 20(4), 39-69.
.. [4] Hansen, P. R. (2005). "A test for superior predictive ability". Journal of Business &
   Economic Statistics 23(4), 365-380.
.. [5] White, H. (2000). "A reality check for data snooping". Econometrica 68(5), 1097-1126.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from coinfactor.core.errors import ConfigError, DataError

_NORMAL = NormalDist()  # Φ and Φ⁻¹ (the standard library's; scipy.stats costs seconds to import)

EULER_GAMMA = 0.5772156649015329
"""The Euler-Mascheroni constant of the expected maximum of Gaussian trials."""

_COMBO_BATCH = 512  # CSCV combinations per batch: bounds memory (batch x trials floats)


def _sharpe_variance_term(sharpe: float, skewness: float, kurtosis: float) -> float:
    """``1 - γ3·SR + (γ4 - 1)/4·SR²``: the variance of the Sharpe estimate times (n - 1)."""
    term = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if not term > 0:
        raise DataError(
            f"the Sharpe ratio's variance term 1 - skewness*SR + (kurtosis-1)/4*SR^2 is {term} "
            f"(SR {sharpe}, skewness {skewness}, kurtosis {kurtosis}); expected > 0",
            fix="pass the plain kurtosis (3 for a normal law), not the excess kurtosis")
    return term


def probabilistic_sharpe_ratio(sharpe: float, n_obs: int, *, skewness: float = 0.0,
                               kurtosis: float = 3.0, benchmark: float = 0.0) -> float:
    """Probability that the true Sharpe ratio exceeds ``benchmark``: the PSR (Bailey & LdP 2012).

    Parameters
    ----------
    sharpe : float
        Observed Sharpe ratio **per bar** (``mean / std`` of the bar returns).
    n_obs : int
        Number of bar returns behind it.
    skewness : float
        Skewness of the bar returns.
    kurtosis : float
        Kurtosis of the bar returns, **not** excess (3 for a normal law).
    benchmark : float
        Benchmark Sharpe ratio per bar (0: no skill).

    Returns
    -------
    float
        ``Φ((SR - SR*)·sqrt(n - 1) / sqrt(1 - γ3·SR + (γ4 - 1)/4·SR²))`` in [0, 1].

    Notes
    -----
    The denominator is the asymptotic standard deviation of the Sharpe estimate under
    non-normal i.i.d. returns (Mertens 2002), times ``sqrt(n - 1)``.

    References
    ----------
    Bailey, D. H. and López de Prado, M. (2012). "The Sharpe ratio efficient frontier".
    Journal of Risk 15(2), eq. (8).

    Examples
    --------
    >>> round(probabilistic_sharpe_ratio(0.1, 251), 4)  # SR 0.1 a day over a year
    0.9426
    """
    if n_obs < 2:
        raise DataError(f"probabilistic_sharpe_ratio needs n_obs >= 2 returns, got {n_obs}")
    term = _sharpe_variance_term(sharpe, skewness, kurtosis)
    z = (sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(term)
    return float(_NORMAL.cdf(z))


def minimum_track_record_length(sharpe: float, *, skewness: float = 0.0,
                                kurtosis: float = 3.0, benchmark: float = 0.0,
                                confidence: float = 0.95) -> float:
    """Bars of track record needed for ``PSR(benchmark) >= confidence`` (MinTRL, 2012).

    Parameters
    ----------
    sharpe : float
        Observed Sharpe ratio per bar.
    skewness, kurtosis : float
        Moments of the bar returns (kurtosis not excess: 3 for a normal law).
    benchmark : float
        Benchmark Sharpe ratio per bar.
    confidence : float
        Required probability in (0, 1).

    Returns
    -------
    float
        ``1 + (1 - γ3·SR + (γ4 - 1)/4·SR²)·(z_α / (SR - SR*))²`` bars; ``inf`` when ``sharpe``
        does not exceed ``benchmark`` (no track record is long enough).

    References
    ----------
    Bailey, D. H. and López de Prado, M. (2012). "The Sharpe ratio efficient frontier".
    Journal of Risk 15(2), eq. (11).
    """
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must lie in (0, 1), got {confidence!r}; e.g. 0.95")
    if not sharpe > benchmark:
        return math.inf
    term = _sharpe_variance_term(sharpe, skewness, kurtosis)
    z = _NORMAL.inv_cdf(confidence)
    return 1.0 + term * (z / (sharpe - benchmark)) ** 2


def expected_maximum_sharpe(n_trials: int, variance: float, *, mean: float = 0.0) -> float:
    """Return the expected maximum Sharpe ratio of ``n_trials`` skill-less trials (SR0).

    Parameters
    ----------
    n_trials : int
        Number of independent trials (>= 1).
    variance : float
        Variance of the trials' Sharpe ratios (in the units of the result: per bar, or
        annualised squared for an annualised SR0).
    mean : float
        Mean Sharpe ratio under the null (0: no skill).

    Returns
    -------
    float
        ``mean + sqrt(V)·((1 - γ)·Φ⁻¹(1 - 1/N) + γ·Φ⁻¹(1 - 1/(N·e)))``, γ the Euler-Mascheroni
        constant; ``mean`` for a single trial.

    References
    ----------
    Bailey, D. H. and López de Prado, M. (2014). "The deflated Sharpe ratio". Journal of
    Portfolio Management 40(5), eq. (2) (the false strategy theorem).
    """
    if n_trials < 1:
        raise ConfigError(f"expected_maximum_sharpe needs n_trials >= 1, got {n_trials}")
    if not variance >= 0:
        raise DataError(f"the trials' Sharpe variance must be >= 0, got {variance}")
    if n_trials == 1:
        return float(mean)
    z = ((1.0 - EULER_GAMMA) * _NORMAL.inv_cdf(1.0 - 1.0 / n_trials)
         + EULER_GAMMA * _NORMAL.inv_cdf(1.0 - 1.0 / (n_trials * math.e)))
    return float(mean + math.sqrt(variance) * z)


def deflated_sharpe_ratio(sharpe: float, n_obs: int, *, n_trials: int, sharpe_variance: float,
                          skewness: float = 0.0, kurtosis: float = 3.0) -> float:
    """Deflated Sharpe ratio (Bailey & LdP 2014): the PSR against the expected best of N trials.

    Parameters
    ----------
    sharpe : float
        Sharpe ratio per bar of the selected (best) trial.
    n_obs : int
        Bar returns of the selected trial.
    n_trials : int
        Number of trials the selection was made from (all of them, failures excluded).
    sharpe_variance : float
        Variance across the trials of their per-bar Sharpe ratios.
    skewness, kurtosis : float
        Moments of the selected trial's bar returns (kurtosis not excess: 3 for a normal law).

    Returns
    -------
    float
        ``PSR(SR0)``, ``SR0 = expected_maximum_sharpe(n_trials, sharpe_variance)``: the
        probability that the selected trial's true Sharpe ratio exceeds what the best of
        ``n_trials`` skill-less trials would show.

    References
    ----------
    Bailey, D. H. and López de Prado, M. (2014). "The deflated Sharpe ratio: correcting for
    selection bias, backtest overfitting and non-normality". Journal of Portfolio Management
    40(5), 94-107, eq. (2) and the numerical example of its section 6.

    Examples
    --------
    The paper's worked example: annualised SR 2.5 over 1,250 days, 100 trials whose annualised
    Sharpe ratios have variance 1/2, skewness -3, kurtosis 10:

    >>> round(deflated_sharpe_ratio(2.5 / 250**0.5, 1250, n_trials=100,
    ...                             sharpe_variance=0.5 / 250, skewness=-3, kurtosis=10), 4)
    0.9004
    """
    sr0 = expected_maximum_sharpe(n_trials, sharpe_variance)
    return probabilistic_sharpe_ratio(sharpe, n_obs, skewness=skewness, kurtosis=kurtosis,
                                      benchmark=sr0)


# -- CSCV -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PBOResult:
    """Outcome of :func:`probability_of_backtest_overfitting` (CSCV).

    Attributes
    ----------
    pbo : float
        Fraction of the combinations whose in-sample best trial ranks at or below the
        out-of-sample median (logit ``λ <= 0``).
    logits : ndarray of shape (n_combinations,)
        ``λ_c = log(ω_c / (1 - ω_c))``, ``ω_c`` the out-of-sample relative rank of the
        in-sample best (rank / (n_trials + 1)).
    best_trial : ndarray of int, shape (n_combinations,)
        Column of the in-sample best trial in each combination.
    is_performance, oos_performance : ndarray of shape (n_combinations,)
        In-sample and out-of-sample performance (Sharpe per bar by default) of that trial.
    slope, intercept : float
        Least-squares line of ``oos_performance`` on ``is_performance``: the out-of-sample
        degradation of the in-sample best (a slope below 1, often negative, is decay).
    prob_oos_loss : float
        Fraction of combinations whose in-sample best loses out of sample (performance < 0).
    n_partitions, n_combinations, block_size : int
        ``S``, ``C(S, S/2)`` and the rows in each of the ``S`` blocks.
    """

    pbo: float
    logits: np.ndarray
    best_trial: np.ndarray
    is_performance: np.ndarray
    oos_performance: np.ndarray
    slope: float
    intercept: float
    prob_oos_loss: float
    n_partitions: int
    n_combinations: int
    block_size: int

    def summary(self) -> dict[str, float]:
        """Headline numbers: ``pbo``, degradation ``slope``/``intercept``, ``prob_oos_loss``."""
        return {"pbo": self.pbo, "slope": self.slope, "intercept": self.intercept,
                "prob_oos_loss": self.prob_oos_loss,
                "n_combinations": float(self.n_combinations)}


def _block_moments(returns: np.ndarray, n_partitions: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Centre each trial, then sum and sum of squares per block: (S, N) each."""
    n_bars, n_trials = returns.shape
    block = n_bars // n_partitions
    used = returns[n_bars - block * n_partitions:]  # the oldest remainder rows are dropped
    centre = used.mean(axis=0)
    centred = (used - centre).reshape(n_partitions, block, n_trials)
    return centre, centred.sum(axis=1), (centred * centred).sum(axis=1), block


def _sharpe_from_sums(centre: np.ndarray, s1: np.ndarray, s2: np.ndarray, n: int) -> np.ndarray:
    """Per-bar Sharpe ratio (ddof 1) of the rows whose centred sums are ``s1, s2``."""
    mean_c = s1 / n
    var = (s2 - s1 * mean_c) / (n - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sharpe = (centre + mean_c) / np.sqrt(var)
    # a constant trial (zero variance, up to rounding) has no Sharpe ratio: never selected
    flat = ~(var > 1e-300) | ~np.isfinite(sharpe)
    return np.where(flat, -np.inf, sharpe)


def _relative_rank(values: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Average rank (1..N, ties share their mean rank) of ``values[c, chosen[c]]`` / (N + 1)."""
    pick = values[np.arange(values.shape[0]), chosen][:, None]
    below = (values < pick).sum(axis=1)
    ties = (values == pick).sum(axis=1)  # includes the chosen trial itself
    rank = below + (ties + 1) / 2.0
    return np.asarray(rank / (values.shape[1] + 1.0))


def probability_of_backtest_overfitting(
    returns: Any, *, n_partitions: int = 16,
    metric: Callable[[np.ndarray], np.ndarray] | None = None,
) -> PBOResult:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation.

    Parameters
    ----------
    returns : array-like of shape (n_bars, n_trials)
        Per-bar returns of every trial on one time axis (finite; a trial flat on a bar has a
        0 return there).
    n_partitions : int
        ``S``, an even number >= 2 of equal row blocks (16 by default, as in the paper). The
        ``n_bars mod S`` oldest rows are left out.
    metric : callable, optional
        Performance of each column of a ``(rows, n_trials)`` block of returns -> ``(n_trials,)``;
        default the per-bar Sharpe ratio (computed from block sums, exactly the Sharpe ratio
        of the rows up to rounding). NaN performance ranks below every number.

    Returns
    -------
    PBOResult

    Notes
    -----
    Each of the ``C(S, S/2)`` ways to choose half the blocks is a training set ``J``, its
    complement the test set. The trial with the best performance on ``J`` (the first on a tie)
    is ranked among all trials on the test set; ``ω`` is its average rank over ``N + 1`` and
    ``λ = log(ω / (1 - ω))``. PBO is the share of combinations with ``λ <= 0``.

    References
    ----------
    Bailey, D. H., Borwein, J., López de Prado, M. and Zhu, Q. J. (2015). "The probability of
    backtest overfitting". Journal of Computational Finance 20(4), 39-69, section 2.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> res = probability_of_backtest_overfitting(rng.normal(0, 0.01, (800, 20)), n_partitions=8)
    >>> res.n_combinations, 0.2 < res.pbo < 0.8
    (70, True)
    """
    mat = np.asarray(returns, dtype=np.float64)
    if mat.ndim != 2:
        raise DataError(f"expected returns of shape (n_bars, n_trials), got shape {mat.shape}",
                        fix="stack one column of per-bar returns per trial")
    if not (isinstance(n_partitions, int) and n_partitions >= 2 and n_partitions % 2 == 0):
        raise ConfigError(f"n_partitions must be an even integer >= 2, got {n_partitions!r}; "
                          "the paper uses 16")
    n_bars, n_trials = mat.shape
    if n_trials < 2:
        raise DataError(f"CSCV needs at least 2 trials, got {n_trials}")
    if n_bars < 2 * n_partitions:
        raise DataError(f"CSCV with S = {n_partitions} needs at least {2 * n_partitions} bars "
                        f"(two per block), got {n_bars}", fix="use fewer partitions")
    if not np.isfinite(mat).all():
        raise DataError("CSCV returns contain NaN or inf",
                        fix="fill the bars a trial is flat with 0 and drop failed trials")
    combos = np.array(list(itertools.combinations(range(n_partitions), n_partitions // 2)),
                      dtype=np.int64)
    member = np.zeros((len(combos), n_partitions), dtype=bool)
    member[np.arange(len(combos))[:, None], combos] = True
    half = n_partitions // 2
    centre, s1, s2, block = _block_moments(mat, n_partitions)
    n_rows = half * block
    used = mat[n_bars - block * n_partitions:].reshape(n_partitions, block, n_trials)
    parts: list[tuple[np.ndarray, ...]] = []
    for lo in range(0, len(combos), _COMBO_BATCH):
        m = member[lo:lo + _COMBO_BATCH]
        if metric is None:
            w_in = m.astype(np.float64)
            w_out = (~m).astype(np.float64)
            perf_in = _sharpe_from_sums(centre, w_in @ s1, w_in @ s2, n_rows)
            perf_out = _sharpe_from_sums(centre, w_out @ s1, w_out @ s2, n_rows)
        else:
            perf_in = np.stack([np.asarray(metric(used[row].reshape(-1, n_trials)), float)
                                for row in m])
            perf_out = np.stack([np.asarray(metric(used[~row].reshape(-1, n_trials)), float)
                                 for row in m])
            perf_in = np.where(np.isnan(perf_in), -np.inf, perf_in)
            perf_out = np.where(np.isnan(perf_out), -np.inf, perf_out)
        best = np.argmax(perf_in, axis=1)  # first maximum on a tie
        omega = _relative_rank(perf_out, best)
        rows = np.arange(len(m))
        parts.append((best, omega, perf_in[rows, best], perf_out[rows, best]))
    best_all = np.concatenate([p[0] for p in parts])
    omega_all = np.concatenate([p[1] for p in parts])
    is_perf = np.concatenate([p[2] for p in parts])
    oos_perf = np.concatenate([p[3] for p in parts])
    logits = np.log(omega_all / (1.0 - omega_all))
    finite = np.isfinite(is_perf) & np.isfinite(oos_perf)
    if finite.sum() >= 2 and np.ptp(is_perf[finite]) > 0:
        slope, intercept = np.polyfit(is_perf[finite], oos_perf[finite], 1)
    else:
        slope, intercept = math.nan, math.nan
    return PBOResult(
        pbo=float(np.mean(logits <= 0.0)), logits=logits, best_trial=best_all,
        is_performance=is_perf, oos_performance=oos_perf, slope=float(slope),
        intercept=float(intercept), prob_oos_loss=float(np.mean(oos_perf < 0.0)),
        n_partitions=n_partitions, n_combinations=len(combos), block_size=block)


# -- SPA / reality check ----------------------------------------------------------------------


@dataclass(frozen=True)
class SPAResult:
    """Outcome of :func:`spa_test`.

    Attributes
    ----------
    pvalue : float
        Hansen's consistent SPA p-value: small values reject "no trial beats the benchmark".
    pvalue_lower, pvalue_upper : float
        Hansen's lower and upper SPA p-values (studentised).
    reality_check_pvalue : float
        White's reality check: the upper p-value of the non-studentised statistic.
    block_size, reps : int
        Mean block length (bars) and bootstrap replications.
    """

    pvalue: float
    pvalue_lower: float
    pvalue_upper: float
    reality_check_pvalue: float
    block_size: int
    reps: int


def default_block_size(n_bars: int) -> int:
    """Mean block length of :func:`spa_test` by default: ``max(1, round(n_bars ** (1/3)))``."""
    return max(1, round(n_bars ** (1.0 / 3.0)))


def spa_test(returns: Any, benchmark: Any = None, *, block_size: int | None = None,
             reps: int = 1000, bootstrap: str = "stationary", seed: int = 0) -> SPAResult:
    """Hansen's SPA test and White's reality check of trials against a benchmark (arch).

    Parameters
    ----------
    returns : array-like of shape (n_bars, n_trials)
        Per-bar returns of every trial (finite).
    benchmark : array-like of shape (n_bars,), optional
        Per-bar returns of the benchmark; default 0 (a flat book: no skill).
    block_size : int, optional
        Mean block length of the bootstrap; default :func:`default_block_size`.
    reps : int
        Bootstrap replications.
    bootstrap : {"stationary", "circular", "moving block"}
        arch's bootstrap scheme.
    seed : int
        Seed of the bootstrap draws (both tests use the same draws).

    Returns
    -------
    SPAResult

    Notes
    -----
    Losses are negative returns: ``arch.bootstrap.SPA(-benchmark, -returns, ...)``; the null
    is that no trial's expected return exceeds the benchmark's. The reality check is the same
    bootstrap with ``studentize=False`` and its upper p-value.

    References
    ----------
    Hansen, P. R. (2005). "A test for superior predictive ability". Journal of Business &
    Economic Statistics 23(4), 365-380. White, H. (2000). "A reality check for data
    snooping". Econometrica 68(5), 1097-1126.
    """
    from arch.bootstrap import SPA  # lazy: pandas and arch load on use

    mat = np.asarray(returns, dtype=np.float64)
    if mat.ndim != 2 or mat.shape[0] < 2:
        raise DataError(f"expected returns of shape (n_bars >= 2, n_trials), got {mat.shape}")
    if not np.isfinite(mat).all():
        raise DataError("SPA returns contain NaN or inf",
                        fix="fill the bars a trial is flat with 0 and drop failed trials")
    bench = (np.zeros(mat.shape[0]) if benchmark is None
             else np.asarray(benchmark, dtype=np.float64))
    if bench.shape != (mat.shape[0],):
        raise DataError(f"benchmark must have shape ({mat.shape[0]},), got {bench.shape}")
    if reps < 1:
        raise ConfigError(f"reps must be >= 1, got {reps}")
    block = default_block_size(mat.shape[0]) if block_size is None else int(block_size)
    out: dict[bool, Any] = {}
    for studentize in (True, False):
        spa = SPA(-bench, -mat, block_size=block, reps=reps, bootstrap=bootstrap,  # type: ignore[arg-type]
                  studentize=studentize, seed=seed)
        spa.compute()
        out[studentize] = spa.pvalues
    p = out[True]
    return SPAResult(pvalue=float(p["consistent"]), pvalue_lower=float(p["lower"]),
                     pvalue_upper=float(p["upper"]),
                     reality_check_pvalue=float(out[False]["upper"]),
                     block_size=block, reps=reps)
