"""Fixtures of the report tests: a run directory and a demo of ``support.tiny_study``."""

from __future__ import annotations

from pathlib import Path

import pytest

from coinfactor import studies
from coinfactor.studies._data import load_study_data
from coinfactor.studies._demo import DemoResult, run_demo
from support import tiny_study


@pytest.fixture(name="run_dir", scope="module")
def run_dir_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory written through StudyResult.write (so report.html is built)."""
    panel, _ = load_study_data(tiny_study.DEFAULT_DATA)
    result = tiny_study.run(tiny_study.Config(), panel)
    out = tmp_path_factory.mktemp("run") / "tiny"
    result.write(out)
    return out


@pytest.fixture(name="demo_with_progress", scope="session")
def demo_with_progress_fixture(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[DemoResult, list[tuple[str, float]]]:
    """A demo of the test-only study (registered inside this fixture only) and its progress."""
    seen: list[tuple[str, float]] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(studies, "STUDIES", {"tiny": "support.tiny_study"})
        result = run_demo(tmp_path_factory.mktemp("demo") / "out",
                          progress=lambda name, frac: seen.append((name, frac)))
    return result, seen


@pytest.fixture(name="demo", scope="session")
def demo_fixture(demo_with_progress: tuple[DemoResult, list[tuple[str, float]]]) -> DemoResult:
    """The demo result of :func:`demo_with_progress`."""
    return demo_with_progress[0]
