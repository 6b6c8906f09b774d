"""Run directories: the format (``manifest.json``) and who may write where.

A run directory is what a study run leaves behind (``config.toml``, ``metrics.json``, one
Parquet file per table, ``report.html``, ...). It is marked by ``manifest.json``::

    {"coinfactor_run": 1, "coinfactor": "0.1.0", "study": "carry",
     "created": "2025-06-01T12:00:00.000000+00:00",
     "files": [{"path": "config.toml", "bytes": 412, "sha256": "9f2c..."}, ...]}

listing every file of the run with its size and SHA-256. The report and every other reader
read only the files the manifest lists (:func:`read_manifest`). ``report.html`` is *derived*:
rebuilt from the listed files (``coinfactor report DIR``), owned by the directory but not
listed (:data:`DERIVED_FILES`).

A target is checked before any work starts (:func:`check_out_dir`): an existing target is
replaced only if it is a run directory (a valid manifest, no file it does not own) and
``overwrite`` is asked for. An empty name, the current directory or one of its parents, a
file, a symbolic link, a non-empty directory that is not a run directory, or a directory
holding one of the run's inputs is refused with the reason. The atomic writer itself is
:func:`coinfactor.studies.write_run_dir`.

This module lives in the core layer so that the writers (studies, later sweeps and the book)
and the readers (the report) share one definition of the format.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from coinfactor.core.errors import ConfigError

__all__ = [
    "DERIVED_FILES",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "MARKER_NAME",
    "ManifestEntry",
    "RunManifest",
    "build_manifest",
    "check_out_dir",
    "file_sha256",
    "owned_unlisted",
    "read_manifest",
]

MANIFEST_NAME = "manifest.json"
"""The file that marks a run directory and lists its files."""

FORMAT_VERSION = 1
"""Value of the manifest's ``coinfactor_run`` key."""

DERIVED_FILES = frozenset({"report.html"})
"""Files a run directory owns without listing them (rebuilt from the listed files); their
temporary names ``.<name>.tmp`` are owned too (a report rebuild cut short)."""

MARKER_NAME = ".coinfactor-tmp"
"""Written first into every temporary directory of a write in progress: the writer's pid,
host and target (:func:`coinfactor.studies.write_run_dir`)."""

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ManifestEntry:
    """One file of a run directory.

    Attributes
    ----------
    path : str
        Relative POSIX path inside the run directory.
    bytes : int
        Size in bytes.
    sha256 : str
        Hex SHA-256 of the content.
    """

    path: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class RunManifest:
    """The parsed ``manifest.json`` of a run directory.

    Attributes
    ----------
    study : str
        Name of what wrote the run (a study name).
    coinfactor : str
        coinfactor version that wrote it.
    created : str
        ISO 8601 UTC time the run directory was completed.
    files : tuple of ManifestEntry
        Every file of the run, sorted by path.
    """

    study: str
    coinfactor: str
    created: str
    files: tuple[ManifestEntry, ...]

    @property
    def paths(self) -> tuple[str, ...]:
        """The listed relative paths, sorted."""
        return tuple(f.path for f in self.files)

    def to_json(self) -> str:
        """Return the manifest as JSON text."""
        return json.dumps({
            "coinfactor_run": FORMAT_VERSION, "coinfactor": self.coinfactor,
            "study": self.study, "created": self.created,
            "files": [{"path": f.path, "bytes": f.bytes, "sha256": f.sha256}
                      for f in self.files],
        }, indent=2) + "\n"

    def problems(self, run_dir: str | Path, *, hashes: bool = True) -> list[str]:
        """Return the listed files that are missing or changed since the run was written.

        Parameters
        ----------
        run_dir : str or Path
            The directory the manifest belongs to.
        hashes : bool, default True
            Also compare each file's SHA-256 (reading every file); False checks presence
            and sizes only (for a directory this process has just written and hashed).

        Returns
        -------
        list of str
            One sentence per missing file or file whose size or SHA-256 differs; empty when
            every listed file is as written.
        """
        d = Path(run_dir)
        out = []
        for f in self.files:
            p = d / f.path
            if not p.is_file():
                out.append(f"{f.path} is listed in {MANIFEST_NAME} but missing")
            elif p.stat().st_size != f.bytes:
                out.append(f"{f.path} changed since the run was written "
                           f"({p.stat().st_size} bytes, {f.bytes} listed)")
            elif hashes and file_sha256(p) != f.sha256:
                out.append(f"{f.path} changed since the run was written (SHA-256 differs)")
        return out


