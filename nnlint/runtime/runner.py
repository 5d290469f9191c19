"""Runs probe requests in a worker subprocess, with a time limit per probe.

The worker runs in its own process group; a probe that exceeds its time limit gets the whole
group killed (nothing is left behind) and the next probe starts a fresh worker.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from typing import Any, Dict, Optional

STARTUP_TIMEOUT = 120.0  # importing torch the first time can be slow
WORKER_COMMAND = ["-m", "nnlint.runtime.worker"]


class ProbeFailed(Exception):
    """The worker did not answer: it timed out, died, or never started."""


class ProbeRunner:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._process: Optional[subprocess.Popen] = None
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()

    def __enter__(self) -> "ProbeRunner":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _start(self) -> None:
        self._lines = queue.Queue()
        self._process = subprocess.Popen(
            [sys.executable, *WORKER_COMMAND],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
            # a fixed hash seed keeps set and dict-of-str iteration, and so evidence, the same every run
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        threading.Thread(target=self._read, args=(self._process, self._lines), daemon=True).start()
        ready = self._next_line(STARTUP_TIMEOUT, "starting the probe worker (importing torch)")
        if not json.loads(ready).get("ready"):
            raise ProbeFailed("the probe worker did not start")

    @staticmethod
    def _read(process: subprocess.Popen, lines: "queue.Queue[Optional[str]]") -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    def _next_line(self, timeout: float, doing: str) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise ProbeFailed(f"timed out after {timeout:g} s {doing}") from None
        if line is None:
            code = self._process.wait() if self._process else None
            self.close()
            raise ProbeFailed(f"the probe worker exited with code {code} {doing}")
        return line

    def run(self, code: str, request: Dict[str, Any]) -> Dict[str, str]:
        if self._process is None or self._process.poll() is not None:
            self._start()
        assert self._process is not None and self._process.stdin is not None
        try:
            self._process.stdin.write(json.dumps({"code": code, "request": request}) + "\n")
            self._process.stdin.flush()
        except (BrokenPipeError, OSError):
            self.close()
            raise ProbeFailed("the probe worker stopped accepting requests") from None
        return json.loads(self._next_line(self.timeout, "running the probe"))

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
