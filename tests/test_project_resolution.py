"""Project roots and first-party import resolution, as Python's import system would find them."""

from __future__ import annotations

from pathlib import Path

from nnlint.analysis.project_values import ProjectValues
from nnlint.project import ImportRoots, Project, ProjectIndex, Projects, project_root


def _tree(root: Path, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_root_is_the_nearest_folder_with_a_marker(tmp_path):
    _tree(tmp_path, {"repo/pyproject.toml": "", "repo/pkg/train.py": "", "loose/a.py": ""})
    assert project_root(tmp_path / "repo" / "pkg" / "train.py") == (tmp_path / "repo").resolve()
    assert project_root(tmp_path / "loose" / "a.py") == (tmp_path / "loose").resolve()


def test_the_scripts_own_folder_comes_first(tmp_path):
    _tree(tmp_path, {"setup.py": "", "model.py": "", "tools/model.py": "", "tools/train.py": ""})
    project = Project(ImportRoots.for_root(tmp_path.resolve()))
    found = project.resolve(tmp_path / "tools" / "train.py", "model.Net")
    assert found.path == (tmp_path / "tools" / "model.py").resolve() and found.attribute == ("Net",)
    assert project.resolve(tmp_path / "train.py", "model").path == (tmp_path / "model.py").resolve()


def test_src_layouts_configured_roots_and_sys_path_folders(tmp_path):
    _tree(tmp_path, {
        "pyproject.toml": "", "src/kit/__init__.py": "", "src/kit/data.py": "", "scripts/run.py": "",
        "lib/helpers.py": "", "third/vendor.py": "",
    })
    root = tmp_path.resolve()
    default = Project(ImportRoots.for_root(root))
    assert default.resolve(tmp_path / "scripts" / "run.py", "kit.data.build").path == root / "src" / "kit" / "data.py"
    assert default.resolve(tmp_path / "scripts" / "run.py", "helpers") is None
    assert default.resolve(tmp_path / "scripts" / "run.py", "helpers", ["../lib"]).path == root / "lib" / "helpers.py"
    configured = Project(ImportRoots.for_root(root, ["third"]))
    assert configured.resolve(tmp_path / "scripts" / "run.py", "vendor").path == root / "third" / "vendor.py"
    assert configured.resolve(tmp_path / "scripts" / "run.py", "kit") is None


def test_relative_imports_and_third_party(tmp_path):
    _tree(tmp_path, {".git/HEAD": "", "pkg/__init__.py": "", "pkg/sub/__init__.py": "", "pkg/sub/a.py": "", "pkg/b.py": ""})
    project = Project(ImportRoots.for_root(tmp_path.resolve()))
    importer = tmp_path / "pkg" / "sub" / "a.py"
    assert project.resolve(importer, "..b.f").path == (tmp_path / "pkg" / "b.py").resolve()
    assert project.resolve(importer, ".").path == (tmp_path / "pkg" / "sub" / "__init__.py").resolve()
    assert project.resolve(importer, "torch.nn") is None
    # `from . import name`: a submodule when there is one, else a name of the package's __init__.py
    assert project.resolve(importer, ".a").path == (tmp_path / "pkg" / "sub" / "a.py").resolve()
    found = project.resolve(importer, ".Net")
    assert found.path == (tmp_path / "pkg" / "sub" / "__init__.py").resolve() and found.attribute == ("Net",)


def test_re_exports_through_a_package_init(tmp_path):
    _tree(tmp_path, {
        "pyproject.toml": "",
        "zoo/__init__.py": "from .nets import build as make_model\n",
        "zoo/nets.py": "import torchvision\n\ndef build():\n    return torchvision.models.resnet18()\n",
        "train.py": "import zoo\nfrom zoo import make_model\nmodel = make_model()\n",
    })
    index = ProjectIndex(Projects())
    index.add(tmp_path / "train.py")
    key, modules, _ = index.input_for(tmp_path / "train.py")
    values = ProjectValues(key, modules)
    found = values.symbol(key, "make_model")
    assert (found.kind, found.name, Path(found.path).name) == ("function", "build", "nets.py")
    assert values.symbol(key, "zoo.make_model").name == "build"
    built = values.call_result(found, [], {})
    assert built.kind == "call" and built.detail["qualified"] == "torchvision.models.resnet18"
    assert values.mode_layers(built) == ("BatchNorm/Dropout",)
