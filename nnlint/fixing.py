"""`--fix`: apply the findings' fixes, verify each by re-linting, iterate to a fixed point.

A fix is a set of text edits (see nnlint.rewrite). Nothing is written unless the result passes
verification, file by file:
- every file the fix touches still parses (CPython and LibCST);
- re-linting it, the fixed finding is gone and no finding of any rule is new (per code, the
  findings after the fix are at most those before, less the ones fixed);
- code outside the edits is byte for byte the same (edits replace only their own ranges).
A fix that fails is dropped with a note and never tried again in the same run.

Like ruff, the fixes of one round whose edits do not overlap are applied together and verified
together; if the round fails, its fixes are verified one at a time. The loop re-lints and goes
again until no fix is left to apply (a fixed point, so fixing the result again changes nothing),
for at most MAX_ROUNDS rounds.
"""

from __future__ import annotations

import ast
import difflib
import io
import tokenize
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple

import libcst as cst

from nnlint.analysis.project_values import ProjectValues
from nnlint.cache import ResultCache
from nnlint.catalogue import all_rules
from nnlint.discovery import SourceFile
from nnlint.engine import lint_bytes
from nnlint.finding import Applicability, Edit, FileResult, Finding, Fix
from nnlint.project import ProjectIndex, Projects
from nnlint.rewrite import physical_lines

MAX_ROUNDS = 10

Lint = Callable[[str, str], FileResult]


@dataclass(frozen=True)
class FixOptions:
    unsafe: bool = False  # --unsafe-fixes
    unfixable: Tuple[str, ...] = ()  # codes or prefixes whose fixes are never applied

    def applies(self, finding: Finding) -> bool:
        fix = finding.fix
        if fix is None or any(finding.code.startswith(prefix) for prefix in self.unfixable):
            return False
        return fix.applicability is Applicability.SAFE or self.unsafe


@dataclass
class FixedFile:
    """What --fix made of one file."""

    path: str
    original: str
    text: str
    result: FileResult  # the findings that remain in `text`
    fixed: List[Finding] = field(default_factory=list)  # as they were reported before the fix
    before: List[Finding] = field(default_factory=list)  # the file's own findings before any fix

    @property
    def changed(self) -> bool:
        return self.text != self.original


@dataclass
class FixRun:
    files: Dict[str, FixedFile]
    notes: List[str] = field(default_factory=list)  # fixes dropped, and why

    @property
    def fixed_count(self) -> int:
        return sum(len(f.fixed) for f in self.files.values())


class EditError(ValueError):
    """Edits that do not fit the text (overlapping, or outside it)."""


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """The text with every edit applied; text outside the edits is copied unchanged."""
    starts = _line_starts(text)
    spans = sorted(
        ((_offset(starts, text, e.line, e.column), _offset(starts, text, e.end_line, e.end_column), e.content) for e in edits),
        key=lambda span: (span[0], span[1]),
    )
    out: List[str] = []
    cursor = 0
    for start, end, content in spans:
        if start < cursor or end < start:
            raise EditError("overlapping edits")
        out.append(text[cursor:start])
        out.append(content)
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def _line_starts(text: str) -> List[int]:
    starts, offset = [], 0
    for line in physical_lines(text):
        starts.append(offset)
        offset += len(line)
    starts.append(offset)  # the line after the last one starts at the end of the text
    return starts


def _offset(starts: List[int], text: str, line: int, column: int) -> int:
    if not 1 <= line <= len(starts):
        raise EditError(f"line {line} is outside the file")
    offset = starts[line - 1] + column - 1
    if column < 1 or offset > len(text):
        raise EditError(f"column {column} is outside line {line}")
    return offset


def _spans(text: str, edits: Sequence[Edit]) -> List[Tuple[int, int]]:
    starts = _line_starts(text)
    return [(_offset(starts, text, e.line, e.column), _offset(starts, text, e.end_line, e.end_column)) for e in edits]


def _overlap(a: Tuple[int, int], b: Tuple[int, int]) -> bool:
    if a[0] == a[1] and b[0] == b[1]:
        return a[0] == b[0]  # two insertions at one place: their order would be a guess
    return a[0] < b[1] and b[0] < a[1] or a[0] == b[0]


