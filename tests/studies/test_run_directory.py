"""Run directories are atomic and owned (issue 16).

A run is written to a temporary directory beside the target and renamed into place; the
directory is marked by ``manifest.json``; an existing target is replaced only when it is a
run directory and ``overwrite`` is asked for; anything else is refused before work starts;
a write that fails or is killed midway leaves the target as it was; reports read only the
listed files. Every test states the input, the error or result, and that nothing was lost.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

import coinfactor
from coinfactor.errors import ConfigError
from coinfactor.report import write_report
from coinfactor.studies import StudyResult, run_config_file
from support import ROOT


def _result(study: str, tables: dict[str, pl.DataFrame]) -> StudyResult:
    return StudyResult(study=study, config={"study": study, "params": {}},
                       metrics={"annual_return": 0.1}, tables=tables,
                       data_summary={"source": "test"})


def _table(value: float) -> pl.DataFrame:
    return pl.DataFrame({"x": [value, value + 1.0], "label": ["a", "b"]})


RUN_A = {"alpha": _table(1.0), "shared": _table(2.0)}
RUN_B = {"beta": _table(3.0), "shared": _table(4.0)}


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (hidden ones too) with its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _siblings(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}."))


# --- the manifest --------------------------------------------------------------------------

def test_write_marks_the_directory_with_a_manifest_of_every_file(tmp_path: Path) -> None:
    """Today: no manifest.json; the directory is not recognisable as a run directory."""
    out = _result("a", RUN_A).write(tmp_path / "D")
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert manifest["coinfactor_run"] == 1 and manifest["study"] == "a"
    assert manifest["coinfactor"] == "0.1.0" and manifest["created"].endswith("+00:00")
    listed = {f["path"]: f for f in manifest["files"]}
    assert sorted(listed) == ["alpha.parquet", "config.toml", "data_summary.json",
                              "metrics.json", "shared.parquet", "versions.json"]
    for name, entry in listed.items():
        data = (out / name).read_bytes()
        assert entry["bytes"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    # the report is derived from the listed files: owned, not listed; nothing else is there
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*listed, "manifest.json", "report.html"])
    assert _siblings(out) == []  # no temporary directory left beside it


# --- a second run -----------------------------------------------------------------------------

def test_second_run_is_refused_without_overwrite_and_changes_nothing(tmp_path: Path) -> None:
    """Today: the second write silently overwrites ``shared.parquet`` and keeps ``alpha``."""
    d = _result("a", RUN_A).write(tmp_path / "D")
    before = _snapshot(d)
    with pytest.raises(ConfigError, match=r"already holds a run \(a, written .*pass "
                       r"--overwrite"):
        _result("b", RUN_B).write(d)
    assert _snapshot(d) == before
    assert _siblings(d) == []


def test_overwrite_replaces_the_run_as_a_whole(tmp_path: Path) -> None:
    """Today: A's ``alpha.parquet`` stays and the report shows A's and B's tables mixed."""
    d = _result("a", RUN_A).write(tmp_path / "D")
    _result("b", RUN_B).write(d, overwrite=True)
    names = sorted(p.name for p in d.iterdir())
    assert names == ["beta.parquet", "config.toml", "data_summary.json", "manifest.json",
                     "metrics.json", "report.html", "shared.parquet", "versions.json"]
    assert pl.read_parquet(d / "shared.parquet").equals(RUN_B["shared"])
    assert json.loads((d / "manifest.json").read_text())["study"] == "b"
    html = (d / "report.html").read_text("utf-8")
    assert "beta" in html and "alpha" not in html
    assert _siblings(d) == []


def test_a_new_path_and_an_empty_directory_are_written(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "empty", tmp_path / "new" / "deeper"):
        out = _result("a", RUN_A).write(target)
        assert (out / "manifest.json").is_file() and (out / "alpha.parquet").is_file()


