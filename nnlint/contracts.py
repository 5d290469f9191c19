"""The contracts a rule family declares in its ``contracts.py``: its rules (`Rule`), and for rules
with a runtime probe the typed input each check hands its probe (a `ProbeInput` dataclass;
`PipelineInput` describes a transform pipeline for the two families whose probes rebuild one)."""

from __future__ import annotations

import typing
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Dict, List, Mapping, Optional, Type, TypeVar

from nnlint.finding import Severity

InputT = TypeVar("InputT", bound="ProbeInput")

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


class ProbeInputError(ValueError):
    """A probe input whose fields are not the ones its type declares."""


@dataclass(frozen=True)
class ProbeInput:
    """The typed input a check hands its rule's probe (a frozen dataclass per probe, declared in
    the family's contracts.py). Fields hold plain data: str, int, float, bool, None, lists and dicts
    of those, and nested ProbeInputs. A finding carries it as a record (`to_record`), so the cache
    and worker processes can keep it; the probe gets it back with `from_record`, which refuses a
    record with unknown or missing fields."""

    def to_record(self) -> Dict[str, Any]:
        return {item.name: _to_plain(getattr(self, item.name)) for item in fields(self)}

    @classmethod
    def from_record(cls: Type[InputT], record: Mapping[str, Any]) -> InputT:
        declared = {item.name for item in fields(cls)}
        unknown, missing = sorted(set(record) - declared), sorted(declared - set(record))
        if unknown or missing:
            raise ProbeInputError(f"{cls.__name__}: unknown fields {unknown}, missing fields {missing}")
        hints = typing.get_type_hints(cls)
        return cls(**{name: _from_plain(hints[name], record[name]) for name in declared})


@dataclass(frozen=True)
class PipelineInput(ProbeInput):
    """A transform pipeline a probe rebuilds (shared by the augmentation and pretrained probes; see
    `analysis.transforms.pipeline_probe_input`): its construction's code, or its ops' codes when it
    was built up in a list, with the names they use."""

    library: str  # torchvision / albumentations / kornia / list / custom
    v2: Optional[bool]  # torchvision.transforms.v2
    construction: Optional[str]
    container: Optional[str]  # the qualified name of the container call (Compose ...)
    ops: List[str]
    op_names: List[str]
    names: Dict[str, Dict[str, str]]  # how each name the codes use resolves (FixedValues)


def _to_plain(value: Any) -> Any:
    if isinstance(value, ProbeInput):
        return value.to_record()
    if isinstance(value, (list, tuple)):
        return [_to_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _to_plain(item) for key, item in value.items()}
    return value


def _from_plain(hint: Any, value: Any) -> Any:
    """A record's value as the field's type: nested inputs (also optional ones) are rebuilt."""
    if value is None:
        return None
    for candidate in (hint, *typing.get_args(hint)):
        if isinstance(candidate, type) and is_dataclass(candidate) and issubclass(candidate, ProbeInput):
            return candidate.from_record(value)
    return value
