"""Sweep test support: a small synthetic carry panel and a trivial test-only study.

The ``toy`` study (:data:`TOY_MODULE`, registered only by the tests that use it) makes one
return series per trial from its seed, fails on demand (``fail = true``) and counts its
evaluations in a file (``count_dir``), so tests can count what a sweep computed, across
worker processes.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from coinfactor.core.metrics import sharpe_ratio
from coinfactor.data import validate_panel
from coinfactor.studies import Evaluation, StudyResult

TOY_MODULE = "support.sweeps"
T0 = datetime(2024, 1, 1, tzinfo=UTC)

SMALL_CARRY = dict(universe_window=5, min_decile=1, carry_window=3, vol_short_span=5.0,
                   vol_long_span=10.0, vol_min_periods=5, corr_window=20)
"""Carry parameters for a short synthetic panel (windows of days, not months)."""


def carry_panel(n_s: int = 10, n_t: int = 160, seed: int = 0, *, volume_noise: bool = True,
                funding_sd: float = 5e-5) -> pl.DataFrame:
    """Daily perps with persistent funding levels (S00 most negative: longs receive), noisy
    prices, a late listing; volumes rising with the coin's number, noisy with ``volume_noise``."""
    rng = np.random.default_rng(seed)
    rows = []
    for j in range(n_s):
        price = 100.0
        level = (j - n_s / 2) * 1e-4
        for i in range(n_t):
            if j == n_s - 1 and i < 20:  # late listing
                continue
            price *= float(np.exp(rng.normal(0, 0.03)))
            volume = 1e6 * (1 + j)
            if volume_noise:
                volume *= float(rng.uniform(0.5, 1.5))
            rows.append({"ts": T0 + i * timedelta(days=1), "symbol": f"S{j:02d}",
                         "open": price, "high": price * 1.01, "low": price * 0.99,
                         "close": price, "volume": volume,
                         "funding_rate": level + float(rng.normal(0, funding_sd))})
    return validate_panel(pl.DataFrame(rows).sort("symbol", "ts"))


def carry_sweep_config(path: Path, sweep: dict[str, Any], **params: Any) -> dict[str, Any]:
    """A carry sweep config reading the synthetic panel from ``path`` (written if absent)."""
    if not path.exists():
        carry_panel().write_parquet(path)
    return {"study": "carry", "data": {"parquet": str(path)},
            "params": {**SMALL_CARRY, **params}, "sweep": sweep}


@dataclass(frozen=True)
class Config:
    """The toy study's settings."""

    mu: float = 0.0
    sigma: float = 0.01
    seed: int = 0
    fail: bool = False
    count_dir: str = ""


def evaluate(config: Config, panel: pl.DataFrame, *, cache: Any = None) -> Evaluation:
    """Seeded normal returns on the panel's first symbol's bars; raises when ``fail``."""
    if config.count_dir:  # one file per evaluation: counted across processes
        Path(config.count_dir, f"{os.getpid()}-{uuid.uuid4().hex}").touch()
    if config.fail:
        raise RuntimeError(f"toy trial asked to fail (seed {config.seed})")
    ts = panel.filter(pl.col("symbol") == panel["symbol"][0]).get_column("ts")
    rng = np.random.default_rng(config.seed)
    ret = rng.normal(config.mu, config.sigma, ts.len())
    metrics = {"sharpe_ratio": sharpe_ratio(ret, "1d"), "mean": float(ret.mean())}
    return Evaluation(metrics, pl.DataFrame({"ts": ts, "ret": ret}))


def run(config: Config, panel: pl.DataFrame) -> StudyResult:
    """The toy study's run: the metrics of :func:`evaluate`."""
    ev = evaluate(config, panel)
    return StudyResult(study="toy", config={}, metrics=ev.metrics,
                       tables={"nav": ev.returns})
