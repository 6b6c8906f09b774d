"""Fixtures of the book tests: every test's default store is its own temporary one."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``$COINFACTOR_HOME`` in the test's temporary directory (the ledger's default store)."""
    monkeypatch.setenv("COINFACTOR_HOME", str(tmp_path / "home"))