@pytest.mark.parametrize("name", ["../escape", "sub/table", ".hidden", ""])
def test_a_table_name_that_is_not_a_file_name_is_refused(tmp_path: Path, name: str) -> None:
    """Today ``"../escape"`` writes ``escape.parquet`` beside the run directory."""
    with pytest.raises(ConfigError, match=r"cannot be file names"):
        _result("a", {name: _table(1.0)}).write(tmp_path / "D")
    assert list(tmp_path.iterdir()) == []


# --- refused targets ------------------------------------------------------------------------

def _not_a_run_dir(tmp: Path) -> Path:
    d = tmp / "mine"
    d.mkdir()
    (d / "notes.txt").write_text("my notes")
    (d / "nav.parquet").write_bytes(b"my own table")
    return d


def _a_file(tmp: Path) -> Path:
    f = tmp / "results.csv"
    f.write_text("a,b\n1,2\n")
    return f


def _below_a_file(tmp: Path) -> Path:
    return _a_file(tmp) / "run"


def _run_dir_with_a_foreign_file(tmp: Path) -> Path:
    d = _result("a", RUN_A).write(tmp / "D")
    (d / "analysis.ipynb").write_text("{}")
    return d


def _run_dir_with_a_bad_manifest(tmp: Path) -> Path:
    d = _result("a", RUN_A).write(tmp / "D")
    (d / "manifest.json").write_text('{"coinfactor_run": 99, "files": []}')
    return d


def _a_symlink(tmp: Path) -> Path:
    real = _result("a", RUN_A).write(tmp / "real")
    link = tmp / "link"
    link.symlink_to(real, target_is_directory=True)
    return link


@pytest.mark.parametrize(("make", "message"), [
    (_not_a_run_dir, "non-empty directory that is not a coinfactor run directory"),
    (_a_file, "is an existing file, not a directory"),
    (_below_a_file, "lies below .*results.csv, which is a file"),
    (_run_dir_with_a_foreign_file, r"does not list \(1: analysis.ipynb\)"),
    (_run_dir_with_a_bad_manifest, 'not a valid coinfactor run manifest: expected '
     '"coinfactor_run": 1, got 99'),
    (_a_symlink, "is a symbolic link"),
], ids=["not_a_run_dir", "file", "below_a_file", "foreign_file", "bad_manifest", "symlink"])
def test_targets_coinfactor_does_not_own_are_refused_even_with_overwrite(
        tmp_path: Path, make: object, message: str) -> None:
    """Today: the write goes into (or fails halfway through) whatever is at the path."""
    target = make(tmp_path)  # type: ignore[operator]
    before = _snapshot(tmp_path)
    with pytest.raises(ConfigError, match=message):
        _result("b", RUN_B).write(target)
    assert _snapshot(tmp_path) == before
    with pytest.raises(ConfigError, match=message):
        _result("b", RUN_B).write(target, overwrite=True)
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize(("out", "message"), [
    ("", "--out is empty"),
    (".", "is the current directory"),
    ("..", "is a parent of the current directory"),
], ids=["empty", "cwd", "parent"])
def test_the_current_directory_is_never_a_run_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: str, message: str) -> None:
    """Today: ``--out ""`` writes config.toml, metrics.json, ... into the working directory."""
    cwd = tmp_path / "work"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    before = _snapshot(tmp_path)
    with pytest.raises(ConfigError, match=message):
        _result("a", RUN_A).write(out)
    assert _snapshot(tmp_path) == before


def _panel_file(path: Path) -> None:
    from coinfactor import datasets

    datasets.load("hyperliquid-perp-1d").filter(
        pl.col("symbol").is_in(["BTC", "ETH", "SOL"])).write_parquet(path)


def test_a_run_directory_holding_the_runs_own_input_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``[data] parquet = "D/panel.parquet"`` where D is a previous run listing that file:
    refused (even with --overwrite) before any data is loaded, D unchanged. Today: the
    input is read and then replaced by the run's files."""
    import coinfactor.studies as studies

    d = _result("a", {"panel": _table(1.0)}).write(tmp_path / "D")
    _panel_file(d / "panel.parquet")  # the user replaced a listed file by their panel
    manifest = json.loads((d / "manifest.json").read_text())
    cfg = tmp_path / "run.toml"
    cfg.write_text('study = "carry"\n[data]\nparquet = "D/panel.parquet"\n')
    monkeypatch.setattr(studies, "load_study_data", _must_not_load)
    before = _snapshot(tmp_path)
    with pytest.raises(ConfigError, match=r"holds .*panel.parquet, which this run reads"):
        run_config_file(cfg, d, overwrite=True)
    assert _snapshot(tmp_path) == before
    assert json.loads((d / "manifest.json").read_text()) == manifest


