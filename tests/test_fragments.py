"""Fragments: code without its imports (a forum post, a notebook cell, an editor buffer) uses the
conventional names (`nn`, `F`, `optim`, `T`...) in their conventional meaning, unless the file binds
them somewhere."""

from __future__ import annotations

import json

import libcst as cst
import pytest

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.imports import CONVENTIONAL_NAMES
from tests.helpers import codes_and_lines, run_cli

DROPOUT_IN_FORWARD = """class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(F.dropout(x, 0.5))
"""

CAPPED = """for x, y in loader:
    optimizer.zero_grad()
    loss = torch.clamp(criterion(model(x), y), max=5.0)
    loss.backward()
    optimizer.step()
"""


def qualify(source: str, dotted: str):
    """The qualified name of a dotted name, asked after the module's traversal."""
    module = cst.parse_module(source)
    ctx = ModuleContext("snippet.py", source, module)
    cst.visit_batched(module, [], before_visit=ctx.index.before_visit, after_leave=ctx.index.after_leave)
    return ctx.imports.qualify(dotted)


@pytest.mark.parametrize("name, module", sorted(CONVENTIONAL_NAMES.items()))
def test_each_conventional_name_stands_for_its_module(name, module):
    assert qualify(f"{name}.thing\n", f"{name}.thing") == f"{module}.thing"


def test_imported_names_keep_their_import_and_the_others_the_convention():
    source = "import flax.linen as nn\nimport numpy\n"
    assert qualify(source, "nn.Dense") == "flax.linen.Dense"
    assert qualify(source, "F.relu") == "torch.nn.functional.relu"
    assert qualify(source, "np.zeros") == "numpy.zeros"


def test_fragments_without_imports_are_linted():
    assert codes_and_lines(DROPOUT_IN_FORWARD) == [("NNL503", 7)]
    assert codes_and_lines(CAPPED) == [("NNL101", 3)]


@pytest.mark.parametrize(
    "binding",
    [
        "import mylib.functional as F",
        "from mylib import F",
        "F = make_ops()",
        "F: Ops = make_ops()",
        "F, G = make_ops()",
        "def F():\n    pass",
        "class F:\n    pass",
        "def helper(F):\n    return F",
        "def helper(*, F=None):\n    return F",
        "helper = lambda F: F",
        "for F in ops:\n    pass",
        "with ops() as F:\n    pass",
        "try:\n    pass\nexcept Exception as F:\n    pass",
        "squares = [F for F in range(3)]",
        "if (F := make_ops()):\n    pass",
        "from project_utils import *",
    ],
)
def test_a_binding_anywhere_in_the_file_wins(binding):
    # after the use, at the end of the file: the binding still decides what F is
    assert codes_and_lines(DROPOUT_IN_FORWARD + "\n\n" + binding + "\n") == []


@pytest.mark.parametrize("star", ["from fastai.vision.all import *", "from torch import *", "from numpy import *"])
def test_star_imports_of_libraries_that_export_the_conventional_names_keep_them(star):
    assert codes_and_lines(star + "\n" + CAPPED) == [("NNL101", 4)]


def test_a_binding_of_one_name_leaves_the_others_conventional():
    source = DROPOUT_IN_FORWARD + "\ntorch = load_backend()\n"
    assert codes_and_lines(source) == [("NNL503", 7)]
    assert codes_and_lines(CAPPED + "\ntorch = load_backend()\n") == []


def test_import_paths_strings_and_comments_are_no_use_of_a_conventional_name():
    # `models.` in an import path, `torch.` in a comment or a string: the file still imports only
    # MegEngine, so its load_state_dict is not PyTorch's
    source = (
        "import megengine as mge\n"
        "from models.detector import Detector  # ported from torch.nn code\n"
        "NOTE = 'weights converted with torch.load'\n"
        "def build(path):\n"
        "    model = Detector()\n"
        "    model.load_state_dict(mge.load(path), strict=False)\n"
        "    return model\n"
    )
    module = cst.parse_module(source)
    ctx = ModuleContext("snippet.py", source, module)
    cst.visit_batched(module, [], before_visit=ctx.index.before_visit, after_leave=ctx.index.after_leave)
    assert not ctx.imports.imports_any("torch", "torchvision")
    assert ctx.imports.another_framework_only()
    assert codes_and_lines(source) == []


def test_stdin_fragment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli(["--no-cache", "-"], input=CAPPED.encode())
    assert result.exit_code == 1 and result.stdout.startswith("stdin:3:12: NNL101")


def test_notebook_fragment(tmp_path):
    cells = [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": CAPPED}]
    path = tmp_path / "forum.ipynb"
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}))
    result = run_cli(["--no-cache", str(path)])
    assert result.stdout.startswith(f"{path}:cell 1:3:12: NNL101")
