"""Cross-sectional transforms per time stamp.

Expression builders (``rank``, ``winsorize``, ``zscore``, ``buckets``, ``demean``) return polars
expressions computed ``.over("ts")`` (change the partition with ``by=``); ``neutralize`` is a
frame function (per-ts OLS residual).
"""

from coinfactor.xs._neutralize import neutralize
from coinfactor.xs._rows import (
    row_bucket_at_least,
    row_buckets,
    row_sum,
    row_winsorize,
    row_winsorize_zscore_buckets,
    row_zscore,
)
from coinfactor.xs._transforms import buckets, demean, rank, winsorize, zscore

__all__ = [
    "buckets",
    "demean",
    "neutralize",
    "rank",
    "row_bucket_at_least",
    "row_buckets",
    "row_sum",
    "row_winsorize",
    "row_winsorize_zscore_buckets",
    "row_zscore",
    "winsorize",
    "zscore",
]