def test_the_issue_case_input_inside_out_is_refused_before_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 16: ``[data] parquet = "nav.parquet"`` inside DIR, ``--out DIR``: today the
    study runs and its NAV table replaces the input."""
    import coinfactor.studies as studies

    d = tmp_path / "DIR"
    d.mkdir()
    _panel_file(d / "nav.parquet")
    (d / "carry.toml").write_text('study = "carry"\n[data]\nparquet = "nav.parquet"\n')
    monkeypatch.setattr(studies, "load_study_data", _must_not_load)
    before = _snapshot(tmp_path)
    with pytest.raises(ConfigError, match="not a coinfactor run directory"):
        run_config_file(d / "carry.toml", d)
    assert _snapshot(tmp_path) == before
    with pytest.raises(ConfigError, match="not a coinfactor run directory"):
        run_config_file(d / "carry.toml", d, overwrite=True)
    assert _snapshot(tmp_path) == before


def _must_not_load(*_args: object, **_kwargs: object) -> object:
    raise AssertionError("data loaded although --out was refused")


# --- failures midway ------------------------------------------------------------------------

def test_disk_full_midway_leaves_the_previous_run_intact(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A table write fails with ENOSPC after half its bytes: an OutputError saying nothing
    changed, the previous run byte for byte, no temporary file or directory. Today: half
    new, half old files and a ``.shared.parquet.tmp``."""
    d = _result("a", RUN_A).write(tmp_path / "D")
    before = _snapshot(d)
    real = pl.DataFrame.write_parquet
    calls: list[int] = []
    from coinfactor.errors import OutputError

    def full_disk(self: pl.DataFrame, file: object, *args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 2:
            Path(str(file)).write_bytes(b"PAR1 half a table")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))
        real(self, file, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full_disk)
    with pytest.raises(OutputError, match=r"No space left on device.*nothing was changed"):
        _result("b", RUN_B).write(d, overwrite=True)
    assert len(calls) == 2
    assert _snapshot(d) == before
    assert _siblings(d) == []
    assert isinstance(OutputError("x"), OSError)  # callers catching OSError still catch it


