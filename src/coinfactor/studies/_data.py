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
        Exactly one of ``dataset = "<embedded name>"`` or ``parquet = "<path>"``; optional
        ``symbols = [...]``, ``start`` and ``end`` (ISO dates, UTC) filter the panel.
    base_dir : Path, optional
        Directory relative paths are resolved against (the config file's).

    Returns
    -------
    (pl.DataFrame, str)
        The validated panel and a description of its source.
    """
    sources = [k for k in ("dataset", "parquet") if k in spec]
    if len(sources) != 1:
        raise ConfigError(
            "[data] expected exactly one of 'dataset' (an embedded dataset name) or 'parquet' "
            f"(a canonical panel file), got keys {sorted(spec)}"
        )
    allowed = {"dataset", "parquet", "symbols", "start", "end"}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ConfigError(
            f"[data] has unknown key(s) {unknown}; expected some of {sorted(allowed)}"
        )
    if "dataset" in spec:
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
