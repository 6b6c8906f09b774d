"""Validation of the weights a backtest is given (long frames ``ts, symbol, weight``)."""

from __future__ import annotations

import numpy as np
import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.data import Grid


def check_weights_frame(weights: pl.DataFrame) -> pl.DataFrame:
    """Validate a long weights frame ``ts, symbol, weight`` and return it cast and sorted."""
    if not isinstance(weights, pl.DataFrame):
        raise DataError(
            f"backtest: expected weights as a polars DataFrame (ts, symbol, weight), "
            f"got {type(weights).__name__}",
            fix="build a long frame with columns ts, symbol, weight",
        )
    missing = [c for c in ("ts", "symbol", "weight") if c not in weights.columns]
    if missing:
        raise DataError(
            f"backtest: weights need columns ts, symbol, weight; missing {missing}, "
            f"got {weights.columns}",
            fix="rename your columns (e.g. .rename({'target': 'weight'}))",
        )
    if not isinstance(weights.schema["ts"], pl.Datetime):
        raise DataError(
            f"backtest: weights column 'ts' must be Datetime, got {weights.schema['ts']}",
            column="ts",
            fix="use the panel's ts values (Datetime('us', 'UTC'))",
        )
    w = weights.select(
        pl.col("ts").cast(pl.Datetime("us", "UTC")),
        pl.col("symbol").cast(pl.String),
        pl.col("weight").cast(pl.Float64),
    )
    bad = w.filter(pl.col("weight").is_null() | ~pl.col("weight").is_finite()
                   | pl.col("symbol").is_null() | pl.col("ts").is_null())
    if bad.height:
        raise DataError(
            f"backtest: weights must be finite numbers; {bad.height} row(s) are null, NaN or inf",
            column="weight",
            rows=bad.head(5),
            fix="drop those rows or fill them with 0.0 (flat)",
        )
    return w


def check_unique_cells(w: pl.DataFrame, grid: Grid, i: np.ndarray, j: np.ndarray) -> None:
    """Raise if two weight rows sit on the same (ts, symbol) cell."""
    if grid.has_duplicates(i, j):
        dup = w.filter(pl.struct("ts", "symbol").is_duplicated())
        raise DataError(
            f"backtest: weights have {dup.height} duplicated (ts, symbol) row(s)",
            rows=dup.head(5),
            fix="keep one weight per (ts, symbol), e.g. .unique(['ts', 'symbol'], keep='last')",
        )
