"""The trial ledger: one DuckDB file under the sweep directory, written by the driver only.

Each trial is keyed by a content hash of (study, data fingerprint, parameters, coinfactor
version) (:func:`trial_id`): the same trial on the same data under the same version has the
same id, so a rerun or ``--resume`` finds it done and recomputes nothing. A trial's row and its
returns are written in one transaction: a sweep killed at any point keeps every trial it
finished, whole.

Tables::

    trials(trial_id PRIMARY KEY, sweep_index, study, data_fingerprint, version, params (JSON of
           the swept values), config (JSON of the full [params]), status ('done' | 'failed'),
           error, seconds, metrics (JSON), worker, finished_at)
    returns(trial_id, ts TIMESTAMPTZ, ret DOUBLE)   -- per-bar net returns of done trials
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from coinfactor.core.errors import DataError

LEDGER_NAME = "ledger.duckdb"

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS trials (
        trial_id VARCHAR PRIMARY KEY, sweep_index INTEGER, study VARCHAR,
        data_fingerprint VARCHAR, version VARCHAR, params VARCHAR, config VARCHAR,
        status VARCHAR, error VARCHAR, seconds DOUBLE, metrics VARCHAR, worker VARCHAR,
        finished_at TIMESTAMPTZ)""",
    "CREATE TABLE IF NOT EXISTS returns (trial_id VARCHAR, ts TIMESTAMPTZ, ret DOUBLE)",
)


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, float):
        return repr(value)  # exact: 0.1 and 0.1000000001 differ, 0.2 and 0.20 do not
    return value


