"""Jupyter notebooks: reading, IPython syntax, placing findings in cells, every output format,
suppression, configuration, discovery and the cache."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from nnlint import batch
from nnlint.batch import lint_files
from nnlint.cache import ResultCache
from nnlint.catalogue import all_rules
from nnlint.discovery import SourceFile
from nnlint.engine import lint_bytes
from nnlint.notebook import file_lines, read_notebook
from tests.helpers import FIXTURES, run_cli

ENABLED = frozenset(all_rules())
NOTEBOOKS = FIXTURES / "notebooks"
SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))

CAPPED_LOOP = """for x, y in loader:
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss = torch.clamp(loss, max=5.0)
    loss.backward()
    optimizer.step()"""


def notebook(*cells, nbformat=4, language="python", outputs=None) -> bytes:
    """An nbformat notebook; each cell is (kind, source). Code cells get an execution count and the
    given outputs, as a notebook that has been run."""
    document = {
        "nbformat": nbformat, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "language": language, "display_name": "Python 3"}},
        "cells": [],
    }
    for number, (kind, source) in enumerate(cells, start=1):
        lines = source.split("\n")
        cell = {"cell_type": kind, "metadata": {}, "source": [line + "\n" for line in lines[:-1]] + [lines[-1]]}
        if kind == "code":
            cell.update(execution_count=number, outputs=outputs or [])
        document["cells"].append(cell)
    return json.dumps(document, indent=1).encode()


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def findings(data: bytes, path: str = "nb.ipynb"):
    result = lint_bytes(path, data, ENABLED)
    assert not result.internal_errors
    return [(f.cell, f.line, f.column, f.code) for f in result.findings]


IMPORTS = ("code", "import torch\nimport torch.nn as nn")


# -- locations in every output format ------------------------------------------------------------


def test_text_output_names_cell_line_and_column():
    result = run_cli(["--no-cache", str(NOTEBOOKS / "transfer_learning_flowers.ipynb")])
    assert result.exit_code == 1
    lines = [line.split(" ", 2)[:2] for line in result.stdout.splitlines()]
    path = str(NOTEBOOKS / "transfer_learning_flowers.ipynb")
    assert lines == [
        [f"{path}:cell", "8:1:25:"],
        [f"{path}:cell", "11:10:9:"],
        [f"{path}:cell", "13:4:23:"],  # after `%time `: the column in the cell as written
    ]
    assert " NNL301 " in result.stdout and " NNL104 " in result.stdout and " NNL501 " in result.stdout


def test_messages_name_other_places_by_cell():
    result = run_cli(["--no-cache", "--output-format", "full", "--select", "NNL301", str(NOTEBOOKS / "transfer_learning_flowers.ipynb")])
    assert "the pipeline `train_tf` (cell 4, line 1)" in result.stdout


def test_json_output_adds_the_cell():
    result = run_cli(["--no-cache", "--format", "json", str(NOTEBOOKS / "char_lm_lecture.ipynb")])
    records = json.loads(result.stdout)
    assert [(r["cell"], r["line"], r["column"], r["end_line"], r["code"]) for r in records] == [
        (5, 8, 22, 8, "NNL401"),
        (7, 11, 5, 11, "NNL604"),
    ]


def test_sarif_and_github_point_at_the_notebook_file_line_with_the_cell_in_the_message():
    path = NOTEBOOKS / "segmentation_tutorial.ipynb"
    raw = path.read_text(encoding="utf-8").splitlines()
    sarif = json.loads(run_cli(["--no-cache", "--format", "sarif", str(path)]).stdout)
    jsonschema.validate(sarif, SCHEMA)
    results = sarif["runs"][0]["results"]
    assert [r["properties"]["cell"] for r in results] == [4, 7]
    clamp = results[1]
    region = clamp["locations"][0]["physicalLocation"]["region"]
    assert "torch.clamp(loss, max=2.0)" in raw[region["startLine"] - 1]  # the .ipynb line that holds the code
    assert clamp["message"]["text"].startswith("cell 7, line 5: ")
    assert (clamp["properties"]["cellLine"], clamp["properties"]["cellColumn"]) == (5, 16)

    github = run_cli(["--no-cache", "--format", "github", str(path)]).stdout.splitlines()
    assert github[1].startswith(f"::error file={path},line={region['startLine']},title=NNL101 loss-clipped::cell 7, line 5: ")


def test_show_source_shows_the_cell_line_as_written():
    result = run_cli(["--no-cache", "--show-source", "--select", "NNL501", str(NOTEBOOKS / "transfer_learning_flowers.ipynb")])
    lines = result.stdout.splitlines()
    assert lines[1] == "        %time preds = model(images.to(device)).argmax(dim=1)  # expect: NNL501"
    assert lines[2] == " " * 22 + "^" * 24  # the span `model(images.to(device))` underlined


def test_file_lines_follow_the_json_layout():
    data = notebook(("markdown", "# title"), ("code", "a = 1\nb = 2"))
    text = data.decode().splitlines()
    placed = file_lines(data)
    assert text[placed[(2, 1)] - 1].strip() == '"a = 1\\n",'
    assert text[placed[(2, 2)] - 1].strip() == '"b = 2"'
    # a source stored as one string: every line of it is on the line of that string
    one_string = json.loads(data)
    one_string["cells"][1]["source"] = "a = 1\nb = 2"
    placed = file_lines(json.dumps(one_string, indent=1).encode())
    assert placed[(2, 1)] == placed[(2, 2)]


# -- the notebook as a module --------------------------------------------------------------------


def test_cells_are_one_module_in_order_and_markdown_counts_in_the_numbering():
    data = notebook(
        ("markdown", "# Training"), IMPORTS, ("raw", "not code"),
        ("code", "model = nn.Linear(4, 2)\ncriterion = nn.MSELoss()\noptimizer = torch.optim.SGD(model.parameters(), lr=0.1)"),
        ("markdown", "the loop"), ("code", CAPPED_LOOP),
    )
    assert findings(data) == [(6, 4, 12, "NNL101")]


def test_empty_and_markdown_only_notebooks_are_clean(tmp_path):
    write(tmp_path, "empty.ipynb", notebook())
    write(tmp_path, "prose.ipynb", notebook(("markdown", "# Notes\nloss.backward() is explained here"), ("raw", "x")))
    result = run_cli(["--no-cache", str(tmp_path)])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_a_notebook_of_another_language_is_skipped():
    assert findings(notebook(("code", CAPPED_LOOP), language="R")) == []


@pytest.mark.parametrize(
    "data, message",
    [
        (b'{"cells": [', "cannot read the notebook: invalid JSON: Expecting value"),
        (b"\xff\xfe\x00garbage", "cannot read the notebook: "),
        (b'["a list"]', "not a Jupyter notebook: the JSON has no 'cells' list"),
        (json.dumps({"nbformat": 3, "worksheets": [], "cells": []}).encode(), "nbformat 3; nnlint reads nbformat 4"),
        (json.dumps({"cells": []}).encode(), "no nbformat version"),
        (json.dumps({"nbformat": 4, "cells": ["loss.backward()"]}).encode(), "cell 1 is not a JSON object"),
        (json.dumps({"nbformat": 4, "cells": [{"cell_type": "code", "source": 3}]}).encode(), "the source of cell 1 is not text"),
    ],
)
def test_malformed_notebooks_are_one_nnl000_never_a_traceback(tmp_path, data, message):
    path = write(tmp_path, "bad.ipynb", data)
    write(tmp_path, "good.ipynb", notebook(IMPORTS, ("code", CAPPED_LOOP)))
    result = run_cli(["--no-cache", str(tmp_path)])
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{path}:") and " NNL000 " in lines[0] and message in lines[0]
    assert lines[1].startswith(f"{tmp_path / 'good.ipynb'}:cell 2:4:12: NNL101")


def test_invalid_json_is_reported_where_the_json_breaks():
    data = b'{\n "nbformat": 4,\n "cells": [}\n}'
    assert findings(data) == [(None, 3, 12, "NNL000")]


def test_a_cell_that_does_not_parse_is_reported_and_the_others_are_linted():
    data = notebook(IMPORTS, ("code", "def accuracy(out, y:\n    return 0"), ("code", CAPPED_LOOP))
    result = lint_bytes("nb.ipynb", data, ENABLED)
    assert [(f.cell, f.line, f.column, f.code) for f in result.findings] == [(2, 1, 13, "NNL000"), (3, 4, 12, "NNL101")]
    assert result.findings[0].message.startswith("cannot parse cell 2: ")


def test_a_notebook_without_triggers_is_not_parsed_like_a_script():
    assert findings(notebook(("code", "def broken(:\n    pass"))) == []


# -- IPython syntax ------------------------------------------------------------------------------


def test_line_magics_shell_escapes_and_help_keep_the_lines_in_place():
    cell = "\n".join([
        "%matplotlib inline",
        "!pip install -q torchvision",
        "files = !ls data",
        "a, b = %sx echo 1 2",
        "torch.optim.SGD?",
        "??nn.Linear",
        "%pinfo nn",
        "!python train.py \\",
        "    --epochs 3",
        CAPPED_LOOP,
    ])
    assert findings(notebook(IMPORTS, ("code", cell))) == [(2, 13, 12, "NNL101")]


def test_time_keeps_its_statement_and_its_columns():
    cell = CAPPED_LOOP.replace("    loss = torch.clamp", "    %time loss = torch.clamp")
    assert findings(notebook(IMPORTS, ("code", cell))) == [(2, 4, 18, "NNL101")]
    timeit = CAPPED_LOOP.replace("    loss = torch.clamp", "    %timeit -n 3 -r1 loss = torch.clamp")
    assert findings(notebook(IMPORTS, ("code", timeit))) == [(2, 4, 29, "NNL101")]


def test_escapes_inside_blocks_keep_the_block_valid():
    cell = "if torch.cuda.is_available():\n    !nvidia-smi\nelse:\n    %env CUDA_VISIBLE_DEVICES=\n" + CAPPED_LOOP
    assert findings(notebook(IMPORTS, ("code", cell))) == [(2, 8, 12, "NNL101")]


def test_magic_like_text_inside_strings_and_brackets_is_left_alone():
    cell = 'note = """\n!important\n%not a magic\n"""\nratio = (10\n    % 3)\n' + CAPPED_LOOP
    source = read_notebook(notebook(("code", cell))).module()[0]
    assert "!important\n%not a magic\n" in source and "    % 3)" in source
    assert findings(notebook(IMPORTS, ("code", cell))) == [(2, 10, 12, "NNL101")]


@pytest.mark.parametrize("magic", ["%%time", "%%capture captured", "%%timeit -n 1 setup = 0"])
def test_python_cell_magics_keep_their_body(magic):
    assert findings(notebook(IMPORTS, ("code", f"{magic}\n{CAPPED_LOOP}"))) == [(2, 5, 12, "NNL101")]


@pytest.mark.parametrize("magic", ["%%bash", "%%writefile train.py", "%%html", "%%script python", "%%javascript"])
def test_cells_in_other_languages_are_skipped(magic):
    # the body would be NNL101 (or not parse) as Python: it is not Python here
    assert findings(notebook(IMPORTS, ("code", f"{magic}\n{CAPPED_LOOP}\nls -la | grep )"))) == []


def test_top_level_await_parses():
    cell = "import asyncio\nawait asyncio.sleep(0)\n" + CAPPED_LOOP
    assert findings(notebook(IMPORTS, ("code", cell))) == [(2, 6, 12, "NNL101")]


# -- suppression and configuration ---------------------------------------------------------------


def test_noqa_at_the_end_of_a_cell_line():
    silenced = CAPPED_LOOP.replace("max=5.0)", "max=5.0)  # noqa: NNL101")
    assert findings(notebook(IMPORTS, ("code", silenced))) == []
    other_code = CAPPED_LOOP.replace("max=5.0)", "max=5.0)  # noqa: NNL201")
    assert findings(notebook(IMPORTS, ("code", other_code))) == [(2, 4, 12, "NNL101")]


def test_file_noqa_in_a_code_cell_but_not_in_markdown():
    assert findings(notebook(("code", "# nnlint: noqa\nimport torch"), ("code", CAPPED_LOOP))) == []
    assert findings(notebook(("code", "# nnlint: noqa: NNL101\nimport torch"), ("code", CAPPED_LOOP))) == []
    assert findings(notebook(("markdown", "# nnlint: noqa"), IMPORTS, ("code", CAPPED_LOOP))) == [(3, 4, 12, "NNL101")]


def test_config_globs_match_notebooks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = notebook(IMPORTS, ("code", CAPPED_LOOP))
    write(tmp_path, "notebooks/explore.ipynb", data)
    write(tmp_path, "notebooks/scratch/old.ipynb", data)
    write(tmp_path, "train.ipynb", data)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.nnlint]\nexclude = ["scratch"]\n\n[tool.nnlint.per-file-ignores]\n"notebooks/*.ipynb" = ["NNL101"]\n'
    )
    lines = run_cli(["--no-cache", "."]).stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("train.ipynb:cell 2:4:12: NNL101")


def test_folders_are_searched_for_notebooks_and_include_can_change_that(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "a/explore.ipynb", notebook(IMPORTS, ("code", CAPPED_LOOP)))
    write(tmp_path, "a/.ipynb_checkpoints/explore-checkpoint.ipynb", notebook(IMPORTS, ("code", CAPPED_LOOP)))
    write(tmp_path, "a/train.py", ("import torch\n" + CAPPED_LOOP + "\n").encode())
    write(tmp_path, "a/lab.pyw", ("import torch\n" + CAPPED_LOOP + "\n").encode())
    found = sorted(line.split(":")[0] for line in run_cli(["--no-cache", "a"]).stdout.splitlines())
    assert found == ["a/explore.ipynb", "a/train.py"]

    (tmp_path / "pyproject.toml").write_text('[tool.nnlint]\ninclude = ["*.py"]\nextend-include = ["*.pyw"]\n')
    found = sorted(line.split(":")[0] for line in run_cli(["--no-cache", "a"]).stdout.splitlines())
    assert found == ["a/lab.pyw", "a/train.py"]
    # a file named on the command line is linted whatever the include
    assert run_cli(["--no-cache", "a/explore.ipynb"]).stdout.startswith("a/explore.ipynb:cell 2:4:12: NNL101")


# -- the cache -----------------------------------------------------------------------------------


def test_cache_ignores_outputs_and_execution_counts_but_not_code(tmp_path, monkeypatch):
    path = tmp_path / "nb.ipynb"
    sources = [SourceFile(str(path), path)]
    cache = ResultCache(tmp_path / "cache")
    path.write_bytes(notebook(IMPORTS, ("code", CAPPED_LOOP)))
    cold = lint_files(sources, lambda s: ENABLED, cache=cache)

    # re-run the notebook: new execution counts, outputs (which move the code's lines in the file)
    rerun = json.loads(path.read_bytes())
    for count, cell in enumerate(rerun["cells"], start=7):
        cell["execution_count"] = count
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["epoch 1\n", "epoch 2\n"]}]
    path.write_text(json.dumps(rerun, indent=2))

    def must_not_lint(jobs, workers):
        # files are linted in worker processes: the dispatch in this process is where a miss shows
        if jobs:
            raise AssertionError(f"{jobs[0].path} was linted again instead of read from the cache")
        return []

    monkeypatch.setattr(batch, "lint_jobs", must_not_lint)
    warm = lint_files(sources, lambda s: ENABLED, cache=cache)
    assert [(f.cell, f.line, f.column, f.code) for f in warm[0].findings] == [(2, 4, 12, "NNL101")]
    assert warm[0].findings[0].file_line != cold[0].findings[0].file_line  # placed in the file as it is now
    assert "torch.clamp" in path.read_text().splitlines()[warm[0].findings[0].file_line - 1]
    assert warm[0].source_line(warm[0].findings[0]) == "    loss = torch.clamp(loss, max=5.0)"

    # changing a code cell, or the cells' numbering, is a new entry
    for changed in (
        notebook(IMPORTS, ("code", CAPPED_LOOP.replace("5.0", "4.0"))),
        notebook(("markdown", "# new title"), IMPORTS, ("code", CAPPED_LOOP)),
    ):
        path.write_bytes(changed)
        with pytest.raises(AssertionError, match="linted again"):
            lint_files(sources, lambda s: ENABLED, cache=cache)


def test_jobs_and_cache_agree_on_notebooks(tmp_path):
    sources = [SourceFile(str(p), p) for p in sorted(NOTEBOOKS.glob("*.ipynb"))]
    serial = lint_files(sources, lambda s: ENABLED, jobs=1)
    cache = ResultCache(tmp_path / "cache")
    pooled = lint_files(sources, lambda s: ENABLED, jobs=2, cache=cache)
    warm = lint_files(sources, lambda s: ENABLED, jobs=2, cache=cache)
    as_tuples = lambda results: [(f.path, f.cell, f.line, f.column, f.code, f.file_line) for r in results for f in r.findings]  # noqa: E731
    assert as_tuples(serial) == as_tuples(pooled) == as_tuples(warm) and as_tuples(serial)


# -- runtime confirmation ------------------------------------------------------------------------


def test_confirm_builds_probes_from_the_flagged_cells(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    result = run_cli(["--no-cache", "--confirm", "--format", "json", str(NOTEBOOKS / "segmentation_tutorial.ipynb")])
    records = json.loads(result.stdout)
    assert [(r["cell"], r["line"], r["code"], r["confirmation"]["status"]) for r in records] == [
        (4, 12, "NNL201", "confirmed"),
        (7, 5, "NNL101", "confirmed"),
    ]
    assert "got exactly zero gradient" in records[1]["confirmation"]["evidence"]
