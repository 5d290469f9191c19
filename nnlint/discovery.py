"""From the paths on the command line to the files to lint."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Set, Tuple

from nnlint.config import DEFAULT_INCLUDE, Pattern, is_excluded, is_excluded_with_folders

STDIN = "-"
DEFAULT_INCLUDES = tuple(Pattern(glob, Path(".")) for glob in DEFAULT_INCLUDE)
# Folders never searched when recursing (a file named explicitly is still linted).
SKIPPED_FOLDERS = frozenset(
    {
        ".git", ".hg", ".svn", "__pycache__", ".tox", ".nox", "build", "dist", ".venv", "venv",
        ".eggs", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".nnlint_cache", "node_modules",
        "site-packages", ".ipynb_checkpoints",
    }
)


@dataclass(frozen=True)
class SourceFile:
    """A file to lint: `display` is how it is named in the output; `path` is None for stdin."""

    display: str
    path: Optional[Path]


def _is_virtualenv(folder: Path) -> bool:
    return (folder / "pyvenv.cfg").is_file()


def _skipped_folder(folder: Path, excludes: Sequence[Pattern]) -> bool:
    name = folder.name
    return (
        name in SKIPPED_FOLDERS
        or name.endswith(".egg-info")
        or _is_virtualenv(folder)
        or is_excluded(folder, excludes)
    )


def discover(
    paths: Sequence[str],
    excludes: Sequence[Pattern],
    stdin_name: Optional[str] = None,
    force_exclude: bool = True,
    includes: Sequence[Pattern] = DEFAULT_INCLUDES,
) -> Tuple[List[SourceFile], List[str]]:
    """Files to lint in a stable order, and one error line per path that does not exist. Folders
    are searched for the files that match `includes` (Python files and notebooks by default); a
    file named on the command line is linted whatever its name. With `force_exclude` the excludes
    apply to the paths named here too (files and folders, by their own name or a folder's above
    them)."""

    def named_and_excluded(path: Path) -> bool:
        return force_exclude and is_excluded_with_folders(path, excludes)

    files: List[SourceFile] = []
    errors: List[str] = []
    seen: Set[Path] = set()

    def add(display: str, path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            files.append(SourceFile(display, path))

    for given in paths:
        if given == STDIN:
            files.append(SourceFile(stdin_name or "stdin", None))
            continue
        path = Path(given)
        if path.is_dir():
            if named_and_excluded(path):
                continue
            for display, found in _walk(given, excludes, includes):
                add(display, found)
        elif path.is_file():
            if not named_and_excluded(path):
                add(given, path)
        elif path.exists() or path.is_symlink():
            errors.append(f"{given}: not a regular file or folder")
        else:
            errors.append(f"{given}: no such file or folder")
    return files, errors


def _walk(top: str, excludes: Sequence[Pattern], includes: Sequence[Pattern]):
    """(display, path) of the included files under `top`, sorted, pruning skipped folders.
    Symlinked folders are not followed, so link loops cannot trap the walk."""
    for folder, subfolders, filenames in os.walk(top, followlinks=False, onerror=None):
        folder_path = Path(folder)
        subfolders[:] = sorted(d for d in subfolders if not _skipped_folder(folder_path / d, excludes))
        for filename in sorted(filenames):
            path = folder_path / filename
            if not any(pattern.matches(path) for pattern in includes) or is_excluded(path, excludes) or not path.is_file():
                continue
            yield os.path.normpath(os.path.join(folder, filename)), path
