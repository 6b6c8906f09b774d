"""Build ``report.html`` for a run directory from its files alone."""

from __future__ import annotations

import importlib.metadata
import json
import platform
import tomllib
from pathlib import Path
from typing import Any

from coinfactor.core.errors import ConfigError
from coinfactor.report._figures import run_dir_blocks
from coinfactor.report._html import esc, kv_grid, kv_table, page

__all__ = ["collect_versions", "write_report"]

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


def _versions(run_dir: Path) -> dict[str, Any]:
    """Versions recorded with the run (``versions.json``), written now if absent."""
    path = run_dir / VERSIONS_NAME
    if path.exists():
        return _read_json(path)
    versions = collect_versions()
    tmp = run_dir / f".{VERSIONS_NAME}.tmp"
    tmp.write_text(json.dumps(versions, indent=2), "utf-8")
    tmp.replace(path)
    return versions


def write_report(run_dir: str | Path) -> Path:
    """Write ``<run_dir>/report.html``: config, metrics, figures, data summary, versions.

    The page is self-contained (inline CSS, figures as base64 PNG) and loads nothing from
    the network. Figures are drawn from the files present (see :mod:`coinfactor.report.
    _figures`); a table that cannot be drawn becomes a note, never an error. The versions
    are those recorded in ``versions.json``, which is written from the running environment
    the first time a report is built for the directory (normally right after the run).

    Parameters
    ----------
    run_dir : str or Path
        A study run directory (``config.toml``, ``metrics.json``, ``data_summary.json``,
        ``*.parquet``).

    Returns
    -------
    Path
        The report path.

    Raises
    ------
    ConfigError
        If ``run_dir`` is not a directory or holds none of the run files.
    """
    d = Path(run_dir)
    if not d.is_dir():
        raise ConfigError(f"run directory {str(d)!r} does not exist; "
                          "pass a directory written by `coinfactor run` or a study")
    config_path = d / "config.toml"
    if not config_path.exists() and not (d / "metrics.json").exists():
        raise ConfigError(f"{d} holds neither config.toml nor metrics.json; "
                          "expected a study run directory")
    config_text = config_path.read_text("utf-8") if config_path.exists() else ""
    try:
        config = tomllib.loads(config_text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: not valid TOML: {exc}") from exc
    metrics = _read_json(d / "metrics.json")
    data_summary = _read_json(d / "data_summary.json")
    versions = _versions(d)
    study = str(config.get("study", d.name))
    freq = data_summary.get("freq")
    source = data_summary.get("source") or config.get("data", {}).get("dataset", "")
    sections: list[tuple[str, str]] = [
        ("Metrics", _execution_notes(metrics) + kv_grid(metrics)),
    ]
    for title, blocks in run_dir_blocks(d, str(freq) if freq else None):
        sections.append((title, "".join(blocks)))
    sections += [
        ("Data", kv_table(data_summary) if data_summary else '<p class="note">no '
         'data_summary.json</p>'),
        ("Config", f"<pre>{esc(config_text) or 'no config.toml'}</pre>"),
        ("Versions", kv_table(versions)),
    ]
    html = page(f"coinfactor · {study}", f"{source} · run directory {d.name}", sections)
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
