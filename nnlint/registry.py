"""The checks: every ``Check`` class of every family, found by walking ``nnlint.families``.

Each family's ``rules.py`` is imported once; each ``Check`` subclass there declares the rules it
reports, which its family declares in ``contracts.py`` (see ``nnlint.catalogue``). Adding a
``Check`` to a family's ``rules.py`` is all it takes to run it.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import List, Tuple, Type

import nnlint.families as families_package
from nnlint.catalogue import all_rules, family_names
from nnlint.check import Check


@lru_cache(maxsize=None)
def check_classes() -> Tuple[Type[Check], ...]:
    """Every check class, in a stable order (family name, then definition order)."""
    catalogued = all_rules()
    found: List[Type[Check]] = []
    for family in family_names():
        module = importlib.import_module(f"{families_package.__name__}.{family}.rules")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Check) and value is not Check and value.rules:
                if value.__module__ == module.__name__ and value not in found:
                    found.append(value)
                    for rule in value.rules:
                        if catalogued.get(rule.code) is not rule:
                            raise RuntimeError(f"{value.__name__} reports {rule.code}, which {family}/contracts.py does not declare")
    return tuple(found)
