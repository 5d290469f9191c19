"""The `nnlint` command: options -> settings -> engine -> (probes) -> reporter -> exit code.

Exit codes: 0 no findings, 1 findings, 2 usage, configuration or internal error.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import click

from nnlint import __version__
from nnlint.config import ConfigError, RuleSelection, Settings, cli_patterns, load_settings, split_codes
from nnlint.discovery import STDIN, SourceFile, discover
from nnlint.cache import ResultCache
from nnlint.engine import DEFAULT_FILE_TIMEOUT, FileResult, SourceError, decode_source, lint_files
from nnlint.finding import Finding
from nnlint.fixing import FixedFile, FixOptions, FixRun, encode_like, fix_files, fixable_counts, relinter, unified_diff
from nnlint.parallel import available_cores
from nnlint.project import Projects
from nnlint.registry import all_rules, get_rule, rule_doc
from nnlint.report import FORMATS, ReportOptions, render

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _error(message: str) -> None:
    click.echo(f"nnlint: {message}", err=True)


def _list_rules() -> None:
    width = max(len(rule.name) for rule in all_rules().values())
    for rule in all_rules().values():
        click.echo(f"{rule.code}  {rule.name:<{width}}  {rule.severity.value:<8} {rule.summary}")


def _explain(code: str) -> int:
    rule = get_rule(code)
    if rule is None:
        _error(f"unknown rule {code!r} (known rules: {', '.join(all_rules())})")
        return EXIT_ERROR
    doc = rule_doc(rule.code)
    if doc is None:
        click.echo(f"{rule.code} {rule.name} ({rule.severity.value})\n\n{rule.summary}")
    else:
        click.echo(doc, nl=not doc.endswith("\n"))
    return EXIT_CLEAN


def _settings(config: Optional[str], select, ignore, extend_select, exclude) -> Settings:
    settings = load_settings(Path(config) if config else None)
    if select is not None:
        settings.select = split_codes(select, "--select")
    if ignore is not None:
        settings.ignore = split_codes(ignore, "--ignore")
    if extend_select is not None:
        settings.extend_select = settings.extend_select + split_codes(extend_select, "--extend-select")
    if exclude is not None:
        settings.exclude = cli_patterns(exclude)
    return settings


def _cache_directory(option: Optional[str], settings: Settings) -> Path:
    if option:
        return Path(option)
    root = settings.source.resolve().parent if settings.source is not None else Path.cwd()
    return root / ".nnlint_cache"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--select", metavar="CODES", help="Comma list of rule codes or prefixes to report (default: all).")
@click.option("--ignore", metavar="CODES", help="Comma list of rule codes or prefixes not to report.")
@click.option("--extend-select", metavar="CODES", help="Codes or prefixes to report in addition to --select.")
@click.option("--exclude", metavar="GLOBS", help="Comma list of globs of files and folders to skip (replaces the config's).")
@click.option("--format", "output_format", type=click.Choice(FORMATS), default="text", show_default=True, help="Output format.")
@click.option("--show-source", is_flag=True, help="Show the offending line and a caret under the column (text format).")
@click.option("--statistics", is_flag=True, help="Count findings per code at the end (text format).")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--config", "config_path", metavar="PATH", help="TOML file with the [tool.nnlint] settings to use.")
@click.option("--stdin-filename", metavar="NAME", help="Name for the code read from '-' in output and per-file config.")
@click.option("--fix/--no-fix", "fix", default=None, help="Apply the safe fixes, verified, and write the files (stdin: print the fixed code).")
@click.option("--unsafe-fixes/--no-unsafe-fixes", "unsafe_fixes", default=None, help="Apply the unsafe fixes too (with --fix or --diff).")
@click.option("--diff", is_flag=True, help="Print the fixes as a unified diff instead of writing them; exit 1 if there is one.")
@click.option("--confirm", is_flag=True, help="Run a short torch experiment per finding to confirm it (needs nnlint[runtime]).")
@click.option("--confirm-timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True, metavar="SECONDS", help="Time limit of one probe.")
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=0, show_default=True, help="Processes to lint with; 0 means one per available core.")
@click.option("--file-timeout", type=click.FloatRange(min=0), default=DEFAULT_FILE_TIMEOUT, show_default=True, metavar="SECONDS", help="Give up on a file that takes longer (reported as NNL000); 0 means no limit.")
@click.option("--no-project", is_flag=True, help="Lint file by file: no facts from the project's other modules (config: project = false).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the result cache.")
@click.option("--cache-dir", metavar="PATH", envvar="NNLINT_CACHE_DIR", help="Result cache folder (default: .nnlint_cache next to the config file, else in the current folder; env NNLINT_CACHE_DIR).")
@click.option("--list-rules", is_flag=True, help="List every rule and exit.")
@click.option("--explain", metavar="CODE", help="Print a rule's documentation and exit.")
@click.version_option(__version__, "--version", prog_name="nnlint")
def command(
    paths: Sequence[str],
    select: Optional[str],
    ignore: Optional[str],
    extend_select: Optional[str],
    exclude: Optional[str],
    output_format: str,
    show_source: bool,
    statistics: bool,
    exit_zero: bool,
    config_path: Optional[str],
    stdin_filename: Optional[str],
    fix: Optional[bool],
    unsafe_fixes: Optional[bool],
    diff: bool,
    confirm: bool,
    confirm_timeout: float,
    jobs: int,
    file_timeout: float,
    no_project: bool,
    no_cache: bool,
    cache_dir: Optional[str],
    list_rules: bool,
    explain: Optional[str],
) -> None:
    """Find silent bugs in PyTorch training code.

    PATHS are files or folders (searched for *.py); '-' reads standard input; no PATH means the
    current folder.
    """
    if list_rules:
        _list_rules()
        sys.exit(EXIT_CLEAN)
    if explain is not None:
        sys.exit(_explain(explain))
    if confirm:
        from nnlint.runtime import runtime_available

        if not runtime_available():
            _error('--confirm needs PyTorch: pip install "nnlint[runtime]"')
            sys.exit(EXIT_ERROR)
    try:
        settings = _settings(config_path, select, ignore, extend_select, exclude)
    except ConfigError as error:
        _error(str(error))
        sys.exit(EXIT_ERROR)
    if fix is not None:
        settings.fix = fix
    if unsafe_fixes is not None:
        settings.unsafe_fixes = unsafe_fixes

    sources, missing = discover(list(paths) or ["."], settings.exclude, stdin_filename)
    for message in missing:
        _error(message)
    if not sources and not missing:
        _error(f"no Python files found in {', '.join(paths) or '.'}")

    selection = RuleSelection(settings)

    def enabled_for(source: SourceFile):
        name = source.path if source.path is not None else (Path(stdin_filename) if stdin_filename else None)
        return selection.enabled_codes(name)

    stdin_data = sys.stdin.buffer.read() if STDIN in paths else None
    cache = None if no_cache else ResultCache(_cache_directory(cache_dir, settings))
    projects = None if no_project or not settings.project else Projects(
        settings.src, settings.source.parent if settings.source is not None else None
    )
    results: List[FileResult] = lint_files(
        sources,
        enabled_for,
        stdin=io.BytesIO(stdin_data) if stdin_data is not None else None,
        jobs=jobs or available_cores(),
        cache=cache,
        timeout=file_timeout or None,
        projects=projects,
    )
    fix_options = FixOptions(unsafe=settings.unsafe_fixes, unfixable=tuple(settings.unfixable))
    run: Optional[FixRun] = None
    write_errors: List[str] = []
    if settings.fix or diff:
        lint_one = relinter(sources, file_timeout or None, projects, cache)
        run, originals = _fix(sources, results, stdin_data, lint_one, enabled_for, fix_options)
        for note in run.notes:
            _error(note)
        if diff:
            changed = _print_diffs(run)
            sys.exit(EXIT_FINDINGS if changed and not exit_zero else EXIT_CLEAN)
        unwritten = _write_fixes(sources, run, originals)
        write_errors = list(unwritten.values())
        # a file that could not be written keeps its findings
        results = [_after_fixes(r, run.files[r.path]) if r.path in run.files and r.path not in unwritten else r for r in results]
    if confirm:
        from nnlint.runtime import confirm_results

        results = confirm_results(results, timeout=confirm_timeout)

    output = render(output_format, results, ReportOptions(show_source=show_source, statistics=statistics, unsafe_fixes=settings.unsafe_fixes))
    if run is not None and stdin_data is not None:
        # `--fix -`: the fixed code goes to stdout, the report to stderr
        stdin_file = run.files.get(next(source.display for source in sources if source.path is None))
        click.echo(stdin_file.text if stdin_file is not None else _decoded(stdin_data), nl=False)
        if output:
            click.echo(output, nl=False, err=True)
    elif output:
        click.echo(output, nl=False)
    _print_fix_summary(run, results, fix_options, output_format)
    internal_errors = [line for result in results for line in result.internal_errors]
    for line in internal_errors + write_errors:
        _error(line)

    if missing or internal_errors or write_errors:
        sys.exit(EXIT_ERROR)
    has_findings = any(result.findings for result in results)
    sys.exit(EXIT_FINDINGS if has_findings and not exit_zero else EXIT_CLEAN)


def _fix(sources, results, stdin_data: Optional[bytes], lint_one, enabled_for, options: FixOptions) -> Tuple[FixRun, Dict[str, bytes]]:
    """Fix the files whose findings have fixes that apply; nothing is written here."""
    texts: Dict[str, str] = {}
    originals: Dict[str, bytes] = {}
    by_path: Dict[str, SourceFile] = {}
    for source, result in zip(sources, results):
        if not any(options.applies(finding) for finding in result.findings):
            continue
        try:
            data = stdin_data if source.path is None else source.path.read_bytes()
            texts[source.display] = decode_source(data)
        except (OSError, SourceError):
            continue  # reported as NNL000 already
        originals[source.display] = data
        by_path[source.display] = source
    lint = lambda path, text: lint_one(by_path[path], encode_like(text, originals[path]))  # noqa: E731
    return fix_files(texts, lint, options, lambda path: enabled_for(by_path[path])), originals


def _after_fixes(first: FileResult, fixed: FixedFile) -> FileResult:
    """The file's findings after --fix: what re-linting it finds now, and the findings that project
    analysis of the other files put here (re-linting this file alone does not find those)."""
    own = {(f.code, f.line, f.column, f.message) for f in fixed.before}
    elsewhere = [f for f in first.findings if (f.code, f.line, f.column, f.message) not in own]
    result = fixed.result
    result.findings = sorted(result.findings + elsewhere, key=Finding.sort_key)
    return result


def _write_fixes(sources: Sequence[SourceFile], run: FixRun, originals: Dict[str, bytes]) -> Dict[str, str]:
    """Write the fixed files; the ones that could not be written, with the error."""
    errors = {}
    for source in sources:
        fixed = run.files.get(source.display)
        if source.path is None or fixed is None or not fixed.changed:
            continue
        try:
            source.path.write_bytes(encode_like(fixed.text, originals[source.display]))
        except (OSError, UnicodeEncodeError) as error:
            errors[source.display] = f"cannot write the fixes to {source.display}: {error}"
    return errors


def _print_diffs(run: FixRun) -> bool:
    """Print what --fix would change; whether it would change anything."""
    changed = [fixed for fixed in run.files.values() if fixed.changed]
    for fixed in changed:
        click.echo(unified_diff(fixed), nl=False)
    count = run.fixed_count
    click.echo(f"Would fix {count} error{'s' if count != 1 else ''}." if count else "No fixes available.", err=True)
    return bool(changed)


def _decoded(data: bytes) -> str:
    try:
        return decode_source(data)
    except SourceError:
        return data.decode("utf-8", errors="replace")


def _print_fix_summary(run: Optional[FixRun], results, options: FixOptions, output_format: str) -> None:
    """Like ruff: how many were fixed, and how many more --fix (or --unsafe-fixes) would fix.
    On stderr, so that stdout stays flake8's format or pure JSON/SARIF."""
    if run is not None and run.fixed_count:
        count = run.fixed_count
        click.echo(f"Fixed {count} error{'s' if count != 1 else ''}.", err=True)
    if output_format != "text":
        return
    applies, hidden = fixable_counts(results, options)
    if applies and run is None:
        click.echo(f"[*] {applies} fixable with the `--fix` option.", err=True)
    if hidden:
        click.echo(f"({hidden} hidden fix{'es' if hidden != 1 else ''} can be enabled with the `--unsafe-fixes` option.)", err=True)


def main(argv: Optional[Sequence[str]] = None) -> None:
    command.main(args=list(argv) if argv is not None else None, prog_name="nnlint")
