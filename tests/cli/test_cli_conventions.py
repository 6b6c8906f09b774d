"""CLI conventions a user expects (issue 16): ``-h``, ``--version``, ``-v``/``-q``, a progress
bar for ``coinfactor run`` on a terminal and none when piped, ``--out`` checked first."""

from __future__ import annotations

import io
import logging
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import coinfactor
from coinfactor import studies
from coinfactor.cli import app
from coinfactor.errors import ConfigError
from support import ROOT

TINY = 'study = "tiny"\n[data]\ndataset = "hyperliquid-perp-1d"\nsymbols = ["BTC", "ETH"]\n' \
       'start = "2025-01-01"\n'
"""A config of the test-only study (registered by the ``tiny`` fixture)."""


@pytest.fixture(name="tiny")
def tiny_fixture(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Register ``support.tiny_study`` as study "tiny"; return its config file."""
    monkeypatch.setattr(studies, "STUDIES", {**studies.STUDIES, "tiny": "support.tiny_study"})
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY, "utf-8")
    return cfg


@pytest.mark.parametrize("args", [["-h"], ["run", "-h"], ["report", "-h"], ["store", "-h"],
                                  ["store", "info", "-h"], ["demo", "-h"]],
                         ids=["app", "run", "report", "store", "store_info", "demo"])
def test_short_help_option(args: list[str]) -> None:
    """Today: ``No such option: -h`` (exit 2)."""
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "Usage:" in res.output and "--help" in res.output and "-h" in res.output


def test_version_option() -> None:
    """Today: ``No such option: --version``."""
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == f"coinfactor {coinfactor.__version__}"


@pytest.mark.parametrize(("flags", "level"), [
    ([], logging.WARNING), (["-v"], logging.INFO), (["--verbose", "--verbose"], logging.DEBUG),
    (["-vv"], logging.DEBUG), (["-q"], logging.ERROR), (["--quiet"], logging.ERROR),
], ids=["default", "v", "verbose_verbose", "vv", "q", "quiet"])
def test_verbose_and_quiet_set_the_log_level(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, flags: list[str], level: int) -> None:
    """The ``coinfactor`` logger level while a command runs; restored afterwards (a program
    that embeds the CLI keeps its own set-up). Today: ``No such option: -v``."""
    seen: list[int] = []

    def spy(*_args: object, **_kwargs: object) -> object:
        seen.append(logging.getLogger("coinfactor.studies").getEffectiveLevel())
        raise ConfigError("stopped by the test")

    monkeypatch.setattr(studies, "run_config_file", spy)
    before = logging.getLogger("coinfactor").level
    res = CliRunner().invoke(app, [*flags, "run", "x.toml", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "stopped by the test" in res.output
    assert seen == [level]
    assert logging.getLogger("coinfactor").level == before
    assert not [h for h in logging.getLogger("coinfactor").handlers
                if h.get_name() == "coinfactor-cli"]


def test_verbose_and_quiet_together_is_an_error() -> None:
    res = CliRunner().invoke(app, ["-v", "-q", "datasets"])
    assert res.exit_code == 2
    assert "contradict each other" in res.output


def test_verbose_prints_the_library_log(tiny: Path, tmp_path: Path) -> None:
    """``-v`` shows the INFO records of the library (data loaded, run directory written);
    by default they stay hidden."""
    res = CliRunner().invoke(app, ["run", str(tiny), "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    assert "wrote run directory" not in res.output
    res = CliRunner().invoke(app, ["-v", "run", str(tiny), "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert "loaded 412 rows of dataset hyperliquid-perp-1d" in res.stderr
    assert "wrote run directory" in res.stderr and "(12 files)" in res.stderr


# --- progress ------------------------------------------------------------------------------------

def test_run_reports_progress_per_stage(tiny: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Stages load, run (fractions from a study taking ``progress=``), write, in order; a
    study without ``progress=`` runs too and reports 0 and 1. Today: no ``progress=``."""
    seen: list[tuple[str, float]] = []
    studies.run_config_file(tiny, tmp_path / "a", progress=lambda s, f: seen.append((s, f)))
    stages = [s for s, _ in seen]
    assert stages == sorted(stages, key=studies.STAGES.index)  # in order
    assert set(stages) == set(studies.STAGES)
    run = [f for s, f in seen if s == "run"]
    assert run[0] == 0.0 and run[-1] == 1.0 and any(0.0 < f < 1.0 for f in run)

    from support import tiny_study

    real = tiny_study.run
    monkeypatch.setattr(tiny_study, "run", lambda config, panel: real(config, panel))
    seen.clear()
    studies.run_config_file(tiny, tmp_path / "b", progress=lambda s, f: seen.append((s, f)))
    assert [f for s, f in seen if s == "run"] == [0.0, 1.0]


def _bars_console(monkeypatch: pytest.MonkeyPatch, *, terminal: bool) -> io.StringIO:
    from coinfactor.cli import _app

    buf = io.StringIO()
    monkeypatch.setattr(_app, "err_console", Console(file=buf, force_terminal=terminal,
                                                     width=100))
    return buf


def test_run_draws_a_bar_per_stage_on_a_terminal(
        tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Today: ``coinfactor run`` shows no progress at all."""
    buf = _bars_console(monkeypatch, terminal=True)
    res = CliRunner().invoke(app, ["run", str(tiny), "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    drawn = buf.getvalue()
    for label in ("load data", "run study", "write run dir"):
        assert label in drawn
    assert "100%" in drawn


def test_run_draws_no_bar_when_not_a_terminal(
        tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    buf = _bars_console(monkeypatch, terminal=False)
    res = CliRunner().invoke(app, ["run", str(tiny), "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    assert buf.getvalue() == ""
    assert "run study" not in res.output and "\x1b[" not in res.output


_CLI = """
import sys
import coinfactor.studies as studies
studies.STUDIES["tiny"] = "support.tiny_study"
from coinfactor.cli import main
sys.argv = ["coinfactor", *sys.argv[1:]]
main()
"""


def _env() -> dict[str, str]:
    src = Path(coinfactor.__file__).resolve().parents[1]
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(ROOT / "tests")]),
            "TERM": "xterm-256color", "COLUMNS": "100"}


def _in_a_terminal(args: list[str]) -> tuple[int, str]:
    """Run the CLI with stdout and stderr on a pseudo-terminal; its exit code and output."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", _CLI, *args], stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave, env=_env(), close_fds=True)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the terminal closed: the process ended
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


