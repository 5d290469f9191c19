"""`# noqa` in flake8's syntax and file-level `# nnlint: noqa`."""

from __future__ import annotations

import pytest

from nnlint.suppression import file_suppression, line_suppresses
from tests.helpers import codes_and_lines
from tests.test_cli import CAPPED

CAP_LINE = "        loss = loss.clamp(max=5.0)"


def with_comment(comment: str) -> str:
    return CAPPED.replace(CAP_LINE, f"{CAP_LINE}  {comment}")


@pytest.mark.parametrize(
    "comment",
    ["# noqa", "# NOQA", "# noqa: NNL101", "# NOQA:NNL101", "# noqa: E501, NNL101", "# noqa:NNL101,NNL201",
     "# noqa: NNL201 NNL101", "# some words # noqa", "# noqa: NNL1", "# noqa:NNL10"],
)
def test_noqa_forms_that_silence(comment):
    assert codes_and_lines(with_comment(comment)) == []


# flake8's rule, which nnlint follows so that both silence the same findings: `# noqa` exactly
# (any case), codes case-sensitive; a lower-case code is a code nnlint does not have
@pytest.mark.parametrize(
    "comment",
    ["# noqa: NNL201", "# noqa: E501", "# nnlint: noqa: NNL201", "# no qa", "# NOQA: nnl101", "#noqa:NNL101",
     "# noqa: NNL2"],
)
def test_noqa_forms_that_do_not_silence(comment):
    assert codes_and_lines(with_comment(comment)) == [("NNL101", 8)]


def test_noqa_on_the_first_line_of_a_multiline_finding():
    source = CAPPED.replace(CAP_LINE, "        loss = torch.clamp(  # noqa: NNL101\n            loss, max=5.0\n        )")
    assert codes_and_lines(source) == []
    unsuppressed = CAPPED.replace(CAP_LINE, "        loss = torch.clamp(\n            loss, max=5.0  # noqa\n        )")
    assert codes_and_lines(unsuppressed) == [("NNL101", 8)]


@pytest.mark.parametrize("comment", ["# nnlint: noqa", "#nnlint:noqa", "# NNLINT: NOQA", "# nnlint: noqa: NNL101"])
def test_file_level_noqa(comment):
    assert codes_and_lines(comment + "\n" + CAPPED) == []
    assert codes_and_lines(CAPPED + comment + "\n") == []


def test_file_level_noqa_for_another_code_keeps_findings():
    assert codes_and_lines("# nnlint: noqa: NNL000\n" + CAPPED) == [("NNL101", 9)]


def test_parsers():
    assert file_suppression("x = 1\n").everything is False
    assert file_suppression("# nnlint: noqa: NNL101, NNL102\n").codes == {"NNL101", "NNL102"}
    assert line_suppresses("x = 1  # noqa", "NNL101")
    assert not line_suppresses("x = 1  # nnlint: noqa", "NNL101")