def test_a_failed_first_write_leaves_no_directory_behind(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Disk full while writing to a new nested path: neither the run directory nor the
    parent directories the write created remain."""
    from coinfactor.errors import OutputError

    def full_disk(self: pl.DataFrame, file: object, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full_disk)
    with pytest.raises(OutputError, match=r"nothing was changed there \(free disk space"):
        _result("a", RUN_A).write(tmp_path / "new" / "deeper" / "D")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_swap_puts_the_previous_run_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an atomic exchange (non-Linux), the old run is renamed aside and the new one
    renamed in; if that second rename fails the old run is restored."""
    from coinfactor.errors import OutputError
    from coinfactor.studies import _rundir as rundir

    d = _result("a", RUN_A).write(tmp_path / "D")
    before = _snapshot(d)
    monkeypatch.setattr(rundir, "_exchange", lambda _a, _b: False)
    real_rename = os.rename

    def rename(src: object, dst: object) -> None:
        if Path(str(dst)) == d and ".tmp-" in Path(str(src)).name:
            raise OSError(errno.EIO, "I/O error", str(dst))
        real_rename(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(rundir.os, "rename", rename)
    with pytest.raises(OutputError, match="I/O error"):
        _result("b", RUN_B).write(d, overwrite=True)
    assert _snapshot(d) == before
    assert _siblings(d) == []
    monkeypatch.setattr(rundir.os, "rename", real_rename)
    _result("b", RUN_B).write(d, overwrite=True)  # the fallback path itself works
    assert (d / "beta.parquet").exists() and not (d / "alpha.parquet").exists()
    assert _siblings(d) == []


_KILLED_WRITER = """
import inspect, sys, time
from pathlib import Path
import polars as pl
from coinfactor.studies import StudyResult

ready = Path(sys.argv[2])
real = pl.DataFrame.write_parquet
def slow(self, file, *args, **kwargs):
    real(self, file, *args, **kwargs)
    ready.write_text("writing")      # one table is on disk: the parent kills us now
    time.sleep(60)
pl.DataFrame.write_parquet = slow
tables = {"beta": pl.DataFrame({"x": [3.0]}), "shared": pl.DataFrame({"x": [4.0]})}
# (written so that it also runs on the code before issue 16, which had no overwrite=)
new = "overwrite" in inspect.signature(StudyResult.write).parameters
kwargs = {"overwrite": True} if new else {}
StudyResult(study="b", config={"study": "b"}, metrics={}, tables=tables).write(
    sys.argv[1], **kwargs)
"""


def test_a_writer_killed_midway_leaves_the_run_and_the_next_write_cleans_up(
        tmp_path: Path) -> None:
    """SIGKILL while the second table is being written: D is the first run byte for byte;
    the dead writer's temporary directory is removed by the next write. Today: D holds a
    mix of both runs."""
    d = _result("a", RUN_A).write(tmp_path / "D")
    before = _snapshot(d)
    ready = tmp_path / "ready"
    src = Path(coinfactor.__file__).resolve().parents[1]  # the coinfactor under test
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(ROOT / "tests")])}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(d), str(ready)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the writer never started writing"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert _snapshot(d) == before
    leftover = _siblings(d)
    assert len(leftover) == 1 and leftover[0].startswith(".D.tmp-")  # the dead writer's
    assert (d.parent / leftover[0] / "beta.parquet").exists()
    _result("c", {"gamma": _table(5.0)}).write(d, overwrite=True)
    assert _siblings(d) == []
    assert "gamma.parquet" in os.listdir(d) and "alpha.parquet" not in os.listdir(d)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_cleanup_removes_only_dead_coinfactor_temp_dirs(tmp_path: Path) -> None:
    from coinfactor.studies import _rundir as rundir

    target = tmp_path / "D"
    dead, live = _dead_pid(), os.getpid()
    stale = tmp_path / f".D.tmp-{dead}-0123abcd"
    stale.mkdir()
    (stale / rundir.MARKER_NAME).write_text(json.dumps(
        {"pid": dead, "host": rundir.socket.gethostname(), "target": str(target)}))
    (stale / "nav.parquet").write_bytes(b"partial")
    running = tmp_path / f".D.tmp-{live}-0123abcd"  # a writer still at work
    running.mkdir()
    (running / rundir.MARKER_NAME).write_text(json.dumps(
        {"pid": live, "host": rundir.socket.gethostname(), "target": str(target)}))
    foreign = tmp_path / f".D.tmp-{dead}-89abcdef"  # same pattern, not ours: user files
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    other = tmp_path / f".E.tmp-{dead}-0123abcd"  # another target's
    other.mkdir()
    assert rundir.clean_stale(target) == [stale]
    assert not stale.exists() and running.exists() and foreign.exists() and other.exists()


def test_a_run_set_aside_by_a_dead_writer_is_restored(tmp_path: Path) -> None:
    """Killed between renaming the old run aside and renaming the new one in (the
    non-Linux path): the next write to the target restores the old run before it decides,
    so without ``overwrite`` it is refused before any file is written."""
    from coinfactor.studies import _rundir as rundir

    d = _result("a", RUN_A).write(tmp_path / "D")
    before = _snapshot(d)
    aside = tmp_path / f".D.old-{_dead_pid()}-0123abcd"
    os.rename(d, aside)
    filled: list[Path] = []
    with pytest.raises(ConfigError, match="already holds a run"):
        rundir.write_run_dir(d, filled.append, study="b")
    assert filled == []
    assert _snapshot(d) == before and _siblings(d) == []
    os.rename(d, aside)
    assert rundir.clean_stale(d) == [aside]
    assert _snapshot(d) == before and _siblings(d) == []


