"""Today's book of a study: the target weights decided at the last complete bar.

Every study that holds a book (carry, reversion, hedge_basket) has ``target(config, panel,
as_of=...)`` built from the same functions as its ``run``: the weights it returns are those
``run`` on the same bars holds after that bar's close (DESIGN.md, "Today's book").
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.core.time import freq_to_timedelta
from coinfactor.data import TS_DTYPE, infer_freq


@dataclass(frozen=True)
class StudyTarget:
    """Target weights of a study's book at one decision.

    Attributes
    ----------
    study : str
        The study's name.
    decided_at : datetime
        Open time of the bar at whose close the book is decided (its last complete bar).
    as_of : datetime or None
        The clock the book was computed for (None: every bar of the panel).
    weights : pl.DataFrame
        ``symbol, weight``: the non-zero target weights (fractions of NAV), sorted by symbol;
        a symbol absent from it is a target of 0.
    """

    study: str
    decided_at: datetime
    as_of: datetime | None
    weights: pl.DataFrame

    @classmethod
    def from_weights(cls, study: str, decided_at: datetime, as_of: datetime | None,
                     weights: Mapping[str, float]) -> StudyTarget:
        """Build from a mapping of symbol to weight (zeros dropped)."""
        items = sorted((s, w) for s, w in weights.items() if w != 0.0)
        frame = pl.DataFrame({"symbol": [s for s, _ in items], "weight": [w for _, w in items]},
                             schema={"symbol": pl.String, "weight": pl.Float64})
        return cls(study, decided_at, as_of, frame)


def complete_bars(panel: pl.DataFrame, as_of: datetime | None) -> pl.DataFrame:
    """Keep the rows of ``panel`` whose bar has closed at ``as_of`` (``ts + freq <= as_of``).

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel.
    as_of : datetime, optional
        Timezone-aware clock; None keeps every row.

    Returns
    -------
    pl.DataFrame
        The rows of complete bars, in the panel's order.

    Raises
    ------
    DataError
        If ``as_of`` is naive, or no bar is complete at ``as_of``.
    """
    if as_of is None:
        return panel
    if as_of.tzinfo is None:
        raise DataError(f"as_of must be timezone-aware (UTC), got {as_of!r}",
                        fix="pass e.g. datetime(2025, 7, 1, tzinfo=UTC)")
    step = freq_to_timedelta(infer_freq(panel))
    cut = panel.filter(pl.col("ts") <= pl.lit(as_of - step).cast(TS_DTYPE))
    if cut.height == 0:
        first = typing.cast(datetime, panel.get_column("ts").min())
        raise DataError(f"no bar is complete at as_of={as_of}: the first bar opens at {first} "
                        f"and lasts {step}", fix="choose a later as_of, or load earlier data")
    return cut
