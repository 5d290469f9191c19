"""nnlint never crashes, never hangs and never runs the code it lints.

Set NNLINT_DEEP=1 for a long property-test run (many more generated programs and mutations).
"""

from __future__ import annotations

import os
import random
import sys

import hypothesmith
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlint.engine import lint_bytes, lint_text
from nnlint.catalogue import all_rules
from tests.helpers import FIXTURES, fixture_files, run_cli
from tests.test_cli import CAPPED, write

ENABLED = frozenset(all_rules())
DEEP = os.environ.get("NNLINT_DEEP") == "1"
PROPERTY = settings(
    max_examples=1000 if DEEP else 25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=not DEEP,
)


def assert_sane(result):
    assert not result.internal_errors, result.internal_errors
    for finding in result.findings:
        assert finding.line >= 1 and finding.column >= 1


@PROPERTY
@given(hypothesmith.from_grammar())
def test_grammar_generated_programs(source):
    assert_sane(lint_text("generated.py", source, ENABLED, use_triggers=False))


@PROPERTY
@given(hypothesmith.from_node())
def test_node_generated_programs(source):
    assert_sane(lint_text("generated.py", source, ENABLED, use_triggers=False))


FIXTURE_SOURCES = [path.read_bytes() for path in fixture_files(notebooks=False)]


@st.composite
def mutated_fixture(draw):
    data = draw(st.sampled_from(FIXTURE_SOURCES))
    lines = data.splitlines(keepends=True)
    operation = draw(st.sampled_from(["delete", "swap", "truncate", "insert_bytes", "duplicate"]))
    if operation == "delete" and lines:
        start = draw(st.integers(0, len(lines) - 1))
        del lines[start : start + draw(st.integers(1, 5))]
    elif operation == "swap" and len(lines) > 1:
        a, b = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
        lines[a], lines[b] = lines[b], lines[a]
    elif operation == "duplicate" and lines:
        index = draw(st.integers(0, len(lines) - 1))
        lines.insert(index, lines[index])
    data = b"".join(lines)
    if operation == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif operation == "insert_bytes":
        position = draw(st.integers(0, len(data)))
        data = data[:position] + draw(st.binary(min_size=1, max_size=8)) + data[position:]
    return data


@PROPERTY
@given(mutated_fixture())
def test_mutated_fixtures(data):
    assert_sane(lint_bytes("mutated.py", data, ENABLED, use_triggers=False))


# --- pathological input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, source",
    [
        ("deep_parentheses", "loss.backward()\nx = " + "(" * 5000 + "1" + ")" * 5000 + "\n"),
        ("deep_brackets", "loss.backward()\nx = " + "[" * 5000 + "]" * 5000 + "\n"),
        ("long_chain", "loss.backward()\nx = " + " + ".join(["a"] * 5000) + "\n"),
        ("deep_unary", "loss.backward()\nx = " + "-" * 5000 + "1\n"),
        ("deep_calls", "loss.backward()\nx = " + "f(" * 3000 + ")" * 3000 + "\n"),
        ("deep_attributes", "loss.backward()\nx = a" + ".b" * 20000 + "\n"),
        ("deep_indentation", "loss.backward()\n" + "".join(" " * i + "if x:\n" for i in range(150)) + " " * 150 + "pass\n"),
    ],
)
def test_deeply_nested_code_is_a_clear_message(name, source):
    result = lint_text(f"{name}.py", source, ENABLED)
    assert_sane(result)
    assert [f.code for f in result.findings] in ([], ["NNL000"])
    for finding in result.findings:
        assert "nested" in finding.message or "cannot parse" in finding.message


def test_very_long_line():
    source = CAPPED.replace("import torch\n", "import torch\nNAMES = [" + ", ".join(["'x'"] * 10000) + "]\n")
    assert len(max(source.splitlines(), key=len)) > 50_000
    assert [(f.code, f.line) for f in lint_text("long.py", source, ENABLED).findings] == [("NNL101", 9)]


@pytest.mark.parametrize(
    "label, data, line",
    [
        ("crlf", CAPPED.replace("\n", "\r\n").encode(), 8),
        ("cr", CAPPED.replace("\n", "\r").encode(), 8),
        ("form_feed", ("\f\n" + CAPPED).encode(), 9),
        ("tabs", CAPPED.replace("        ", "\t\t").replace("    ", "\t").encode(), 8),
        ("bom", b"\xef\xbb\xbf" + CAPPED.encode(), 8),
        ("bom_and_cookie", b"\xef\xbb\xbf# -*- coding: utf-8 -*-\n" + CAPPED.encode(), 9),
        ("latin1_cookie", ("# coding: latin-1\n# caf\xe9\n" + CAPPED).encode("latin-1"), 10),
    ],
)
def test_line_endings_and_encodings(label, data, line):
    result = lint_bytes(f"{label}.py", data, ENABLED)
    assert [(f.code, f.line) for f in result.findings] == [("NNL101", line)]


