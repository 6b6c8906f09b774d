"""Option vocabulary: every ``Literal`` alias lives in coinfactor.core.typing, and every check
of an option against its allowed values takes the values from the alias (typing.get_args)."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from coinfactor.core import typing as cf_typing
from coinfactor.core.errors import CoinfactorError
from support import ROOT

SRC = ROOT / "src" / "coinfactor"
ALIASES = {name: typing.get_args(value) for name, value in vars(cf_typing).items()
           if typing.get_origin(value) is typing.Literal}


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if p != SRC / "core" / "typing.py")


def test_every_literal_alias_is_in_core_typing() -> None:
    assert len(ALIASES) >= 21  # 22 before, LiquidityMeasure was defined twice
    outside = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None
                    and isinstance(node.value, ast.Subscript)
                    and ast.unparse(node.value.value) in ("Literal", "typing.Literal")):
                outside.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert outside == []


def test_no_hand_written_copy_of_an_allowed_set() -> None:
    """No ``x in ("a", "b")`` whose strings are exactly the values of an alias."""
    value_sets = {frozenset(v): k for k, v in ALIASES.items()}
    copies = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(node, ast.Compare):
                continue
            for op, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, ast.In | ast.NotIn) and isinstance(
                        right, ast.Tuple | ast.Set | ast.List):
                    values = [e.value for e in right.elts if isinstance(e, ast.Constant)]
                    if len(values) == len(right.elts) and frozenset(values) in value_sets:
                        copies.append(f"{path.relative_to(SRC)}:{node.lineno} "
                                      f"{value_sets[frozenset(values)]}")
    assert copies == []


def _rejects(call: typing.Callable[[], object], alias: str) -> None:
    """The error of a bad option lists exactly the alias's values."""
    with pytest.raises(CoinfactorError) as info:
        call()
    assert str(list(ALIASES[alias])) in str(info.value)


def test_validators_list_the_alias_values(small_panel: pl.DataFrame) -> None:
    from coinfactor import signals
    from coinfactor.analytics import block_bootstrap
    from coinfactor.data import resample
    from coinfactor.portfolio import BufferedAllocator, HedgeBasket

    _rejects(lambda: block_bootstrap(np.zeros(50), freq="1h", method="nope"),  # type: ignore[arg-type]
             "BootstrapMethod")
    _rejects(lambda: BufferedAllocator(exit="nope")._check(), "ExitRule")  # type: ignore[arg-type]
    _rejects(lambda: HedgeBasket("BTC", mode="nope")._validate(), "HedgeMode")  # type: ignore[arg-type]
    _rejects(lambda: HedgeBasket("BTC", solver="nope")._validate(), "Solver")  # type: ignore[arg-type]
    _rejects(lambda: HedgeBasket("BTC", pca_clean="nope")._validate(), "PCAClean")  # type: ignore[arg-type]
    _rejects(lambda: HedgeBasket("BTC", on_failure="nope")._validate(),  # type: ignore[arg-type]
             "FailurePolicy")
    _rejects(lambda: signals.returns(small_panel, kind="nope"), "ReturnKind")  # type: ignore[arg-type]
    _rejects(lambda: signals.liquidity(small_panel, measure="nope"),  # type: ignore[arg-type]
             "LiquidityMeasure")
    _rejects(lambda: resample(small_panel, "1d", partial="nope"), "PartialBars")  # type: ignore[arg-type]
