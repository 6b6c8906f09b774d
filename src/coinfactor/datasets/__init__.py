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

__all__ = ["available", "info", "load"]


@cache
def _catalog() -> dict[str, dict[str, Any]]:
    text = resources.files(__package__).joinpath("data/catalog.json").read_text("utf-8")
    return {d["name"]: d for d in json.loads(text)}


def available() -> pl.DataFrame:
    """List the embedded datasets.

    Returns
    -------
    pl.DataFrame
        One row per dataset: ``name, freq, symbols, rows, start, end, source, licence,
        description``.
    """
    rows = [
        {k: d[k] for k in ("name", "freq", "symbols", "rows", "start", "end", "source",
                           "licence", "description")}
        for d in _catalog().values()
    ]
    return pl.DataFrame(rows).with_columns(
        pl.col("start", "end").str.to_datetime(time_unit="us", time_zone="UTC")
    )


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
