"""The rule catalogue: every rule, without the checks that find it.

A *rule* is the contract (code, name, severity, one-line summary, doc); a *check* is the class that
finds it (see ``nnlint.registry``). Each family declares its rules in
``nnlint/families/<family>/contracts.py``, a module that imports only ``nnlint.contracts`` and
``nnlint.finding``, so the reporters, the configuration and ``--list-rules`` know every rule
without loading a check or the analysis behind it.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from pathlib import Path
from typing import Dict, Optional, Tuple

import nnlint.families as families_package
from nnlint.contracts import Rule
from nnlint.finding import Severity

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


def family_names() -> Tuple[str, ...]:
    """Every family (a package under nnlint/families/), sorted."""
    return tuple(sorted(module.name for module in pkgutil.iter_modules(families_package.__path__) if module.ispkg))


@lru_cache(maxsize=None)
def all_rules() -> Dict[str, Rule]:
    """Code -> rule, sorted by code, NNL000 and NNL001 included."""
    rules = {UNPARSABLE.code: UNPARSABLE, INTERNAL_ERROR.code: INTERNAL_ERROR}
    for family in family_names():
        declared = importlib.import_module(f"{families_package.__name__}.{family}.contracts")
        for value in vars(declared).values():
            if isinstance(value, Rule):
                if value.code in rules and rules[value.code] is not value:
                    raise RuntimeError(f"rule {value.code} is declared twice")
                rules[value.code] = value
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
    path = directory / rule.doc_name
    return path.read_text(encoding="utf-8") if path.is_file() else None
