"""Cross-sectional transforms as polars expressions, evaluated per time stamp.

Every builder takes an expression (``pl.col("carry")``) and returns an expression computed
``.over(by)`` (default ``"ts"``), so a transform applies to each cross-section on its own:

>>> import polars as pl
>>> from coinfactor import xs
>>> df = pl.DataFrame({"ts": [1, 1, 1, 2, 2], "x": [1.0, 2.0, 3.0, 5.0, 5.0]})
>>> df.select(xs.zscore(pl.col("x"))).to_series().to_list()
[-1.0, 0.0, 1.0, 0.0, 0.0]

Nulls are never values: they are left out of every statistic and stay null in the output.
NaN is treated as a number by polars; convert it to null first (``fill_nan(None)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from coinfactor.core.errors import ConfigError

By = str | Sequence[str]


def _partition(by: By) -> list[str]:
    cols = [by] if isinstance(by, str) else list(by)
    if not cols:
        raise ConfigError("xs: expected at least one partition column in by=, got none")
    return cols


def rank(expr: pl.Expr, *, by: By = "ts") -> pl.Expr:
    """Percentile rank in (0, 1] per cross-section.

    ``rank = r / n`` with ``r`` the ascending rank (ties get the average of the ranks they span)
    and ``n`` the number of non-null values in the cross-section: the pandas
    ``rank(pct=True)`` convention. The highest value has rank 1.

    Parameters
    ----------
    expr : pl.Expr
        Values to rank.
    by : str or sequence of str, default "ts"
        Partition columns.

    Returns
    -------
    pl.Expr
        Float64 percentile rank; null where the input is null.
    """
    part = _partition(by)
    r = expr.rank(method="average").cast(pl.Float64)
    return (r / expr.count().cast(pl.Float64)).over(part)


def winsorize(
    expr: pl.Expr, *, lower: float = 0.05, upper: float = 0.95, by: By = "ts"
) -> pl.Expr:
    """Clip values to their per-cross-section quantiles.

    The bounds are the ``lower`` and ``upper`` quantiles of the non-null values with linear
    interpolation (NumPy's default ``method="linear"``).

    Parameters
    ----------
    expr : pl.Expr
        Values to clip.
    lower, upper : float, default 0.05 and 0.95
        Quantile levels, ``0 <= lower <= upper <= 1``.
    by : str or sequence of str, default "ts"
        Partition columns.

    Returns
    -------
    pl.Expr
        Float64 clipped values; null where the input is null.
    """
    if not 0.0 <= lower <= upper <= 1.0:
        raise ConfigError(
            f"winsorize: expected 0 <= lower <= upper <= 1, got lower={lower}, upper={upper}"
        )
    part = _partition(by)
    x = expr.cast(pl.Float64)
    lo = x.quantile(lower, interpolation="linear").over(part)
    hi = x.quantile(upper, interpolation="linear").over(part)
    return x.clip(lo, hi)


def zscore(expr: pl.Expr, *, by: By = "ts", ddof: int = 1) -> pl.Expr:
    """Standardise per cross-section: ``(x - mean) / std``.

    Zero-dispersion guard: where every non-null value of the cross-section is equal (exactly,
    ``max == min``; this includes a single value), the z-score is ``0.0`` for each non-null
    value rather than a division by zero or by a rounding residue.

    Parameters
    ----------
    expr : pl.Expr
        Values.
    by : str or sequence of str, default "ts"
        Partition columns.
    ddof : int, default 1
        Delta degrees of freedom of the standard deviation (1: sample std).

    Returns
    -------
    pl.Expr
        Float64 z-scores; null where the input is null.
    """
    part = _partition(by)
    x = expr.cast(pl.Float64)
    flat = (x.max() == x.min()).over(part)
    z = (x - x.mean().over(part)) / x.std(ddof=ddof).over(part)
    return pl.when(x.is_null()).then(None).when(flat).then(0.0).otherwise(z)


def demean(expr: pl.Expr, *, by: By = "ts") -> pl.Expr:
    """Subtract the cross-sectional mean of the non-null values.

    Returns
    -------
    pl.Expr
        Float64 ``x - mean(x)`` per partition; null where the input is null.
    """
    part = _partition(by)
    x = expr.cast(pl.Float64)
    return x - x.mean().over(part)


def buckets(expr: pl.Expr, n: int, *, by: By = "ts") -> pl.Expr:
    """Quantile buckets ``1..n`` per cross-section; bucket ``n`` holds the highest values.

    With ``m`` non-null values in the cross-section and ``r`` the ascending average rank of a
    value (ties get the mean of the ranks they span), its bucket is ``ceil(n * r / m)``,
    computed in exact integer arithmetic.

    - Ties share a bucket (they share ``r``), so the same input always gives the same buckets.
    - When ``m`` is a multiple of ``n`` and there are no ties, every bucket holds ``m / n``
      names (the same split as ``pandas.qcut``).
    - Fewer names than buckets (``m < n``): the highest value is still in bucket ``n``, names
      are spread over ``1..n`` by the same formula, and some buckets stay empty (the lowest
      name is in bucket ``ceil(n / m)``; with one name it is bucket ``n``).

    Parameters
    ----------
    expr : pl.Expr
        Values to bucket.
    n : int
        Number of buckets, ``>= 1``.
    by : str or sequence of str, default "ts"
        Partition columns.

    Returns
    -------
    pl.Expr
        Int32 bucket; null where the input is null.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"buckets: expected a whole number of buckets n >= 1, got {n!r}")
    part = _partition(by)
    # 2 * average rank = min rank + max rank, an integer: bucket = ceil(n * (2r) / (2m))
    two_r = expr.rank(method="min").cast(pl.Int64) + expr.rank(method="max").cast(pl.Int64)
    two_m = 2 * expr.count().cast(pl.Int64)
    bucket = (two_r * n + two_m - 1) // two_m
    return bucket.over(part).cast(pl.Int32)
