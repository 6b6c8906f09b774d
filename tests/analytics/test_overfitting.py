"""Overfitting statistics: the DSR paper's worked example, Monte Carlo PSR, a naive CSCV loop,
noise vs planted-edge PBO, SPA against arch called directly."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from arch.bootstrap import SPA
from scipy.stats import norm

from coinfactor.analytics import (
    deflated_sharpe_ratio,
    expected_maximum_sharpe,
    minimum_track_record_length,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    spa_test,
)
from coinfactor.core.errors import ConfigError, DataError


def test_dsr_reproduces_the_papers_worked_example() -> None:
    """Reference: Bailey & López de Prado (2014), section 6 (a numerical example).

    Annualised SR 2.5 of the best of N = 100 trials, daily returns over T = 1,250 days
    (250 a year), variance of the trials' annualised Sharpe ratios 1/2, skewness -3,
    kurtosis 10. The paper finds an expected maximum SR0 = 0.1132 (per day) and
    DSR = 0.9004; both are quoted to four decimals there, so that is the tolerance.
    """
    sr = 2.5 / math.sqrt(250)
    variance = 0.5 / 250  # annualised variance -> daily
    sr0 = expected_maximum_sharpe(100, variance)
    assert round(sr0, 4) == 0.1132
    assert round(sr0 * math.sqrt(250), 3) == 1.789  # the same threshold annualised
    dsr = deflated_sharpe_ratio(sr, 1250, n_trials=100, sharpe_variance=variance,
                                skewness=-3.0, kurtosis=10.0)
    assert round(dsr, 4) == 0.9004


def test_expected_maximum_sharpe_against_monte_carlo() -> None:
    """Reference: the mean of the maximum of N i.i.d. N(0, V) draws, 20,000 simulations.

    The paper's formula is an approximation (the false strategy theorem); for N = 50 it is
    1.4% below the simulated mean here (the simulation's standard error is ~0.3%), hence 2%.
    """
    rng = np.random.default_rng(1)
    draws = rng.normal(0.0, math.sqrt(0.04), (20_000, 50)).max(axis=1)
    assert expected_maximum_sharpe(50, 0.04) == pytest.approx(draws.mean(), rel=0.02)
    assert expected_maximum_sharpe(1, 0.04, mean=0.3) == 0.3


@pytest.mark.parametrize("law", ["normal", "skewed"])
def test_psr_against_monte_carlo(law: str) -> None:
    """Reference: the sampling distribution of the Sharpe estimate, simulated.

    PSR(SR*) is the probability that a track record whose true Sharpe ratio is SR* shows a
    Sharpe ratio below the observed one. We draw 20,000 records of n = 500 bars with true
    SR* = 0.05 (normal, or a skewed shifted-exponential mixture), and compare the share
    below the observed SR with the PSR computed from the law's moments. Tolerance 0.015:
    Monte Carlo error ~0.003 plus the asymptotic formula's error at n = 500.
    """
    rng = np.random.default_rng(7)
    n, true_sr = 500, 0.05
    if law == "normal":
        x = rng.normal(0.0, 1.0, (20_000, n))
        skew, kurt = 0.0, 3.0
    else:  # exponential(1) - 1: mean 0, sd 1, skewness 2, kurtosis 9
        x = rng.exponential(1.0, (20_000, n)) - 1.0
        skew, kurt = 2.0, 9.0
    records = x + true_sr  # sd 1, so the true Sharpe ratio is true_sr
    srs = records.mean(axis=1) / records.std(axis=1, ddof=1)
    observed = 0.12
    simulated = float(np.mean(srs < observed))
    psr = probabilistic_sharpe_ratio(observed, n, skewness=skew, kurtosis=kurt,
                                     benchmark=true_sr)
    assert psr == pytest.approx(simulated, abs=0.015)


def test_psr_normal_case_and_min_track_record() -> None:
    """Hand computation: with skew 0 and kurtosis 3, PSR = Φ(SR·sqrt(n-1)/sqrt(1 + SR²/2)).

    MinTRL inverts it (eq. 11 of the 2012 paper): at n = MinTRL the PSR equals the confidence.
    """
    sr, n = 0.08, 400
    expected = norm.cdf(sr * math.sqrt(n - 1) / math.sqrt(1 + sr**2 / 2))
    assert probabilistic_sharpe_ratio(sr, n) == pytest.approx(expected, rel=1e-14)
    trl = minimum_track_record_length(0.1, skewness=-1.0, kurtosis=6.0, benchmark=0.02,
                                      confidence=0.9)
    assert probabilistic_sharpe_ratio(0.1, trl, skewness=-1.0, kurtosis=6.0,  # type: ignore[arg-type]
                                      benchmark=0.02) == pytest.approx(0.9, rel=1e-12)
    assert minimum_track_record_length(0.01, benchmark=0.02) == math.inf


def _naive_cscv(mat: np.ndarray, s: int) -> tuple[float, np.ndarray]:
    """Plain CSCV loop of Bailey et al. (2015), section 2, written from the paper."""
    t, n = mat.shape
    b = t // s
    rows = mat[t - b * s:]  # the remainder (oldest rows) left out, as documented
    blocks = [rows[i * b:(i + 1) * b] for i in range(s)]
    logits = []
    for combo in itertools.combinations(range(s), s // 2):
        train = np.concatenate([blocks[i] for i in combo])
        test = np.concatenate([blocks[i] for i in range(s) if i not in combo])
        r_in = [np.mean(train[:, j]) / np.std(train[:, j], ddof=1) for j in range(n)]
        r_out = [np.mean(test[:, j]) / np.std(test[:, j], ddof=1) for j in range(n)]
        best = int(np.argmax(r_in))
        below = sum(1 for v in r_out if v < r_out[best])
        ties = sum(1 for v in r_out if v == r_out[best])
        omega = (below + (ties + 1) / 2) / (n + 1)
        logits.append(math.log(omega / (1 - omega)))
    arr = np.array(logits)
    return float(np.mean(arr <= 0)), arr


@pytest.mark.parametrize("s", [4, 8])
def test_pbo_equals_a_naive_cscv_loop(s: int) -> None:
    """Reference: ``_naive_cscv`` above (np.mean / np.std per combination and trial).

    The library computes the Sharpe ratios from block sums; they agree to rounding (1e-9),
    so the ranks and the PBO are identical.
    """
    rng = np.random.default_rng(3)
    mat = rng.normal(0.0002, 0.01, (203, 9))  # 203 rows: a remainder is dropped
    mat[:, 2] += 0.0015
    pbo, logits = _naive_cscv(mat, s)
    res = probability_of_backtest_overfitting(mat, n_partitions=s)
    assert res.n_combinations == math.comb(s, s // 2)
    assert res.pbo == pbo
    np.testing.assert_allclose(res.logits, logits, rtol=1e-9)
    # the degradation line is a least-squares fit of OOS on IS performance of the IS best
    slope, intercept = np.polyfit(res.is_performance, res.oos_performance, 1)
    assert res.slope == pytest.approx(slope) and res.intercept == pytest.approx(intercept)


def test_pbo_custom_metric_matches_default_sharpe() -> None:
    """A metric callable (here the Sharpe ratio written out) gives the default's ranks."""
    rng = np.random.default_rng(4)
    mat = rng.normal(0.0, 0.01, (160, 6))

    def sharpe(block: np.ndarray) -> np.ndarray:
        return np.asarray(block.mean(axis=0) / block.std(axis=0, ddof=1))

    a = probability_of_backtest_overfitting(mat, n_partitions=8)
    b = probability_of_backtest_overfitting(mat, n_partitions=8, metric=sharpe)
    assert a.pbo == b.pbo
    np.testing.assert_array_equal(a.best_trial, b.best_trial)


def test_pbo_pure_noise_near_half_and_planted_edge_near_zero() -> None:
    """Noise: the IS best is a coin toss out of sample, PBO ~ 0.5 (one sample's PBO varies
    widely, 0.27-0.60 over seeds, so the mean over 12 seeds is tested, tolerance 0.1 ~ 3.5
    standard errors). One trial with a real edge (per-bar SR 0.3) wins IS and OOS: PBO ~ 0."""
    pbos, edged = [], []
    for seed in range(12):
        rng = np.random.default_rng(100 + seed)
        mat = rng.normal(0.0, 0.01, (800, 30))
        pbos.append(probability_of_backtest_overfitting(mat, n_partitions=8).pbo)
        mat[:, 11] += 0.003
        res = probability_of_backtest_overfitting(mat, n_partitions=8)
        edged.append(res.pbo)
        assert np.mean(res.best_trial == 11) > 0.95
    assert abs(np.mean(pbos) - 0.5) < 0.1
    assert max(edged) < 0.05


def test_pbo_errors() -> None:
    mat = np.zeros((100, 3))
    with pytest.raises(ConfigError, match="even integer"):
        probability_of_backtest_overfitting(mat, n_partitions=5)
    with pytest.raises(DataError, match="at least 2 trials"):
        probability_of_backtest_overfitting(mat[:, :1])
    with pytest.raises(DataError, match="at least 32 bars"):
        probability_of_backtest_overfitting(mat[:20])
    bad = np.ones((100, 3))
    bad[5, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        probability_of_backtest_overfitting(bad)
    with pytest.raises(DataError, match="not the excess kurtosis"):
        probabilistic_sharpe_ratio(1.0, 100, skewness=0.0, kurtosis=-10.0)


def test_pbo_constant_trial_is_never_selected() -> None:
    """A flat trial (zero variance, no Sharpe ratio) ranks below every other trial."""
    rng = np.random.default_rng(5)
    mat = rng.normal(0.0, 0.01, (96, 4))
    mat[:, 0] = 0.0
    res = probability_of_backtest_overfitting(mat, n_partitions=4)
    assert not (res.best_trial == 0).any()


def test_spa_agrees_with_arch_called_directly() -> None:
    """Reference: ``arch.bootstrap.SPA`` on losses = -returns against a zero benchmark.

    Same block size, replications, bootstrap and seed: the p-values are equal exactly.
    """
    rng = np.random.default_rng(11)
    mat = rng.normal(0.0, 0.01, (500, 8))
    mat[:, 3] += 0.002
    res = spa_test(mat, block_size=8, reps=300, seed=5)
    spa = SPA(np.zeros(500), -mat, block_size=8, reps=300, seed=5)
    spa.compute()
    assert res.pvalue == spa.pvalues["consistent"]
    assert res.pvalue_lower == spa.pvalues["lower"]
    assert res.pvalue_upper == spa.pvalues["upper"]
    rc = SPA(np.zeros(500), -mat, block_size=8, reps=300, seed=5, studentize=False)
    rc.compute()
    assert res.reality_check_pvalue == rc.pvalues["upper"]
    assert res.pvalue < 0.05  # the planted edge is found
    noise = spa_test(rng.normal(0.0, 0.01, (500, 8)), reps=300, seed=5)
    assert noise.pvalue > 0.05 and noise.block_size == 8  # 500 ** (1/3) ~ 7.9


def test_spa_with_a_benchmark_series() -> None:
    """A benchmark equal to one trial: arch on (-benchmark, -returns) directly."""
    rng = np.random.default_rng(12)
    mat = rng.normal(0.0005, 0.01, (300, 4))
    bench = mat[:, 0].copy()
    res = spa_test(mat[:, 1:], bench, block_size=5, reps=200, seed=1)
    spa = SPA(-bench, -mat[:, 1:], block_size=5, reps=200, seed=1)
    spa.compute()
    assert res.pvalue == spa.pvalues["consistent"]
    with pytest.raises(DataError, match="benchmark must have shape"):
        spa_test(mat, bench[:10])
