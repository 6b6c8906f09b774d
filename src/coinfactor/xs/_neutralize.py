"""Per-time-stamp regression residuals (neutralisation against other columns)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from coinfactor.core.errors import ConfigError, DataError

_ROW = "__xs_row__"


def neutralize(
    df: pl.DataFrame,
    column: str,
    against: Sequence[str],
    *,
    by: str | Sequence[str] = "ts",
    intercept: bool = True,
    name: str | None = None,
) -> pl.DataFrame:
    """Residual of a per-cross-section OLS of ``column`` on the ``against`` columns.

    For each partition (default each ``ts``) the rows where ``column`` and every ``against``
    column are non-null (and not NaN) are fitted by least squares,
    ``y = a + X b + e`` (``a`` only when ``intercept``), and the residual ``e`` is returned.

    Rank deficiency (collinear regressors, or fewer rows than regressors) is handled by the
    minimum-norm least-squares solution (``numpy.linalg.lstsq``): the residual, the projection
    of ``y`` on the orthogonal complement of the regressors' column space, is unique whatever
    the coefficients, so it is well defined in every case. With no usable row the residual is
    null.

    Parameters
    ----------
    df : pl.DataFrame
        Frame with the partition columns, ``column`` and the ``against`` columns (numeric; one-hot
        encode categories first).
    column : str
        Column to neutralise.
    against : sequence of str
        Regressors. Empty with ``intercept=True`` gives the demeaned column.
    by : str or sequence of str, default "ts"
        Partition columns.
    intercept : bool, default True
        Include a constant regressor.
    name : str, optional
        Output column name (default ``f"{column}_neutral"``).

    Returns
    -------
    pl.DataFrame
        ``df`` in its original row order with the Float64 residual column added (null where a
        row was not fitted).
    """
    part = [by] if isinstance(by, str) else list(by)
    regs = list(against)
    missing = [c for c in [*part, column, *regs] if c not in df.columns]
    if missing:
        raise DataError(
            f"neutralize: expected columns {missing} in the frame, got {df.columns}",
            fix="compute the columns first or correct the names",
        )
    if not regs and not intercept:
        raise ConfigError("neutralize: nothing to regress on (no against columns, intercept off)")
    out_name = name or f"{column}_neutral"
    cols = [column, *regs]
    work = df.with_row_index(_ROW).select(
        _ROW, *part, *[pl.col(c).cast(pl.Float64).fill_nan(None) for c in cols]
    )
    usable = work.drop_nulls(cols)
    resid = np.full(df.height, np.nan)
    for group in usable.partition_by(part, maintain_order=True):
        y = group.get_column(column).to_numpy()
        x = group.select(regs).to_numpy() if regs else np.empty((group.height, 0))
        if intercept:
            x = np.column_stack([np.ones(group.height), x])
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        resid[group.get_column(_ROW).to_numpy()] = y - x @ coef
    return df.with_columns(pl.Series(out_name, resid).fill_nan(None))
