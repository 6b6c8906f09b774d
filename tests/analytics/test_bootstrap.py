"""Block bootstrap: arch index semantics, i.i.d. limit, metric references, reproducibility."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from arch.bootstrap import MovingBlockBootstrap, StationaryBootstrap
from arch.bootstrap._samplers_python import stationary_bootstrap_sample_python
from empyrical import max_drawdown as emp_max_drawdown
from scipy import stats

from coinfactor.analytics import block_bootstrap
from coinfactor.analytics._bootstrap import (
    _BATCH,
    moving_block_indices,
    stationary_indices,
)
from coinfactor.core.errors import ConfigError, DataError


def _series(seed: int = 0, n: int = 24 * 120, phi: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.normal(0.0002, 0.01, n)
    out = np.empty(n)
    out[0] = e[0]
    for i in range(1, n):  # AR(1) noise: block structure matters when phi != 0
        out[i] = phi * out[i - 1] + e[i]
    return out


def test_stationary_indices_match_arch_sampler() -> None:
    """Reference: arch's stationary_bootstrap_sample on the same uniform draws.

    arch draws paths as long as the series (horizon = n) and wraps at n; so does ours.
    """
    rng = np.random.default_rng(5)
    n = h = 400
    p = 1 / 7
    starts = rng.integers(0, n, size=(6, h))
    u = rng.random((6, h))
    ours = stationary_indices(starts, u, p, n)
    for k in range(6):
        ref = stationary_bootstrap_sample_python(starts[k].copy(), u[k], p)
        np.testing.assert_array_equal(ours[k], ref)


@pytest.mark.parametrize("method", ["moving", "stationary"])
def test_indices_equal_arch_update_indices(method: str) -> None:
    """Reference: arch's MovingBlockBootstrap / StationaryBootstrap indices from the same
    generator state (one path as long as the series, as arch draws it)."""
    n, b = 240, 9
    x = np.arange(n, dtype=float)
    if method == "moving":
        ref = MovingBlockBootstrap(b, x, seed=np.random.default_rng(7)).update_indices()
        ours = moving_block_indices(np.random.default_rng(7), n, b, n, 1)[0]
    else:
        ref = StationaryBootstrap(b, x, seed=np.random.default_rng(7)).update_indices()
        rng = np.random.default_rng(7)
        starts = rng.integers(0, n, size=(1, n))
        ours = stationary_indices(starts, rng.random((1, n)), 1 / b, n)[0]
    np.testing.assert_array_equal(ours, ref)


def test_moving_block_indices_semantics() -> None:
    """As arch's MovingBlockBootstrap: contiguous blocks starting in [0, n - b], no wrap."""
    rng = np.random.default_rng(6)
    idx = moving_block_indices(rng, 100, 10, 95, 40)
    assert idx.shape == (40, 95)
    assert idx.min() >= 0 and idx.max() <= 99
    blocks = idx[:, :90].reshape(40, 9, 10)
    np.testing.assert_array_equal(np.diff(blocks, axis=2), 1)
    assert set(np.unique(blocks[:, :, 0])) <= set(range(91))


def test_metrics_match_references_on_the_drawn_paths() -> None:
    """Reference: empyrical max_drawdown and plain numpy formulas on the same drawn paths."""
    r = _series(1)
    res = block_bootstrap(r, freq="1h", n_sims=20, seed=3, block=24, horizon=24 * 30)
    rng = np.random.default_rng(3)
    idx = moving_block_indices(rng, len(r), 24, 24 * 30, 20)
    for k in range(20):
        path = r[idx[k]]
        total = np.prod(1 + path)
        assert res.annual_return[k, 0] == pytest.approx(total ** (8760 / 720) - 1, rel=1e-10)
        assert res.annual_volatility[k, 0] == pytest.approx(path.std(ddof=1) * np.sqrt(8760))
        assert res.sharpe_ratio[k, 0] == pytest.approx(path.mean() / path.std(ddof=1) *
                                                 np.sqrt(8760))
        assert res.max_drawdown[k, 0] == pytest.approx(emp_max_drawdown(path), rel=1e-10)


