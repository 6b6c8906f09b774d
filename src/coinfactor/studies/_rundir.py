"""Writing a run directory atomically: all of it, or nothing changes at the target.

The files go to a temporary directory beside the target (same parent,
``.<name>.tmp-<pid>-<random>``, marked by :data:`~coinfactor.core.rundir.MARKER_NAME`), then
:func:`~coinfactor.core.rundir.build_manifest` lists them in ``manifest.json``, derived files
(``report.html``) are built, and the directory is renamed into place. A previous run at the
target is swapped out in one step (``renameat2`` with ``RENAME_EXCHANGE`` on Linux; elsewhere
it is renamed aside to ``.<name>.old-<pid>-<random>``, the new one renamed in, and the old
one put back if that fails) and deleted afterwards. A failure (disk full, an exception, a
kill) leaves the target exactly as it was; the temporary directories of dead writers are
removed, and a run set aside by a dead writer restored, by the next write to the same target
(:func:`clean_stale`).

The target is checked (:func:`coinfactor.core.rundir.check_out_dir`) before anything is
written, and again right before the rename.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import logging
import os
import re
import secrets
import shutil
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from coinfactor.core.errors import ConfigError, OutputError
from coinfactor.core.rundir import (
    MANIFEST_NAME,
    MARKER_NAME,
    build_manifest,
    check_out_dir,
    file_sha256,
    read_manifest,
)

__all__ = ["TABLE_NAME", "clean_stale", "prepare_out_dir", "write_run_dir"]

log = logging.getLogger(__name__)

TABLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
"""A table name, written as ``<name>.parquet`` (no path separators, no hidden files)."""

_TMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)-[0-9a-f]{8}$")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _writer(path: Path, pid_in_name: int) -> tuple[int, str]:
    """(pid, host) of the process that made a temporary directory."""
    host = socket.gethostname()
    try:
        info = json.loads((path / MARKER_NAME).read_text("utf-8"))
        return int(info["pid"]), str(info["host"])
    except (OSError, ValueError, KeyError, TypeError):
        return pid_in_name, host


def _ours(path: Path) -> bool:
    """Tell whether coinfactor made a temporary directory (a marker, a manifest, or empty)."""
    if not path.is_dir() or path.is_symlink():
        return False
    if (path / MARKER_NAME).is_file() or not any(path.iterdir()):
        return True
    try:
        return read_manifest(path) is not None
    except ConfigError:
        return False


def clean_stale(target: str | Path) -> list[Path]:
    """Remove the temporary directories that dead writers left beside ``target``.

    A sibling ``.<name>.tmp-<pid>-<random>`` (a write that did not finish) is removed when
    it is coinfactor's (a marker, a manifest, or empty) and its writer on this host is no
    longer running. A sibling ``.<name>.old-<pid>-<random>`` (a previous run set aside while
    being replaced) is removed if the target exists, and renamed back to the target if the
    replacement never arrived.

    Parameters
    ----------
    target : str or Path
        A run directory path.

    Returns
    -------
    list of Path
        The directories removed or restored.
    """
    t = Path(os.path.abspath(target))
    if not t.parent.is_dir():
        return []
    host = socket.gethostname()
    done = []
    for sib in sorted(t.parent.iterdir()):
        m = _TMP_RE.match(sib.name)
        if m is None or m["name"] != t.name or not _ours(sib):
            continue
        pid, whose = _writer(sib, int(m["pid"]))
        if whose != host or _pid_alive(pid):
            continue
        if m["kind"] == "old" and not t.exists() and not t.is_symlink():
            os.rename(sib, t)
            log.warning("restored %s from %s (a replacement that did not finish)", t, sib.name)
        else:
            shutil.rmtree(sib, ignore_errors=True)
            log.info("removed stale temporary directory %s", sib)
        done.append(sib)
    return done


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on a directory
        pass
    finally:
        os.close(fd)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where that is unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(tmp: Path, target: Path) -> Path | None:
    """Move ``tmp`` to ``target``; return the previous run's directory (now aside), if any."""
    if not target.exists():
        os.rename(tmp, target)  # fails if another writer created a non-empty target since
        return None
    if target.is_dir() and not any(target.iterdir()):
        os.replace(tmp, target)  # rename onto an empty directory
        return None
    if _exchange(tmp, target):
        return tmp  # tmp now holds the previous run
    aside = target.with_name(f".{target.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
    os.rename(target, aside)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(aside, target)  # put the previous run back
        raise
    return aside


def prepare_out_dir(out: str | Path, *, overwrite: bool = False,
                    inputs: Sequence[str | Path] = ()) -> Path:
    """Check ``out`` and clear what dead writers left beside it, before any work.

    :func:`~coinfactor.core.rundir.check_out_dir`, then :func:`clean_stale` (a previous run
    that a killed writer had set aside is put back, so the decision below sees it), then
    the check again.

    Parameters
    ----------
    out : str or Path
        The target run directory.
    overwrite : bool
        Whether a run directory at ``out`` may be replaced.
    inputs : sequence of str or Path
        Files the run reads; ``out`` may not hold any of them.

    Returns
    -------
    Path
        The absolute target.

    Raises
    ------
    ConfigError
        If ``out`` may not be written, with the reason.
    """
    check_out_dir(out, overwrite=overwrite, inputs=inputs)
    try:
        clean_stale(out)
    except OSError as exc:
        log.warning("could not clean the temporary directories beside %s: %s", out, exc)
    return check_out_dir(out, overwrite=overwrite, inputs=inputs)


def write_run_dir(
    out: str | Path,
    fill: Callable[[Path], None],
    *,
    study: str,
    overwrite: bool = False,
    inputs: Sequence[str | Path] = (),
    derive: Callable[[Path, Path], None] | None = None,
) -> Path:
    """Write a run directory atomically: all of it, or nothing changes at ``out``.

    Parameters
    ----------
    out : str or Path
        The target; checked by :func:`coinfactor.core.rundir.check_out_dir` (again, right
        before the rename). Missing parent directories are created (and removed again if the
        write fails).
    fill : callable
        ``fill(tmp)`` writes the run's files into the temporary directory ``tmp``.
    study : str
        Recorded in the manifest.
    overwrite : bool
        Whether a run directory at ``out`` may be replaced.
    inputs : sequence of str or Path
        Files the run read; ``out`` may not hold any of them.
    derive : callable, optional
        ``derive(tmp, target)`` writes derived files (``report.html``) into ``tmp`` after
        the manifest exists (``target`` is where ``tmp`` will be renamed to).

    Returns
    -------
    Path
        The absolute run directory path.

    Raises
    ------
    ConfigError
        If ``out`` may not be written (see :func:`coinfactor.core.rundir.check_out_dir`);
        nothing is written.
    OutputError
        If writing fails (disk full, permissions); ``out`` is left as it was and the
        temporary directory removed.
    """
    target = prepare_out_dir(out, overwrite=overwrite, inputs=inputs)
    created = _missing_parents(target)
    tmp: Path | None = None
    aside: Path | None = None
    done = False
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
        tmp.mkdir()
        (tmp / MARKER_NAME).write_text(json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(), "target": str(target)}), "utf-8")
        fill(tmp)
        manifest = build_manifest(tmp, study)
        (tmp / MANIFEST_NAME).write_text(manifest.to_json(), "utf-8")
        if derive is not None:
            derive(tmp, target)
        file_sha256(tmp / MANIFEST_NAME, sync=True)
        check_out_dir(out, overwrite=overwrite, inputs=inputs)  # unchanged meanwhile?
        (tmp / MARKER_NAME).unlink()
        _fsync_dir(tmp)
        aside = _swap_in(tmp, target)
        tmp = None
        done = True
        _fsync_dir(target.parent)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) and not done:
            why = "another run was written there meanwhile; run again"
        else:
            why = "free disk space or fix permissions, then run again"
        raise OutputError(f"could not write the run directory {target}: {exc}; nothing was "
                          f"changed there ({why})") from exc
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if not done:
            for parent in created:  # the directories this write made, deepest first
                with contextlib.suppress(OSError):
                    parent.rmdir()
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
        if aside.exists():
            log.warning("could not delete the previous run at %s; it is removed by the next "
                        "write to %s", aside, target)
        log.info("replaced the previous run at %s", target)
    log.info("wrote run directory %s (%d files)", target, len(manifest.files))
    return target


def _missing_parents(target: Path) -> list[Path]:
    """Return the parents of ``target`` that do not exist yet, deepest first."""
    out = []
    parent = target.parent
    while not parent.exists():
        out.append(parent)
        parent = parent.parent
    return out