def parses(text: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
        cst.parse_module(text)
    except Exception:  # noqa: BLE001 - any refusal means the fix broke the file
        return False
    return True


@dataclass
class _Group:
    """Findings that share one fix (identical edits), applied once."""

    fix: Fix
    findings: List[Finding]


class _Fixer:
    def __init__(self, texts: Dict[str, str], lint: Lint, options: FixOptions, reported: Callable[[str], FrozenSet[str]]) -> None:
        self.texts = dict(texts)
        self.lint = lint
        self.options = options
        self.reported = reported
        # the findings the fixes are verified against (the same lint before and after)
        self.results = {path: self._lint(path, text) for path, text in texts.items()}
        self.fixed: Dict[str, List[Finding]] = {path: [] for path in texts}
        self.rejected: set = set()
        self.notes: List[str] = []

    def run(self) -> None:
        for _ in range(MAX_ROUNDS):
            groups = self._round()
            if not groups:
                return
            problem = self._try(groups)
            if problem is None:
                continue
            if len(groups) == 1:
                self._reject(groups[0], problem)
                continue
            for group in groups:  # one at a time; the first that passes is kept
                problem = self._try([group])
                if problem is None:
                    break
                self._reject(group, problem)
        if self._round():
            self.notes.append(f"stopped fixing after {MAX_ROUNDS} rounds; run --fix again")

    def _round(self) -> List[_Group]:
        """The fixes to apply together: in finding order, skipping any whose edits overlap a
        fix already picked (it comes back in the next round, re-linted)."""
        groups: List[_Group] = []
        taken: Dict[str, List[Tuple[int, int]]] = {}
        for path in self.texts:
            for finding in self.results[path].findings:
                if not self.options.applies(finding) or _key(finding) in self.rejected:
                    continue
                if finding.code not in self.reported(path):
                    continue  # not selected: verified against, never fixed
                same = next((g for g in groups if g.fix.edits == finding.fix.edits), None)
                if same is not None:
                    same.findings.append(finding)
                    continue
                try:
                    spans = {e_path: self._spans_of(finding.fix, e_path) for e_path in {e.path for e in finding.fix.edits}}
                except KeyError as missing:
                    self._reject(_Group(finding.fix, [finding]), f"it edits {missing}, which is not being linted")
                    continue
                except EditError as error:
                    self._reject(_Group(finding.fix, [finding]), f"its edits do not fit the file ({error})")
                    continue
                if any(_overlap(a, b) for p, mine in spans.items() for a in mine for b in taken.get(p, [])):
                    continue
                for p, mine in spans.items():
                    taken.setdefault(p, []).extend(mine)
                groups.append(_Group(finding.fix, [finding]))
        return groups

    def _spans_of(self, fix: Fix, path: str) -> List[Tuple[int, int]]:
        return _spans(self.texts[path], [e for e in fix.edits if e.path == path])

    def _try(self, groups: List[_Group]) -> Optional[str]:
        """Apply the groups' edits and verify every touched file: None when the result passes
        (and is kept), else what went wrong."""
        edits: Dict[str, List[Edit]] = {}
        for group in groups:
            for edit in group.fix.edits:
                edits.setdefault(edit.path, []).append(edit)
        new_texts: Dict[str, str] = {}
        new_results: Dict[str, FileResult] = {}
        for path, file_edits in edits.items():
            try:
                new_texts[path] = apply_edits(self.texts[path], file_edits)
            except EditError as error:
                return f"its edits do not fit the file ({error})"
            if not parses(new_texts[path]):
                return "the fixed code does not parse"
            relinted = self._lint(path, new_texts[path])
            new_results[path] = relinted
            if relinted.internal_errors:
                return "the fixed code cannot be re-linted"
            fixed_here = [f for g in groups for f in g.findings if f.path == path]
            problem = _compare(self.results[path].findings, new_results[path].findings, fixed_here)
            if problem:
                return problem
        self.texts.update(new_texts)
        self.results.update(new_results)
        for group in groups:
            for finding in group.findings:
                self.fixed[finding.path].append(finding)
        return None

    def _lint(self, path: str, text: str) -> FileResult:
        result = self.lint(path, text)
        # findings that project analysis reports in another file are that file's business
        result.findings = [f for f in result.findings if f.path == path]
        return result

    def _reject(self, group: _Group, why: str) -> None:
        for finding in group.findings:
            self.rejected.add(_key(finding))
            self.notes.append(f"{finding.path}:{finding.line}:{finding.column}: {finding.code} not fixed: {why}")


def _key(finding: Finding) -> Tuple[str, str, str, str]:
    """A finding and its fix, as they stay when other fixes move the lines around."""
    return (finding.path, finding.code, finding.message, finding.fix.message if finding.fix else "")


def _compare(before: Sequence[Finding], after: Sequence[Finding], fixed: Sequence[Finding]) -> Optional[str]:
    """None when, for every rule, the findings after are at most those before less those fixed."""
    had = Counter(f.code for f in before)
    has = Counter(f.code for f in after)
    gone = Counter(f.code for f in fixed)
    for code in sorted(has):
        if has[code] > had[code]:
            return f"it would introduce a new {code} finding"
        if has[code] > had[code] - gone[code]:
            return f"the {code} finding is still reported after the fix"
    return None


def fix_files(
    texts: Dict[str, str],
    lint: Lint,
    options: FixOptions,
    reported: Optional[Callable[[str], FrozenSet[str]]] = None,
) -> FixRun:
    """Fix the files (path -> text). `lint` gives the findings a fix is verified against (every
    rule, so that a fix never brings in a finding of a rule left out of the selection);
    `reported` the codes whose findings are fixed and reported (default: all)."""
    fixer = _Fixer(texts, lint, options, reported or (lambda path: frozenset(all_rules())))
    before = {path: [f for f in result.findings if f.code in fixer.reported(path)] for path, result in fixer.results.items()}
    fixer.run()
    files = {}
    for path in texts:
        result = fixer.results[path]
        result.findings = [f for f in result.findings if f.code in fixer.reported(path)]
        files[path] = FixedFile(path, texts[path], fixer.texts[path], result, fixer.fixed[path], before[path])
    return FixRun(files, fixer.notes)


def encode_like(text: str, original: bytes) -> bytes:
    """Encode fixed source the way the original bytes were (coding cookie, BOM)."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(original).readline)
    except SyntaxError:
        encoding = "utf-8"
    return text.encode(encoding)


def relinter(
    sources: Sequence[SourceFile],
    timeout: Optional[float],
    projects: Optional[Projects] = None,
    cache: Optional[ResultCache] = None,
) -> Callable[[SourceFile, bytes], FileResult]:
    """Lint a file's bytes for verification: with every rule (a fix must not bring in a finding of
    a rule left out of the selection) and, under project analysis, the facts of the same project
    as the first run (its other modules as they are on disk)."""
    every_rule = frozenset(all_rules())
    index = ProjectIndex(projects, cache) if projects is not None else None
    displays: Dict[str, str] = {}
    if index is not None:
        for source in sources:
            if source.path is not None:
                index.add(source.path)
                displays[str(source.path.resolve())] = source.display

    def lint(source: SourceFile, data: bytes) -> FileResult:
        project = None
        given = index.input_for(source.path) if index is not None and source.path is not None else None
        if given is not None:
            project = ProjectValues(given[0], given[1], displays)
        return lint_bytes(source.display, data, every_rule, timeout=timeout, project=project)

    return lint


def unified_diff(fixed: FixedFile) -> str:
    """The change to one file as a unified diff (`--diff`)."""
    lines = difflib.unified_diff(
        physical_lines(fixed.original), physical_lines(fixed.text), fromfile=fixed.path, tofile=fixed.path
    )
    out = []
    for line in lines:
        out.append(line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def fixable_counts(results: Iterable[FileResult], options: FixOptions) -> Tuple[int, int]:
    """(findings --fix would fix, findings only --unsafe-fixes would), unverified."""
    unsafe_too = FixOptions(unsafe=True, unfixable=options.unfixable)
    applies = hidden = 0
    for result in results:
        for finding in result.findings:
            if options.applies(finding):
                applies += 1
            elif unsafe_too.applies(finding):
                hidden += 1
    return applies, hidden
