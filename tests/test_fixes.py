"""`--fix`: each fixable rule rewrites its bug away, exactly as its fixture pairs say, and every fix
is verified (parses, the finding is gone, no new finding, a second --fix changes nothing).

Fixture pairs live in fixtures/fixes/<CODE>/: `<name>.py` is the buggy input (with its `# expect:`
markers), `<name>.fixed.py` what `--fix` writes, `<name>.unsafe.fixed.py` what `--fix
--unsafe-fixes` writes when that differs. An input with neither is a near miss that --fix leaves
alone; `nearmiss_*` inputs are those whose fix must be unsafe or absent.
"""

from __future__ import annotations

import ast
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from nnlint.catalogue import all_rules
from nnlint.engine import lint_bytes
from nnlint.finding import Applicability, Edit, Fix
from nnlint.fixing import EditError, apply_edits
from tests.helpers import FIXTURES, ROOT, expected_findings, fixture_files, is_fix_output, run_cli

FIX_FIXTURES = FIXTURES / "fixes"
INPUTS = sorted(p for p in FIX_FIXTURES.rglob("*.py") if not is_fix_output(p))
FIXABLE = sorted(folder.name for folder in FIX_FIXTURES.iterdir() if folder.is_dir())
ALL = frozenset(all_rules())


def expected_output(path: Path, unsafe: bool) -> Path:
    stem = path.with_suffix("")
    candidates = ([Path(f"{stem}.unsafe.fixed.py")] if unsafe else []) + [Path(f"{stem}.fixed.py")]
    return next((candidate for candidate in candidates if candidate.exists()), path)


def findings(path: Path):
    return lint_bytes(str(path), path.read_bytes(), ALL).findings


# -- the fixture pairs -----------------------------------------------------------------------------


@pytest.mark.parametrize("unsafe", [False, True], ids=["fix", "unsafe-fixes"])
@pytest.mark.parametrize("path", INPUTS, ids=lambda p: str(p.relative_to(FIX_FIXTURES)))
def test_fix_writes_exactly_the_expected_file(path, unsafe, tmp_path):
    copy = tmp_path / path.name
    shutil.copyfile(path, copy)
    args = ["--fix", "--no-cache", "--select", "ALL", str(copy)] + (["--unsafe-fixes"] if unsafe else [])
    result = run_cli(args)
    assert "not fixed" not in result.stderr
    assert copy.read_bytes() == expected_output(path, unsafe).read_bytes()


def test_every_fixable_rule_has_fixture_pairs_in_several_styles():
    for code in FIXABLE:
        inputs = [p for p in INPUTS if p.parent.name == code]
        fixed = [p for p in inputs if expected_output(p, unsafe=True) != p]
        assert len(fixed) >= 2, f"{code} needs at least two fixture pairs"
        for path in inputs:
            assert {c for _, c in expected_findings(path)} >= {code}, f"{path.name} has no `# expect: {code}`"
    assert set(FIXABLE) == {
        "NNL102", "NNL103", "NNL104", "NNL301", "NNL302", "NNL303", "NNL502", "NNL503", "NNL504",
        "NNL505", "NNL507", "NNL601", "NNL603", "NNL604",
    }


@pytest.mark.parametrize("path", [p for p in INPUTS if p.name.startswith("nearmiss_")], ids=lambda p: p.name)
def test_near_misses_get_no_safe_fix(path):
    assert expected_output(path, unsafe=False) == path  # --fix leaves it alone
    code = path.parent.name
    fixes = [f.fix for f in findings(path) if f.code == code]
    assert fixes and all(fix is None or fix.applicability is Applicability.UNSAFE for fix in fixes)


def test_unsafe_fixes_are_marked_unsafe_and_safe_ones_safe():
    assert findings(FIX_FIXTURES / "NNL505" / "nearmiss_forward_softmax.py")[0].fix.applicability is Applicability.UNSAFE
    assert findings(FIX_FIXTURES / "NNL505" / "functional_sigmoid_inline.py")[0].fix.applicability is Applicability.SAFE
    assert all(f.fix.applicability is Applicability.UNSAFE for f in findings(FIX_FIXTURES / "NNL502" / "helper_validate_net.py"))


# -- the verification contract on every buggy fixture -----------------------------------------------

# --fix rewrites scripts; notebooks are reported, not rewritten (their fixes are left out for now)
BUGGY = [p for p in fixture_files(notebooks=False) if expected_findings(p) and not is_fix_output(p)]


