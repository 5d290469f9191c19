"""Rules, the checks that find them, and their docs.

A *rule* is the contract (code, name, severity, doc); a *check* is the class that finds it. Each rule
family is a package ``nnlint.families.<family>`` whose ``rules`` module is imported once; each
``Check`` subclass there declares the rules it reports, so adding a family folder with a
``rules.py`` is all it takes to register new rules.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple, Type

import nnlint.families as families_package
from nnlint.finding import Severity

if TYPE_CHECKING:
    from nnlint.check import Check

HELP_URI_BASE = "https://github.com/nnlint/nnlint/blob/main/rules/"


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity
    summary: str

    @property
    def help_uri(self) -> str:
        return f"{HELP_URI_BASE}{self.code}.md"

    @property
    def on_by_default(self) -> bool:
        """Info rules (waste, training unaffected) run only when selected."""
        return self.severity is not Severity.INFO


# Reported by the engine itself when a file cannot be read or parsed.
UNPARSABLE = Rule(
    code="NNL000",
    name="cannot-analyse",
    severity=Severity.ERROR,
    summary="The file could not be read, decoded or parsed, so no rule could check it.",
)

# Reported by the engine when a check raised on a file: the other checks' findings still stand.
INTERNAL_ERROR = Rule(
    code="NNL001",
    name="internal-error",
    severity=Severity.ERROR,
    summary="A check crashed on this file (a bug in nnlint, please report it); the other checks still ran.",
)


@lru_cache(maxsize=None)
def check_classes() -> Tuple[Type["Check"], ...]:
    """Every check class, in a stable order (family name, then definition order)."""
    from nnlint.check import Check

    found: List[Type[Check]] = []
    for family in sorted(pkgutil.iter_modules(families_package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{families_package.__name__}.{family.name}.rules")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Check) and value is not Check and value.rules:
                if value.__module__ == module.__name__ and value not in found:
                    found.append(value)
    return tuple(found)


@lru_cache(maxsize=None)
def all_rules() -> Dict[str, Rule]:
    """Code -> rule, sorted by code, NNL000 and NNL001 included."""
    rules = {UNPARSABLE.code: UNPARSABLE, INTERNAL_ERROR.code: INTERNAL_ERROR}
    for check in check_classes():
        for rule in check.rules:
            if rule.code in rules:
                raise RuntimeError(f"rule {rule.code} is declared by two checks")
            rules[rule.code] = rule
    return dict(sorted(rules.items()))


def get_rule(code: str) -> Optional[Rule]:
    return all_rules().get(code.upper())


def docs_directory() -> Optional[Path]:
    """Where the rule docs are: inside the installed package (wheel), else the checkout's rules/."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "rules", package_dir.parent / "rules"):
        if candidate.is_dir():
            return candidate
    return None


def rule_doc(code: str) -> Optional[str]:
    """The Markdown doc of a rule, or None when the rule or its doc does not exist."""
    rule = get_rule(code)
    directory = docs_directory()
    if rule is None or directory is None:
        return None
    path = directory / f"{rule.code}.md"
    return path.read_text(encoding="utf-8") if path.is_file() else None
