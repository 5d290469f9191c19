"""Configuration: `[tool.nnlint]` in pyproject.toml, command-line overrides, rule selection.

Keys: select, ignore, extend-select, extend-ignore (codes or prefixes such as NNL1; `ALL` selects
every rule), include and extend-include (globs of the files searched for in folders), exclude and
extend-exclude (globs), per-file-ignores (glob -> codes), src (import roots of the project),
project (false: lint file by file, without cross-file facts), fix and unsafe-fixes (booleans, as
--fix and --unsafe-fixes) and unfixable (codes whose fixes are never applied). The file is the
nearest pyproject.toml with a [tool.nnlint] table, from the current folder upward, or the file given
with --config.
"""

from __future__ import annotations

import fnmatch
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from nnlint.catalogue import INTERNAL_ERROR, UNPARSABLE, all_rules

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

KNOWN_KEYS = (
    "select", "ignore", "extend-select", "extend-ignore", "include", "extend-include", "exclude", "extend-exclude",
    "per-file-ignores", "src", "project", "fix", "unsafe-fixes", "unfixable",
)
# the files a folder is searched for, unless `include` says otherwise
DEFAULT_INCLUDE = ("*.py", "*.ipynb")
_CODE_SHAPE = re.compile(r"^NNL[0-9]{0,3}$")
ALL = "ALL"  # selects every rule, the ones off by default included
# What the engine itself reports is on whatever the selection, unless ignored.
ALWAYS_SELECTED = frozenset({UNPARSABLE.code, INTERNAL_ERROR.code})


class ConfigError(Exception):
    """A configuration or usage problem, reported as one line and exit code 2."""


@dataclass(frozen=True)
class Pattern:
    """A glob and the folder it is relative to."""

    glob: str
    base: Path

    def matches(self, path: Path) -> bool:
        glob = self.glob.rstrip("/")
        absolute = path if path.is_absolute() else Path.cwd() / path
        candidates = [path.name, absolute.as_posix()]
        try:
            candidates.append(absolute.relative_to(self.base).as_posix())
        except ValueError:
            pass
        return any(fnmatch.fnmatchcase(candidate, glob) for candidate in candidates)


@dataclass
class Settings:
    select: Optional[List[str]] = None  # None: every rule
    ignore: List[str] = field(default_factory=list)
    extend_select: List[str] = field(default_factory=list)
    include: List[Pattern] = field(default_factory=lambda: [Pattern(glob, Path.cwd()) for glob in DEFAULT_INCLUDE])
    extend_include: List[Pattern] = field(default_factory=list)
    exclude: List[Pattern] = field(default_factory=list)
    per_file_ignores: List[Tuple[Pattern, List[str]]] = field(default_factory=list)
    fix: bool = False  # apply safe fixes (--fix)
    unsafe_fixes: bool = False  # apply unsafe fixes too (--unsafe-fixes)
    unfixable: List[str] = field(default_factory=list)  # codes or prefixes never fixed
    source: Optional[Path] = None  # the config file read, if any
    # import roots of the project, relative to the config file (None: the root and its src/)
    src: Optional[List[str]] = None
    project: bool = True  # read the whole project for cross-file facts (False: file by file)


def validate_codes(values: Iterable[str], where: str) -> List[str]:
    """Upper-cased codes/prefixes; a clear error for one that names no rule."""
    known = list(all_rules())
    codes = []
    for raw in values:
        code = raw.strip().upper()
        if not code:
            continue
        if code == ALL:
            codes.append(code)
            continue
        if not _CODE_SHAPE.match(code) or not any(k.startswith(code) for k in known):
            raise ConfigError(
                f"unknown rule code or prefix {raw.strip()!r} in {where} (known rules: ALL, {', '.join(known)})"
            )
        codes.append(code)
    return codes


def split_codes(value: Any, where: str) -> List[str]:
    """A comma-separated string or a list of strings."""
    if isinstance(value, str):
        return validate_codes(value.split(","), where)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return validate_codes(value, where)
    raise ConfigError(f"{where} must be a list of rule codes or a comma-separated string, not {value!r}")


