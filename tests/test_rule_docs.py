"""Every rule has a doc in the agreed format, and the doc's Example and Fix blocks are real:
the Example produces the rule's finding, the Fix does not."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from nnlint.catalogue import all_rules, rule_doc
from tests.helpers import RULES_DIR, lint

SECTIONS = ["What it catches", "Why it is a silent bug", "Example", "Fix", "Runtime confirmation", "Limits"]


def section(doc: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(?P<body>.*?)(?=^## |\Z)", doc, re.MULTILINE | re.DOTALL)
    assert match, f"missing section '## {title}'"
    return match.group("body")


def python_block(text: str) -> str:
    match = re.search(r"```python\n(?P<code>.*?)```", text, re.DOTALL)
    assert match, "the section has no ```python block"
    return match.group("code")


@pytest.mark.parametrize("code", list(all_rules()))
def test_doc_has_every_section(code):
    doc = rule_doc(code)
    assert doc is not None and (RULES_DIR / f"{code}.md").is_file()
    rule = all_rules()[code]
    assert doc.startswith(f"# {code} {rule.name}\n")
    positions = [doc.index(f"\n## {title}\n") for title in SECTIONS]
    assert positions == sorted(positions), "sections are out of order"


# NNL001 reports a crash of a check: no input is known to produce one (each is fixed when found);
# tests/test_internal_errors.py forces one instead.
@pytest.mark.parametrize("code", [code for code in all_rules() if code != "NNL001"])
def test_example_produces_the_finding_and_fix_does_not(code):
    doc = rule_doc(code)
    example = python_block(section(doc, "Example"))
    fix = python_block(section(doc, "Fix"))
    assert code in {f.code for f in lint(example)}
    assert code not in {f.code for f in lint(fix)}
    assert not lint(fix), "the Fix block must be clean of every rule"


@pytest.mark.parametrize("code", list(all_rules()))
def test_fix_section_says_what_fix_does_and_the_example_agrees(code):
    """The Fix section says what `nnlint --fix` does: a rule that has a fix rewrites its own
    Example so that the finding is gone; one without says so, and offers none."""
    from nnlint.fixing import FixOptions, fix_files
    from nnlint.engine import lint_bytes

    fix_text = section(rule_doc(code), "Fix")
    assert "**`nnlint --fix`**" in fix_text
    example = python_block(section(rule_doc(code), "Example"))
    offered = [f.fix for f in lint(example) if f.code == code]
    if "no automatic fix" in fix_text:
        assert all(fix is None for fix in offered)
        return
    everything = frozenset(all_rules())
    run = fix_files({"example.py": example}, lambda path, text: lint_bytes(path, text.encode(), everything), FixOptions(unsafe=True))
    assert code not in {f.code for f in run.files["example.py"].result.findings}, run.notes


def test_no_doc_without_a_rule():
    documented = {path.stem for path in RULES_DIR.glob("*.md")}
    assert documented == set(all_rules())


def test_readme_tables_are_generated_from_the_rules():
    # the rules and triggers tables are written by scripts/readme_tables.py, never by hand
    script = RULES_DIR.parent / "scripts" / "readme_tables.py"
    completed = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
