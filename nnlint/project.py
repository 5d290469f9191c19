"""The project: its root, the first-party modules in it, and where an import leads.

nnlint reads a project, not a file. From a path it finds the project root (the nearest ancestor
holding `pyproject.toml`, `setup.py`, `setup.cfg` or `.git`; else the folder given) and resolves an
import statement to a file of that project the way Python's import system would find it:

- the importing script's own folder first (Python puts it first on `sys.path`),
- folders the script adds itself with literal paths (`sys.path.insert(0, "lib")`, the
  `_init_paths.py` idiom of research code), relative to the script's folder,
- the configured import roots (`[tool.nnlint] src = ["."]`, as ruff's `src`), else the project
  root and its `src/` folder,
- relative imports (`from .model import Net`, `from ..data import loaders`) from the package
  folder of the importer.

A dotted name resolves to the longest module prefix that is a file (`pkg/model.py` or
`pkg/model/__init__.py`); the rest names an attribute of that module (`from pkg import Net` where
`pkg/__init__.py` re-exports it). Anything that does not resolve to a file of the project (the
standard library, third-party packages) stays opaque: the analysis knows nothing about it.
"""

from __future__ import annotations

import ast
import hashlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from nnlint.analysis.summaries import summarize
from nnlint.discovery import SKIPPED_FOLDERS
from nnlint.engine import SourceError, decode_source, fewer_garbage_collections
from nnlint.registry import check_classes

ROOT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")


def project_root(path: Path) -> Path:
    """The nearest ancestor (or the folder itself) holding a root marker; else the folder given."""
    start = path.resolve()
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.parents):
        if any((candidate / marker).exists() for marker in ROOT_MARKERS):
            return candidate
    return folder


@dataclass(frozen=True)
class Resolved:
    """Where an imported dotted name leads: the module file and the attribute path inside it
    (empty when the name is the module itself)."""

    path: Path
    attribute: Tuple[str, ...] = ()


@dataclass
class ImportRoots:
    """The folders absolute imports are searched in, for one project."""

    root: Path
    src: List[Path] = field(default_factory=list)

    @classmethod
    def for_root(cls, root: Path, configured: Optional[Sequence[str]] = None) -> "ImportRoots":
        if configured:
            folders = [(root / entry).resolve() for entry in configured]
        else:
            folders = [root]
            if (root / "src").is_dir() and not (root / "src" / "__init__.py").exists():
                folders.append(root / "src")
        return cls(root, [folder for folder in folders if folder.is_dir()])


def _module_file(folder: Path, parts: Sequence[str]) -> Optional[Path]:
    """`folder/a/b.py` or `folder/a/b/__init__.py` for parts (a, b)."""
    if not parts:
        return None
    base = folder.joinpath(*parts)
    module = base.with_name(base.name + ".py")
    if module.is_file():
        return module
    package = base / "__init__.py"
    if package.is_file():
        return package
    return None


def _longest_module(folder: Path, parts: Sequence[str]) -> Optional[Resolved]:
    """The longest prefix of `parts` that is a module under `folder`; the rest is an attribute."""
    for cut in range(len(parts), 0, -1):
        found = _module_file(folder, parts[:cut])
        if found is not None:
            return Resolved(found, tuple(parts[cut:]))
    return None