@pytest.fixture(scope="module")
def fixed_tree(tmp_path_factory):
    """Every buggy fixture copied, fixed with --fix --unsafe-fixes, and fixed again."""
    root = tmp_path_factory.mktemp("fixed")
    for path in BUGGY:
        target = root / path.relative_to(FIXTURES)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    first = run_cli(["--fix", "--unsafe-fixes", "--select", "ALL", "--no-cache", "--exit-zero", str(root)])
    after_first = {path: (root / path.relative_to(FIXTURES)).read_bytes() for path in BUGGY}
    second = run_cli(["--fix", "--unsafe-fixes", "--select", "ALL", "--no-cache", "--exit-zero", str(root)])
    after_second = {path: (root / path.relative_to(FIXTURES)).read_bytes() for path in BUGGY}
    return first, after_first, second, after_second


@pytest.mark.parametrize("path", BUGGY, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixed_fixture_keeps_the_verification_contract(path, fixed_tree):
    first, after_first, second, after_second = fixed_tree
    assert first.exit_code == 0 and "not fixed" not in first.stderr, first.stderr
    fixed = after_first[path]
    ast.parse(fixed)  # it parses
    before = findings(path)
    after = lint_bytes(str(path), fixed, ALL).findings
    had, has = Counter(f.code for f in before), Counter(f.code for f in after)
    fixable = Counter(f.code for f in before if f.fix is not None)
    for code in has:
        assert has[code] <= had[code] - fixable[code], f"{code}: the fixed finding is still there or a new one appeared"
    assert all(f.fix is None for f in after), "a fix is still offered after --fix"
    assert after_second[path] == fixed, "a second --fix changed the file"


def test_fix_rate_over_the_buggy_fixtures(fixed_tree):
    """The fixable rules' findings that --fix --unsafe-fixes removes (some have no mechanical fix:
    a clip in a helper apart from backward and step, a normalization written by hand)."""
    _, after_first, _, _ = fixed_tree
    total = fixed = 0
    for path in BUGGY:
        before = Counter(f.code for f in findings(path) if f.code in FIXABLE)
        after = Counter(f.code for f in lint_bytes(str(path), after_first[path], ALL).findings if f.code in FIXABLE)
        total += sum(before.values())
        fixed += sum((before - after).values())
    assert total and fixed / total >= 0.95


# -- the command line --------------------------------------------------------------------------

BUGGY_AND_FIXABLE = '''import torch
import torch.nn as nn
import torch.nn.functional as F


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(F.dropout(x, 0.5))


def train(model, loader, optimizer):
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        loss = torch.clamp(loss, max=5.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
'''


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text(BUGGY_AND_FIXABLE)
    return tmp_path


def test_text_marks_fixable_findings_and_counts_them(project):
    result = run_cli(["--no-cache", "train.py"])
    lines = result.stdout.splitlines()
    assert lines[0].startswith("train.py:12:24: NNL503 [error] [*] dropout() without training=")
    assert lines[1].startswith("train.py:18:16: NNL101 [error] loss")  # no mechanical fix: no mark
    assert result.stderr == "[*] 1 fixable with the `--fix` option.\n"


def test_unsafe_fixes_are_marked_only_with_unsafe_fixes(tmp_path):
    path = tmp_path / "model.py"
    shutil.copyfile(FIX_FIXTURES / "NNL504" / "nearmiss_dict_comprehension_keys.py", path)
    plain = run_cli(["--no-cache", str(path)])
    assert "[*]" not in plain.stdout
    assert plain.stderr == "(1 hidden fix can be enabled with the `--unsafe-fixes` option.)\n"
    unsafe = run_cli(["--no-cache", "--unsafe-fixes", str(path)])
    assert "NNL504 [error] [*] " in unsafe.stdout and "1 fixable" in unsafe.stderr


def test_fix_writes_the_file_and_reports_what_remains(project):
    result = run_cli(["--no-cache", "--fix", "train.py"])
    assert result.exit_code == 1  # NNL101 remains
    assert [line.split(": ")[1].split()[0] for line in result.stdout.splitlines()] == ["NNL101"]
    assert result.stderr == "Fixed 1 error.\n"
    assert "F.dropout(x, 0.5, training=self.training)" in (project / "train.py").read_text()


def test_fix_exits_zero_when_everything_is_fixed(project):
    run_cli(["--no-cache", "--fix", "train.py"])
    result = run_cli(["--no-cache", "--fix", "--ignore", "NNL101", "train.py"])
    assert (result.exit_code, result.stdout) == (0, "")


def test_diff_prints_the_change_and_writes_nothing(project):
    result = run_cli(["--no-cache", "--diff", "train.py"])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[:2] == ["--- train.py", "+++ train.py"]
    assert "-        return self.fc(F.dropout(x, 0.5))" in result.stdout
    assert "+        return self.fc(F.dropout(x, 0.5, training=self.training))" in result.stdout
    assert result.stderr == "Would fix 1 error.\n"
    assert (project / "train.py").read_text() == BUGGY_AND_FIXABLE


def test_diff_without_a_fix_exits_zero(project):
    result = run_cli(["--no-cache", "--diff", "--select", "NNL101", "train.py"])
    assert (result.exit_code, result.stdout) == (0, "")


def test_fix_on_stdin_prints_the_fixed_code(project):
    result = run_cli(["--no-cache", "--fix", "--stdin-filename", "train.py", "-"], input=BUGGY_AND_FIXABLE.encode())
    assert result.stdout == BUGGY_AND_FIXABLE.replace("F.dropout(x, 0.5)", "F.dropout(x, 0.5, training=self.training)")
    assert "train.py:18:16: NNL101" in result.stderr and "Fixed 1 error." in result.stderr


def test_configuration_turns_fixes_on_and_off(project):
    (project / "pyproject.toml").write_text('[tool.nnlint]\nfix = true\nunfixable = ["NNL5"]\n')
    result = run_cli(["--no-cache", "train.py"])
    assert (project / "train.py").read_text() == BUGGY_AND_FIXABLE  # NNL503 is unfixable here
    assert "Fixed" not in result.stderr
    (project / "pyproject.toml").write_text("[tool.nnlint]\nfix = true\n")
    run_cli(["--no-cache", "train.py"])
    assert "training=self.training" in (project / "train.py").read_text()
    (project / "pyproject.toml").write_text('[tool.nnlint]\nfix = "yes"\n')
    result = run_cli(["--no-cache", "train.py"])
    assert result.exit_code == 2 and "'fix'" in result.stderr


def test_unsafe_fixes_from_the_configuration(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(FIX_FIXTURES / "NNL505" / "nearmiss_probabilities_logged.py", tmp_path / "loop.py")
    (tmp_path / "pyproject.toml").write_text("[tool.nnlint]\nunsafe-fixes = true\n")
    run_cli(["--no-cache", "--fix", "loop.py"])
    assert (tmp_path / "loop.py").read_bytes() == expected_output(FIX_FIXTURES / "NNL505" / "nearmiss_probabilities_logged.py", True).read_bytes()


def test_json_carries_the_fix(project):
    records = json.loads(run_cli(["--no-cache", "--format", "json", "train.py"]).stdout)
    fix = next(r["fix"] for r in records if r["code"] == "NNL503")
    assert fix == {
        "applicability": "safe",
        "message": "Pass training=self.training",
        "edits": [{
            "path": "train.py", "line": 12, "column": 24, "end_line": 12, "end_column": 41,
            "content": "F.dropout(x, 0.5, training=self.training)",
        }],
    }
    assert next(r["fix"] for r in records if r["code"] == "NNL101") is None


def test_sarif_carries_the_fix(project):
    jsonschema = pytest.importorskip("jsonschema")
    document = json.loads(run_cli(["--no-cache", "--format", "sarif", "train.py"]).stdout)
    schema = json.loads((ROOT / "tests" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(document, schema)
    result = next(r for r in document["runs"][0]["results"] if r["ruleId"] == "NNL503")
    change = result["fixes"][0]["artifactChanges"][0]
    assert change["artifactLocation"]["uri"] == "train.py"
    assert change["replacements"][0]["insertedContent"]["text"] == "F.dropout(x, 0.5, training=self.training)"


def test_a_fix_that_fails_verification_is_dropped_with_a_note(project, monkeypatch):
    from nnlint.families.layers import fixes

    def broken(ctx, call, statement):
        return Fix(Applicability.SAFE, "broken", (Edit(ctx.path, 12, 24, 12, 24, "("),))

    monkeypatch.setattr(fixes, "pass_training_flag", broken)
    result = run_cli(["--no-cache", "--fix", "train.py"])
    assert "train.py:12:24: NNL503 not fixed: the fixed code does not parse" in result.stderr
    assert (project / "train.py").read_text() == BUGGY_AND_FIXABLE
    assert "NNL503" in result.stdout


def test_a_fix_that_introduces_a_finding_is_dropped(project, monkeypatch):
    from nnlint.families.layers import fixes

    def with_new_layers(ctx, call, statement):
        return Fix(Applicability.SAFE, "adds layers", (
            Edit(ctx.path, 10, 1, 10, 1, "        self.extra = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8))\n"),
            Edit(ctx.path, 12, 24, 12, 41, "F.dropout(x, 0.5, training=self.training)"),
        ))

    monkeypatch.setattr(fixes, "pass_training_flag", with_new_layers)
    # verified against every rule, also those left out of the selection
    result = run_cli(["--no-cache", "--fix", "--select", "NNL503", "train.py"])
    assert "NNL503 not fixed: it would introduce a new NNL507 finding" in result.stderr
    assert (project / "train.py").read_text() == BUGGY_AND_FIXABLE


def test_fix_keeps_line_endings_and_encoding(tmp_path):
    source = "# -*- coding: latin-1 -*-\n# caf\xe9\n" + BUGGY_AND_FIXABLE
    path = tmp_path / "train.py"
    path.write_bytes(source.replace("\n", "\r\n").encode("latin-1"))
    run_cli(["--no-cache", "--fix", str(path)])
    expected = source.replace("F.dropout(x, 0.5)", "F.dropout(x, 0.5, training=self.training)")
    assert path.read_bytes() == expected.replace("\n", "\r\n").encode("latin-1")


def test_a_cached_fix_applies_to_a_renamed_copy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.py").write_text(BUGGY_AND_FIXABLE)
    run_cli(["--cache-dir", "cache", "a.py"])
    (tmp_path / "b.py").write_text(BUGGY_AND_FIXABLE)
    run_cli(["--cache-dir", "cache", "b.py"])  # served from the cache, under the new name
    result = run_cli(["--cache-dir", "cache", "--fix", "b.py"])
    assert "Fixed 1 error." in result.stderr
    assert "training=self.training" in (tmp_path / "b.py").read_text()


# -- edits -------------------------------------------------------------------------------------


def test_edits_replace_only_their_ranges():
    text = "a = 1\nb = 2\nc = 3\n"
    edits = [Edit("x.py", 2, 5, 2, 6, "20"), Edit("x.py", 1, 1, 1, 1, "import os\n"), Edit("x.py", 3, 1, 4, 1, "")]
    assert apply_edits(text, edits) == "import os\na = 1\nb = 20\n"


def test_overlapping_edits_are_refused():
    with pytest.raises(EditError):
        apply_edits("a = 1\n", [Edit("x.py", 1, 1, 1, 4, "b"), Edit("x.py", 1, 3, 1, 6, "c")])


# -- a fix that spans files ------------------------------------------------------------------------

NOTE_FOR_DATA = "# the head's dropout follows the module's mode\n"


def two_file_fix(data_edit: str):
    """pass_training_flag's real edit in train.py plus an insertion at the top of data.py."""

    def build(ctx, call, statement):
        return Fix(Applicability.SAFE, "dropout follows the module's mode", (
            Edit(ctx.path, 12, 24, 12, 41, "F.dropout(x, 0.5, training=self.training)"),
            Edit("data.py", 1, 1, 1, 1, data_edit),
        ))

    return build


@pytest.fixture
def two_files(project):
    (project / "data.py").write_text("BATCH_SIZE = 32\n")
    return project


def test_a_fix_spanning_two_files_writes_both(two_files, monkeypatch):
    from nnlint.families.layers import fixes

    monkeypatch.setattr(fixes, "pass_training_flag", two_file_fix(NOTE_FOR_DATA))
    result = run_cli(["--no-cache", "--fix", "--select", "NNL503", "train.py", "data.py"])
    assert "not fixed" not in result.stderr
    assert "F.dropout(x, 0.5, training=self.training)" in (two_files / "train.py").read_text()
    assert (two_files / "data.py").read_text() == NOTE_FOR_DATA + "BATCH_SIZE = 32\n"


def test_a_fix_spanning_two_files_is_written_to_neither_when_one_fails(two_files, monkeypatch):
    from nnlint.families.layers import fixes

    monkeypatch.setattr(fixes, "pass_training_flag", two_file_fix("(\n"))
    result = run_cli(["--no-cache", "--fix", "--select", "NNL503", "train.py", "data.py"])
    assert "train.py:12:24: NNL503 not fixed: the fixed code does not parse" in result.stderr
    assert (two_files / "train.py").read_text() == BUGGY_AND_FIXABLE
    assert (two_files / "data.py").read_text() == "BATCH_SIZE = 32\n"


def test_a_fix_that_edits_a_file_not_being_linted_is_dropped(two_files, monkeypatch):
    from nnlint.families.layers import fixes

    monkeypatch.setattr(fixes, "pass_training_flag", two_file_fix(NOTE_FOR_DATA))
    result = run_cli(["--no-cache", "--fix", "--select", "NNL503", "train.py"])
    assert "NNL503 not fixed: it edits 'data.py', which is not being linted" in result.stderr
    assert (two_files / "train.py").read_text() == BUGGY_AND_FIXABLE
    assert (two_files / "data.py").read_text() == "BATCH_SIZE = 32\n"
