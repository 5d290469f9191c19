"""flake8 plugin: `flake8 --select NNL` reports what `nnlint` reports.

flake8 hands over the file's lines; nnlint parses them itself (LibCST, one parse). flake8 applies
its own select/ignore, per-file-ignores and `# noqa`; nnlint's file-level `# nnlint: noqa` still
applies. flake8 adds one to the column a plugin returns, so we return the 0-based column.

Rules that are off by default (severity info) run only when flake8's --select/--extend-select
names them or their family (NNL507, NNL5), as with `nnlint --select`.

Project analysis works as in `nnlint`: each file is checked with the facts of the other modules
of its project (read from nnlint's cache when unchanged, `.nnlint_cache` beside the
`[tool.nnlint]` config, else in the current folder; NNLINT_CACHE_DIR overrides it). A finding
is reported where its fix goes, as nnlint reports it: flake8 checking `data.py` also reports what
the modules importing it find there (the loader built in `data.py` that `train.py` trains on);
each importer is linted once per flake8 process. `project = false` in `[tool.nnlint]`, or
flake8's `--nnlint-no-project`, checks file by file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterable, Iterator, List, Optional, Tuple

from nnlint import __version__
from nnlint.analysis.project_values import ProjectValues
from nnlint.cache import ResultCache
from nnlint.catalogue import UNPARSABLE
from nnlint.config import ConfigError, RuleSelection, Settings, load_settings
from nnlint.engine import lint_bytes, lint_text
from nnlint.finding import Finding
from nnlint.project import ProjectIndex, Projects


def _enabled(selected: Iterable[str]) -> FrozenSet[str]:
    # flake8's selection also names other plugins' codes; ours are NNL and its prefixes
    ours = [code.upper() for code in selected if code.upper().startswith("NNL")]
    settings = Settings(select=["NNL"], extend_select=ours)
    return frozenset(code for code in RuleSelection(settings).enabled_codes(None) if code != UNPARSABLE.code)


def _project_index() -> Optional[ProjectIndex]:
    """The project index of this process (flake8 checks many files per process), or None when
    the configuration turns project analysis off."""
    try:
        settings = load_settings()
    except ConfigError:
        settings = Settings()
    if not settings.project:
        return None
    config_folder = settings.source.resolve().parent if settings.source is not None else None
    cache_folder = os.environ.get("NNLINT_CACHE_DIR") or (config_folder or Path.cwd()) / ".nnlint_cache"
    return ProjectIndex(Projects(settings.src, config_folder), ResultCache(Path(cache_folder)))


class NnlintFlake8Plugin:
    name = "nnlint"
    version = __version__
    enabled: FrozenSet[str] = _enabled([])  # flake8 reports syntax errors as E999 itself
    use_project = True
    _index: Optional[ProjectIndex] = None  # built on the first file that needs it
    _index_built = False
    # importer's path -> its findings in other files, linted once
    _found_by_importers: Dict[str, List[Finding]] = {}

    def __init__(self, tree: Any, filename: str, lines: List[str]) -> None:
        # `tree` is required for flake8 to run us once per file; we parse with LibCST instead
        self.filename = filename
        self.lines = lines

    @classmethod
    def add_options(cls, parser: Any) -> None:
        parser.add_option(
            "--nnlint-no-project", action="store_true", default=False, parse_from_config=True,
            help="nnlint: check each file alone, without the facts of its project's other modules",
        )

    @classmethod
    def parse_options(cls, options: Any) -> None:
        selected = list(getattr(options, "select", None) or []) + list(getattr(options, "extend_select", None) or [])
        cls.enabled = _enabled(selected)
        cls.use_project = not getattr(options, "nnlint_no_project", False)

    def _index_for(self, path: Path) -> Optional[ProjectIndex]:
        if not self.use_project or self.filename in ("stdin", "-") or not path.is_file():
            return None
        if not NnlintFlake8Plugin._index_built:
            NnlintFlake8Plugin._index = _project_index()
            NnlintFlake8Plugin._index_built = True
        index = NnlintFlake8Plugin._index
        if index is not None:
            index.add(path)
        return index

    def _findings_of_importers(self, index: ProjectIndex, key: str) -> List[Finding]:
        """What the modules importing this file find in it (reported where their fix goes)."""
        found = []
        for importer in index.importers_of(key):
            if importer not in self._found_by_importers:
                given = index.input_for(Path(importer))
                try:
                    data = Path(importer).read_bytes()
                except OSError:
                    data = None
                findings: List[Finding] = []
                if given is not None and data is not None:
                    # the other modules are named relative to the current folder, as flake8 names files
                    result = lint_bytes(importer, data, self.enabled, apply_noqa=False, project=ProjectValues(given[0], given[1]))
                    findings = [f for f in result.findings if f.path != importer]
                self._found_by_importers[importer] = findings
            found += [f for f in self._found_by_importers[importer] if f.path == os.path.relpath(key)]
        return found

    def run(self) -> Iterator[Tuple[int, int, str, type]]:
        path = Path(self.filename)
        index = self._index_for(path)
        given = index.input_for(path) if index is not None else None
        project = ProjectValues(given[0], given[1], {given[0]: self.filename}) if given is not None else None
        result = lint_text(self.filename, "".join(self.lines), self.enabled, apply_noqa=False, project=project)
        findings = [f for f in result.findings if f.path == self.filename]  # the others: where their fix goes
        if index is not None and given is not None:
            seen = {(f.line, f.column, f.code, f.message) for f in findings}
            findings += [f for f in self._findings_of_importers(index, given[0]) if (f.line, f.column, f.code, f.message) not in seen]
        for finding in sorted(findings, key=lambda f: (f.line, f.column, f.code)):
            # the same text as nnlint's concise line: flake8 reads the code, the rest is the message
            yield finding.line, finding.column - 1, f"{finding.code} [{finding.severity.value}] {finding.concise}", type(self)
