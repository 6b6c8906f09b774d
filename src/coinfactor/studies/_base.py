"""What every study shares: config parsing, data loading and the result written to a run dir.

A study is a module with a frozen ``Config`` dataclass and ``run(config, data) -> StudyResult``.
A run directory holds ``config.toml`` (the resolved config), ``metrics.json`` and one Parquet
file per result table; everything a report needs is rebuilt from those files.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
import tomli_w

from coinfactor.core.errors import ConfigError
from coinfactor.core.parts import PartitionedTable
from coinfactor.studies._params import check_value, near_matches, type_hints
from coinfactor.studies._rundir import TABLE_NAME, write_run_dir

C = TypeVar("C")


def config_from_dict(cls: type[C], values: Mapping[str, Any], *, where: str = "params",
                     base: C | None = None) -> C:
    """Build a config dataclass from a TOML table, rejecting unknown keys and wrong values.

    Every value is checked against the field's annotation before the config is built
    (:func:`coinfactor.studies._params.check_value`): booleans are not numbers, strings are
    neither numbers nor lists, numbers are finite and inside the range the field declares.
    A nested table (a field whose type is a dataclass, e.g. ``[params.costs]``) overrides the
    keys it gives on that field's default: a study's own cost defaults stay in force for
    the keys the table leaves out.

    Parameters
    ----------
    cls : dataclass type
        The study's ``Config``.
    values : mapping
        Keys and values from the TOML file.
    where : str
        Name of the table, for messages.
    base : instance of cls, optional
        The values of the keys ``values`` does not give (default: the dataclass defaults).

    Returns
    -------
    instance of cls

    Raises
    ------
    ConfigError
        On an unknown key (naming the allowed keys and near matches) or a value of the wrong
        type or outside its range (naming the allowed values and the default).
    """
    if not isinstance(values, Mapping):
        raise ConfigError(f"[{where}]: expected a table of keys and values, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        near = {k: near_matches(k, fields) for k in unknown}
        hints = "".join(f"; {k!r}: did you mean {m[0]!r}?" for k, m in near.items() if m)
        raise ConfigError(
            f"[{where}] has unknown key(s) {unknown}; expected some of {sorted(fields)}{hints}"
        )
    hints_of = type_hints(cls)  # resolved once per class
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        kwargs[key] = _coerce_value(key, value, hints_of.get(key, Any), where,
                                    default=fields[key].default)
    try:
        if base is not None:
            return typing.cast(C, dataclasses.replace(typing.cast(Any, base), **kwargs))
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[{where}]: {exc}") from exc


def _coerce_value(key: str, value: Any, hint: Any, where: str,
                  default: Any = dataclasses.MISSING) -> Any:
    """Check one TOML value (:func:`check_value`); a table for a dataclass field is parsed."""
    nested = _nested_config(hint)
    if nested is not None and isinstance(value, Mapping):
        return config_from_dict(nested, value, where=f"{where}.{key}",
                                base=default if isinstance(default, nested) else None)
    return check_value(key, value, hint, where=where, default=default)


def _nested_config(hint: Any) -> type | None:
    """Return the dataclass type of a field holding a nested table, if it is one."""
    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def config_to_dict(config: Any) -> dict[str, Any]:
    """Return a config dataclass as a TOML-ready dict (tuples -> lists, None dropped)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        if v is None:
            continue
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            v = config_to_dict(v)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        return _json_ready(value.item())
    return value


