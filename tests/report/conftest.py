"""Fixtures: a run directory and a demo written by the test-only study in tiny_study.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from coinfactor import studies
from coinfactor.studies._data import load_study_data
from coinfactor.studies._demo import DemoResult, run_demo

HERE = Path(__file__).parent


@pytest.fixture
def tiny_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the test-only study as 'tiny' for one test."""
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setattr(studies, "STUDIES", {"tiny": "tiny_study"})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory written through StudyResult.write (so report.html is built)."""
    sys.path.insert(0, str(HERE))
    try:
        import tiny_study
    finally:
        sys.path.remove(str(HERE))
    panel, _ = load_study_data(tiny_study.DEFAULT_DATA)
    result = tiny_study.run(tiny_study.Config(), panel)
    out = tmp_path_factory.mktemp("run") / "tiny"
    result.write(out)
    return out


@pytest.fixture(scope="module")
def demo_with_progress(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[DemoResult, list[tuple[str, float]]]:
    """A demo of the test-only study (registered only inside this fixture), with the
    progress calls it made."""
    seen: list[tuple[str, float]] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(HERE))
        mp.setattr(studies, "STUDIES", {"tiny": "tiny_study"})
        result = run_demo(tmp_path_factory.mktemp("demo") / "out",
                          progress=lambda name, frac: seen.append((name, frac)))
    return result, seen


@pytest.fixture(scope="module")
def demo(demo_with_progress: tuple[DemoResult, list[tuple[str, float]]]) -> DemoResult:
    """The demo result of :func:`demo_with_progress`."""
    return demo_with_progress[0]
