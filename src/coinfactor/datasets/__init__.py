"""Embedded real exchange datasets, shipped inside the package for offline use.

Each dataset is a validated canonical panel built from public exchange data by
``scripts/build_datasets.py``; ``data/catalog.json`` records its provenance and licence and
``data/PROVENANCE.md`` tells the full story.

Examples
--------
>>> import coinfactor as cf
>>> panel = cf.datasets.load("hyperliquid-perp-1d")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.data import validate_panel

__all__ = ["available", "funding_coverage", "info", "load"]


@cache
def _catalog() -> dict[str, dict[str, Any]]:
    text = resources.files(__package__).joinpath("data/catalog.json").read_text("utf-8")
    return {d["name"]: d for d in json.loads(text)}


_AVAILABLE = ("name", "freq", "symbols", "rows", "start", "end", "funding_first",
              "funding_last", "funding_share", "source", "licence", "description")


def available() -> pl.DataFrame:
    """List the embedded datasets.

    Returns
    -------
    pl.DataFrame
        One row per dataset: ``name, freq, symbols, rows, start, end, funding_first,
        funding_last, funding_share, source, licence, description``. ``start``/``end`` are
        the first and last bar (UTC); ``funding_first``/``funding_last`` the first and last
        bar with a known ``funding_rate`` (null when none) and ``funding_share`` the
        fraction of bars with one (see :func:`funding_coverage`).
    """
    rows = [{k: d.get(k) for k in _AVAILABLE} for d in _catalog().values()]
    schema = {k: pl.String for k in _AVAILABLE} | {
        "symbols": pl.Int64, "rows": pl.Int64, "funding_share": pl.Float64}
    return pl.DataFrame(rows, schema=schema).with_columns(
        pl.col("start", "end", "funding_first", "funding_last").str.to_datetime(
            time_unit="us", time_zone="UTC")
    )


def funding_coverage(panel: pl.DataFrame) -> dict[str, Any]:
    """Funding coverage of a panel, as recorded in the catalog at build time.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel (``ts``, ``funding_rate``), ``n_rows`` rows.

    Returns
    -------
    dict
        ``funding_first`` and ``funding_last``: ISO times (UTC) of the first and last bar
        with a non-null ``funding_rate`` over all symbols, None when there is none;
        ``funding_share``: the fraction of the ``n_rows`` bars with a non-null
        ``funding_rate``, in [0, 1] (0 for an empty panel).
    """
    known = panel.filter(pl.col("funding_rate").is_not_null())["ts"]
    first, last = known.min(), known.max()
    return {
        "funding_first": None if first is None else first.isoformat(),  # type: ignore[union-attr]
        "funding_last": None if last is None else last.isoformat(),  # type: ignore[union-attr]
        "funding_share": known.len() / panel.height if panel.height else 0.0,
    }


def info(name: str) -> dict[str, Any]:
    """Catalog entry of one dataset (provenance, licence, build rule)."""
    cat = _catalog()
    if name not in cat:
        raise DataError(
            f"unknown dataset {name!r}; expected one of {sorted(cat)}",
            fix="list them with coinfactor.datasets.available() or `coinfactor datasets`",
        )
    return dict(cat[name])


def load(name: str) -> pl.DataFrame:
    """Load an embedded dataset as a validated canonical panel.

    Parameters
    ----------
    name : str
        Dataset name, e.g. ``"hyperliquid-perp-1d"``; see :func:`available`.

    Returns
    -------
    pl.DataFrame
        Canonical panel sorted by (symbol, ts).
    """
    entry = info(name)
    path = resources.files(__package__).joinpath(f"data/{entry['file']}")
    with resources.as_file(path) as p:
        frame = pl.read_parquet(p)
    return validate_panel(frame, freq=entry["freq"])
