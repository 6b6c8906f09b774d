"""Cross-sectional bucket targets on grid arrays: signal -> score -> bucket -> alpha -> target.

The array pipeline of a bucketed strategy (seed 004): at each bar the members' signal is
winsorised and z-scored across the members (``xs.row_winsorize_zscore_buckets``, the same
rules as ``xs.winsorize/zscore/buckets`` over ``ts``), bucketed ``1..n``, mapped linearly onto
alpha in [-1, 1] (:func:`bucket_alpha`) and through a sigmoid onto a target position
(:func:`sigmoid_target`). Alpha and target are functions of the bucket alone: they are
evaluated once per bucket by the polars maps, so they are bit-identical to applying the maps
row by row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from coinfactor.portfolio._mapping import bucket_alpha, sigmoid_target
from coinfactor.xs import row_winsorize_zscore_buckets


@dataclass(frozen=True)
class BucketTargets:
    """Bucket targets of a signal on a grid (every array ``(n_bars, n_symbols)``).

    Attributes
    ----------
    score : ndarray of float64
        Winsorised z-score across the members at each bar; NaN off the members.
    bucket : ndarray of int32
        Bucket ``1..n_buckets`` (1 = lowest score); 0 off the members.
    alpha_of, target_of : ndarray of float64, shape (n_buckets + 1,)
        Alpha and target position of bucket ``b`` at index ``b`` (NaN at 0).
    """

    score: np.ndarray
    bucket: np.ndarray
    alpha_of: np.ndarray
    target_of: np.ndarray

    @property
    def alpha(self) -> np.ndarray:
        """Alpha in [-1, 1] per cell, NaN off the members."""
        return self.alpha_of[self.bucket]

    @property
    def target(self) -> np.ndarray:
        """Target position per cell, NaN off the members."""
        return self.target_of[self.bucket]


def bucket_targets(
    signal: np.ndarray,
    n_buckets: int,
    *,
    lower: float = 0.05,
    upper: float = 0.95,
    reverse: bool = False,
    k: float = 2.0,
    x_offset: float = 0.0,
    y_min: float = -1.0,
    y_max: float = 1.0,
) -> BucketTargets:
    """Winsorise, z-score and bucket a signal across symbols, then map buckets to targets.

    Parameters
    ----------
    signal : ndarray of float64, shape (n_bars, n_symbols)
        Signal on the panel's grid, NaN off the members (the cells to rank).
    n_buckets : int
        Buckets per bar (10: deciles).
    lower, upper : float, default 0.05 and 0.95
        Winsorisation quantiles (linear interpolation) across the members of a bar.
    reverse : bool, default False
        Map bucket 1 to alpha +1 (a signal where low is good).
    k, x_offset, y_min, y_max : float
        The sigmoid of :func:`sigmoid_target` (slope, centre, and the target's range).

    Returns
    -------
    BucketTargets
    """
    score, bucket = row_winsorize_zscore_buckets(signal, n_buckets, lower=lower, upper=upper)
    alpha = bucket_alpha("bucket", n_buckets, reverse=reverse)
    table = pl.DataFrame({"bucket": pl.Series(range(1, n_buckets + 1), dtype=pl.Int32)}).select(
        alpha.alias("alpha"),
        sigmoid_target(alpha, k=k, x_offset=x_offset, y_min=y_min, y_max=y_max).alias("target"))
    alpha_of = np.concatenate([[np.nan], table.get_column("alpha").to_numpy()])
    target_of = np.concatenate([[np.nan], table.get_column("target").to_numpy()])
    return BucketTargets(score, bucket, alpha_of, target_of)