def test_the_demo_writes_its_run_directories_with_the_same_writer(tmp_path: Path) -> None:
    """``run_demo`` replaces each study's previous run directory as a whole (today: the
    previous run's tables stay beside the new ones and no manifest is written)."""
    from coinfactor import studies
    from coinfactor.studies import run_demo

    out = tmp_path / "demo"
    _result("tiny", {"old_table": _table(1.0)}).write(out / "tiny")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(studies, "STUDIES", {"tiny": "support.tiny_study"})
        result = run_demo(out)
    assert result.ok, result.summary()
    run = out / "tiny"
    listed = [f["path"] for f in json.loads((run / "manifest.json").read_text())["files"]]
    assert "nav.parquet" in listed and not (run / "old_table.parquet").exists()
    assert sorted(p.name for p in run.iterdir()) == sorted(
        [*listed, "manifest.json", "report.html"])
    assert _siblings(run) == []


# --- reports read only the listed files --------------------------------------------------------

def test_report_reads_only_the_files_the_manifest_lists(tmp_path: Path) -> None:
    """A stray NAV-like table dropped into a run directory is not drawn, and a listed
    table edited after the run is named. Today: every ``*.parquet`` is drawn."""
    d = _result("a", RUN_A).write(tmp_path / "D")
    pl.DataFrame({"ts": [1, 2], "nav": [1.0, 2.0], "ret": [0.0, 1.0]}).write_parquet(
        d / "stray_carry_nav.parquet")
    _table(9.0).write_parquet(d / "shared.parquet")
    html = write_report(d).read_text("utf-8")
    assert "stray_carry_nav" not in html and "alpha" in html
    assert "shared.parquet changed since the run was written" in html
    (d / "alpha.parquet").unlink()
    html = write_report(d).read_text("utf-8")
    assert "alpha.parquet is listed in manifest.json but missing" in html


def test_report_without_verify_checks_presence_and_sizes_but_reads_no_file(
        tmp_path: Path) -> None:
    """``verify=False`` (the run writer's own report, just after hashing): a listed file
    edited in place at the same size goes unnoticed, a resized or missing one is named."""
    d = _result("a", RUN_A).write(tmp_path / "D")
    raw = bytearray((d / "shared.parquet").read_bytes())
    raw[-9] ^= 0xFF                    # inside the footer length: same size, other bytes
    (d / "shared.parquet").write_bytes(bytes(raw))
    assert "changed since" not in write_report(d, verify=False).read_text("utf-8")
    assert "SHA-256 differs" in write_report(d).read_text("utf-8")
    (d / "alpha.parquet").write_bytes(b"short")
    assert ("alpha.parquet changed since the run was written"
            in write_report(d, verify=False).read_text("utf-8"))


def test_report_of_a_directory_without_manifest_says_it_is_legacy(tmp_path: Path) -> None:
    """The documented fallback: every ``*.parquet`` is drawn, and the page says why."""
    d = tmp_path / "old"
    d.mkdir()
    (d / "metrics.json").write_text('{"annual_return": 0.1}')
    _table(1.0).write_parquet(d / "alpha.parquet")
    html = write_report(d).read_text("utf-8")
    assert "has no manifest.json" in html and "alpha" in html


def test_report_of_an_invalid_manifest_is_a_clear_error(tmp_path: Path) -> None:
    d = _result("a", RUN_A).write(tmp_path / "D")
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"manifest.json is not a valid coinfactor run "
                       r"manifest: not readable JSON"):
        write_report(d)
    (d / "manifest.json").write_text(json.dumps(
        {"coinfactor_run": 1, "files": [{"path": "../x", "bytes": 1, "sha256": "0" * 64}]}))
    with pytest.raises(ConfigError, match=r"'\.\./x' is not a plain relative path"):
        write_report(d)