@dataclass(frozen=True)
class StudyResult:
    """Outputs of one study run.

    Attributes
    ----------
    study : str
        Study name (``"carry"``, ``"risk_model"``, ...).
    config : dict
        The resolved run config (``study``, ``data`` and ``params`` tables).
    metrics : dict
        Headline numbers, JSON-serialisable.
    tables : dict of str to pl.DataFrame or PartitionedTable
        Result tables, each written as ``<name>.parquet``; a
        :class:`~coinfactor.core.parts.PartitionedTable` (a large table written in blocks,
        read lazily) as the directory ``<name>/`` of its Parquet parts.
    data_summary : dict
        What data the run saw (dataset, symbols, range, frequency, coverage).
    """

    study: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    tables: dict[str, pl.DataFrame | PartitionedTable] = field(default_factory=dict)
    data_summary: dict[str, Any] = field(default_factory=dict)

    def frame(self, name: str) -> pl.DataFrame:
        """Table ``name`` as one frame (a :class:`PartitionedTable` is read from its parts)."""
        table = self.tables[name]
        return table.collect() if isinstance(table, PartitionedTable) else table

    def summary(self) -> str:
        """Plain-text summary of the metrics."""
        width = max((len(k) for k in self.metrics), default=0)
        lines = [f"study: {self.study}"]
        for k, v in self.metrics.items():
            lines.append(f"  {k:<{width}}  {v:.6g}" if isinstance(v, float) else
                         f"  {k:<{width}}  {v}")
        return "\n".join(lines)

    def write(self, out: str | Path, overwrite: bool = False, *,
              inputs: Sequence[str | Path] = ()) -> Path:
        """Write the run directory, atomically, and build its ``report.html``.

        The directory receives ``config.toml``, ``metrics.json``, ``data_summary.json``,
        ``versions.json``, one ``<name>.parquet`` per table and ``manifest.json`` (listing
        every file with its size and SHA-256), then ``report.html`` built from those files
        (:func:`coinfactor.report.write_report`). Everything is written to a temporary
        directory beside ``out`` and renamed into place when complete
        (:func:`coinfactor.studies.write_run_dir`): a failure leaves ``out`` as it was.

        Parameters
        ----------
        out : str or Path
            The run directory: a new path, an empty directory, or (with ``overwrite``) a
            previous coinfactor run directory, which is replaced as a whole.
        overwrite : bool
            Replace a run directory already at ``out``.
        inputs : sequence of str or Path
            Files the run read (config, data); ``out`` may not hold any of them.

        Returns
        -------
        Path
            The run directory (absolute).

        Raises
        ------
        ConfigError
            If a table name is not a plain file name, or ``out`` may not be written (see
            :func:`coinfactor.core.rundir.check_out_dir`: an existing run without
            ``overwrite``, a file, a directory that is not a run directory, the current
            directory, ...); nothing is written.
        OutputError
            If writing fails (e.g. disk full); ``out`` is unchanged.
        """
        from coinfactor.report import write_report  # lazy: matplotlib loads on write

        bad = [n for n in self.tables if not TABLE_NAME.fullmatch(n)]
        if bad:
            raise ConfigError(f"table name(s) {bad} of study {self.study!r} cannot be file "
                              "names: expected letters, digits, '_' and '-' (e.g. "
                              "'factor_returns'); rename the tables")

        def report(tmp: Path, target: Path) -> None:
            write_report(tmp, name=target.name, verify=False)   # hashed just before

        return write_run_dir(out, self._write_files, study=self.study, overwrite=overwrite,
                             inputs=inputs, derive=report)

    def _write_files(self, out_dir: Path) -> None:
        """Write the run's files (not the manifest, not the report) into ``out_dir``."""
        from coinfactor.report import collect_versions

        (out_dir / "config.toml").write_bytes(tomli_w.dumps(self.config).encode())
        for name, payload in (("metrics.json", self.metrics),
                              ("data_summary.json", self.data_summary),
                              ("versions.json", collect_versions())):
            (out_dir / name).write_bytes(
                json.dumps(_json_ready(payload), indent=2, allow_nan=False).encode())
        for name, table in self.tables.items():
            if isinstance(table, PartitionedTable):
                table.link_into(out_dir / name)
            else:
                table.write_parquet(out_dir / f"{name}.parquet")


def summarize_panel(panel: pl.DataFrame, source: str, *, n_ts: int | None = None,
                    n_symbols: int | None = None) -> dict[str, Any]:
    """Summarise a panel for reports: source, symbols, range, bars, coverage.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel.
    source : str
        Where the panel came from (shown in reports).
    n_ts, n_symbols : int, optional
        Distinct ``ts`` values and symbols of the panel, when the caller already knows them
        (a study that placed the panel on a grid); counted from the panel otherwise.

    Returns
    -------
    dict
        ``source, symbols, bars, start, end, coverage`` (rows / (distinct ts x symbols)).
    """
    if panel.height == 0:
        return {"source": source, "symbols": 0, "bars": 0}
    n_ts = panel["ts"].n_unique() if n_ts is None else n_ts
    n_sym = panel["symbol"].n_unique() if n_symbols is None else n_symbols
    return {
        "source": source,
        "symbols": n_sym,
        "bars": panel.height,
        "start": panel["ts"].min(),
        "end": panel["ts"].max(),
        "coverage": panel.height / (n_ts * n_sym),
    }
