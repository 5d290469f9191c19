"""The engine: one traversal, fail-safe checks, triggers, decoding, parse errors."""

from __future__ import annotations

import libcst as cst
import pytest

import nnlint.engine as engine
from nnlint.catalogue import all_rules
from tests.helpers import FIXTURES, codes_and_lines, fixture_files
from tests.test_cli import CAPPED


def test_files_without_triggers_are_only_compiled(monkeypatch):
    parsed = []
    real = engine.cst.parse_module
    monkeypatch.setattr(engine.cst, "parse_module", lambda *args, **kwargs: parsed.append(1) or real(*args, **kwargs))
    # no rule's trigger anywhere: LibCST never parses the file, but CPython's parser reports the syntax error
    assert codes_and_lines("import os\nx = 1\ndef broken(:\n") == [("NNL000", 3)]
    assert codes_and_lines("import os\nx = 1\n") == []
    assert parsed == []
    # with a trigger, the same
    assert codes_and_lines("import torch\nloss.backward()\ndef broken(:\n") == [("NNL000", 3)]
    # a file-level noqa silences everything, parse errors included
    assert codes_and_lines("# nnlint: noqa\ndef broken(:\n") == []
    # NNL000 not enabled: nothing to compile for
    assert codes_and_lines("x = 1\ndef broken(:\n", codes=["NNL101"]) == []


@pytest.mark.parametrize("path", fixture_files(), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_triggers_never_change_findings(path):
    enabled = frozenset(all_rules())
    data = path.read_bytes()
    with_triggers = engine.lint_bytes(str(path), data, enabled, use_triggers=True).findings
    without = engine.lint_bytes(str(path), data, enabled, use_triggers=False).findings
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


PIECE_SAMPLES = [
    # the first indented block in a later piece, indented with tabs; CRLF line breaks
    "import os\r\nx = 1\r\n\r\ndef f():\r\n\tif x:\r\n\t\treturn 2\r\n\r\n\r\nclass A:\r\n\tpass\r\n",
    # comments after a block, indented and not, go to the block's footer or the next statement
    "def f():\n    return 1\n    # still f\n# before g\n\n  # odd indent\ndef g():\n    pass\n# end\n",
    # statements sharing a line, also across a backslash; a decorated function; no final newline
    "a = 1; b = 2\nc = 3; \\\nd = 4\n@decorator\n\n# between\n@other\ndef h():\n  return 5\ne = 6",
    # only simple statements, a header comment, a block on the same line as its header
    "# header\n\nx = 1\nif x: y = 2\nelse:\n        y = 3\nz = [\n    1,\n]\n",
    # a later piece indented otherwise than the file's first block, with other line breaks
    "def f():\n    return 1\n\ndef g():\r\n  if f():\r\n      return 2\r\n",
]


@pytest.mark.parametrize(
    "source",
    PIECE_SAMPLES + [path.read_text(encoding="utf-8") for path in fixture_files(notebooks=False)],
    ids=[f"sample{i}" for i in range(len(PIECE_SAMPLES))] + [p.name for p in fixture_files(notebooks=False)],
)
def test_a_file_parsed_in_pieces_gives_the_tree_of_one_parse(source):
    tree, rejected = engine._python_parse("x.py", source)
    if rejected is not None:
        pytest.skip("a fixture of NNL000")
    ends = [statement.end_lineno for statement in tree.body]
    # one piece per statement: every cut that can be made is made
    pieces = engine.parse_in_pieces(source, engine._statement_lines(tree), ends, piece_lines=1)
    assert pieces.deep_equals(cst.parse_module(source))  # indentation, line breaks, header, footer included
    assert pieces.code == source
