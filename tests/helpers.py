"""Shared helpers for the tests."""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Set, Tuple, Union

import libcst as cst
from click.testing import CliRunner

from nnlint.analysis.context import ModuleContext

from nnlint.catalogue import all_rules
from nnlint.cli import command
from nnlint.config import RuleSelection, Settings
from nnlint.engine import lint_bytes

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
RULES_DIR = ROOT / "rules"
# what `nnlint` runs when nothing is configured (info rules such as NNL507 are off)
DEFAULT_RULES = RuleSelection(Settings()).enabled_codes(None)
EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>NNL\d{3}(?:\s*,\s*NNL\d{3})*)")


PROJECTS = FIXTURES / "projects"


def fixture_files(notebooks: bool = True) -> List[Path]:
    """Single-file fixtures and (unless told otherwise) the fixture notebooks; the multi-file
    projects under fixtures/projects/ are linted as projects."""
    found = list(FIXTURES.rglob("*.py"))
    if notebooks:
        found += FIXTURES.rglob("*.ipynb")
    return sorted(path for path in found if PROJECTS not in path.parents)


def is_fix_output(path: Path) -> bool:
    """`<name>.fixed.py` / `<name>.unsafe.fixed.py`: what --fix makes of `<name>.py` (tests/test_fixes.py)."""
    return path.name.endswith(".fixed.py")


# Where a finding is: its line in a script, (cell, line in the cell) in a notebook.
Location = Union[int, Tuple[int, int]]


def location(finding) -> Location:
    return (finding.cell, finding.line) if finding.cell is not None else finding.line


def _marked_lines(path: Path) -> Iterator[Tuple[Location, str]]:
    """(location, text) of every line of a script, or of every code cell line of a notebook."""
    if path.suffix == ".ipynb":
        for number, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"], start=1):
            if cell["cell_type"] == "code":
                source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                for line_number, line in enumerate(source.splitlines(), start=1):
                    yield (number, line_number), line
        return
    yield from enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)


def expected_findings(path: Path) -> Set[Tuple[Location, str]]:
    """(location, code) for every `# expect: CODE[, CODE]` marker in a fixture: at the end of a
    script's line, or of a line in a notebook's code cell (location: (cell, line))."""
    expected = set()
    for where, line in _marked_lines(path):
        match = EXPECT.search(line)
        if match:
            for code in match.group("codes").split(","):
                expected.add((where, code.strip()))
    return expected


def lint(source: str, path: str = "example.py", codes: Optional[Sequence[str]] = None):
    """Findings for a source string with every rule (or the given codes) enabled."""
    enabled = frozenset(codes) if codes is not None else frozenset(all_rules())
    return lint_bytes(path, source.encode("utf-8"), enabled).findings


def codes_and_lines(source: str, **kwargs) -> List[Tuple[str, int]]:
    return [(f.code, f.line) for f in lint(source, **kwargs)]


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(args: Sequence[str], input: Optional[bytes] = None) -> CliResult:
    """Run the click command in-process; stdout and stderr kept apart."""
    try:
        runner = CliRunner(mix_stderr=False)  # click < 8.2
    except TypeError:
        runner = CliRunner()
    result = runner.invoke(command, list(args), input=input, catch_exceptions=False)
    return CliResult(result.exit_code, result.stdout, result.stderr)


def analysed(source: str) -> ModuleContext:
    """The analysis context of a (dedented) snippet with its index built, as checks see it."""
    source = textwrap.dedent(source)
    module = cst.parse_module(source)
    ctx = ModuleContext("snippet.py", source, module)
    cst.visit_batched(module, [], before_visit=ctx.index.before_visit, after_leave=ctx.index.after_leave)
    return ctx


def call_named(ctx: ModuleContext, text: str, nth: int = 0):
    """The call site (the nth one) whose code is `text`."""
    found = [site for site in ctx.index.call_sites.values() if ctx.code(site.node) == text]
    assert found, f"no call {text!r}"
    return found[nth]
