"""The package's shape: a lazy root namespace and no private imports across packages."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import coinfactor

SRC = Path(coinfactor.__file__).resolve().parent


def test_import_coinfactor_loads_no_heavy_dependency() -> None:
    code = ("import sys, coinfactor; "
            "print(sorted(m for m in ('duckdb', 'cvxpy', 'matplotlib', 'ccxt') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_every_subpackage_is_an_attribute() -> None:
    code = ("import coinfactor as cf; cf.risk, cf.portfolio, cf.backtest, cf.analytics, "
            "cf.plots, cf.report, cf.studies, cf.errors; "
            "print(all(hasattr(cf, n) for n in cf.SUBPACKAGES))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "True"
    assert set(coinfactor.SUBPACKAGES) <= set(dir(coinfactor))


def _private_cross_package_imports() -> list[str]:
    """``from coinfactor.a._m import`` in a module outside package ``coinfactor.a``."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for target in targets:
                parts = target.split(".")
                for k, part in enumerate(parts):
                    if part.startswith("_") and not part.startswith("__"):
                        parent = ".".join(parts[:k])
                        if not (module == parent or module.startswith(parent + ".")):
                            found.append(f"{module} -> {target}")
                        break
    return sorted(set(found))


def test_no_module_imports_another_packages_private_module() -> None:
    """The same rule as import-linter's private_modules contract (run in CI)."""
    found = _private_cross_package_imports()
    print(f"cross-package private imports: {len(found)}")
    assert found == []
