"""A per-file time budget, checked cooperatively at safe points (between parsing phases, every
few thousand nodes of the traversal, at each statement a data-flow walk visits). Nothing is
interrupted asynchronously in-process: raising from a signal handler inside the interpreter's own
parser can corrupt its state. The hard limit is the worker process's: `nnlint.parallel` kills a
worker that is still busy shortly after its file's limit (a native parse never looks at this one)."""

from __future__ import annotations

import time
from typing import Optional


class TimeBudgetExceeded(Exception):
    """Linting one file took longer than its time budget."""


class Deadline:
    def __init__(self, seconds: Optional[float] = None) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds if seconds else None

    def check(self) -> None:
        if self.at is not None and time.monotonic() > self.at:
            raise TimeBudgetExceeded()


NO_DEADLINE = Deadline(None)
