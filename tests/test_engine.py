"""The engine: one traversal, fail-safe checks, triggers, decoding, parse errors."""

from __future__ import annotations

import libcst as cst
import pytest

import nnlint.engine as engine
from nnlint.check import Check
from nnlint.finding import Severity
from nnlint.catalogue import all_rules
from nnlint.contracts import Rule
from nnlint.registry import check_classes
from tests.helpers import FIXTURES, codes_and_lines, fixture_files, run_cli
from tests.test_cli import CAPPED, write

EXPLODING = Rule("NNL999", "exploding", Severity.ERROR, "A check that always raises (tests only).")


class ExplodingCheck(Check):
    rules = (EXPLODING,)

    def visit_Call(self, node: cst.Call) -> None:
        raise ValueError("boom")


@pytest.fixture
def with_exploding_check(monkeypatch):
    classes = check_classes() + (ExplodingCheck,)
    rules = {**all_rules(), EXPLODING.code: EXPLODING}
    monkeypatch.setattr(engine, "check_classes", lambda: classes)
    monkeypatch.setattr("nnlint.config.all_rules", lambda: rules)


def test_a_crashing_check_is_reported_and_the_others_still_run(with_exploding_check, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "train.py", CAPPED)
    result = run_cli(["train.py"])
    assert result.exit_code == 2
    assert result.stdout.startswith("train.py:8:16: NNL101")
    assert result.stderr.strip() == (
        "nnlint: internal error in check NNL999 on train.py: ValueError: boom; please report"
    )


def test_triggers_skip_files_that_cannot_matter():
    # no "backward"/"training_step"/"compute_loss" anywhere: the file is not even parsed
    assert codes_and_lines("import torch\nx = torch.clamp(y, max=1.0)\ndef broken(:\n") == []
    # with a trigger, the syntax error is reported
    assert codes_and_lines("import torch\nloss.backward()\ndef broken(:\n") == [("NNL000", 3)]


@pytest.mark.parametrize("path", fixture_files(), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_triggers_never_change_findings(path):
    enabled = frozenset(all_rules())
    text = path.read_text(encoding="utf-8")
    with_triggers = engine.lint_text(str(path), text, enabled, use_triggers=True).findings
    without = engine.lint_text(str(path), text, enabled, use_triggers=False).findings
    assert with_triggers == without


def test_one_traversal_per_file(monkeypatch):
    calls = []
    real = engine.walk

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "walk", counting)
    codes_and_lines(CAPPED)
    assert len(calls) == 1


def test_positions_are_computed_only_for_files_with_findings(monkeypatch):
    from nnlint.analysis import context

    resolved = []
    real = context.MetadataWrapper.resolve

    def counting(self, provider):
        resolved.append(provider)
        return real(self, provider)

    monkeypatch.setattr(context.MetadataWrapper, "resolve", counting)
    clean = (FIXTURES / "loss" / "clean_ppo_and_pit.py").read_text()
    assert codes_and_lines(clean) == []
    assert resolved == []
    assert codes_and_lines(CAPPED) == [("NNL101", 8)]
    assert len(resolved) == 1


def test_deeply_nested_code_is_a_clear_nnl000():
    source = "import torch\nloss.backward()\nx = " + "(" * 3000 + "1" + ")" * 3000 + "\n"
    findings = codes_and_lines(source)
    assert findings and findings[0][0] == "NNL000"


def test_crlf_line_endings():
    assert codes_and_lines(CAPPED.replace("\n", "\r\n")) == [("NNL101", 8)]


def test_decode_rejects_bad_cookie():
    with pytest.raises(engine.SourceError, match="unknown encoding"):
        engine.decode_source(b"# coding: klingon\nx = 1\n")


POSITION_SAMPLES = [
    "x = 1; y = f(2)\n\n\n# comment\n@decorator(3)\n# between\n@other\ndef g(a):\n    return h(a)\n",
    "'''doc'''\nclass A:\n    def m(self):\n        return [f(i) for i in range(3)]\n\nif True:\n    z = call(\n        1,\n    )\n",
    "\ufeffimport os\r\nprint(os.getcwd())\r\n",
    "def f():\n\tif x:\n\t\treturn g(1)\n\nf()  # trailing\n",
]


@pytest.mark.parametrize(
    "source",
    POSITION_SAMPLES + [path.read_text() for path in fixture_files()],
    ids=[f"sample{i}" for i in range(len(POSITION_SAMPLES))] + [p.name for p in fixture_files()],
)
def test_statement_positions_equal_whole_module_positions(source):
    from libcst.metadata import MetadataWrapper, PositionProvider

    from nnlint.analysis.context import ModuleContext

    source = source.lstrip("\ufeff")
    tree, rejected = engine._python_parse("x.py", source)
    assert rejected is None
    module = cst.parse_module(source)
    ctx = ModuleContext("x.py", source, module, statement_lines=engine._statement_lines(tree))
    cst.visit_batched(module, [], before_visit=ctx.index.before_visit, after_leave=ctx.index.after_leave)
    full = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    nodes = list(ctx.index.call_sites) + list(ctx.index.statement_of) + list(module.body)
    assert nodes
    for node in nodes:
        assert ctx.position(node) == full[node], ctx.code(node)
