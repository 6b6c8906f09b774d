"""The sweep directory: a coinfactor run directory (manifest study ``"sweep"``) with a live ledger.

It is created whole (``sweep.toml`` and an empty ``ledger.duckdb``) by the atomic run-directory
writer (:func:`coinfactor.studies.write_run_dir`). While the sweep runs, ``ledger.duckdb`` is
written in place, one transaction per trial, so a killed sweep keeps every finished trial;
at the end the whole directory (ledger, tables, statistics, report) is written again
atomically. A directory that is not a sweep directory (a study run, or anything else) is never
replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import tomli_w

from coinfactor.core.errors import ConfigError
from coinfactor.core.rundir import read_manifest
from coinfactor.studies import write_run_dir
from coinfactor.sweeps._ledger import LEDGER_NAME

SWEEP_KIND = "sweep"
"""The manifest ``study`` of a sweep directory."""


def is_sweep_dir(path: str | Path) -> bool:
    """Whether ``path`` is a sweep directory (its manifest's study is :data:`SWEEP_KIND`).

    Parameters
    ----------
    path : str or Path
        A directory (one that does not exist, or has no manifest, is not a sweep directory).

    Returns
    -------
    bool

    Raises
    ------
    ConfigError
        If the directory has a ``manifest.json`` that is not a valid manifest.
    """
    p = Path(path)
    if not p.is_dir():
        return False
    manifest = read_manifest(p)
    return manifest is not None and manifest.study == SWEEP_KIND


def _init_fill(raw: dict, make_ledger: Callable[[Path], None]) -> Callable[[Path], None]:
    def fill(tmp: Path) -> None:
        (tmp / "sweep.toml").write_bytes(tomli_w.dumps(raw).encode())
        make_ledger(tmp / LEDGER_NAME)
    return fill


def open_sweep_dir(out: str | Path, raw: dict, *, resume: bool, overwrite: bool,
                   inputs: Sequence[str | Path], make_ledger: Callable[[Path], None]) -> Path:
    """Check ``out`` and create the sweep directory if new; return its path.

    Parameters
    ----------
    out : str or Path
        The sweep directory.
    raw : dict
        The sweep's config (written as ``sweep.toml``).
    resume : bool
        ``out`` must already be a sweep directory.
    overwrite : bool
        Start afresh, replacing a sweep directory at ``out``.
    inputs : sequence of paths
        Files the sweep reads (not allowed inside ``out``).
    make_ledger : callable
        ``make_ledger(path)`` creates an empty ledger file.

    Returns
    -------
    Path

    Raises
    ------
    ConfigError
        If ``out`` is not a sweep directory (and not new or empty), or ``resume`` finds none.
    """
    target = Path(out).expanduser().absolute()
    exists = target.is_dir() and any(target.iterdir())
    if exists:
        manifest = read_manifest(target)
        if manifest is None or manifest.study != SWEEP_KIND:
            what = ("a run directory of the study " + repr(manifest.study)) if manifest \
                else "a non-empty directory that is not a coinfactor sweep directory"
            raise ConfigError(f"--out {str(out)!r} is {what}; a sweep writes only to a new "
                              "path, an empty directory or its own sweep directory: choose "
                              "another --out")
        if not (target / LEDGER_NAME).is_file():
            raise ConfigError(f"--out {str(out)!r}: the sweep directory has no "
                              f"{LEDGER_NAME}; choose another --out")
        if not overwrite:
            return target  # continue it: finished trials are not recomputed
    elif resume:
        raise ConfigError(f"--resume: {str(out)!r} holds no sweep to resume; run without "
                          "--resume to start it")
    if exists:  # overwrite: replace the sweep directory with a fresh one
        write_run_dir(target, _init_fill(raw, make_ledger), study=SWEEP_KIND, overwrite=True,
                      inputs=inputs)
    else:
        write_run_dir(target, _init_fill(raw, make_ledger), study=SWEEP_KIND, inputs=inputs)
    return target


def finish_sweep_dir(target: Path, fill: Callable[[Path], None], *,
                     inputs: Sequence[str | Path],
                     derive: Callable[[Path, Path], None] | None) -> Path:
    """Write the finished sweep directory whole, replacing the working one atomically."""
    return write_run_dir(target, fill, study=SWEEP_KIND, overwrite=True, inputs=inputs,
                         derive=derive)
