"""The result cache: a file's findings, keyed by its content, the nnlint build and the rules.

Layout: `<cache dir>/CACHEDIR.TAG`, `.gitignore` (ignore everything) and one JSON file per entry
under `results/<2 hex>/<key>.json`. The key is a hash of the file's bytes, the nnlint version and
a fingerprint of nnlint's own source (so a changed check never serves stale results), the enabled
rule codes and the options that change findings. Entries are written atomically (temporary file +
rename), so two runs can share the cache; an entry that cannot be read or does not look right is
ignored and rewritten, never trusted. A cache that cannot be written is silently not used.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import FrozenSet, Optional

from nnlint import __version__
from nnlint.analysis.summaries import SUMMARY_FORMAT
from nnlint.engine import attach_source
from nnlint.finding import FileResult, Finding

CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by nnlint.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)
ENTRY_FORMAT = 2


@lru_cache(maxsize=None)
def build_fingerprint() -> str:
    """nnlint's version plus a hash of its own source files and rule docs."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class ResultCache:
    def __init__(self, directory: Path, options: str = "") -> None:
        self.directory = directory
        self.options = options
        self.usable = self._prepare()

    def _prepare(self) -> bool:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tag = self.directory / "CACHEDIR.TAG"
            if not tag.exists():
                tag.write_text(CACHEDIR_TAG, encoding="utf-8")
            ignore = self.directory / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# Automatically created by nnlint.\n*\n", encoding="utf-8")
            return os.access(self.directory, os.W_OK)
        except OSError:
            return False

    def key(self, data: bytes, enabled: FrozenSet[str], project: str = "") -> str:
        """`project`: a digest of the project modules the file's checks may read (project analysis)."""
        digest = hashlib.sha256()
        for part in (build_fingerprint(), ",".join(sorted(enabled)), self.options, project):
            digest.update(part.encode())
            digest.update(b"\0")
        digest.update(data)
        return digest.hexdigest()

    def _entry(self, key: str) -> Path:
        return self.directory / "results" / key[:2] / f"{key}.json"

    def load(self, key: str, path: str, data: bytes) -> Optional[FileResult]:
        """The cached result for this content, named `path`, or None (missing or unreadable).
        `data` are the file's current bytes: the source shown with findings comes from them."""
        if not self.usable:
            return None
        try:
            record = json.loads(self._entry(key).read_text(encoding="utf-8"))
            if record.get("format") != ENTRY_FORMAT or record.get("key") != key:
                return None
            own = record.get("path")
            # findings reported in another file of the project keep that file's path
            findings = [
                Finding.from_record({**item, "path": path if item["path"] == own else item["path"]})
                for item in record["findings"]
            ]
        except (OSError, ValueError, TypeError, KeyError):
            return None
        return attach_source(FileResult(path, findings), data)

    def store(self, key: str, result: FileResult) -> None:
        if not self.usable or result.internal_errors or result.timed_out:
            return  # a crashed check or an abandoned file is retried next time, not remembered
        entry = self._entry(key)
        record = {"format": ENTRY_FORMAT, "key": key, "path": result.path, "findings": [f.to_record() for f in result.findings]}
        self._write(entry, record)

    def _summary_entry(self, digest: str) -> Path:
        key = hashlib.sha256(f"{build_fingerprint()}\0{digest}".encode()).hexdigest()
        return self.directory / "summaries" / key[:2] / f"{key}.json"

    def load_summary(self, digest: str) -> Optional[dict]:
        """A module summary (project analysis, pass 1) for content with this digest, or None."""
        if not self.usable:
            return None
        try:
            record = json.loads(self._summary_entry(digest).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and record.get("format") == SUMMARY_FORMAT else None

    def store_summary(self, digest: str, summary: dict) -> None:
        if self.usable:
            self._write(self._summary_entry(digest), summary)

    def _write(self, entry: Path, record: dict) -> None:
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(record, stream)
            os.replace(temporary, entry)
        except OSError:
            try:
                os.unlink(temporary)  # type: ignore[possibly-undefined]
            except (OSError, NameError):
                pass
