"""Project analysis: multi-file fixture projects give exactly the findings their markers name, in
whichever file holds them (`# expect: CODE` on the reported line, `# related: CODE` on each line
the finding cites), and the cache re-checks a file when a module it reads changes."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, run_cli

PROJECTS = FIXTURES / "projects"
MARKER = re.compile(r"#\s*(?P<kind>expect|related):\s*(?P<codes>NNL\d{3}(?:\s*,\s*NNL\d{3})*)")


def _markers(root: Path):
    expected, related = set(), set()
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for match in MARKER.finditer(line):
                for code in match.group("codes").split(","):
                    target = expected if match.group("kind") == "expect" else related
                    target.add((relative, number, code.strip()))
    return expected, related


def _lint(root: Path, *args: str):
    cwd = os.getcwd()
    os.chdir(root)
    try:
        result = run_cli(["--format", "json", "--no-cache", "-j", "1", *args])
    finally:
        os.chdir(cwd)
    assert result.exit_code in (0, 1), result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", sorted(p.name for p in PROJECTS.iterdir() if p.is_dir()))
def test_project_findings_are_exact(name):
    root = PROJECTS / name
    expected, related = _markers(root)
    records = _lint(root, ".")
    assert {(r["path"], r["line"], r["code"]) for r in records} == expected
    cited = {(item["path"], item["line"], r["code"]) for r in records for item in r["related"]}
    assert cited == related
    # the concise form stays one short line, as for single files (tests/test_fixtures.py)
    for record in records:
        line = f"{record['code']} [{record['severity']}] {record['short_message']}"
        assert record["short_message"] and len(line) <= 140 and "\n" not in line, line


def test_there_are_buggy_and_clean_projects():
    names = [p for p in PROJECTS.iterdir() if p.is_dir()]
    assert any(_markers(p)[0] for p in names) and any(not _markers(p)[0] for p in names)


def test_no_project_lints_file_by_file():
    assert _lint(PROJECTS / "unshuffled_scripts", "--no-project", ".") == []


def test_linting_one_file_uses_the_other_modules():
    records = _lint(PROJECTS / "unshuffled_scripts", "train.py")
    assert [(r["path"], r["line"], r["code"]) for r in records] == [("data.py", 15, "NNL601")]
    assert records[0]["related"] == [
        {"path": "train.py", "line": 24, "column": 9, "message": "the training loop that iterates it"}
    ]


def test_a_linted_module_hears_of_its_importers():
    records = _lint(PROJECTS / "classifier_pkg", "classifier/evaluation.py")
    assert [(r["path"], r["line"], r["code"]) for r in records] == [("classifier/evaluation.py", 8, "NNL501")]


def test_noqa_on_the_reported_line_suppresses(tmp_path):
    root = tmp_path / "project"
    shutil.copytree(PROJECTS / "unshuffled_scripts", root)
    data = root / "data.py"
    data.write_text(data.read_text().replace("# expect: NNL601", "# noqa: NNL601"))
    assert _lint(root, ".") == []


def test_editing_a_module_rechecks_the_files_that_read_it(tmp_path):
    root = tmp_path / "project"
    shutil.copytree(PROJECTS / "classifier_pkg", root)
    cache = tmp_path / "cache"

    def lint():
        cwd = os.getcwd()
        os.chdir(root)
        try:
            result = run_cli(["--format", "json", "--cache-dir", str(cache), "."])
        finally:
            os.chdir(cwd)
        return [(r["path"], r["line"], r["code"]) for r in json.loads(result.stdout)]

    assert lint() == [("classifier/evaluation.py", 8, "NNL501")]
    assert lint() == [("classifier/evaluation.py", 8, "NNL501")]  # from the cache
    model = root / "classifier" / "model.py"
    # without BatchNorm the model behaves the same in both modes: evaluation.py is re-checked
    model.write_text(model.read_text().replace("self.bn = nn.BatchNorm2d(channels)", "self.bn = nn.Identity()"))
    assert lint() == []


@pytest.mark.parametrize(
    "project, linted, expected",
    [
        ("gpt_same_window", "train.py", [("train.py", 13, "NNL401")]),
        ("lm_double_shift", "tinylm/train.py", [("tinylm/data.py", 17, "NNL402")]),
        ("capped_loss_engine", "segtrain/losses.py", [("segtrain/losses.py", 17, "NNL101")]),
        ("capped_loss_engine", "segtrain/engine.py", [("segtrain/losses.py", 17, "NNL101")]),
        ("trainer_class_gpt", "trainer.py", [("data.py", 14, "NNL401")]),
        ("softmax_head_engine", "engine.py", [("engine.py", 13, "NNL505")]),
        ("finetune_replace_head", "train.py", [("train.py", 21, "NNL602")]),
    ],
)
def test_evidence_in_other_files_is_read_there(project, linted, expected):
    # the model class, the Dataset, the backward or the new layer sits in a file that is not linted
    records = _lint(PROJECTS / project, linted)
    assert [(r["path"], r["line"], r["code"]) for r in records] == expected
    assert _lint(PROJECTS / project, "--no-project", linted) == []


def test_a_finding_elsewhere_names_the_model_file():
    records = _lint(PROJECTS / "gpt_same_window", "train.py")
    assert "GPT.forward (model.py:61)" in records[0]["message"]


def test_both_passes_in_worker_processes_find_the_same(monkeypatch):
    from nnlint import parallel

    serial = _lint(PROJECTS, ".")
    monkeypatch.setattr(parallel, "PROCESS_MAP_FROM", 1)  # summaries too, however few the modules
    cwd = os.getcwd()
    os.chdir(PROJECTS)
    try:
        pooled = json.loads(run_cli(["--format", "json", "--no-cache", "-j", "2", "."]).stdout)
    finally:
        os.chdir(cwd)
    assert pooled == serial and serial


def test_pretrained_inputs_cross_files_from_the_training_script():
    records = _lint(PROJECTS / "flowers_finetune", "train.py")
    assert [(r["path"], r["line"], r["column"], r["code"]) for r in records] == [("flowers/data.py", 6, 12, "NNL301")]
    assert records[0]["related"] == [
        {"path": "flowers/model.py", "line": 7, "column": 13,
         "message": "builds resnet50 (ResNet50_Weights.IMAGENET1K_V2 weights)"},
        {"path": "train.py", "line": 25, "column": 30,
         "message": "the training loop feeds the pipeline's batches to the model here"},
    ]
    assert "flowers/model.py:7 builds resnet50" in records[0]["message"]


def test_a_dataset_hears_which_pipeline_its_constructions_pass():
    records = _lint(PROJECTS / "landcover_seg", "landcover/datasets.py")
    assert [(r["path"], r["line"], r["code"]) for r in records] == [("landcover/datasets.py", 22, "NNL201")]
    assert records[0]["related"] == [
        {"path": "landcover/transforms.py", "line": 5, "column": 12, "message": "builds the pipeline"}
    ]


@pytest.mark.parametrize("name", ["flowers_finetune", "leaf_timm_engine", "landcover_seg", "lightning_seg_image_only"])
def test_data_rules_across_files_need_the_project(name):
    assert _lint(PROJECTS / name, "--no-project", ".") == []
