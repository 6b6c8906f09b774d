"""Test support: shared builders, references and servers of the test suite (not tests).

Importable as ``support`` because ``pyproject.toml`` puts ``tests/`` on ``sys.path``
(``[tool.pytest.ini_options] pythonpath``). Test modules import helpers from here, never from
another test module or a ``conftest.py``; fixtures stay in the ``conftest.py`` files.

- :mod:`support.panels`: small hand-made canonical panels (:func:`~support.panels.make_panel`);
- :mod:`support.random_panels`: random ragged canonical panels (listings, gaps, null funding);
- :mod:`support.arrays`: ragged array inputs (returns-like regressions);
- :mod:`support.reversion_reference`: the naive reference loops of the reversion tests;
- :mod:`support.fakevenue`: the local fake venue (Binance USDⓈ-M, Hyperliquid, Tiingo);
- :mod:`support.tiny_study`: a test-only study for the report and demo tests.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository root."""
FIXTURES = ROOT / "tests" / "fixtures"
"""The committed test data (``tests/fixtures``)."""

__all__ = ["FIXTURES", "ROOT"]