class Project:
    """One project root and its import roots; answers "which file does this import name?".

    Lookups are cached: resolving the same name from the same folder costs one dict lookup.
    """

    def __init__(self, roots: ImportRoots) -> None:
        self.roots = roots
        self._cache: Dict[Tuple[str, Tuple[Path, ...]], Optional[Resolved]] = {}

    @property
    def root(self) -> Path:
        return self.roots.root

    def contains(self, path: Path) -> bool:
        try:
            (path if path.is_absolute() else path.resolve()).relative_to(self.root)
            return True
        except ValueError:
            return False

    def search_path(self, importer: Path, extra: Iterable[str] = ()) -> Tuple[Path, ...]:
        """Folders an absolute import of `importer` is searched in, in Python's order."""
        own = (importer if importer.is_absolute() else importer.resolve()).parent
        folders = [own]
        for entry in extra:
            folder = (own / entry).resolve()
            if folder.is_dir() and self.contains(folder):
                folders.append(folder)
        folders.extend(self.roots.src)
        unique: List[Path] = []
        for folder in folders:
            if folder not in unique:
                unique.append(folder)
        return tuple(unique)

    def resolve(self, importer: Path, dotted: str, extra_paths: Iterable[str] = ()) -> Optional[Resolved]:
        """The project file (and attribute) an import of `dotted` from `importer` names; relative
        names start with dots (`.model.Net`). None when it is not first-party."""
        if not dotted:
            return None
        if dotted.startswith("."):
            level = len(dotted) - len(dotted.lstrip("."))
            folder = (importer if importer.is_absolute() else importer.resolve()).parent
            for _ in range(level - 1):
                folder = folder.parent
            rest = dotted[level:]
            if not rest:
                package = folder / "__init__.py"
                return Resolved(package) if package.is_file() else None
            found = _longest_module(folder, rest.split("."))
            if found is None and (folder / "__init__.py").is_file():
                # `from . import Net`: a name the package's __init__.py defines or re-exports
                found = Resolved(folder / "__init__.py", tuple(rest.split(".")))
            return found if found is not None and self.contains(found.path) else None
        folders = self.search_path(importer, extra_paths)
        key = (dotted, folders)
        if key in self._cache:
            return self._cache[key]
        found = None
        parts = dotted.split(".")
        for folder in folders:
            # Python binds the top-level name to the first folder that has it
            if _module_file(folder, parts[:1]) is None:
                continue
            found = _longest_module(folder, parts)
            break
        if found is not None and not self.contains(found.path):
            found = None
        self._cache[key] = found
        return found

    def module_files(self) -> List[Path]:
        """Every .py file of the project (the folders discovery skips are skipped here too, and
        folders that are project roots of their own: a nested project is another project)."""
        found: List[Path] = []
        for folder, subfolders, filenames in os.walk(self.root, followlinks=False):
            here = Path(folder)
            subfolders[:] = sorted(
                d for d in subfolders
                if d not in SKIPPED_FOLDERS and not d.endswith(".egg-info") and not (here / d / "pyvenv.cfg").is_file()
                and not any((here / d / marker).exists() for marker in ROOT_MARKERS)
            )
            found.extend(here / name for name in sorted(filenames) if name.endswith(".py"))
        return found


class Projects:
    """The projects of the files being linted, one per root (a run may span several)."""

    def __init__(self, configured_src: Optional[Sequence[str]] = None, config_root: Optional[Path] = None) -> None:
        self.configured_src = list(configured_src or [])
        self.config_root = config_root.resolve() if config_root is not None else None
        self._by_root: Dict[Path, Project] = {}
        self._root_of_folder: Dict[Path, Path] = {}

    def of(self, path: Path) -> Project:
        folder = path.resolve().parent
        root = self._root_of_folder.get(folder)
        if root is None:
            root = project_root(folder)
            self._root_of_folder[folder] = root
        project = self._by_root.get(root)
        if project is None:
            # `src` from the config applies to the project the config file belongs to
            configured = self.configured_src if self.config_root == root else None
            project = self._by_root[root] = Project(ImportRoots.for_root(root, configured))
        return project


# map(function, module sources) -> results in order
ModuleMapper = Callable[[Callable[[bytes], Optional[Dict]], List[bytes]], List[Optional[Dict]]]


