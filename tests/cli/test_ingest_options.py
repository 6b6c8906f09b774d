"""``coinfactor download`` / ``update`` refuse non-finite or out-of-range numbers at once."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from coinfactor.cli import app

runner = CliRunner()
CLOSED = "http://127.0.0.1:9"  # nothing listens: a request would fail (and retry) there


def invoke(args: list[str], seconds: float = 20.0) -> Any:
    """Run the CLI in a thread; fail instead of hanging (today nan backoff never ends)."""
    box: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: box.update(res=runner.invoke(app, args)),
                              daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"coinfactor {' '.join(args)} still running: it hangs"
    return box["res"]


@pytest.mark.parametrize(("option", "value", "name"), [
    ("--backoff", "nan", "base_delay"), ("--backoff", "inf", "base_delay"),
    ("--backoff", "-1", "base_delay"), ("--rate-limit-ms", "nan", "rate_limit_ms"),
    ("--rate-limit-ms", "inf", "rate_limit_ms"), ("--min-volume", "nan", "min_volume"),
    ("--min-volume", "inf", "min_volume"), ("--min-volume", "-5", "min_volume"),
    ("--timeout-ms", "0", "timeout_ms"), ("--timeout-ms", "-1", "timeout_ms"),
    ("--retries", "0", "max_attempts"), ("--request-deadline-ms", "0", "request_deadline_ms"),
    ("--request-deadline-ms", "nan", "request_deadline_ms"),
    ("--symbol-deadline-ms", "inf", "symbol_deadline_ms"),
])
@pytest.mark.parametrize("command", ["download", "update"])
def test_bad_numbers_are_refused_with_the_option_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, option: str,
        value: str, name: str) -> None:
    monkeypatch.setenv("COINFACTOR_HOME", str(tmp_path / "home"))
    args = [command, "--exchange", "binanceusdm", "--symbols", "BTCUSDT", "--base-url",
            CLOSED, option, value]
    if command == "download":
        args += ["--since", "2026-03-01"]
    res = invoke(args)
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert text.startswith("error:") and name in text and "fix:" in text, text
    if option != "--min-volume":
        assert option in text  # the message names the option the user typed
    assert not (tmp_path / "home").exists()  # refused before the store was touched
