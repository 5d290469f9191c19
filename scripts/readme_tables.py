"""Regenerate the README's rules table and triggers table from the rule catalogue and the checks.

    python scripts/readme_tables.py          # rewrite README.md in place
    python scripts/readme_tables.py --check  # exit 1 (and say which table) when README.md is stale

Each table sits between a pair of markers in README.md (`<!-- begin: NAME -->`, `<!-- end: NAME -->`);
what is between them is generated, so edit a rule's `contracts.py` or a check's `triggers`, never
the README by hand. A test runs `--check`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Callable, Dict, List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's nnlint, whatever is installed

from nnlint.catalogue import all_rules  # noqa: E402
from nnlint.registry import check_classes  # noqa: E402

README = ROOT / "README.md"


def rules_table() -> str:
    rows = ["| Code | Name | Severity | What it finds |", "|------|------|----------|---------------|"]
    for code, rule in all_rules().items():
        rows.append(f"| [{code}](rules/{rule.doc_name}) | {rule.name} | {rule.severity.value} | {rule.summary} |")
    return "\n".join(rows)


def triggers_table() -> str:
    triggers: Dict[str, str] = {}
    for check in check_classes():
        for rule in check.rules:
            triggers[rule.code] = ", ".join(f"`{trigger}`" for trigger in check.triggers)
    rows = ["| Rule | Triggers (any of) |", "|------|-------------------|"]
    rows += [f"| {code} | {triggers[code]} |" for code in sorted(triggers)]
    return "\n".join(rows)


TABLES: Dict[str, Callable[[], str]] = {"rules": rules_table, "triggers": triggers_table}


def regenerate(text: str) -> str:
    for name, build in TABLES.items():
        pattern = re.compile(rf"(<!-- begin: {name} -->\n).*?(\n<!-- end: {name} -->)", re.DOTALL)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no '<!-- begin: {name} -->' ... '<!-- end: {name} -->' markers")
        text = pattern.sub(lambda match: match.group(1) + build() + match.group(2), text)
    return text


def main(argv: List[str]) -> int:
    current = README.read_text(encoding="utf-8")
    updated = regenerate(current)
    if "--check" in argv:
        if updated != current:
            print("README.md is stale: run `python scripts/readme_tables.py`", file=sys.stderr)
            return 1
        return 0
    if updated != current:
        README.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
