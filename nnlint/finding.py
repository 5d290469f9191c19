"""Findings and results: the one currency between the engine, suppression, the cache, the runtime
probes and the reporters. This module imports nothing of nnlint."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional, Tuple


class Severity(str, enum.Enum):
    """How sure a rule is that training is affected."""

    ERROR = "error"  # training is wrong
    WARNING = "warning"  # very likely wrong
    INFO = "info"  # waste


SEVERITY_ORDER = (Severity.ERROR, Severity.WARNING, Severity.INFO)  # most severe first


class ConfirmationStatus(str, enum.Enum):
    CONFIRMED = "confirmed"
    NOT_CONFIRMED = "not-confirmed"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Confirmation:
    """What a runtime probe measured for one finding."""

    status: ConfirmationStatus
    evidence: str

    def to_dict(self) -> Dict[str, str]:
        return {"status": self.status.value, "evidence": self.evidence}


class Applicability(str, enum.Enum):
    """Whether `--fix` may apply a fix on its own."""

    SAFE = "safe"  # only the bug changes; every name comes from the user's code
    UNSAFE = "unsafe"  # changes behaviour a user might rely on, or makes a choice for them (--unsafe-fixes)


@dataclass(frozen=True)
class Edit:
    """Replace the text from (line, column) up to (end_line, end_column) with `content`. 1-based,
    the end exclusive; an insertion has start == end. Edits carry their path: a fix may span files."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    content: str

    def to_dict(self) -> Dict[str, Any]:
        return {
            "path": self.path, "line": self.line, "column": self.column,
            "end_line": self.end_line, "end_column": self.end_column, "content": self.content,
        }


@dataclass(frozen=True)
class Fix:
    """A rewrite that removes a finding, made of non-overlapping edits (see nnlint.fixing)."""

    applicability: Applicability
    message: str
    edits: Tuple[Edit, ...]

    def to_dict(self) -> Dict[str, Any]:
        return {
            "applicability": self.applicability.value, "message": self.message,
            "edits": [edit.to_dict() for edit in self.edits],
        }

    @classmethod
    def from_dict(cls, record: Dict[str, Any]) -> "Fix":
        return cls(Applicability(record["applicability"]), record["message"], tuple(Edit(**e) for e in record["edits"]))


@dataclass(frozen=True)
class Related:
    """Another place a finding rests on (in the same file or another file of the project)."""

    path: str
    line: int
    column: int
    message: str

    def to_dict(self) -> Dict[str, Any]:
        return {"path": self.path, "line": self.line, "column": self.column, "message": self.message}


@dataclass(frozen=True)
class Finding:
    """One report. Lines and columns are 1-based, end positions inclusive of the last line and
    exclusive of the last column, as editors expect. In a notebook `cell` is the cell's number
    (1-based, among all cells) and the lines and columns are those inside the cell."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    code: str
    name: str
    severity: Severity
    message: str  # the full form: what the code does, what it does to training, the fix
    # the concise form: what is wrong and the fix in a few words (the full message when empty)
    short_message: str = ""
    confirmation: Optional[Confirmation] = None
    cell: Optional[int] = None
    # in a notebook: the line of the .ipynb file that stores the finding's cell line (SARIF and
    # GitHub annotations point there); set from the file's current bytes, never cached
    file_line: Optional[int] = None
    # What the rule's runtime probe needs (source fragments, resolved definitions): the record of
    # the check's typed ProbeInput (nnlint.contracts). Never shown.
    probe_input: Optional[Dict[str, Any]] = field(default=None, compare=False, repr=False)
    # the other places the finding rests on (the model built in model.py for a pipeline in data.py)
    related: Tuple[Related, ...] = ()
    fix: Optional[Fix] = None

    def with_confirmation(self, confirmation: Confirmation) -> "Finding":
        return replace(self, confirmation=confirmation)

    def to_record(self) -> Dict[str, Any]:
        """Plain JSON-able data (the result cache stores findings this way)."""
        return {
            "path": self.path, "line": self.line, "column": self.column, "end_line": self.end_line,
            "end_column": self.end_column, "code": self.code, "name": self.name,
            "severity": self.severity.value, "message": self.message, "short_message": self.short_message,
            "probe_input": self.probe_input, "related": [item.to_dict() for item in self.related],
            "cell": self.cell,
            "fix": self._fix_record(),
        }

    def _fix_record(self) -> Optional[Dict[str, Any]]:
        if self.fix is None:
            return None
        record = self.fix.to_dict()
        # an edit of the finding's own file says so with no path: a cached result is served
        # under whatever name the same content has next time
        for edit in record["edits"]:
            if edit["path"] == self.path:
                edit["path"] = None
        return record

    @classmethod
    def from_record(cls, record: Dict[str, Any]) -> "Finding":
        related = tuple(Related(**item) for item in record.get("related", ()))
        fix = record.get("fix")
        if fix is not None:
            edits = [{**edit, "path": edit["path"] or record["path"]} for edit in fix["edits"]]
            fix = Fix.from_dict({**fix, "edits": edits})
        return cls(**{**record, "severity": Severity(record["severity"]), "related": related, "fix": fix})

    @property
    def concise(self) -> str:
        return self.short_message or self.message

    def sort_key(self):
        return (self.path, self.cell or 0, self.line, self.column, self.code)

    @property
    def location(self) -> str:
        """`line 7` or, in a notebook, `cell 4, line 7`: how messages name the place."""
        return f"cell {self.cell}, line {self.line}" if self.cell is not None else f"line {self.line}"


@dataclass
class FileResult:
    """What linting one file gives."""

    path: str
    findings: List[Finding] = field(default_factory=list)
    # the traceback of each check that crashed on this file (shown with --verbose); each crash is
    # also an NNL001 finding when that code is enabled
    internal_errors: List[str] = field(default_factory=list)
    # the file's lines, kept only when there are findings (for --show-source)
    lines: List[str] = field(default_factory=list)
    # a notebook's code cells by number, as written (instead of `lines`)
    cells: Dict[int, List[str]] = field(default_factory=dict)
    # the file's analysis was abandoned at its time limit (never cached: a longer limit may finish it)
    timed_out: bool = False

    def source_line(self, finding: Finding) -> Optional[str]:
        """The line a finding points at, as the user wrote it (None when it is not known)."""
        lines = self.cells.get(finding.cell, []) if finding.cell is not None else self.lines
        return lines[finding.line - 1] if 1 <= finding.line <= len(lines) else None