def _string_list(value: Any, where: str) -> List[str]:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise ConfigError(f"{where} must be a list of glob patterns or a comma-separated string, not {value!r}")


def find_config(start: Path) -> Optional[Path]:
    """The nearest pyproject.toml with a [tool.nnlint] table, from `start` upward."""
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and "nnlint" in _read_text(candidate) and _nnlint_table(candidate, explicit=False) is not None:
            return candidate
    return None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from None


def _nnlint_table(path: Path, explicit: bool) -> Optional[Dict[str, Any]]:
    try:
        data = tomllib.loads(_read_text(path))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"invalid TOML in {path}: {error}") from None
    table = data.get("tool", {}).get("nnlint") if isinstance(data.get("tool"), dict) else None
    if table is None and explicit and path.name != "pyproject.toml":
        table = data  # a dedicated config file may hold the keys at the top level
    if table is not None and not isinstance(table, dict):
        raise ConfigError(f"[tool.nnlint] in {path} must be a table")
    return table


def load_settings(config_path: Optional[Path] = None, start: Optional[Path] = None) -> Settings:
    """Settings from the explicit config file, or the discovered one, or the defaults."""
    explicit = config_path is not None
    if config_path is None:
        config_path = find_config(start or Path.cwd())
        if config_path is None:
            return Settings()
    elif not config_path.exists():
        raise ConfigError(f"config file {config_path} does not exist")
    elif config_path.is_dir():
        raise ConfigError(f"config file {config_path} is a folder")
    table = _nnlint_table(config_path, explicit) or {}
    unknown = sorted(set(table) - set(KNOWN_KEYS))
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r} in [tool.nnlint] of {config_path} (known keys: {', '.join(KNOWN_KEYS)})"
        )
    base = config_path.resolve().parent
    where = f"[tool.nnlint] of {config_path}"
    # the cache goes next to a real config file; `--config /dev/null` (an empty config) has none
    settings = Settings(source=config_path if config_path.is_file() else None)
    if "select" in table:
        settings.select = split_codes(table["select"], f"'select' in {where}")
    if "ignore" in table:
        settings.ignore = split_codes(table["ignore"], f"'ignore' in {where}")
    if "extend-select" in table:
        settings.extend_select = split_codes(table["extend-select"], f"'extend-select' in {where}")
    if "extend-ignore" in table:
        settings.ignore = settings.ignore + split_codes(table["extend-ignore"], f"'extend-ignore' in {where}")
    for key in ("exclude", "extend-exclude"):
        if key in table:
            globs = _string_list(table[key], f"{key!r} in {where}")
            settings.exclude = settings.exclude + [Pattern(glob, base) for glob in globs]
    if "src" in table:
        settings.src = _string_list(table["src"], f"'src' in {where}")
    if "project" in table:
        if not isinstance(table["project"], bool):
            raise ConfigError(f"'project' in {where} must be true or false")
        settings.project = table["project"]
    for key in ("include", "extend-include"):
        if key in table:
            patterns = [Pattern(glob, base) for glob in _string_list(table[key], f"{key!r} in {where}")]
            setattr(settings, key.replace("-", "_"), patterns)
    for key in ("fix", "unsafe-fixes"):
        if key in table:
            if not isinstance(table[key], bool):
                raise ConfigError(f"'{key}' in {where} must be true or false, not {table[key]!r}")
            setattr(settings, key.replace("-", "_"), table[key])
    if "unfixable" in table:
        settings.unfixable = split_codes(table["unfixable"], f"'unfixable' in {where}")
    if "per-file-ignores" in table:
        value = table["per-file-ignores"]
        if not isinstance(value, dict):
            raise ConfigError(f"'per-file-ignores' in {where} must be a table of glob = codes")
        for glob, codes in value.items():
            settings.per_file_ignores.append(
                (Pattern(glob, base), split_codes(codes, f"'per-file-ignores' for {glob!r} in {where}"))
            )
    return settings


