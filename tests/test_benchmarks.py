"""The benchmarks' generated input is valid, realistic code (benchmarks/README.md has the numbers)."""

from __future__ import annotations

import ast
import importlib.util
from collections import Counter

from tests.helpers import ROOT


def _scaling():
    spec = importlib.util.spec_from_file_location("scaling", ROOT / "benchmarks" / "scaling.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_scaling_benchmark_generates_parseable_training_code_with_each_name_defined_once():
    scaling = _scaling()
    text = scaling.training_code(2000)
    assert text.count("\n") >= 2000
    tree = ast.parse(text)
    defined = Counter(
        statement.name for statement in tree.body if isinstance(statement, (ast.FunctionDef, ast.ClassDef))
    )
    assert [name for name, count in defined.items() if count > 1] == []
    # the styles the rules analyse: models with BatchNorm and Dropout, datasets with transforms, training loops
    for word in ("nn.BatchNorm", "nn.Dropout", "(Dataset)", "transforms.Compose", ".backward()", "optimizer.step()"):
        assert word in text, word
