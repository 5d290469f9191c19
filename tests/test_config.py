"""[tool.nnlint] discovery, keys, CLI overrides and errors."""

from __future__ import annotations

import pytest

from tests.helpers import run_cli
from tests.test_cli import CAPPED, write


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "train.py", CAPPED)
    return tmp_path


def test_nearest_pyproject_with_a_nnlint_table_is_used(project, monkeypatch):
    write(project / "pyproject.toml", '[tool.nnlint]\nignore = ["NNL101"]\n')
    write(project / "sub" / "pyproject.toml", '[project]\nname = "sub"\n')  # no [tool.nnlint]: skipped
    write(project / "sub" / "deep" / "train.py", CAPPED)
    monkeypatch.chdir(project / "sub" / "deep")
    assert run_cli(["train.py"]).exit_code == 0


def test_nearer_config_wins(project, monkeypatch):
    write(project / "pyproject.toml", '[tool.nnlint]\nignore = ["NNL101"]\n')
    write(project / "sub" / "pyproject.toml", '[tool.nnlint]\nselect = ["NNL1"]\n')
    write(project / "sub" / "train.py", CAPPED)
    monkeypatch.chdir(project / "sub")
    assert run_cli(["train.py"]).exit_code == 1


def test_cli_overrides_config(project):
    write(project / "pyproject.toml", '[tool.nnlint]\nignore = ["NNL101"]\n')
    assert run_cli(["train.py"]).exit_code == 0
    assert run_cli(["--ignore", "NNL000", "train.py"]).exit_code == 1


def test_select_as_comma_string_and_extend_select(project):
    write(project / "pyproject.toml", '[tool.nnlint]\nselect = "NNL000"\nextend-select = ["NNL101"]\n')
    assert run_cli(["train.py"]).exit_code == 1


def test_explicit_config_file(project, tmp_path_factory):
    other = tmp_path_factory.mktemp("cfg") / "nnlint.toml"
    other.write_text('ignore = ["NNL1"]\n')
    assert run_cli(["--config", str(other), "train.py"]).exit_code == 0
    pyproject = tmp_path_factory.mktemp("cfg2") / "pyproject.toml"
    pyproject.write_text('[tool.nnlint]\nignore = ["NNL101"]\n')
    assert run_cli(["--config", str(pyproject), "train.py"]).exit_code == 0


def test_exclude_globs_relative_to_the_config(project):
    write(project / "pyproject.toml", '[tool.nnlint]\nexclude = ["legacy/*", "*_generated.py"]\n')
    write(project / "legacy" / "old.py", CAPPED)
    write(project / "model_generated.py", CAPPED)
    result = run_cli(["."])
    assert {line.split(":")[0] for line in result.stdout.splitlines()} == {"train.py"}
    # an explicitly named excluded file is skipped too (pre-commit passes file names)
    assert run_cli(["legacy/old.py"]).stdout == ""


def test_per_file_ignores(project):
    write(project / "pyproject.toml", '[tool.nnlint]\n[tool.nnlint.per-file-ignores]\n"scripts/*.py" = ["NNL101"]\n')
    write(project / "scripts" / "try.py", CAPPED)
    result = run_cli(["."])
    assert {line.split(":")[0] for line in result.stdout.splitlines()} == {"train.py"}


@pytest.mark.parametrize(
    "content, message",
    [
        ('[tool.nnlint]\nselct = ["NNL1"]\n', "unknown key 'selct'"),
        ('[tool.nnlint]\nselect = ["NNL999"]\n', "'NNL999'"),
        ('[tool.nnlint]\nselect = 3\n', "'select'"),
        ('[tool.nnlint]\nexclude = [1, 2]\n', "'exclude'"),
        ('[tool.nnlint]\nper-file-ignores = ["x"]\n', "'per-file-ignores'"),
        ('[tool.nnlint]\nper-file-ignores = { "a/*" = ["XYZ1"] }\n', "'XYZ1'"),
        ("[tool.nnlint\nselect = 1\n", "invalid TOML"),
        ('[tool]\nnnlint = "yes"\n', "must be a table"),
    ],
)
def test_bad_config_is_a_clear_error(project, content, message):
    write(project / "pyproject.toml", content)
    result = run_cli(["train.py"])
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.startswith("nnlint: ") and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_missing_explicit_config(project):
    result = run_cli(["--config", "nope.toml", "train.py"])
    assert result.exit_code == 2 and "nope.toml does not exist" in result.stderr


def test_unrelated_broken_pyproject_is_not_our_business(project):
    write(project / "pyproject.toml", "[project\nname = 'x'\n")
    assert run_cli(["train.py"]).exit_code == 1
