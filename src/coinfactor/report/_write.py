"""Build ``report.html`` for a run directory from its files alone."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import platform
import tomllib
from pathlib import Path
from typing import Any

from coinfactor.core.errors import ConfigError
from coinfactor.core.rundir import MANIFEST_NAME, RunManifest, read_manifest
from coinfactor.report._figures import run_dir_blocks
from coinfactor.report._html import esc, kv_grid, kv_table, page, study_reading

__all__ = ["collect_versions", "write_report"]

log = logging.getLogger(__name__)

REPORT_NAME = "report.html"
VERSIONS_NAME = "versions.json"
_PACKAGES = ("coinfactor", "polars", "numpy", "scipy", "pandas", "duckdb", "cvxpy",
             "matplotlib", "pyarrow", "ccxt")


def collect_versions() -> dict[str, str]:
    """Python and package versions of the running environment (``"not installed"`` if absent)."""
    out = {"python": platform.python_version()}
    for pkg in _PACKAGES:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}); rewrite the run directory") from exc
    return data if isinstance(data, dict) else {"value": data}


def _versions(run_dir: Path, manifest: RunManifest | None) -> dict[str, Any]:
    """Versions recorded with the run (``versions.json``).

    A run directory with a manifest is only read: its versions are those it lists. A legacy
    directory (no manifest) gets ``versions.json`` written from the running environment the
    first time a report is built for it.
    """
    path = run_dir / VERSIONS_NAME
    if manifest is not None:
        if VERSIONS_NAME in manifest.paths and path.exists():
            return _read_json(path)
        return {"versions": "not recorded with this run"}
    if path.exists():
        return _read_json(path)
    versions = collect_versions()
    tmp = run_dir / f".{VERSIONS_NAME}.tmp"
    tmp.write_text(json.dumps(versions, indent=2), "utf-8")
    tmp.replace(path)
    return versions


def write_report(run_dir: str | Path, *, name: str | None = None,
                 verify: bool = True) -> Path:
    """Write ``<run_dir>/report.html``: config, metrics, figures, data summary, versions.

    The page is self-contained (inline CSS, figures as base64 PNG) and loads nothing from
    the network. It is built from the files the run directory's ``manifest.json`` lists
    (:mod:`coinfactor.core.rundir`) and from no other file: a stray ``*.parquet`` in the
    directory is not shown, and a listed file that is missing or changed since the run is
    named in a note. Figures are drawn from the listed tables (see :mod:`coinfactor.report.
    _figures`); a table that cannot be drawn becomes a note, never an error.

    A directory without a manifest (written before manifests existed, or by hand) is read
    the legacy way: every ``*.parquet`` in it is drawn, ``versions.json`` is written from the
    running environment if absent, and the page says so.

    Parameters
    ----------
    run_dir : str or Path
        A study run directory (``manifest.json``, ``config.toml``, ``metrics.json``,
        ``data_summary.json``, tables as ``*.parquet``).
    name : str, optional
        The run directory name shown in the page (default: ``run_dir``'s own name).
    verify : bool, default True
        Compare every listed file's SHA-256 with the manifest (reads every file: the
        exposures parts of a one-minute risk model are gigabytes). False checks presence
        and sizes only: for the run writer, which hashed the files into the manifest just
        before.

    Returns
    -------
    Path
        The report path.

    Raises
    ------
    ConfigError
        If ``run_dir`` is not a directory, holds none of the run files, or has an invalid
        ``manifest.json``.
    """
    d = Path(run_dir)
    if not d.is_dir():
        raise ConfigError(f"run directory {str(d)!r} does not exist; "
                          "pass a directory written by `coinfactor run` or a study")
    manifest = read_manifest(d)
    listed = set(manifest.paths) if manifest is not None else None

    def has(file: str) -> bool:
        return (d / file).exists() and (listed is None or file in listed)

    if not has("config.toml") and not has("metrics.json"):
        raise ConfigError(f"{d} holds neither config.toml nor metrics.json"
                          f"{' listed in its manifest' if listed is not None else ''}; "
                          "expected a study run directory")
    config_path = d / "config.toml"
    config_text = config_path.read_text("utf-8") if has("config.toml") else ""
    try:
        config = tomllib.loads(config_text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: not valid TOML: {exc}") from exc
    metrics = _read_json(d / "metrics.json") if has("metrics.json") else {}
    data_summary = _read_json(d / "data_summary.json") if has("data_summary.json") else {}
    versions = _versions(d, manifest)
    study = str(config.get("study", name or d.name))
    freq = data_summary.get("freq")
    source = data_summary.get("source") or config.get("data", {}).get("dataset", "")
    if manifest is None:
        log.info("report: %s has no %s; drawing every *.parquet in it (legacy run "
                 "directory)", d, MANIFEST_NAME)
        tables = None
        notes = [f"This directory has no {MANIFEST_NAME} (written before run manifests, or "
                 "by hand): every *.parquet file in it is shown."]
    else:
        tables = [p for p in manifest.paths if p.endswith(".parquet") and "/" not in p]
        notes = manifest.problems(d, hashes=verify)
    run_notes = "".join(f'<p class="note"><b>warning:</b> {esc(n)}</p>' for n in notes)
    sections: list[tuple[str, str]] = [
        ("Metrics", run_notes + _execution_notes(metrics) + kv_grid(metrics)),
    ]
    for title, blocks in run_dir_blocks(d, str(freq) if freq else None, tables=tables):
        sections.append((title, "".join(blocks)))
    sections += [
        ("Data", kv_table(data_summary) if data_summary else '<p class="note">no '
         'data_summary.json</p>'),
        ("Config", f"<pre>{esc(config_text) or 'no config.toml'}</pre>"),
        ("Versions", kv_table(versions)),
    ]
    html = page(f"coinfactor · {study}", f"{source} · run directory {name or d.name}", sections,
                lead=study_reading(study, metrics))
    out = d / REPORT_NAME
    tmp = d / f".{REPORT_NAME}.tmp"
    tmp.write_text(html, "utf-8")
    tmp.replace(out)
    return out


def _execution_notes(metrics: dict[str, object]) -> str:
    """Warnings a reader must see before the numbers: missing funding, a liquidation."""
    notes = []
    share = metrics.get("funding_missing_share")
    if isinstance(share, int | float) and share > 0:
        bars = metrics.get("funding_missing_bars", "?")
        notes.append(f"{share:.1%} of held position-bars ({bars}) had no funding data and "
                     "were booked as zero funding: the P&L leaves out their funding.")
    if metrics.get("liquidated"):
        notes.append("The book was liquidated (equity reached the maintenance margin or "
                     "zero); it is flat afterwards.")
    return "".join(f'<p class="note"><b>warning:</b> {esc(n)}</p>' for n in notes)
