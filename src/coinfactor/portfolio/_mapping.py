"""Signal -> alpha in [-1, 1] -> target position maps.

Alpha convention: +1 is the strongest LONG, -1 the strongest SHORT. For carry (positive when a
long receives funding, ``signals.funding_carry``), the highest bucket maps to +1: the book is
long the coins whose longs are paid funding and short those whose shorts are paid.

Elementwise maps (:func:`bucket_alpha`, :func:`linear_alpha`, :func:`sigmoid_target`) are
``pl.Expr`` builders. Cross-sectional maps (:func:`rank_alpha`, :func:`top_bottom_alpha`) work
per ``ts`` on a frame and carry a deterministic tie rule.
"""

from __future__ import annotations

import polars as pl

from coinfactor.core.errors import ConfigError, DataError


def _expr(x: str | pl.Expr) -> pl.Expr:
    return pl.col(x) if isinstance(x, str) else x


def bucket_alpha(bucket: str | pl.Expr, n_buckets: int, *, reverse: bool = False) -> pl.Expr:
    """Map bucket numbers ``1..n_buckets`` linearly onto alpha in [-1, 1].

    ``alpha = 2 (b - 1) / (n_buckets - 1) - 1``: bucket 1 -> -1, bucket n -> +1.

    Parameters
    ----------
    bucket : str or pl.Expr
        Bucket number, 1 = lowest signal (the convention of ``xs.buckets``).
    n_buckets : int
        Number of buckets (>= 2). Values outside ``1..n_buckets`` are clipped.
    reverse : bool, default False
        Map bucket 1 -> +1 instead (for a signal where low is good; the seed's direction).

    Returns
    -------
    pl.Expr
        Float64 alpha.
    """
    if n_buckets < 2:
        raise ConfigError(f"bucket_alpha: n_buckets must be >= 2, got {n_buckets}")
    b = _expr(bucket).cast(pl.Float64).clip(1.0, float(n_buckets))
    alpha = 2.0 * (b - 1.0) / (n_buckets - 1.0) - 1.0
    return -alpha if reverse else alpha


def linear_alpha(score: str | pl.Expr, *, scale: float = 2.0) -> pl.Expr:
    """Map a score (e.g. a z-score) to alpha = clip(score / scale, -1, 1).

    Parameters
    ----------
    score : str or pl.Expr
        Score, higher = more long.
    scale : float, default 2.0
        Score at which alpha saturates at +1 (-scale at -1).

    Returns
    -------
    pl.Expr
    """
    if not scale > 0:
        raise ConfigError(f"linear_alpha: scale must be > 0, got {scale}")
    return (_expr(score).cast(pl.Float64) / scale).clip(-1.0, 1.0)


def sigmoid_target(
    alpha: str | pl.Expr,
    *,
    k: float = 4.0,
    x_offset: float = 0.0,
    y_min: float = -1.0,
    y_max: float = 1.0,
) -> pl.Expr:
    """Logistic map of alpha to a target position in ``[y_min, y_max]``.

    ``target = y_min + (y_max - y_min) / (1 + exp(-k (alpha - x_offset)))``.

    Parameters
    ----------
    alpha : str or pl.Expr
        Alpha in [-1, 1].
    k : float, default 4.0
        Steepness (> 0).
    x_offset : float, default 0.0
        Alpha at the midpoint.
    y_min, y_max : float, default -1, 1
        Range of the target (``y_min < y_max``).

    Returns
    -------
    pl.Expr
    """
    if not k > 0:
        raise ConfigError(f"sigmoid_target: k must be > 0, got {k}")
    if not y_min < y_max:
        raise ConfigError(f"sigmoid_target: expected y_min < y_max, got {y_min}, {y_max}")
    a = _expr(alpha).cast(pl.Float64)
    out = (1.0 / (1.0 + ((a - x_offset) * -k).exp())) * (y_max - y_min) + y_min
    return out.name.keep()  # output keeps the input column's name


def _check_frame(frame: pl.DataFrame, score: str, who: str) -> None:
    missing = [c for c in ("ts", "symbol", score) if c not in frame.columns]
    if missing:
        raise DataError(f"{who}: expected columns ts, symbol, {score}; missing {missing}",
                        fix="pass a long frame with one score per (ts, symbol)")


def rank_alpha(frame: pl.DataFrame, score: str, *, name: str = "alpha") -> pl.DataFrame:
    """Cross-sectional rank of ``score`` per ts, mapped linearly onto [-1, 1].

    ``alpha = 2 (rank - 1) / (n - 1) - 1`` with ``rank`` the average rank (ties share the mean
    of their ranks, so equal scores get equal alpha) among the n non-null scores at ts; a ts
    with one name gives it alpha 0. Null scores give null alpha.

    Parameters
    ----------
    frame : pl.DataFrame
        Long frame with ``ts, symbol, <score>``.
    score : str
        Column to rank; higher = more long.
    name : str, default "alpha"
        Output column.

    Returns
    -------
    pl.DataFrame
        ``frame`` with the ``name`` column added, in the input row order.
    """
    _check_frame(frame, score, "rank_alpha")
    s = pl.col(score).fill_nan(None)
    n = s.count().over("ts")
    r = s.rank("average").over("ts")
    alpha = pl.when(n > 1).then(2.0 * (r - 1.0) / (n - 1.0) - 1.0).otherwise(
        pl.when(s.is_not_null()).then(0.0))
    return frame.with_columns(alpha.cast(pl.Float64).alias(name))


def top_bottom_alpha(frame: pl.DataFrame, score: str, n: int, *, name: str = "alpha",
                     ) -> pl.DataFrame:
    """+1 for the ``n`` highest scores per ts, -1 for the ``n`` lowest, 0 for the rest.

    Names are put in ONE order per ts: score descending, ties by symbol alphabetically. The
    first ``n`` are long and the last ``n`` short (so among tied names at a cut-off, the
    alphabetically earlier one is long, the later one short). When fewer than ``2n`` names
    have a score, ``floor(count/2)`` are taken on each side (no name is both).

    Parameters
    ----------
    frame : pl.DataFrame
        Long frame with ``ts, symbol, <score>``.
    score : str
        Column to select on; higher = long.
    n : int
        Names per side (>= 1).
    name : str, default "alpha"
        Output column.

    Returns
    -------
    pl.DataFrame
        ``frame`` with ``name`` added (null where the score is null), in input row order.
    """
    _check_frame(frame, score, "top_bottom_alpha")
    if n < 1:
        raise ConfigError(f"top_bottom_alpha: n must be >= 1, got {n}")
    s = pl.col(score).fill_nan(None)
    idx = "__row"
    tmp = frame.with_row_index(idx).with_columns(s.alias("__s"))
    valid = tmp.filter(pl.col("__s").is_not_null()).sort(["ts", "symbol"])
    # ordinal rank breaks ties by row order, and rows are sorted by symbol within each ts
    ranked = valid.with_columns(
        pl.col("__s").rank("ordinal", descending=True).over("ts").alias("__pos"),
        pl.len().over("ts").alias("__n"),
    ).with_columns(pl.min_horizontal(pl.lit(n), pl.col("__n") // 2).alias("__k"))
    ranked = ranked.with_columns(
        pl.when(pl.col("__pos") <= pl.col("__k")).then(1.0)
        .when(pl.col("__pos") > pl.col("__n") - pl.col("__k")).then(-1.0)
        .otherwise(0.0).alias(name))
    out = tmp.join(ranked.select(idx, name), on=idx, how="left").sort(idx)
    return out.drop(idx, "__s")