@fewer_garbage_collections()  # a module's stdlib tree is millions of objects in a long file
def summary_of(data: bytes) -> Optional[Dict]:
    """Pass 1 for one module: its summary, or None when it does not parse."""
    try:
        text = decode_source(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text)
        summary = summarize(tree, text)
    except (SourceError, SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    summary["triggers"] = sorted({t for check in check_classes() for t in check.triggers if t in text})
    return summary


class ProjectIndex:
    """Pass 1 of project analysis: every module of the projects of the linted files, summarised
    (cached by content), with its imports linked to project files.

    `input_for(path)` gives what pass 2 needs for one file: the records of the modules it can reach
    (what it imports, transitively, and the modules that import it, whose calls tell what its
    functions' parameters are) and a digest of their contents for the result cache's key.
    """

    def __init__(self, projects: Projects, store=None, map_modules: Optional[ModuleMapper] = None) -> None:
        self.projects = projects
        self.store = store  # a ResultCache (summaries are kept next to the results), or None
        # how the summaries the store lacks are computed: in this process, or a pool's map (-j)
        self.map_modules: ModuleMapper = map_modules or (lambda function, sources: [function(s) for s in sources])
        self.records: Dict[str, Dict] = {}
        self.digests: Dict[str, str] = {}
        self.importers: Dict[str, List[str]] = {}
        self._built: set = set()

    def add(self, path: Path) -> None:
        project = self.projects.of(path)
        if project.root in self._built:
            return
        self._built.add(project.root)
        added = []
        missing: List[Tuple[str, Path, str, bytes]] = []
        for module in project.module_files():
            key = str(module)  # under the resolved root: absolute already
            if key in self.records:
                continue
            try:
                data = module.read_bytes()
            except OSError:
                continue
            digest = hashlib.sha256(data).hexdigest()
            self.digests[key] = digest
            summary = self.store.load_summary(digest) if self.store is not None else None
            if summary is None:
                missing.append((key, module, digest, data))
            else:
                self.records[key] = {"summary": summary, "links": {}}
                added.append((key, module))
        for (key, module, digest, _), summary in zip(missing, self.map_modules(summary_of, [data for *_, data in missing])):
            if summary is None:
                continue  # the file's own lint reports it (NNL000); it tells the others nothing
            if self.store is not None:
                self.store.store_summary(digest, summary)
            self.records[key] = {"summary": summary, "links": {}}
            added.append((key, module))
        for key, module in added:
            links = {}
            record = self.records[key]
            for local, dotted in record["summary"]["imports"].items():
                found = project.resolve(module, dotted, record["summary"]["paths"])
                if found is not None and str(found.path) in self.records:
                    target = str(found.path)
                    links[local] = [target, *found.attribute]
                    if target != key:
                        self.importers.setdefault(target, []).append(key)
            record["links"] = links

    def reach(self, path: str) -> List[str]:
        """The modules whose summaries a check of `path` may read, sorted."""
        start = [path] + self.importers_of(path)
        seen = set()
        while start:
            current = start.pop()
            if current in seen or current not in self.records:
                continue
            seen.add(current)
            start.extend(link[0] for link in self.records[current]["links"].values())
        return sorted(seen)

    def importers_of(self, path: str) -> List[str]:
        """The modules that import `path`, directly or through the `__init__.py` of packages that
        re-export it (`from classifier import evaluate`)."""
        found: List[str] = []
        pending = list(self.importers.get(path, []))
        while pending:
            current = pending.pop()
            if current in found:
                continue
            found.append(current)
            if current.endswith("__init__.py"):
                pending.extend(self.importers.get(current, []))
        return found

    def input_for(self, path: Path) -> Optional[Tuple[str, Dict[str, Dict], str]]:
        """(the file's key, the records it can reach, a digest of their contents), or None when the
        file is not a module of a project (a file that does not parse, stdin)."""
        import hashlib

        key = str(path.resolve())
        if key not in self.records:
            return None
        modules = {name: self.records[name] for name in self.reach(key)}
        digest = hashlib.sha256()
        for name in sorted(modules):
            digest.update(f"{name}\0{self.digests.get(name, '')}\0{sorted(modules[name]['links'].items())}\0".encode())
        return key, modules, digest.hexdigest()
