"""The base class of checks. Every ``Check`` subclass defined in a family's ``rules.py`` is
registered automatically (see ``nnlint.registry``).

A check is a LibCST batchable visitor. All checks of a file run together in the engine's single
traversal; a typical check collects candidate nodes in ``visit_*`` methods and decides in
``finish()`` by asking the analysis facts (``self.ctx.fact(...)``), which are computed once per
module and shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, List, Mapping, Optional, Tuple

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.budget import TimeBudgetExceeded
from nnlint.contracts import ProbeInput, Rule
from nnlint.finding import Fix


@dataclass(frozen=True)
class Elsewhere:
    """A place in another file of the project: its path (as given to `ProjectValues`) and
    [line, column, end_line, end_column]."""

    path: str
    at: Tuple[int, int, int, int]
    message: str = ""


@dataclass(frozen=True)
class Report:
    """What a check reports; the engine turns it into a Finding with positions. A finding whose
    fix goes into another file of the project is reported `at` that place; `related` names the
    other places the finding rests on (a node of this module, or a place elsewhere)."""

    node: cst.CSTNode
    rule: Rule
    message: str  # the full form: what the code does, what it does to training, the fix
    probe_input: Optional[ProbeInput] = None
    at: Optional[Elsewhere] = None
    related: Tuple[Tuple[Any, str], ...] = ()
    short: str = ""  # the concise form: what is wrong and the fix in a few words (under ~110 characters)
    fix: Optional[Fix] = None  # built by the rule's family fixes.py


class Check(cst.BatchableCSTVisitor):
    #: The rules this check reports.
    rules: ClassVar[Tuple[Rule, ...]] = ()
    #: Source substrings without which the check cannot fire. A file that contains none of them
    #: is never given to this check (and never parsed if no active check is triggered).
    triggers: ClassVar[Tuple[str, ...]] = ()

    def __init__(self, ctx: ModuleContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.reports: List[Report] = []
        self.failure: Optional[BaseException] = None

    def finish(self) -> None:
        """Called once after the traversal; most checks decide here."""

    def report(
        self,
        node: cst.CSTNode,
        rule: Rule,
        message: str,
        probe_input: Optional[ProbeInput] = None,
        at: Optional[Elsewhere] = None,
        related: Tuple[Tuple[Any, str], ...] = (),
        short: str = "",
        fix: Optional[Fix] = None,
    ) -> None:
        """`related`: (a node of this module or an `Elsewhere`, what happens there) pairs; `short`: the
        concise form of the message; `fix`: what the rule's fixes.py builds to rewrite the finding
        away."""
        self.reports.append(Report(node, rule, message, probe_input, at, related, short, fix))

    def get_visitors(self) -> Mapping[str, Callable[[cst.CSTNode], Any]]:
        # Every visitor method is guarded: a check that raises on some file is switched off for
        # that file and reported as an internal error, and the other checks carry on.
        return {name: self._guarded(getattr(self, name)) for name in self._visitor_names()}

    @classmethod
    def _visitor_names(cls) -> Tuple[str, ...]:
        # LibCST finds the visitor methods with inspect.getmembers on every instance, which costs
        # more than some checks themselves; the names depend on the class only.
        names = cls.__dict__.get("_visitor_names_cache")
        if names is None:
            names = tuple(
                name
                for name in dir(cls)
                if name.startswith(("visit_", "leave_"))
                and callable(getattr(cls, name))
                and not getattr(getattr(cls, name), "_is_no_op", False)
            )
            cls._visitor_names_cache = names
        return names

    def _guarded(self, method: Callable[[cst.CSTNode], Any]) -> Callable[[cst.CSTNode], Any]:
        def guarded(node: cst.CSTNode) -> Any:
            if self.failure is not None:
                return None
            try:
                return method(node)
            except (RecursionError, TimeBudgetExceeded):
                raise  # about the whole file, not this check: the engine reports it
            except Exception as error:  # noqa: BLE001 - reported as an internal error
                self.failure = error
                return None

        return guarded
