"""Load the data a study config asks for (``[data]`` table)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from coinfactor import datasets
from coinfactor.core.errors import ConfigError
from coinfactor.data import validate_panel


def load_study_data(spec: Mapping[str, Any], *, base_dir: Path | None = None) -> tuple[
        pl.DataFrame, str]:
    """Load a panel from a ``[data]`` table.

    Parameters
    ----------
    spec : mapping
        Exactly one of ``dataset = "<embedded name>"``, ``parquet = "<path>"`` or
        ``store = { exchange = "...", market = "swap", freq = "1h", symbols = [...],
        path = "<db file>" }`` (the local DuckDB store, ``COINFACTOR_HOME`` unless ``path``);
        optional ``symbols = [...]``, ``start`` and ``end`` (ISO dates, UTC) filter the panel.
    base_dir : Path, optional
        Directory relative paths are resolved against (the config file's).

    Returns
    -------
    (pl.DataFrame, str)
        The validated panel and a description of its source.
    """
    sources = [k for k in ("dataset", "parquet", "store") if k in spec]
    if len(sources) != 1:
        raise ConfigError(
            "[data] expected exactly one of 'dataset' (an embedded dataset name), 'parquet' "
            "(a canonical panel file) or 'store' (a table selecting bars of the local store), "
            f"got keys {sorted(spec)}"
        )
    allowed = {"dataset", "parquet", "store", "symbols", "start", "end"}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ConfigError(
            f"[data] has unknown key(s) {unknown}; expected some of {sorted(allowed)}"
        )
    if "store" in spec:
        panel, source = _from_store(spec["store"], spec, base_dir)
    elif "dataset" in spec:
        panel = datasets.load(str(spec["dataset"]))
        source = f"dataset {spec['dataset']}"
    else:
        path = Path(str(spec["parquet"]))
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.exists():
            raise ConfigError(f"[data] parquet file {str(path)!r} does not exist")
        panel = validate_panel(pl.read_parquet(path))
        source = f"parquet {path}"
    if "symbols" in spec:
        panel = panel.filter(pl.col("symbol").is_in([str(s) for s in spec["symbols"]]))
    for key, op in (("start", "ge"), ("end", "lt")):
        if key in spec:
            bound = pl.lit(str(spec[key])).str.to_datetime(time_unit="us", time_zone="UTC")
            panel = panel.filter(getattr(pl.col("ts"), op)(bound))
    return panel, source


_STORE_KEYS = {"exchange", "market", "freq", "symbols", "path"}


def _from_store(
    table: Any, spec: Mapping[str, Any], base_dir: Path | None
) -> tuple[pl.DataFrame, str]:
    """Query the DuckDB store for ``[data] store = {...}``."""
    from coinfactor.data.store import Store

    if not isinstance(table, Mapping):
        raise ConfigError(
            "[data] store: expected a table such as store = { exchange = \"binanceusdm\", "
            f"freq = \"1h\" }}, got {table!r}"
        )
    unknown = sorted(set(table) - _STORE_KEYS)
    if unknown:
        raise ConfigError(
            f"[data] store has unknown key(s) {unknown}; expected some of {sorted(_STORE_KEYS)}"
        )
    path = None
    if "path" in table:
        path = Path(str(table["path"]))
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
    symbols = table.get("symbols")
    if symbols is not None and not isinstance(symbols, list):
        raise ConfigError(f"[data] store.symbols: expected a list of symbols, got {symbols!r}")
    with Store(path) as store:
        panel = store.query_bars(
            exchange=table.get("exchange"), market=table.get("market"), freq=table.get("freq"),
            symbols=[str(s) for s in symbols] if symbols is not None else None,
            start=spec.get("start"), end=spec.get("end"),
        )
    parts = [f"{k}={table[k]}" for k in ("exchange", "market", "freq") if k in table]
    return panel, f"store {store.path} ({', '.join(parts) or 'all'})"
