"""The command line as a user sees it: output, exit codes, options, stdin, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nnlint import __version__
from tests.helpers import FIXTURES, run_cli

BUGGY = FIXTURES / "loss" / "plain_loop_args_cap.py"
CLEAN = FIXTURES / "loss" / "clean_probability_clamp.py"

CAPPED = """\
import torch
import torch.nn.functional as F


def train(model, loader, opt):
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        loss = loss.clamp(max=5.0)
        loss.backward()
        opt.step()
        opt.zero_grad()
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty project folder as the current folder (no pyproject.toml above it)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_text_output_is_flake8_format(project):
    write(project / "train.py", CAPPED)
    result = run_cli(["train.py"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("train.py:8:16: NNL101 [error] ")
    assert result.stderr == ""


def test_clean_file_exits_zero_with_no_output():
    result = run_cli([str(CLEAN)])
    assert (result.exit_code, result.stdout) == (0, "")


def test_exit_zero_forces_success():
    result = run_cli(["--exit-zero", str(BUGGY)])
    assert result.exit_code == 0 and "NNL101" in result.stdout


def test_folder_recursion_finds_every_marked_fixture():
    result = run_cli([str(FIXTURES / "loss")])
    reported = {line.split(":")[0] for line in result.stdout.splitlines()}
    assert str(BUGGY) in reported
    assert not any("clean_" in path for path in reported)


def test_no_path_means_current_folder(project):
    write(project / "pkg" / "train.py", CAPPED)
    result = run_cli([])
    assert result.stdout.startswith(os.path.join("pkg", "train.py") + ":8:16: NNL101 [error] ")


def test_default_skipped_folders(project):
    for folder in (".git", "build", "dist", "__pycache__", ".tox", "venv", ".venv"):
        write(project / folder / "train.py", CAPPED)
    write(project / "myenv" / "pyvenv.cfg", "home = /usr/bin\n")
    write(project / "myenv" / "lib" / "train.py", CAPPED)
    write(project / "src" / "train.py", CAPPED)
    result = run_cli(["."])
    paths = {line.split(":")[0] for line in result.stdout.splitlines()}
    assert paths == {os.path.join("src", "train.py")}


def test_show_source_adds_line_and_caret(project):
    write(project / "train.py", CAPPED)
    lines = run_cli(["--show-source", "train.py"]).stdout.splitlines()
    assert lines[1] == "        loss = loss.clamp(max=5.0)"
    # the caret underlines the finding's span (deliberate change: it was one caret at the column)
    assert lines[2] == " " * 15 + "^" * len("loss.clamp(max=5.0)")


def test_statistics_counts_per_code(project):
    write(project / "a.py", CAPPED)
    write(project / "b.py", CAPPED)
    lines = run_cli(["--statistics", "."]).stdout.splitlines()
    assert lines[-2].split() == ["2", "NNL101", "loss-clipped"]
    assert lines[-1] == "2     total in 2 files"


def test_json_format(project):
    write(project / "train.py", CAPPED)
    result = run_cli(["--format", "json", "train.py"])
    records = json.loads(result.stdout)
    assert len(records) == 1
    record = records[0]
    assert set(record) == {
        "path", "cell", "line", "column", "end_line", "end_column", "code", "name", "severity", "message",
        "short_message", "confirmation", "related", "fix",
    }
    assert record["cell"] is None  # set in notebooks only
    assert (record["path"], record["line"], record["column"]) == ("train.py", 8, 16)
    assert (record["end_line"], record["end_column"]) == (8, 35)
    assert (record["code"], record["name"], record["severity"]) == ("NNL101", "loss-clipped", "error")
    assert record["confirmation"] is None


def test_json_with_no_findings_is_an_empty_array():
    result = run_cli(["--format", "json", str(CLEAN)])
    assert json.loads(result.stdout) == [] and result.exit_code == 0


def test_github_format(project):
    write(project / "train.py", CAPPED)
    line = run_cli(["--format", "github", "train.py"]).stdout.strip()
    assert line.startswith("::error file=train.py,line=8,col=16,endLine=8,endColumn=35,title=NNL101 loss-clipped::")
    assert "\n" not in line


def test_select_ignore_and_prefixes(project):
    write(project / "train.py", CAPPED)
    assert run_cli(["--select", "NNL1", "train.py"]).exit_code == 1
    assert run_cli(["--select", "NNL10", "train.py"]).exit_code == 1
    assert run_cli(["--ignore", "NNL101", "train.py"]).exit_code == 0
    assert run_cli(["--ignore", "NNL1", "train.py"]).exit_code == 0
    # the most specific of select and ignore wins, as in flake8
    assert run_cli(["--ignore", "NNL1", "--select", "NNL101", "train.py"]).exit_code == 1
    assert run_cli(["--select", "NNL000", "train.py"]).exit_code == 0
    assert run_cli(["--select", "NNL000", "--extend-select", "NNL101", "train.py"]).exit_code == 1
    assert run_cli(["--select", "nnl101", "train.py"]).exit_code == 1


@pytest.mark.parametrize("option", ["--select", "--ignore", "--extend-select"])
def test_unknown_code_is_a_usage_error(project, option):
    write(project / "train.py", CAPPED)
    result = run_cli([option, "NNL999", "train.py"])
    assert result.exit_code == 2
    assert "NNL999" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_stdin_with_and_without_a_name():
    result = run_cli(["-"], input=CAPPED.encode())
    assert result.stdout.startswith("stdin:8:16: NNL101 [error] ")
    result = run_cli(["--stdin-filename", "src/train.py", "-"], input=CAPPED.encode())
    assert result.stdout.startswith("src/train.py:8:16: NNL101 [error] ")


def test_stdin_filename_drives_per_file_config(project):
    write(project / "pyproject.toml", '[tool.nnlint]\nper-file-ignores = { "scratch/*" = ["NNL101"] }\n')
    assert run_cli(["--stdin-filename", "scratch/x.py", "-"], input=CAPPED.encode()).exit_code == 0
    assert run_cli(["--stdin-filename", "src/x.py", "-"], input=CAPPED.encode()).exit_code == 1


def test_exclude_option(project):
    write(project / "experiments" / "old.py", CAPPED)
    write(project / "train.py", CAPPED)
    result = run_cli(["--exclude", "experiments", "."])
    assert {line.split(":")[0] for line in result.stdout.splitlines()} == {"train.py"}


def test_list_rules():
    result = run_cli(["--list-rules"])
    assert result.exit_code == 0
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()}
    assert rows["NNL101"][1:4] == ["loss-clipped", "error", "on"]
    assert rows["NNL507"][1:4] == ["bias-before-batchnorm", "info", "off"]
    assert "NNL000" in rows and "NNL001" in rows


def test_explain_prints_the_doc():
    result = run_cli(["--explain", "NNL101"])
    assert result.exit_code == 0
    assert result.stdout.startswith("# NNL101 loss-clipped")
    assert "## Fix" in result.stdout


def test_explain_unknown_code():
    result = run_cli(["--explain", "NNL999"])
    assert result.exit_code == 2 and "NNL999" in result.stderr


def test_version():
    result = run_cli(["--version"])
    assert result.exit_code == 0 and __version__ in result.stdout


# --- bad input: a clear message, never a traceback, the other files still linted -------------------


def test_syntax_error_is_nnl000_at_its_location_and_others_still_linted(project):
    write(project / "a_broken.py", "import torch\n\ndef train(model:\n    loss.backward()\n")
    write(project / "b_train.py", CAPPED)
    result = run_cli(["."])
    lines = result.stdout.splitlines()
    assert lines[0].startswith("a_broken.py:3:10: NNL000 [error] cannot parse: ")
    assert lines[1].startswith("b_train.py:8:16: NNL101 [error] ")
    assert result.exit_code == 1


def test_non_utf8_and_binary_files(project):
    (project / "latin.py").write_bytes(b"import torch\nname = '\xe9t\xe9'\nloss.backward()\n")
    (project / "blob.py").write_bytes(b"\x00\x01\x02torch backward\x00")
    write(project / "train.py", CAPPED)
    result = run_cli(["."])
    out = result.stdout
    assert "blob.py:1:1: NNL000 [error] cannot read as Python source: the file contains NUL bytes" in out
    assert "latin.py:2:9: NNL000 [error] cannot decode as utf-8: invalid byte 0xe9" in out
    assert "train.py:8:16: NNL101 [error] " in out
    assert result.exit_code == 1 and "Traceback" not in result.stderr


def test_coding_cookie_is_honoured(project):
    source = "# -*- coding: latin-1 -*-\n" + CAPPED.replace("import torch\n", "import torch\nAUTHOR = '\xe9'\n", 1)
    (project / "train.py").write_bytes(source.encode("latin-1"))
    result = run_cli(["train.py"])
    assert result.stdout.startswith("train.py:10:16: NNL101 [error] ")


def test_bom_is_honoured(project):
    (project / "train.py").write_bytes(b"\xef\xbb\xbf" + CAPPED.encode())
    assert run_cli(["train.py"]).stdout.startswith("train.py:8:16: NNL101 [error] ")


def test_empty_file(project):
    write(project / "empty.py", "")
    result = run_cli(["empty.py"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_missing_path_is_reported_and_the_rest_linted(project):
    write(project / "train.py", CAPPED)
    result = run_cli(["nope.py", "train.py"])
    assert result.exit_code == 2
    assert "nnlint: nope.py: no such file or folder" in result.stderr
    assert result.stdout.startswith("train.py:8:16: NNL101 [error] ")


def test_folder_without_python_files(project):
    write(project / "notes.txt", "nothing here")
    result = run_cli(["."])
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr == "nnlint: no Python files or notebooks to lint in . (none found, or all excluded)\n"


def test_unreadable_file(project, monkeypatch):
    write(project / "secret.py", CAPPED)
    write(project / "train.py", CAPPED)
    real_read_bytes = Path.read_bytes

    def read_bytes(self):
        if self.name == "secret.py":
            raise PermissionError(13, "Permission denied")
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    result = run_cli(["."])
    assert "secret.py:1:1: NNL000 [error] cannot read: Permission denied" in result.stdout
    assert "train.py:8:16: NNL101 [error] " in result.stdout


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file_for_real(project):
    path = write(project / "secret.py", CAPPED)
    path.chmod(0)
    try:
        result = run_cli(["secret.py"])
    finally:
        path.chmod(0o644)
    assert "secret.py:1:1: NNL000 [error] cannot read" in result.stdout


def test_installed_console_script_and_module_entry_point(tmp_path):
    script = Path(sys.executable).parent / "nnlint"
    for command in ([str(script)], [sys.executable, "-m", "nnlint"]):
        completed = subprocess.run(
            command + [str(BUGGY)], capture_output=True, text=True, cwd=tmp_path, timeout=120
        )
        assert completed.returncode == 1, completed.stderr
        assert completed.stdout.startswith(f"{BUGGY}:34:20: NNL101 [error] ")