def _longest_prefix(code: str, prefixes: Sequence[str], min_length: int = 0) -> int:
    """Length of the longest prefix of `code` among `prefixes` (ALL counts as the empty prefix);
    prefixes shorter than `min_length` other than ALL do not count. -1 when none matches."""
    lengths = [0 if prefix == ALL else len(prefix) for prefix in prefixes if prefix == ALL or code.startswith(prefix)]
    return max((length for length in lengths if length == 0 or length >= min_length), default=-1)


# A rule that is off by default is selected by its code, its family (NNL5) or ALL, not by `NNL`.
_FAMILY_PREFIX_LENGTH = len("NNL5")


class RuleSelection:
    """Which rule codes apply to which file (flake8's semantics: the most specific of select and
    ignore wins, ignore on a tie). The default selection is every rule that is on by default; a
    rule that is off by default (severity info) needs its code, its family prefix or ALL.
    NNL000 (file cannot be analysed) and NNL001 (internal error) are reported unless ignored."""

    def __init__(self, settings: Settings) -> None:
        self.selected = (settings.select if settings.select is not None else ["NNL"]) + settings.extend_select
        self.ignored = settings.ignore
        self.per_file_ignores = settings.per_file_ignores

    def enabled_codes(self, path: Optional[Path]) -> frozenset:
        extra: List[str] = []
        if path is not None:
            for pattern, codes in self.per_file_ignores:
                if pattern.matches(path):
                    extra.extend(codes)
        ignored = self.ignored + extra
        enabled = set()
        for code, rule in all_rules().items():
            selected = _longest_prefix(code, self.selected, 0 if rule.on_by_default else _FAMILY_PREFIX_LENGTH)
            if code in ALWAYS_SELECTED:
                selected = max(selected, 0)
            if selected >= 0 and selected > _longest_prefix(code, ignored):
                enabled.add(code)
        return frozenset(enabled)


def is_excluded(path: Path, patterns: Sequence[Pattern]) -> bool:
    return any(pattern.matches(path) for pattern in patterns)


def is_excluded_with_folders(path: Path, patterns: Sequence[Pattern]) -> bool:
    """Whether a path named on the command line is excluded: by itself or by a folder above it,
    up to the folder a pattern is relative to (ruff's force-exclude; pre-commit names every file,
    so `exclude = ["experiments"]` must cover experiments/train.py)."""
    absolute = Path(os.path.abspath(path))
    for pattern in patterns:
        if absolute == pattern.base or absolute in pattern.base.parents:
            continue  # `nnlint .` from the project's own folder is never excluded by its name
        if pattern.matches(absolute):
            return True
        if pattern.base not in absolute.parents:
            continue
        for folder in absolute.parents:
            if folder == pattern.base:
                break
            if pattern.matches(folder):
                return True
    return False


def cli_patterns(value: Optional[str]) -> List[Pattern]:
    """--exclude globs are relative to the current folder."""
    if not value:
        return []
    return [Pattern(glob.strip(), Path(os.getcwd())) for glob in value.split(",") if glob.strip()]


def cli_per_file_ignores(values: Sequence[str]) -> List[Tuple[Pattern, List[str]]]:
    """--per-file-ignores in ruff's syntax: comma-separated `glob:CODES` pairs, globs relative to
    the current folder (`scripts/*.py:NNL101,tests/*:NNL1`). A code without a glob of its own
    belongs to the glob before it (`scripts/*.py:NNL101,NNL201`), as flake8 reads it."""
    pairs: List[Tuple[Pattern, List[str]]] = []
    for value in values:
        for item in (item.strip() for item in value.split(",")):
            if not item:
                continue
            glob, colon, code = item.rpartition(":")
            if colon and glob.strip():
                pairs.append((Pattern(glob.strip(), Path(os.getcwd())), []))
            elif colon or not pairs:
                raise ConfigError(f"--per-file-ignores expects GLOB:CODES pairs, not {item!r}")
            pairs[-1][1].extend(validate_codes([code], "--per-file-ignores"))
    return pairs
