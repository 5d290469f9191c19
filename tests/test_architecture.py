"""The package's shape stays as ARCHITECTURE.md describes it: every module imports on its own, there
is no import cycle (not even one hidden inside a function), and dependencies point one way:
cli -> batch -> engine -> families -> analysis. Reporters know findings and the rule catalogue only,
families never import each other, and static analysis never imports the runtime or torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set, Tuple

PACKAGE = Path(__file__).resolve().parent.parent / "nnlint"

# Lower layers never import higher ones (a module may import its own layer and any below it).
LAYERS: List[Tuple[str, Tuple[str, ...]]] = [
    ("results", ("nnlint", "nnlint.finding", "nnlint.budget")),
    ("contracts", ("nnlint.contracts", "nnlint.families", "nnlint.families.*", "nnlint.families.*.contracts")),
    ("catalogue", ("nnlint.catalogue",)),
    ("analysis", ("nnlint.analysis", "nnlint.analysis.*", "nnlint.traversal", "nnlint.suppression", "nnlint.notebook")),
    ("check", ("nnlint.check", "nnlint.rewrite")),
    ("families", ("nnlint.families.*.*",)),
    ("engine", ("nnlint.registry", "nnlint.engine")),
    ("config", ("nnlint.config", "nnlint.discovery", "nnlint.cache", "nnlint.project")),
    ("batch", ("nnlint.batch", "nnlint.parallel", "nnlint.fixing")),
    ("report", ("nnlint.report", "nnlint.report.*")),
    ("runtime", ("nnlint.runtime", "nnlint.runtime.*", "nnlint.families.*.probe")),
    ("entry points", ("nnlint.cli", "nnlint.__main__", "nnlint.flake8_plugin")),
]
# What the reporters may import: the results, the rule catalogue (and the Rule it hands out).
REPORT_ALLOWED = {"nnlint", "nnlint.finding", "nnlint.catalogue", "nnlint.contracts"}
# The only imports allowed inside a function: the CLI loads the runtime only for --confirm.
LAZY_ALLOWED = {("nnlint.cli", "nnlint.runtime")}


def module_names() -> Dict[str, Path]:
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        names[name] = path
    return names


MODULES = module_names()


def _imported_module(name: str) -> str:
    """The nnlint module an import names (`from nnlint.report import text` imports the module
    nnlint.report.text; `from nnlint.finding import Finding` the module nnlint.finding)."""
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def imports_of(module: str) -> List[Tuple[str, bool, str]]:
    """(imported module, at module level?, top-level name) for every import in the module."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            root = name.split(".")[0]
            imported = _imported_module(name) if root == "nnlint" else root
            if imported != module:
                found.append((imported, id(node) in top_level, root))
    return found


def layer_of(module: str) -> int:
    """The module's layer; where several patterns match, the most specific (fewest `*`) wins."""
    parts = module.split(".")
    matches = []
    for rank, (_, patterns) in enumerate(LAYERS):
        for pattern in patterns:
            pieces = pattern.split(".")
            if len(pieces) == len(parts) and all(p == "*" or p == q for p, q in zip(pieces, parts)):
                matches.append((pieces.count("*"), rank))
    assert matches, f"{module} is in no layer of tests/test_architecture.py"
    return min(matches)[1]


def test_every_module_imports_on_its_own():
    # one fresh interpreter; before each module, every nnlint module is forgotten, so a module that
    # only imports when another was imported first (a hidden cycle) fails here
    script = (
        "import importlib, sys\n"
        "failed = []\n"
        f"for name in {sorted(MODULES)!r}:\n"
        "    for loaded in [m for m in sys.modules if m == 'nnlint' or m.startswith('nnlint.')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as error:\n"
        "        failed.append(f'{name}: {type(error).__name__}: {error}')\n"
        "print('\\n'.join(failed))\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == ""


def test_no_import_cycle():
    graph = {module: {imported for imported, _, root in imports_of(module) if root == "nnlint"} for module in MODULES}
    cycles = []
    for start in graph:
        # a path back to `start` through its imports is a cycle
        seen: Set[str] = set()
        pending = [(imported, [start, imported]) for imported in graph[start]]
        while pending:
            module, path = pending.pop()
            if module == start:
                cycles.append(" -> ".join(path))
                break
            if module in seen:
                continue
            seen.add(module)
            pending.extend((imported, path + [imported]) for imported in graph[module])
    assert cycles == []


def test_dependencies_point_down_the_layers():
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {imported} ({LAYERS[layer_of(imported)][0]})"
        for module in MODULES
        for imported, _, root in imports_of(module)
        if root == "nnlint" and layer_of(imported) > layer_of(module)
    ]
    assert upward == []


def test_no_nnlint_import_inside_a_function():
    # an import inside a function hides a dependency (and, often, a cycle)
    lazy = [
        (module, imported)
        for module in MODULES
        for imported, top_level, root in imports_of(module)
        if root == "nnlint" and not top_level and (module, imported) not in LAZY_ALLOWED
    ]
    assert lazy == []


def test_reporters_know_only_findings_and_the_catalogue():
    reporters = [module for module in MODULES if module == "nnlint.report" or module.startswith("nnlint.report.")]
    outside = [
        (module, imported)
        for module in reporters
        for imported, _, root in imports_of(module)
        if root == "nnlint" and imported not in REPORT_ALLOWED and not imported.startswith("nnlint.report")
    ]
    assert outside == []


def _family(module: str) -> str:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["nnlint", "families"] else ""


def test_families_never_import_each_other():
    crossing = [
        (module, imported)
        for module in MODULES
        if _family(module)
        for imported, _, _ in imports_of(module)
        if _family(imported) and _family(imported) != _family(module)
    ]
    assert crossing == []


def test_static_analysis_never_imports_the_runtime_or_torch():
    runtime = [module for module in MODULES if layer_of(module) == layer_of("nnlint.runtime")]
    static = [module for module in MODULES if module not in runtime]
    offending = [
        (module, imported)
        for module in static
        for imported, top_level, root in imports_of(module)
        if (imported in runtime or root == "torch") and (module, imported) not in LAZY_ALLOWED
    ]
    assert offending == []


def test_linting_loads_no_probe_and_no_torch():
    script = (
        "import sys\n"
        "from nnlint.cli import main\n"
        "try:\n"
        "    main(['--no-cache', '-j', '1', '--exit-zero', 'fixtures/loss'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('nnlint.runtime') or m.endswith('.probe')))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=PACKAGE.parent
    )
    assert completed.stdout.strip().splitlines()[-1] == "[]"
