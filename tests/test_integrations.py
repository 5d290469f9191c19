"""flake8 (real flake8), pre-commit (validate-manifest and try-repo) and the wheel's --explain."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from nnlint.engine import lint_bytes
from tests.helpers import DEFAULT_RULES, FIXTURES, ROOT, fixture_files

BIN = Path(sys.executable).parent


def run(command, **kwargs):
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 600)
    return subprocess.run(command, **kwargs)


def test_flake8_reports_the_same_findings_and_columns():
    # scripts only: flake8 reads Python files, not notebooks
    files = [str(path) for path in fixture_files(notebooks=False)]
    completed = run([sys.executable, "-m", "flake8", "--select", "NNL", *files])
    flake8_lines = sorted(line for line in completed.stdout.splitlines() if line)
    expected = []
    for path in fixture_files(notebooks=False):
        # flake8 --select NNL runs the rules that are on by default, as nnlint does
        result = lint_bytes(str(path), path.read_bytes(), DEFAULT_RULES)
        expected += [f"{f.path}:{f.line}:{f.column}: {f.code} [{f.severity.value}] {f.concise}" for f in result.findings]
    assert flake8_lines == sorted(expected)
    assert len(expected) >= 6


def test_flake8_noqa_applies(tmp_path):
    source = (FIXTURES / "loss" / "plain_loop_args_cap.py").read_text()
    silenced = source.replace("# expect: NNL101", "# noqa: NNL101")
    path = tmp_path / "train.py"
    path.write_text(silenced)
    completed = run([sys.executable, "-m", "flake8", "--select", "NNL", str(path)])
    assert completed.stdout == "" and completed.returncode == 0


@pytest.mark.parametrize(
    "comment, silenced", [("# NOQA: NNL101", True), ("# noqa:NNL1", True), ("# NOQA:nnl101", False), ("#noqa", False)]
)
def test_flake8_and_nnlint_read_noqa_alike(tmp_path, comment, silenced):
    source = (FIXTURES / "loss" / "plain_loop_args_cap.py").read_text()
    path = tmp_path / "train.py"
    path.write_text(source.replace("# expect: NNL101", comment))
    flake8 = run([sys.executable, "-m", "flake8", "--select", "NNL", str(path)])
    nnlint = run([sys.executable, "-m", "nnlint", "--no-cache", str(path)])
    assert (flake8.stdout == "", nnlint.stdout == "") == (silenced, silenced)


def test_flake8_runs_info_rules_only_when_selected(tmp_path):
    from tests.test_cli_options import BIAS_BEFORE_BN

    path = tmp_path / "model.py"
    path.write_text(BIAS_BEFORE_BN)
    assert run([sys.executable, "-m", "flake8", "--select", "NNL", str(path)]).stdout == ""
    for selection in (["--select", "NNL5"], ["--select", "E,NNL", "--extend-select", "NNL507"]):
        completed = run([sys.executable, "-m", "flake8", *selection, str(path)])
        assert completed.stdout == (
            f"{path}:6:9: NNL507 [info] bias of Conv2d is cancelled by the BatchNorm after it: pass bias=False\n"
        ), selection


def test_pre_commit_manifest_is_valid():
    completed = run([str(BIN / "pre-commit"), "validate-manifest", str(ROOT / ".pre-commit-hooks.yaml")])
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_pre_commit_try_repo(tmp_path):
    """pre-commit installs this checkout as a hook and runs it on a repository with a buggy script
    and a buggy notebook."""
    repo = tmp_path / "user-repo"
    repo.mkdir()
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "GIT_CONFIG_NOSYSTEM": "1"}
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "init.defaultBranch=main"]
    run(git + ["init", "-q"], cwd=repo, check=True)
    shutil.copy(FIXTURES / "loss" / "plain_loop_args_cap.py", repo / "train.py")
    shutil.copy(FIXTURES / "loss" / "clean_probability_clamp.py", repo / "clean.py")
    shutil.copy(FIXTURES / "notebooks" / "segmentation_tutorial.ipynb", repo / "segmentation.ipynb")
    run(git + ["add", "."], cwd=repo, check=True)
    run(git + ["commit", "-qm", "init"], cwd=repo, check=True)
    # pre-commit installs the hook from a git repository: snapshot this working tree into one
    # (tracked and untracked files, not the ignored ones), committed or not
    hook_repo = tmp_path / "nnlint-snapshot"
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT, check=True).stdout
    for relative in filter(None, listed.split("\0")):
        source = ROOT / relative
        if source.is_file():
            (hook_repo / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, hook_repo / relative)
    run(git + ["init", "-q"], cwd=hook_repo, check=True)
    run(git + ["add", "-A"], cwd=hook_repo, check=True)
    run(git + ["commit", "-qm", "snapshot"], cwd=hook_repo, check=True)
    completed = run(
        [str(BIN / "pre-commit"), "try-repo", str(hook_repo), "nnlint", "--all-files"], cwd=repo, env=env
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 1, output
    assert "train.py:34:20: NNL101" in output
    assert "segmentation.ipynb:cell 7:5:16: NNL101" in output
    assert "clean.py" not in output.split("NNL101", 1)[0].splitlines()[-1]


def test_explain_works_from_the_installed_wheel(tmp_path):
    """Build the wheel, install it into a bare folder, and read a rule doc from there."""
    wheel_dir = tmp_path / "wheel"
    completed = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheel_dir), str(ROOT)]
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    wheel = next(wheel_dir.glob("nnlint-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "nnlint/rules/NNL101.md" in names
    target = tmp_path / "installed"
    completed = run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)])
    assert completed.returncode == 0, completed.stderr
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = "import nnlint, sys; print(nnlint.__file__)"
    where = run([sys.executable, "-c", probe], env=env, cwd=tmp_path).stdout.strip()
    assert where.startswith(str(target)), where
    completed = run([sys.executable, "-m", "nnlint", "--explain", "NNL101"], env=env, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("# NNL101 loss-clipped")


def test_flake8_uses_the_facts_of_the_other_modules(tmp_path):
    shutil.copytree(FIXTURES / "projects" / "unshuffled_scripts", tmp_path / "project")
    project = tmp_path / "project"
    env = {**os.environ, "NNLINT_CACHE_DIR": str(tmp_path / "cache")}
    # the loader built in data.py is trained on in train.py: data.py gets the finding, as with nnlint
    linted = run([sys.executable, "-m", "flake8", "--select", "NNL", "data.py", "train.py"], cwd=project, env=env)
    assert [line.split(" ")[0] for line in linted.stdout.splitlines()] == ["data.py:15:20:"]
    assert "NNL601" in linted.stdout
    alone = run([sys.executable, "-m", "flake8", "--select", "NNL", "--nnlint-no-project", "data.py", "train.py"], cwd=project, env=env)
    assert alone.stdout == "" and alone.returncode == 0