@pytest.mark.parametrize(
    "data, message",
    [
        (b"loss.backward()\x00\n", "NUL bytes"),
        (b"\xef\xbb\xbf# coding: latin-1\nloss.backward()\n", "cannot decode"),
        (b"\xff\xfe\x00l\x00o\x00s\x00s", "NUL bytes"),
        (bytes(range(256)) * 4, "NUL bytes"),
    ],
)
def test_bytes_that_are_not_python(data, message):
    findings = lint_bytes("odd.py", data, ENABLED).findings
    assert [f.code for f in findings] == ["NNL000"] and message in findings[0].message


def test_ten_megabyte_file_is_skipped_with_a_clear_message_not_a_hang():
    source = (CAPPED * (10 * 1024 * 1024 // len(CAPPED) + 1)).encode()
    result = lint_bytes("huge.py", source, ENABLED, timeout=1.0)
    assert [f.code for f in result.findings] == ["NNL000"]
    assert "took longer than 1 s" in result.findings[0].message


def test_symlink_loop_and_dangling_link(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "pkg" / "train.py", CAPPED)
    os.symlink(tmp_path / "pkg", tmp_path / "pkg" / "loop")
    os.symlink(tmp_path / "missing.py", tmp_path / "dangling.py")
    result = run_cli(["."])
    assert result.stdout.splitlines()[0].startswith(os.path.join("pkg", "train.py") + ":8:16: NNL101")
    assert len(result.stdout.splitlines()) == 1
    result = run_cli(["dangling.py"])
    assert result.exit_code == 2 and "dangling.py: not a regular file or folder" in result.stderr


def test_file_deleted_between_discovery_and_reading(tmp_path, monkeypatch):
    import nnlint.cli as cli

    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a.py", CAPPED)
    write(tmp_path / "b.py", CAPPED)
    real_discover = cli.discover

    def discover_then_delete(*args, **kwargs):
        found = real_discover(*args, **kwargs)
        (tmp_path / "a.py").unlink()
        return found

    monkeypatch.setattr(cli, "discover", discover_then_delete)
    result = run_cli(["."])
    assert "a.py:1:1: NNL000 [error] cannot read: No such file or directory" in result.stdout
    assert "b.py:8:16: NNL101" in result.stdout


def test_unreadable_pyproject(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "train.py", CAPPED)
    (tmp_path / "pyproject.toml").write_bytes(b"[tool.nnlint]\nselect = ['\xff']\n")
    result = run_cli(["train.py"])
    assert result.exit_code == 2 and result.stderr.startswith("nnlint: cannot read config file")


def test_static_mode_never_runs_the_linted_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "marker.txt"
    write(tmp_path / "evil_helper.py", f"open({str(marker)!r}, 'w').write('imported')\n")
    source = (
        "import evil_helper\n"
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "import torch\n"
        f"CAP = __import__('pathlib').Path({str(marker)!r}).write_text('constant')\n"
        + CAPPED.replace("max=5.0", "max=CAP")
    )
    write(tmp_path / "train.py", source)
    sys.path.insert(0, str(tmp_path))
    try:
        result = run_cli(["--no-cache", "train.py", "evil_helper.py"])
    finally:
        sys.path.remove(str(tmp_path))
    assert "NNL101" in result.stdout
    assert not marker.exists()


@pytest.mark.parametrize("path", fixture_files(notebooks=False), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_fixture_with_every_line_removed_in_turn_never_crashes(path):
    lines = path.read_bytes().splitlines(keepends=True)
    rng = random.Random(path.name)
    for index in rng.sample(range(len(lines)), min(len(lines), 40 if DEEP else 6)):
        assert_sane(lint_bytes("cut.py", b"".join(lines[:index] + lines[index + 1 :]), ENABLED))


def test_site_packages_corpus_sample():
    """A deterministic sample of the corpus check (the full run: python benchmarks/corpus_check.py)."""
    import subprocess

    from tests.helpers import ROOT

    sample = "2000" if DEEP else "120"
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "corpus_check.py"), "--sample", sample],
        capture_output=True, text=True, timeout=1800,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert " 0 internal errors or tracebacks" in completed.stdout