def test_reproducible_and_batches() -> None:
    r = _series(2)
    a = block_bootstrap(r, freq="1h", n_sims=_BATCH + 7, seed=11, method="stationary")
    b = block_bootstrap(r, freq="1h", n_sims=_BATCH + 7, seed=11, method="stationary")
    np.testing.assert_array_equal(a.annual_return, b.annual_return)
    c = block_bootstrap(r, freq="1h", n_sims=_BATCH + 7, seed=12, method="stationary")
    assert not np.array_equal(a.annual_return, c.annual_return)
    assert a.n_sims == _BATCH + 7


@pytest.mark.parametrize("method", ["moving", "stationary"])
def test_block_length_one_is_iid(method: str) -> None:
    """Block length 1 equals i.i.d. resampling in distribution.

    Reference: a plain i.i.d. resampling loop with an independent generator. Two-sample KS on
    2,000 annual returns and volatilities each; with fixed seeds the p-value is deterministic;
    we require p > 0.01 (a 1% false-alarm level if the distributions are equal).
    """
    r = _series(3, n=24 * 60)
    res = block_bootstrap(r, freq="1h", n_sims=2000, seed=21, block=1, method=method,
                          horizon=24 * 90)
    rng = np.random.default_rng(99)
    ann, vol = [], []
    for _ in range(2000):
        path = r[rng.integers(0, len(r), size=24 * 90)]
        ann.append(np.prod(1 + path) ** (8760 / (24 * 90)) - 1)
        vol.append(path.std(ddof=1) * np.sqrt(8760))
    assert stats.ks_2samp(res.annual_return[:, 0], ann).pvalue > 0.01
    assert stats.ks_2samp(res.annual_volatility[:, 0], vol).pvalue > 0.01


def test_blocks_keep_autocorrelation() -> None:
    """On positively autocorrelated returns, weekly blocks give wider return distributions
    than block length 1 (which destroys the dependence): a check that blocks matter."""
    r = _series(4, phi=0.3)
    wk = block_bootstrap(r, freq="1h", n_sims=600, seed=1, horizon="60d")
    iid = block_bootstrap(r, freq="1h", n_sims=600, seed=1, block=1, horizon="60d")
    spread = lambda x: np.subtract(*np.percentile(np.log1p(x[:, 0]), [90, 10]))  # noqa: E731
    assert spread(wk.annual_return) > 1.2 * spread(iid.annual_return)


def test_percentile_table_monotone_and_shared_draws() -> None:
    r = _series(5)
    frame = pl.DataFrame({"ts": np.arange(len(r)), "hedged": r * 0.5, "unhedged": r})
    res = block_bootstrap(frame, freq="1h", n_sims=300, seed=2, method="stationary",
                          horizon="60d")
    assert res.names == ("hedged", "unhedged")
    # the same draws for both: scaling returns by 0.5 halves the volatility path by path
    np.testing.assert_allclose(res.annual_volatility[:, 0], 0.5 * res.annual_volatility[:, 1],
                               rtol=1e-12)
    table = res.percentile_table()
    assert table["percentile"].to_list()[:9] == [99, 95, 90, 75, 50, 25, 10, 5, 1]
    for name in res.names:
        sub = table.filter(pl.col("series") == name)
        for m in ("annual_return", "annual_volatility", "sharpe_ratio", "max_drawdown"):
            assert (np.diff(sub[m].to_numpy()) <= 0).all(), m
    assert (res.max_drawdown <= 0).all()
    hist = res.histogram(bins=20)
    assert hist.filter(pl.col("series") == "hedged")["count"].sum() == 300
    assert res.samples().columns == ["hedged", "unhedged"]
    assert "stationary block bootstrap" in res.summary()


def test_bad_input() -> None:
    with pytest.raises(DataError, match="NaN"):
        block_bootstrap(np.array([0.01, np.nan, 0.02]), freq="1h")
    with pytest.raises(DataError, match="at least"):
        block_bootstrap(np.zeros(10), freq="1h", block=20)
    with pytest.raises(ConfigError, match="method"):
        block_bootstrap(np.zeros(10), freq="1h", block=2, method="circular")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="n_sims"):
        block_bootstrap(np.zeros(10), freq="1h", block=2, n_sims=0)
    with pytest.raises(ConfigError, match="one bar"):
        block_bootstrap(np.zeros(10), freq="1d", block="1h")
    with pytest.raises(ConfigError, match="unknown metric"):
        block_bootstrap(np.zeros(10), freq="1h", block=2, n_sims=2).metric("calmar")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="percentile"):
        block_bootstrap(np.zeros(10), freq="1h", block=2, n_sims=2).percentile_table([101])
