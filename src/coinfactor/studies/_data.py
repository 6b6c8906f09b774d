"""Load the data a study config asks for (``[data]`` table).

The table names one source and optional filters; every key is checked (types, dates) before
anything is read, and every filter is checked against what the source holds: an unknown
symbol is named with its near matches, and a selection that leaves no bars says which filter
emptied it and what range the data covers.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, overload

import polars as pl

from coinfactor import datasets
from coinfactor.core.errors import ConfigError, DataError
from coinfactor.data import FILLED_COLUMN, REQUIRED_COLUMNS, read_bars, validate_panel
from coinfactor.studies._params import near_matches, parse_time, unknown_names

__all__ = ["DATA_KEYS", "load_study_data"]

SOURCES = ("dataset", "file", "parquet", "parquet_dir", "store")
"""The ``[data]`` keys naming a source; a table gives exactly one."""
DATA_KEYS = frozenset({*SOURCES, "symbols", "start", "end"})
"""Every key ``[data]`` accepts."""
_FILE_KEYS = frozenset({"path", "symbol", "tz", "freq", "mapping"})
_STORE_KEYS = frozenset({"exchange", "market", "freq", "symbols", "path"})
_PARQUET = (".parquet", ".pq")


@overload
def load_study_data(spec: Mapping[str, Any], *, base_dir: Path | None = None,
                    lazy: Literal[False] = False,
                    columns: Collection[str] | None = None) -> tuple[pl.DataFrame, str]: ...


@overload
def load_study_data(spec: Mapping[str, Any], *, base_dir: Path | None = None,
                    lazy: bool, columns: Collection[str] | None = None,
                    ) -> tuple[pl.DataFrame | pl.LazyFrame, str]: ...


def load_study_data(spec: Mapping[str, Any], *, base_dir: Path | None = None,
                    lazy: bool = False, columns: Collection[str] | None = None,
                    ) -> tuple[pl.DataFrame | pl.LazyFrame, str]:
    """Load a panel from a ``[data]`` table.

    Parameters
    ----------
    spec : mapping
        Exactly one source:

        - ``dataset = "<embedded name>"`` (``coinfactor datasets`` lists them);
        - ``file = "<path>"``: a bar file read by :func:`coinfactor.data.read_bars`, its
          format from the extension (``.csv``, ``.csv.gz``, ``.tsv``, ``.parquet``,
          ``.feather``); or a table ``file = { path = "...", symbol = "BTCUSDT", tz = "UTC",
          freq = "1h", mapping = { time = "ts" } }`` passing those options to ``read_bars``.
          A canonical panel in Parquet is read as it is, its ``filled`` flags kept;
        - ``parquet = "<path>"``: the former name of ``file`` (same rules, so a CSV file
          given here is read as CSV);
        - ``store = { exchange = "...", market = "swap", freq = "1h", symbols = [...],
          path = "<db file>" }``: the local DuckDB store (``COINFACTOR_HOME`` unless
          ``path``); with ``freq = "1m"`` and ``lazy``, its minutes are scanned lazily
          (:meth:`~coinfactor.data.store.Store.scan_minutes`), else read whole;
        - ``parquet_dir = "<folder>"``: every ``*.parquet`` file under a folder (one per
          symbol, or hive partitions), canonical columns (``symbol`` may instead be the file
          name, ``BTCUSDT.parquet``); with ``lazy``, scanned lazily (nothing is read here:
          a study that accepts a lazy panel reads and validates it block by block), else
          read whole and validated.

        Optional filters: ``symbols = [...]`` (a list, each in the data), ``start`` and
        ``end`` (ISO dates or times, or TOML dates; UTC unless an offset is given; bars with
        ``start <= ts < end``).
    base_dir : Path, optional
        Directory relative paths are resolved against (the config file's).
    lazy : bool, default False
        Return ``parquet_dir`` and one-minute ``store`` bars as a lazy frame (not read, not
        validated here).
    columns : collection of str, optional
        The columns the caller reads (a study's :func:`panel_columns`): the panel keeps
        only these of its optional columns, besides ``ts``, ``symbol`` and ``filled``. A
        canonical Parquet file is read with these and the columns validation needs (open,
        high, low, close, volume) alone, so a column nobody reads is never loaded; default:
        every column.

    Returns
    -------
    (pl.DataFrame or pl.LazyFrame, str)
        The validated panel (a lazy scan, not yet validated, for ``parquet_dir`` and the
        store's minutes when ``lazy``) and a description of its source.

    Raises
    ------
    ConfigError
        On a malformed table (unknown key, wrong type, unparsable date, ``start >= end``), a
        missing file, an unknown dataset or symbol (with near matches), or filters that
        leave no bars (naming the filter and the range the data covers).
    DataError
        If the source itself holds no bars or a file cannot be read.
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(f"[data]: expected a table such as [data] dataset = "
                          f"\"hyperliquid-perp-1d\", got {spec!r}")
    given = [k for k in SOURCES if k in spec]
    if len(given) != 1:
        raise ConfigError(
            "[data] expected exactly one of 'dataset' (an embedded dataset name), 'file' (a "
            "CSV, Parquet or Feather bar file; 'parquet' is its former name) or 'store' (a "
            f"table selecting bars of the local store), got keys {sorted(spec)}"
        )
    _reject_unknown(spec, DATA_KEYS, "[data]")
    symbols = _symbols(spec.get("symbols"), "[data] symbols")
    start = parse_time(spec["start"], "[data] start") if "start" in spec else None
    end = parse_time(spec["end"], "[data] end") if "end" in spec else None
    if start is not None and end is not None and start >= end:
        raise ConfigError(f"[data] start = {start:%Y-%m-%d %H:%M} is not before end = "
                          f"{end:%Y-%m-%d %H:%M} (UTC); fix: swap them or leave one out")
    source_key = given[0]
    keep = None if columns is None else frozenset(columns) | _ALWAYS
    if source_key == "store":
        panel, source = _from_store(spec["store"], start, end, base_dir, lazy=lazy)
        if isinstance(panel, pl.LazyFrame):  # minutes scanned lazily; dates applied there
            return _select_lazy(panel, source, symbols, None, None), source
    elif source_key == "parquet_dir":
        scan, source = _scan_dir(spec["parquet_dir"], base_dir)
        scan = _select_lazy(scan, source, symbols, start, end)
        if lazy:
            return scan, source
        return _project(_select(validate_panel(scan.collect().sort("symbol", "ts")), source,
                                None, None, None), keep), source
    elif source_key == "dataset":
        panel, source = _from_dataset(spec["dataset"])
    else:
        panel, source = _from_file(spec[source_key], source_key, base_dir, keep)
    return _project(_select(panel, source, symbols, start, end), keep), source


_ALWAYS = frozenset({"ts", "symbol", FILLED_COLUMN})


def _project(panel: pl.DataFrame, keep: frozenset[str] | None) -> pl.DataFrame:
    """Return the panel with the columns in ``keep`` alone (all of them for None)."""
    if keep is None or keep.issuperset(panel.columns):
        return panel
    return panel.select([c for c in panel.columns if c in keep])


def _reject_unknown(table: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        hints = "".join(f"; {k!r}: did you mean {m[0]!r}?" for k in unknown
                        if (m := near_matches(k, allowed)))
        raise ConfigError(f"{where} has unknown key(s) {unknown}; expected some of "
                          f"{sorted(allowed)}{hints}")


def _string(value: Any, what: str, example: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{what}: expected a non-empty string such as {example}, got "
                          f"{value!r}")
    return value


def _symbols(value: Any, what: str) -> list[str] | None:
    """Check a symbols list: a list of non-empty strings (a bare string is not a list)."""
    if value is None:
        return None
    if isinstance(value, str):
        raise ConfigError(f"{what}: expected a list of symbols, got the string {value!r}; "
                          f"fix: write {what.split()[-1]} = [\"{value}\"] (a list of one)")
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{what}: expected a list of symbols such as [\"BTC\", \"ETH\"], "
                          f"got {value!r}")
    bad = [v for v in value if not isinstance(v, str) or not v.strip()]
    if bad:
        raise ConfigError(f"{what}: expected symbol names (non-empty strings), got {bad!r}")
    if not value:
        raise ConfigError(f"{what}: an empty list selects nothing; fix: leave the key out to "
                          "keep every symbol")
    return list(dict.fromkeys(value))


def _from_dataset(name: Any) -> tuple[pl.DataFrame, str]:
    name = _string(name, "[data] dataset", '"hyperliquid-perp-1d"')
    names = datasets.available().get_column("name").to_list()
    if name not in names:
        near = near_matches(name, names)
        raise ConfigError(
            f"[data] dataset: unknown embedded dataset {name!r}"
            f"{f' (did you mean {near[0]!r}?)' if near else ''}; expected one of "
            f"{sorted(names)}; fix: pick one (`coinfactor datasets` lists them) or use "
            "'file' for your own data")
    return datasets.load(name), f"dataset {name}"


def _resolve(path: Any, what: str, base_dir: Path | None) -> Path:
    p = Path(_string(path, what, '"panel.csv"'))
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    return p


def _from_file(value: Any, key: str, base_dir: Path | None,
               keep: frozenset[str] | None = None) -> tuple[pl.DataFrame, str]:
    """Read ``file = "..."`` / ``file = {path = ..., ...}`` (or ``parquet = ...``).

    A canonical Parquet panel is read with the columns of ``keep`` and those validation
    needs alone (every column for None).
    """
    options: dict[str, Any] = {}
    if isinstance(value, Mapping):
        _reject_unknown(value, _FILE_KEYS, f"[data] {key}")
        if "path" not in value:
            raise ConfigError(f"[data] {key}: a table needs path = \"<file>\"; got keys "
                              f"{sorted(value)}")
        for opt in ("symbol", "tz", "freq"):
            if opt in value:
                options[opt] = _string(value[opt], f"[data] {key}.{opt}", '"BTCUSDT"')
        if "mapping" in value:
            mapping = value["mapping"]
            if not isinstance(mapping, Mapping) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
                raise ConfigError(f"[data] {key}.mapping: expected a table of source column "
                                  f"= canonical column, such as {{ time = \"ts\" }}, got "
                                  f"{mapping!r}")
            options["mapping"] = dict(mapping)
        value = value["path"]
    path = _resolve(value, f"[data] {key}", base_dir)
    if not path.exists():
        raise ConfigError(f"[data] {key} file {str(path)!r} does not exist; fix: check the path "
                          "(relative paths are read from the config file's directory)")
    if not path.is_file():
        raise ConfigError(f"[data] {key}: {str(path)!r} is not a file")
    try:
        if path.name.lower().endswith(_PARQUET) and not options:
            names = pl.read_parquet_schema(path)
            wanted = None if keep is None else keep | set(REQUIRED_COLUMNS)
            frame = pl.read_parquet(path, columns=None if wanted is None else
                                    [c for c in names if c in wanted])
            if {"ts", "symbol"} <= set(frame.columns):  # a canonical panel, flags kept
                return validate_panel(frame), f"{key} {path}"
        return read_bars(path, **options), f"{key} {path}"
    except DataError:
        raise
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise DataError(f"[data] {key}: could not read {str(path)!r} ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''})",
                        fix="check that the file is a complete CSV, Parquet or Feather bar "
                        "file whose extension matches its format") from exc


def _scan_dir(value: Any, base_dir: Path | None) -> tuple[pl.LazyFrame, str]:
    """Scan ``parquet_dir = "<folder>"`` lazily (no bar is read)."""
    path = _resolve(value, "[data] parquet_dir", base_dir)
    if not path.is_dir():
        raise ConfigError(f"[data] parquet_dir {str(path)!r} is not a directory; fix: point it "
                          "at a folder of Parquet files (one per symbol, or hive partitions)")
    files = sorted(p for p in path.rglob("*") if p.name.lower().endswith(_PARQUET))
    if not files:
        raise DataError(f"[data] parquet_dir: no *.parquet file under {str(path)!r}",
                        fix="write one Parquet file per symbol into the folder")
    try:
        lazy = pl.scan_parquet(files, include_file_paths="_file")
        names = lazy.collect_schema().names()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataError(f"[data] parquet_dir: could not scan {str(path)!r} "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})",
                        fix="check that every file is Parquet with the same columns") from exc
    if "symbol" not in names:  # one file per symbol, named after it
        lazy = lazy.with_columns(symbol=pl.col("_file").str.extract(r"([^/\\]+?)\.p(?:arquet|q)$"))
    return lazy.drop("_file"), f"parquet_dir {path}"


def _select_lazy(lazy: pl.LazyFrame, source: str, symbols: list[str] | None,
                 start: datetime | None, end: datetime | None) -> pl.LazyFrame:
    """``symbols``, ``start`` and ``end`` as lazy filters (symbols checked against the data)."""
    if symbols is not None:
        held = (lazy.select(pl.col("symbol").unique()).collect(engine="streaming")
                .get_column("symbol").to_list())
        unknown_names(symbols, held, "[data] symbols", source)
        lazy = lazy.filter(pl.col("symbol").is_in(symbols))
    if start is not None:
        lazy = lazy.filter(pl.col("ts") >= start)
    if end is not None:
        lazy = lazy.filter(pl.col("ts") < end)
    return lazy


def _from_store(table: Any, start: datetime | None, end: datetime | None,
                base_dir: Path | None, *, lazy: bool = False
                ) -> tuple[pl.DataFrame | pl.LazyFrame, str]:
    """Query the DuckDB store for ``[data] store = {...}``.

    With ``lazy`` and ``freq = "1m"``, the stored minutes are scanned lazily
    (:meth:`~coinfactor.data.store.Store.scan_minutes`: read only when collected, block by
    block, by a study that accepts a lazy panel); otherwise read whole.
    """
    from coinfactor.data.store import Store, check_freq

    if not isinstance(table, Mapping):
        raise ConfigError(
            "[data] store: expected a table such as store = { exchange = \"binanceusdm\", "
            f"freq = \"1h\" }}, got {table!r}"
        )
    _reject_unknown(table, _STORE_KEYS, "[data] store")
    selectors = {k: _string(table[k], f"[data] store.{k}", example)
                 for k, example in (("exchange", '"binanceusdm"'), ("market", '"swap"'),
                                    ("freq", '"1h"')) if k in table}
    path = _resolve(table["path"], "[data] store.path", base_dir) if "path" in table else None
    symbols = _symbols(table.get("symbols"), "[data] store.symbols")
    with Store(path) as store:
        held = store.coverage(exchange=selectors.get("exchange"),
                              market=selectors.get("market"), freq=selectors.get("freq"))
        if symbols is not None and held.height:
            unknown_names(symbols, held.get_column("symbol").to_list(),
                          "[data] store.symbols", f"the store {store.path} ({_sel(selectors)})")
        if lazy and "freq" in selectors and check_freq(selectors["freq"]) == "1m":
            panel: pl.DataFrame | pl.LazyFrame = store.scan_minutes(
                exchange=selectors.get("exchange"), market=selectors.get("market"),
                symbols=symbols, start=start, end=end)
            inside = held if symbols is None else held.filter(pl.col("symbol").is_in(symbols))
            if start is not None:  # the symbols with bars in [start, end), by first and last
                inside = inside.filter(pl.col("last") >= start)
            if end is not None:
                inside = inside.filter(pl.col("first") < end)
            empty = inside.height == 0
        else:
            panel = store.query_bars(exchange=selectors.get("exchange"),
                                     market=selectors.get("market"), freq=selectors.get("freq"),
                                     symbols=symbols, start=start, end=end)
            empty = panel.height == 0
    source = f"store {store.path} ({_sel(selectors)})"
    if empty and held.height:
        if symbols is not None:
            held = held.filter(pl.col("symbol").is_in(symbols))
        first, last = held.get_column("first").min(), held.get_column("last").max()
        raise ConfigError(
            f"[data] {_bounds(start, end)} no bars of {source}: its bars run from "
            f"{_day(first)} to {_day(last)}; fix: choose dates inside that range")
    return panel, source


def _sel(selectors: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in selectors.items()) or "all"


def _day(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if isinstance(value, datetime) else str(value)


def _bounds(start: datetime | None, end: datetime | None) -> str:
    """Name the date filters given, with the verb that agrees: ``start = ... leaves``."""
    parts = [f"{k} = {_day(v)}" for k, v in (("start", start), ("end", end)) if v is not None]
    return " and ".join(parts) + (" (UTC) leave" if len(parts) > 1 else " (UTC) leaves")


def _select(panel: pl.DataFrame, source: str, symbols: list[str] | None,
            start: datetime | None, end: datetime | None) -> pl.DataFrame:
    """Apply ``symbols``, ``start`` and ``end``, saying which one emptied the selection."""
    if panel.height == 0:
        raise DataError(f"[data]: {source} holds no bars",
                        fix="point [data] at a source with bars (download or import first)")
    if symbols is not None:
        unknown_names(symbols, panel.get_column("symbol").unique().to_list(),
                      "[data] symbols", source)
        panel = panel.filter(pl.col("symbol").is_in(symbols))
    if start is None and end is None:
        return panel
    ts = pl.col("ts")
    keep = pl.lit(True)
    if start is not None:
        keep = keep & (ts >= start)
    if end is not None:
        keep = keep & (ts < end)
    kept = panel.filter(keep)
    if kept.height == 0:
        first, last = panel.get_column("ts").min(), panel.get_column("ts").max()
        which = f" for symbols {symbols}" if symbols is not None else ""
        raise ConfigError(
            f"[data] {_bounds(start, end)} no bars of {source}{which}: its bars run "
            f"from {_day(first)} to {_day(last)} (UTC); fix: choose dates inside that range")
    return kept