def trial_id(study: str, data_fingerprint: str, params: Mapping[str, Any], version: str) -> str:
    """Content hash of a trial: 16 hex digits of SHA-256 over its canonical JSON.

    Parameters
    ----------
    study : str
        Study name.
    data_fingerprint : str
        :func:`data_fingerprint` of the panel.
    params : mapping
        The trial's full resolved ``[params]`` (every field, defaults included).
    version : str
        coinfactor's version.

    Returns
    -------
    str
    """
    payload = json.dumps({"study": study, "data": data_fingerprint,
                          "params": _canonical(params), "version": version},
                         sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def data_fingerprint(panel: pl.DataFrame) -> str:
    """SHA-256 of a panel's columns, dtypes and row hashes (changes when any value does)."""
    h = hashlib.sha256()
    h.update(json.dumps([[c, str(t)] for c, t in panel.schema.items()]).encode())
    h.update(str(panel.height).encode())
    if panel.height:
        rows = panel.hash_rows(seed=0)
        h.update(rows.to_numpy().tobytes())
    return h.hexdigest()


def _json_ready(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        return _json_ready(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial, as the driver writes it.

    Attributes
    ----------
    trial_id : str
        Content hash (:func:`trial_id`).
    sweep_index : int
        Position in the sweep's expansion order.
    params : dict
        Swept values.
    config : dict
        Full ``[params]`` of the trial.
    status : {"done", "failed"}
    error : str or None
        The exception, for a failed trial.
    seconds : float
        Wall time of the trial on its worker.
    metrics : dict
        The study's metrics (empty if failed).
    ts : ndarray of int64, shape (n_bars,)
        Bar times of the returns (microseconds since the epoch, UTC).
    ret : ndarray of float64, shape (n_bars,)
        Per-bar net returns.
    worker : str
        Where it ran.
    """

    trial_id: str
    sweep_index: int
    params: dict[str, Any]
    config: dict[str, Any]
    status: str
    error: str | None
    seconds: float
    metrics: dict[str, Any]
    ts: np.ndarray
    ret: np.ndarray
    worker: str = ""


def fold_wal(path: str | Path) -> None:
    """Open and close a ledger left by a killed sweep, folding its write-ahead log into it."""
    p = Path(path)
    if p.is_file() and p.with_name(p.name + ".wal").exists():
        import duckdb

        con = duckdb.connect(str(p))
        con.execute("CHECKPOINT")
        con.close()


class Ledger:
    """The sweep's DuckDB ledger (one writer: the driver process).

    Parameters
    ----------
    path : str or Path
        The ``ledger.duckdb`` file (created with its tables if absent).
    study, data_fingerprint, version : str
        Stamped on every row written.
    """

    def __init__(self, path: str | Path, *, study: str, data_fingerprint: str,
                 version: str) -> None:
        import duckdb

        self.path = Path(path)
        self.study = study
        self.data_fingerprint = data_fingerprint
        self.version = version
        self._con = duckdb.connect(str(self.path))
        self._con.execute("SET TimeZone = 'UTC'")
        for sql in _SCHEMA:
            self._con.execute(sql)

    def close(self) -> None:
        """Checkpoint and close the file (no write-ahead log is left behind)."""
        if self._con is not None:
            self._con.execute("CHECKPOINT")
            self._con.close()
            self._con = None  # type: ignore[assignment]

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def finished(self, ids: Iterable[str] | None = None, *, retry_failed: bool = False
                 ) -> set[str]:
        """Ids of the trials already recorded (done, and failed unless ``retry_failed``)."""
        statuses = ("done",) if retry_failed else ("done", "failed")
        rows = self._con.execute(
            f"SELECT trial_id FROM trials WHERE status IN ({', '.join('?' for _ in statuses)})",
            list(statuses)).fetchall()
        have = {r[0] for r in rows}
        return have if ids is None else have & set(ids)

    def record(self, rec: TrialRecord) -> None:
        """Write one trial (its row and returns) in one transaction, replacing a previous one."""
        self.record_many([rec])

    def record_many(self, recs: Sequence[TrialRecord]) -> None:
        """Write trials (rows and returns) in one transaction, replacing previous ones.

        A chunk of trials costs one commit, not one per trial (the executor's overhead per
        trivial trial is then a fraction of a millisecond).
        """
        if not recs:
            return
        con = self._con
        ids = [r.trial_id for r in recs]
        now = datetime.now(UTC)
        rows = pl.DataFrame({  # noqa: F841  (read by DuckDB's replacement scan)
            "trial_id": ids,
            "sweep_index": pl.Series([r.sweep_index for r in recs], dtype=pl.Int32),
            "study": [self.study] * len(recs),
            "data_fingerprint": [self.data_fingerprint] * len(recs),
            "version": [self.version] * len(recs),
            "params": [json.dumps(_json_ready(r.params), sort_keys=True) for r in recs],
            "config": [json.dumps(_json_ready(r.config), sort_keys=True) for r in recs],
            "status": [r.status for r in recs],
            "error": pl.Series([r.error for r in recs], dtype=pl.String),
            "seconds": [float(r.seconds) for r in recs],
            "metrics": [json.dumps(_json_ready(r.metrics)) for r in recs],
            "worker": [r.worker for r in recs],
            "finished_at": pl.Series([now] * len(recs), dtype=pl.Datetime("us", "UTC")),
        })
        done = [r for r in recs if r.status == "done" and r.ts.size]
        rets = pl.DataFrame({
            "trial_id": [r.trial_id for r in done for _ in range(r.ts.size)],
            "ts": pl.Series(np.concatenate([r.ts for r in done]) if done
                            else np.empty(0, np.int64), dtype=pl.Int64)
            .cast(pl.Datetime("us", "UTC")),
            "ret": np.concatenate([r.ret for r in done]) if done else np.empty(0),
        }, schema={"trial_id": pl.String, "ts": pl.Datetime("us", "UTC"), "ret": pl.Float64})
        placeholders = ", ".join("?" for _ in ids)
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"DELETE FROM returns WHERE trial_id IN ({placeholders})", ids)
            con.execute(f"DELETE FROM trials WHERE trial_id IN ({placeholders})", ids)
            con.execute("INSERT INTO trials SELECT * FROM rows")
            if rets.height:
                con.execute("INSERT INTO returns SELECT trial_id, ts, ret FROM rets")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _fetch(self, sql: str, args: list[Any]) -> pl.DataFrame:
        out = pl.from_arrow(self._con.sql(sql, params=args).to_arrow_table())
        assert isinstance(out, pl.DataFrame)  # a table, never a series
        return out

    def trials(self) -> pl.DataFrame:
        """Every recorded trial, one row each, sorted by sweep index (JSON columns as text)."""
        return self._fetch("SELECT * FROM trials ORDER BY sweep_index, trial_id", [])

    def returns(self, ids: Sequence[str] | None = None) -> pl.DataFrame:
        """``ts, trial_id, return`` of the done trials (or of ``ids``), sorted by trial, ts."""
        sql = ("SELECT r.ts, r.trial_id, r.ret AS \"return\" FROM returns r "
               "JOIN trials t USING (trial_id) WHERE t.status = 'done'")
        args: list[Any] = []
        if ids is not None:
            if not ids:
                return pl.DataFrame(schema={"ts": pl.Datetime("us", "UTC"),
                                            "trial_id": pl.String, "return": pl.Float64})
            sql += f" AND r.trial_id IN ({', '.join('?' for _ in ids)})"
            args = list(ids)
        out = self._fetch(sql + " ORDER BY t.sweep_index, r.ts", args)
        return out.with_columns(pl.col("ts").dt.convert_time_zone("UTC")
                                .dt.cast_time_unit("us"))


def trials_table(raw: pl.DataFrame, swept: Sequence[str]) -> pl.DataFrame:
    """One row per trial: id, index, status, error, seconds, swept parameters, every metric.

    Parameters
    ----------
    raw : pl.DataFrame
        :meth:`Ledger.trials`.
    swept : sequence of str
        Swept parameter names (one column each, named ``param.<name>``).

    Returns
    -------
    pl.DataFrame
        Metric columns are Float64 (booleans as 0/1), missing as null.
    """
    if raw.height == 0:
        return pl.DataFrame(schema={"trial_id": pl.String, "sweep_index": pl.Int32,
                                    "status": pl.String})
    params = [json.loads(p) for p in raw["params"]]
    metrics = [json.loads(m) for m in raw["metrics"]]
    names: list[str] = []
    for m in metrics:
        for k in m:
            if k not in names:
                names.append(k)
    cols: dict[str, Any] = {
        "trial_id": raw["trial_id"], "sweep_index": raw["sweep_index"],
        "status": raw["status"], "error": raw["error"], "seconds": raw["seconds"],
    }
    for name in swept:
        values = [p.get(name) for p in params]
        cols[f"param.{name}"] = pl.Series(values, strict=False)
    for name in names:
        vals = []
        for m in metrics:
            v = m.get(name)
            vals.append(float(v) if isinstance(v, int | float) and v is not None else None)
        cols[name] = pl.Series(vals, dtype=pl.Float64)
    return pl.DataFrame(cols)


def check_ledger_study(raw: pl.DataFrame, study: str) -> None:
    """Raise DataError if the ledger holds trials of another study."""
    others = sorted(set(raw["study"].to_list()) - {study}) if raw.height else []
    if others:
        raise DataError(f"the sweep ledger holds trials of {others}, not {study!r}",
                        fix="use another --out for a sweep of another study")
