"""The contracts a rule family declares in its ``contracts.py``: its rules, and (for rules with a
runtime probe) the typed input each check hands its probe."""

from __future__ import annotations

from dataclasses import dataclass

from nnlint.finding import Severity

HELP_URI_BASE = "https://github.com/nnlint/nnlint/blob/main/rules/"


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity
    summary: str

    @property
    def doc_name(self) -> str:
        """The rule's doc: rules/<code>.md in the repository, nnlint/rules/<code>.md in the wheel."""
        return f"{self.code}.md"

    @property
    def help_uri(self) -> str:
        return f"{HELP_URI_BASE}{self.doc_name}"

    @property
    def on_by_default(self) -> bool:
        """Info rules (waste, training unaffected) run only when selected."""
        return self.severity is not Severity.INFO
