"""The options ruff and flake8 users reach for: their effect on output, files and exit codes."""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers import run_cli
from tests.test_cli import CAPPED, write

# NNL304 (warning): a full checkpoint loaded with strict=False, the result discarded
PARTIAL_LOAD = """\
import torch
from torchvision.models import resnet50

model = resnet50(num_classes=10)
state = torch.load("checkpoint.pt", map_location="cpu")
model.load_state_dict(state, strict=False)
"""
# NNL507 (info, off by default): a bias cancelled by the BatchNorm after it
BIAS_BEFORE_BN = """\
import torch.nn as nn


def conv_block(in_channels, out_channels):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "train.py", CAPPED)
    return tmp_path


def reported(result):
    return sorted({line.split(":")[0] for line in result.stdout.splitlines()})


# --- files named on the command line honour the excludes (pre-commit names every file) ---------------


def test_named_file_in_an_excluded_folder_is_skipped(project):
    write(project / "pyproject.toml", '[tool.nnlint]\nexclude = ["experiments"]\n')
    write(project / "experiments" / "sweep" / "old.py", CAPPED)
    result = run_cli([os.path.join("experiments", "sweep", "old.py"), "train.py"])
    assert reported(result) == ["train.py"] and result.exit_code == 1
    result = run_cli([os.path.join("experiments", "sweep", "old.py")])
    assert (result.exit_code, result.stdout) == (0, "")
    # a named folder inside an excluded one too
    assert run_cli([os.path.join("experiments", "sweep")]).stdout == ""
    # ruff's --no-force-exclude lints what is named
    assert run_cli(["--no-force-exclude", os.path.join("experiments", "sweep", "old.py")]).exit_code == 1


def test_an_exclude_never_applies_to_the_folder_holding_the_config(tmp_path, monkeypatch):
    root = tmp_path / "experiments"
    write(root / "pyproject.toml", '[tool.nnlint]\nexclude = ["experiments"]\n')
    write(root / "train.py", CAPPED)
    monkeypatch.chdir(root)
    assert reported(run_cli(["."])) == ["train.py"]
    assert reported(run_cli(["train.py"])) == ["train.py"]


def test_extend_exclude_adds_to_the_configured_excludes(project):
    write(project / "pyproject.toml", '[tool.nnlint]\nexclude = ["legacy"]\n')
    write(project / "legacy" / "a.py", CAPPED)
    write(project / "scratch" / "b.py", CAPPED)
    assert reported(run_cli(["--extend-exclude", "scratch", "."])) == ["train.py"]
    # --exclude replaces them
    assert reported(run_cli(["--exclude", "scratch", "."])) == [os.path.join("legacy", "a.py"), "train.py"]


# --- rule selection ---------------------------------------------------------------------------------


def test_extend_ignore_adds_to_the_configured_ignores(project):
    write(project / "pyproject.toml", '[tool.nnlint]\nignore = ["NNL3"]\n')
    write(project / "load.py", PARTIAL_LOAD)
    assert reported(run_cli(["."])) == ["train.py"]
    assert run_cli(["--extend-ignore", "NNL101", "."]).stdout == ""
    # --ignore replaces the configured ignores
    assert reported(run_cli(["--ignore", "NNL101", "."])) == ["load.py"]


def test_per_file_ignores_on_the_command_line(project):
    write(project / "scripts" / "try.py", CAPPED)
    write(project / "scripts" / "load.py", PARTIAL_LOAD)
    assert reported(run_cli(["--per-file-ignores", "scripts/*.py:NNL101", "."])) == [
        os.path.join("scripts", "load.py"), "train.py",
    ]
    # several codes for one glob, and several pairs
    assert reported(run_cli(["--per-file-ignores", "scripts/*:NNL101,NNL304", "."])) == ["train.py"]
    assert reported(run_cli(["--per-file-ignores", "scripts/*:NNL1,train.py:NNL101", "."])) == [
        os.path.join("scripts", "load.py"),
    ]


@pytest.mark.parametrize("value, message", [("NNL101", "GLOB:CODES"), ("scripts/*:NNL999", "'NNL999'")])
def test_bad_per_file_ignores_is_a_usage_error(project, value, message):
    result = run_cli(["--per-file-ignores", value, "."])
    assert result.exit_code == 2 and message in result.stderr and result.stdout == ""


def test_info_rules_are_off_unless_selected(project):
    write(project / "model.py", BIAS_BEFORE_BN)
    assert run_cli(["model.py"]).stdout == ""
    assert run_cli(["--select", "NNL", "model.py"]).stdout == ""
    for selection in (["--select", "NNL507"], ["--extend-select", "NNL5"], ["--select", "ALL"], ["--select", "all"]):
        result = run_cli([*selection, "model.py"])
        assert result.stdout.startswith("model.py:6:9: NNL507 [info] "), selection
    write(project / "pyproject.toml", '[tool.nnlint]\nselect = ["ALL"]\nignore = ["NNL1"]\n')
    assert reported(run_cli(["model.py", "train.py"])) == ["model.py"]


def test_fail_on_sets_which_severities_fail(project):
    write(project / "load.py", PARTIAL_LOAD)
    write(project / "model.py", BIAS_BEFORE_BN)
    assert run_cli(["load.py"]).exit_code == 1
    assert run_cli(["--fail-on", "warning", "load.py"]).exit_code == 1
    result = run_cli(["--fail-on", "error", "load.py"])
    assert result.exit_code == 0 and "NNL304 [warning]" in result.stdout
    assert run_cli(["--fail-on", "error", "load.py", "train.py"]).exit_code == 1
    assert run_cli(["--select", "NNL507", "--fail-on", "warning", "model.py"]).exit_code == 0
    assert run_cli(["--select", "NNL507", "model.py"]).exit_code == 1


# --- configuration files ------------------------------------------------------------------------------


def test_isolated_ignores_the_config(project):
    write(project / "pyproject.toml", '[tool.nnlint]\nignore = ["NNL101"]\n')
    assert run_cli(["train.py"]).exit_code == 0
    assert run_cli(["--isolated", "train.py"]).exit_code == 1
    result = run_cli(["--isolated", "--config", "pyproject.toml", "train.py"])
    assert result.exit_code == 2 and "--isolated" in result.stderr


@pytest.mark.skipif(not os.path.exists(os.devnull) or os.name != "posix", reason="needs /dev/null")
def test_config_dev_null_is_an_empty_config(project):
    write(project / "pyproject.toml", '[tool.nnlint]\nignore = ["NNL101"]\n')
    result = run_cli(["--config", os.devnull, "train.py"])
    assert result.exit_code == 1 and result.stderr == ""
    assert result.stdout.startswith("train.py:8:16: NNL101 [error] ")


def test_config_folder_is_a_usage_error(project):
    result = run_cli(["--config", ".", "train.py"])
    assert result.exit_code == 2 and "is a folder" in result.stderr


def test_extend_keys_in_the_config(project):
    write(project / "pyproject.toml", '[tool.nnlint]\nextend-ignore = ["NNL101"]\nextend-exclude = ["scratch"]\n')
    write(project / "scratch" / "load.py", PARTIAL_LOAD)
    assert run_cli(["."]).stdout == ""


# --- output ---------------------------------------------------------------------------------------------


def test_output_file(project):
    result = run_cli(["--output-file", "reports/nnlint.txt", "train.py"])
    assert (result.exit_code, result.stdout) == (1, "")
    assert (project / "reports" / "nnlint.txt").read_text().startswith("train.py:8:16: NNL101 [error] ")
    run_cli(["-o", "out.json", "--output-format", "json", "train.py"])
    assert json.loads((project / "out.json").read_text())[0]["code"] == "NNL101"


def test_output_file_that_cannot_be_written(project):
    write(project / "blocker", "")
    result = run_cli(["--output-file", "blocker/out.txt", "train.py"])
    assert result.exit_code == 2 and "cannot write --output-file" in result.stderr


def test_count_and_statistics_totals(project):
    write(project / "b.py", CAPPED)
    lines = run_cli(["--count", "."]).stdout.splitlines()
    assert lines[-1] == "2" and len(lines) == 3
    lines = run_cli(["--statistics", "--count", "."]).stdout.splitlines()
    assert lines[-3:] == ["2     NNL101 loss-clipped", "2     total in 2 files", "2"]
    assert run_cli(["--count", "--select", "NNL2", "."]).stdout == "0\n"


@pytest.mark.parametrize("output_format", ["json", "sarif", "github"])
def test_text_options_with_a_machine_format_are_ignored_with_a_warning(project, output_format):
    result = run_cli(["--output-format", output_format, "--statistics", "--show-source", "--count", "train.py"])
    assert result.stderr == (
        f"nnlint: --show-source, --statistics, --count are ignored with --output-format {output_format}\n"
    )
    if output_format != "github":
        json.loads(result.stdout)  # nothing but the document on stdout
    assert run_cli(["--output-format", output_format, "--statistics", "--quiet", "train.py"]).stderr == ""


def test_quiet_keeps_findings_and_errors_only(project):
    write(project / "docs" / "notes.txt", "")
    assert run_cli(["--quiet", "docs"]).stderr == ""
    assert "no Python files" in run_cli(["docs"]).stderr
    result = run_cli(["-q", "missing.py", "train.py"])
    assert "missing.py: no such file or folder" in result.stderr
    assert result.stdout.startswith("train.py:8:16: NNL101 [error] ")


def test_format_is_an_alias_of_output_format(project):
    concise = run_cli(["train.py"]).stdout
    assert run_cli(["--format", "text", "train.py"]).stdout == concise
    assert run_cli(["--output-format", "concise", "train.py"]).stdout == concise
    assert json.loads(run_cli(["--format", "json", "train.py"]).stdout)[0]["code"] == "NNL101"
    result = run_cli(["--format", "json", "--output-format", "full", "train.py"])
    assert result.exit_code == 2 and "contradicts" in result.stderr


# --- files that cannot be analysed ----------------------------------------------------------------------


def test_every_unparsable_file_is_reported(project):
    # nothing any rule looks for, so no rule runs, but the syntax error is still reported
    write(project / "util.py", "import os\n\n\ndef join(a, b:\n    return os.path.join(a, b)\n")
    result = run_cli(["util.py"])
    assert result.stdout == "util.py:4:9: NNL000 [error] cannot parse: '(' was never closed\n"
    assert result.exit_code == 1


def test_decoding_errors_point_at_the_byte(project):
    (project / "latin.py").write_bytes(b"import os\r\nx = 1\r\nname = 'caf\xe9'\r\n")
    assert run_cli(["latin.py"]).stdout.startswith("latin.py:3:12: NNL000 [error] cannot decode as utf-8: invalid byte 0xe9")
    (project / "cookie.py").write_bytes(b"#!/usr/bin/env python\n# -*- coding: klingon -*-\nx = 1\n")
    assert run_cli(["cookie.py"]).stdout.startswith("cookie.py:2:1: NNL000 [error] cannot decode: unknown encoding")


# --- the text forms ---------------------------------------------------------------------------------------

CONCISE = "train.py:8:16: NNL101 [error] loss capped at 5.0 before backward(): no gradient above the cap; clip the gradients instead"


def test_concise_is_the_default_one_line_per_finding(project):
    result = run_cli(["train.py"])
    assert result.stdout == CONCISE + "\n"
    assert run_cli(["--show-source", "train.py"]).stdout.splitlines() == [
        CONCISE, "        loss = loss.clamp(max=5.0)", " " * 15 + "^" * 19,
    ]


def test_full_has_the_long_message_and_the_source(project):
    lines = run_cli(["--output-format", "full", "train.py"]).stdout.splitlines()
    assert lines[0].startswith("train.py:8:16: NNL101 [error] loss is capped at 5.0 by `loss.clamp(max=5.0)` before backward(): ")
    assert lines[0].endswith("or use a robust loss (Huber/SmoothL1) if outliers are the concern.")
    assert lines[1:] == ["        loss = loss.clamp(max=5.0)", " " * 15 + "^" * 19, ""]


# --- --add-noqa -------------------------------------------------------------------------------------------

MULTILINE = '''\
import torch
import torch.nn.functional as F


def train(model, loader, opt):
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        loss = torch.clamp(  # the cap keeps spikes out
            loss,
            max=5.0,
        )
        loss.backward()
        opt.step()
        opt.zero_grad()
'''


def test_add_noqa_baselines_every_finding_and_is_idempotent(project):
    write(project / "load.py", PARTIAL_LOAD.replace("strict=False)", "strict=False)  # noqa: E501"))
    write(project / "multi.py", MULTILINE)
    result = run_cli(["--add-noqa", "."])
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "nnlint: added 3 noqa directives to 3 files\n"
    # codes merged into an existing noqa
    assert (project / "load.py").read_text().splitlines()[-1] == "model.load_state_dict(state, strict=False)  # noqa: E501, NNL304"
    assert (project / "train.py").read_text().splitlines()[7] == "        loss = loss.clamp(max=5.0)  # noqa: NNL101"
    # a multi-line finding gets it on its last line; the comment on its first line stays
    assert (project / "multi.py").read_text() == MULTILINE.replace("        )\n", "        )  # noqa: NNL101\n")
    assert run_cli(["."]).exit_code == 0
    snapshot = {path.name: path.read_bytes() for path in project.glob("*.py")}
    assert run_cli(["--add-noqa", "."]).stderr == "nnlint: added 0 noqa directives to 0 files\n"
    assert {path.name: path.read_bytes() for path in project.glob("*.py")} == snapshot


def test_add_noqa_keeps_encoding_and_line_endings(project):
    source = "# -*- coding: latin-1 -*-\r\n" + CAPPED.replace("\n", "\r\n").replace("import torch\r\n", "import torch\r\nAUTHOR = '\xe9'\r\n", 1)
    (project / "train.py").write_bytes(source.encode("latin-1"))
    assert run_cli(["--add-noqa", "train.py"]).exit_code == 0
    expected = source.replace("loss.clamp(max=5.0)\r\n", "loss.clamp(max=5.0)  # noqa: NNL101\r\n")
    assert (project / "train.py").read_bytes() == expected.encode("latin-1")


def test_add_noqa_leaves_unparsable_files_alone(project):
    write(project / "broken.py", "def f(:\n")
    assert run_cli(["--add-noqa", "broken.py"]).stderr == "nnlint: added 0 noqa directives to 0 files\n"
    assert (project / "broken.py").read_text() == "def f(:\n"


def test_verbose_names_the_config_file(project):
    write(project / "pyproject.toml", '[tool.nnlint]\nignore = ["NNL2"]\n')
    assert run_cli(["--verbose", "train.py"]).stderr == f"nnlint: config: {project / 'pyproject.toml'}\n"
    assert run_cli(["--verbose", "--isolated", "train.py"]).stderr == "nnlint: config: none\n"
