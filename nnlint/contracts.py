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
    # whether the rule runs when the configuration selects nothing
    default_enabled: bool = True

    @property
    def doc_name(self) -> str:
        """The rule's doc: rules/<code>.md in the repository, nnlint/rules/<code>.md in the wheel."""
        return f"{self.code}.md"

    @property
    def help_uri(self) -> str:
        return f"{HELP_URI_BASE}{self.doc_name}"