def test_progress_bar_on_a_real_terminal_and_none_when_piped(tiny: Path, tmp_path: Path) -> None:
    """The real detection (rich ``Console.is_terminal``): a pseudo-terminal gets the bars,
    a pipe gets plain text without a control character."""
    code, shown = _in_a_terminal(["run", str(tiny), "--out", str(tmp_path / "tty")])
    assert code == 0, shown
    assert "run study" in shown and "write run dir" in shown and "\x1b[" in shown
    piped = subprocess.run([sys.executable, "-c", _CLI, "run", str(tiny), "--out",
                            str(tmp_path / "pipe")], capture_output=True, text=True,
                           env=_env(), timeout=180, check=False)
    assert piped.returncode == 0, piped.stderr
    assert "run study" not in piped.stdout + piped.stderr
    assert "\x1b[" not in piped.stdout + piped.stderr
    assert "wrote " in piped.stdout


# --- --out is checked first ---------------------------------------------------------------

def _must_not_load(*_args: object, **_kwargs: object) -> object:
    raise AssertionError("data loaded although --out was refused")


def test_out_at_a_file_fails_before_the_study_runs(
        tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Today: the whole study runs, then ``FileExistsError`` escapes as a traceback."""
    target = tmp_path / "results.csv"
    target.write_text("a,b\n1,2\n")
    monkeypatch.setattr(studies, "load_study_data", _must_not_load)
    res = CliRunner().invoke(app, ["run", str(tiny), "--out", str(target)])
    assert res.exit_code == 2, res.output
    assert "is an existing file, not a directory" in res.output
    assert target.read_text() == "a,b\n1,2\n"


def test_empty_out_is_refused_and_the_working_directory_untouched(
        tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Today: ``--out ""`` writes the run's files into the current directory."""
    cwd = tmp_path / "work"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(studies, "load_study_data", _must_not_load)
    for out in ("", "."):
        res = CliRunner().invoke(app, ["run", str(tiny), "--out", out])
        assert res.exit_code == 2, res.output
        assert ("--out is empty" if out == "" else "is the current directory") in res.output
    assert list(cwd.iterdir()) == []