def _version() -> str:
    """Return the installed coinfactor version (read without importing the root package)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("coinfactor")
    except PackageNotFoundError:  # a source tree on sys.path, not installed
        return "unknown"


def file_sha256(path: str | Path, *, sync: bool = False) -> str:
    """Return the hex SHA-256 of a file; with ``sync``, flush it to disk too (``fsync``)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
        if sync:
            os.fsync(fh.fileno())
    return h.hexdigest()


def _bad_manifest(path: Path, why: str) -> ConfigError:
    return ConfigError(f"{path} is not a valid coinfactor run manifest: {why}; "
                       "rewrite the run directory (coinfactor run ... --overwrite) or move it "
                       "away")


def read_manifest(run_dir: str | Path) -> RunManifest | None:
    """Read and validate the manifest of a run directory.

    Parameters
    ----------
    run_dir : str or Path
        A directory.

    Returns
    -------
    RunManifest or None
        The manifest, or None if the directory has no ``manifest.json`` (not a run directory,
        or one written before manifests existed).

    Raises
    ------
    ConfigError
        If ``manifest.json`` exists but is not a valid manifest (not JSON, wrong format
        version, a listed path outside the directory, a malformed size or digest).
    """
    path = Path(run_dir) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad_manifest(path, f"not readable JSON ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("coinfactor_run") != FORMAT_VERSION:
        got = raw.get("coinfactor_run") if isinstance(raw, dict) else type(raw).__name__
        raise _bad_manifest(path, f"expected \"coinfactor_run\": {FORMAT_VERSION}, got {got!r}")
    files = raw.get("files")
    if not isinstance(files, list):
        raise _bad_manifest(path, f"expected \"files\" to be a list, got {files!r}")
    entries = []
    for item in files:
        ok = (isinstance(item, dict) and isinstance(item.get("path"), str)
              and isinstance(item.get("bytes"), int) and not isinstance(item["bytes"], bool)
              and item["bytes"] >= 0 and isinstance(item.get("sha256"), str)
              and _HEX64.match(item["sha256"]) is not None)
        if not ok:
            raise _bad_manifest(path, f"malformed file entry {item!r} (expected path, "
                                "bytes >= 0, sha256 of 64 hex digits)")
        rel = item["path"]
        parts = rel.split("/")
        if rel.startswith("/") or "\\" in rel or any(p in ("", ".", "..") for p in parts) \
                or rel == MANIFEST_NAME:
            raise _bad_manifest(path, f"file path {rel!r} is not a plain relative path "
                                "inside the run directory")
        entries.append(ManifestEntry(rel, item["bytes"], item["sha256"]))
    return RunManifest(study=str(raw.get("study", "")), coinfactor=str(raw.get("coinfactor", "")),
                       created=str(raw.get("created", "")),
                       files=tuple(sorted(entries, key=lambda e: e.path)))


def owned_unlisted(rel: str) -> bool:
    """Tell whether a run directory owns the file ``rel`` without listing it.

    The manifest itself, the derived files (``report.html``), their temporary names, and the
    marker of a write in progress.
    """
    name = rel.rsplit("/", 1)[-1]
    return rel in DERIVED_FILES or rel == MANIFEST_NAME or name == MARKER_NAME or any(
        rel == f".{d}.tmp" for d in DERIVED_FILES)


def _foreign_files(run_dir: Path, manifest: RunManifest) -> list[str]:
    listed = set(manifest.paths)
    out = []
    for p in sorted(run_dir.rglob("*")):
        if p.is_dir() and not p.is_symlink():
            continue
        rel = p.relative_to(run_dir).as_posix()
        if rel not in listed and not owned_unlisted(rel):
            out.append(rel)
    return out


def _is_within(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def _resolve(path: Path) -> Path:
    return Path(os.path.abspath(path)).resolve()


def check_out_dir(out: str | Path, *, overwrite: bool = False,
                  inputs: Iterable[str | Path] = ()) -> Path:
    """Check that a run directory may be written at ``out``; change nothing.

    Parameters
    ----------
    out : str or Path
        The target run directory.
    overwrite : bool
        Whether an existing run directory at ``out`` may be replaced.
    inputs : iterable of str or Path
        Files the run reads (config file, data files, store database): none may lie inside
        ``out``.

    Returns
    -------
    Path
        The absolute target path.

    Raises
    ------
    ConfigError
        With the reason, if ``out`` is empty, is the current directory or one of its parents,
        a file, a symbolic link, a directory that is neither empty nor a coinfactor run
        directory, a run directory holding files its manifest does not list, a run
        directory while ``overwrite`` is false, lies below a file, holds one of ``inputs``, or
        its nearest existing parent is not writable.
    """
    if str(out).strip() == "":
        raise ConfigError("--out is empty: expected the path of a run directory to write, "
                          "e.g. --out runs/carry")
    target = Path(os.path.abspath(Path(out).expanduser()))
    where = f"--out {str(out)!r}"
    if target.is_symlink():
        raise ConfigError(f"{where} is a symbolic link; expected a directory path: pass the "
                          "path it points to, or another path")
    real = target.resolve()
    cwd = Path.cwd().resolve()
    if _is_within(cwd, real):
        what = "the current directory" if real == cwd else "a parent of the current directory"
        raise ConfigError(f"{where} is {what}; a run directory is replaced as a whole, so "
                          "expected a new or run directory path, e.g. --out runs/carry")
    for item in inputs:
        src = _resolve(Path(item))
        if _is_within(src, real):
            raise ConfigError(f"{where} holds {src}, which this run reads; writing the run "
                              "there would replace its own input: choose another --out")
    ancestor = target.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"{where} lies below {ancestor}, which is a file, not a directory; "
                          "choose another --out")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(f"{where}: cannot create it, {ancestor} is not writable; choose "
                          "another --out")
    if not target.exists():
        return target
    if not target.is_dir():
        raise ConfigError(f"{where} is an existing file, not a directory; expected a run "
                          "directory path: remove the file or choose another --out")
    if not any(target.iterdir()):
        return target
    manifest = read_manifest(target)
    if manifest is None:
        raise ConfigError(f"{where} is a non-empty directory that is not a coinfactor run "
                          f"directory (no {MANIFEST_NAME}); coinfactor replaces only its own "
                          "run directories: choose a new --out, or empty the directory")
    foreign = _foreign_files(target, manifest)
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise ConfigError(f"{where} is a run directory that also holds files its "
                          f"{MANIFEST_NAME} does not list ({len(foreign)}: {shown}); "
                          "replacing it would delete them: move them out or choose another "
                          "--out")
    if not overwrite:
        raise ConfigError(f"{where} already holds a run ({manifest.study or 'unknown study'}, "
                          f"written {manifest.created or 'at an unknown time'}); pass "
                          "--overwrite (overwrite=True) to replace it, or choose another --out")
    return target


def build_manifest(directory: str | Path, study: str) -> RunManifest:
    """Return the manifest of every file in ``directory``, each flushed to disk first.

    Parameters
    ----------
    directory : str or Path
        A run directory being written (the owned files, see :data:`DERIVED_FILES`, are left
        out).
    study : str
        What wrote the run.

    Returns
    -------
    RunManifest
        Stamped with the running coinfactor version and the current UTC time.
    """
    tmp = Path(directory)
    entries = []
    for p in sorted(tmp.rglob("*")):
        if p.is_dir():
            continue
        rel = p.relative_to(tmp).as_posix()
        if owned_unlisted(rel):
            continue
        entries.append(ManifestEntry(rel, p.stat().st_size, file_sha256(p, sync=True)))
    created = datetime.now(UTC).isoformat(timespec="microseconds")
    return RunManifest(study=study, coinfactor=_version(), created=created,
                       files=tuple(entries))
