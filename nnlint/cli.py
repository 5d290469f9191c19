"""The `nnlint` command: options -> settings -> batch (engine per file) -> (probes) -> reporter -> exit code.

Exit codes: 0 no findings, 1 findings, 2 usage, configuration or internal error (2 wins over
--exit-zero: a crashed check must not pass CI unnoticed).
"""

from __future__ import annotations

import io
import sys
import tokenize
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import click

from nnlint import __version__, suppression
from nnlint.batch import lint_files
from nnlint.cache import ResultCache
from nnlint.catalogue import INTERNAL_ERROR, UNPARSABLE, all_rules, get_rule, rule_doc
from nnlint.config import (
    ConfigError,
    RuleSelection,
    Settings,
    cli_patterns,
    cli_per_file_ignores,
    load_settings,
    split_codes,
)
from nnlint.discovery import STDIN, SourceFile, discover
from nnlint.engine import DEFAULT_FILE_TIMEOUT, SourceError, decode_source
from nnlint.finding import SEVERITY_ORDER, FileResult, Finding, Severity
from nnlint.fixing import FixedFile, FixOptions, FixRun, encode_like, fix_files, fixable_counts, relinter, unified_diff
from nnlint.parallel import available_cores
from nnlint.project import Projects
from nnlint.report import DEFAULT_FORMAT, OUTPUT_FORMATS, TEXT_FORMATS, ReportOptions, render

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _error(message: str) -> None:
    click.echo(f"nnlint: {message}", err=True)


def _list_rules() -> None:
    """One line per rule; the fourth column says whether it runs without being selected."""
    width = max(len(rule.name) for rule in all_rules().values())
    for rule in all_rules().values():
        default = "on" if rule.on_by_default else "off"
        click.echo(f"{rule.code}  {rule.name:<{width}}  {rule.severity.value:<8} {default:<4} {rule.summary}")


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


def _settings(
    config: Optional[str],
    isolated: bool,
    select: Optional[str],
    ignore: Optional[str],
    extend_select: Optional[str],
    extend_ignore: Optional[str],
    exclude: Optional[str],
    extend_exclude: Optional[str],
    per_file_ignores: Sequence[str],
) -> Settings:
    """The config file's settings with the command line's on top (ruff's semantics: select,
    ignore, exclude and per-file-ignores replace the file's; the extend- options add to them)."""
    if isolated and config:
        raise ConfigError("--isolated ignores every config file: it cannot be used with --config")
    settings = Settings() if isolated else load_settings(Path(config) if config else None)
    if select is not None:
        settings.select = split_codes(select, "--select")
    if ignore is not None:
        settings.ignore = split_codes(ignore, "--ignore")
    if extend_select is not None:
        settings.extend_select = settings.extend_select + split_codes(extend_select, "--extend-select")
    if extend_ignore is not None:
        settings.ignore = settings.ignore + split_codes(extend_ignore, "--extend-ignore")
    if exclude is not None:
        settings.exclude = cli_patterns(exclude)
    if extend_exclude is not None:
        settings.exclude = settings.exclude + cli_patterns(extend_exclude)
    if per_file_ignores:
        settings.per_file_ignores = cli_per_file_ignores(per_file_ignores)
    return settings


def _cache_directory(option: Optional[str], settings: Settings) -> Path:
    if option:
        return Path(option)
    root = settings.source.resolve().parent if settings.source is not None else Path.cwd()
    return root / ".nnlint_cache"


def _output_format(output_format: Optional[str], format_alias: Optional[str]) -> str:
    """--format is kept as an alias of --output-format; its `text` is the default text form."""
    alias = {"text": DEFAULT_FORMAT}.get(format_alias, format_alias) if format_alias else None
    if output_format and alias and alias != output_format:
        raise ConfigError(f"--format {format_alias} contradicts --output-format {output_format}")
    return output_format or alias or DEFAULT_FORMAT


def _ignored_text_options(output_format: str, **flags: bool) -> List[str]:
    """The text-only options given with a machine-readable format, which ignores them."""
    if output_format in TEXT_FORMATS:
        return []
    return [f"--{name.replace('_', '-')}" for name, given in flags.items() if given]


def _write(output: str, output_file: Optional[str]) -> None:
    if output_file is None:
        if output:
            click.echo(output, nl=False)
        return
    path = Path(output_file)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(output, encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot write --output-file {output_file}: {error.strerror or error}") from None


def _exit_code(results: Sequence[FileResult], missing: Sequence[str], fail_on: Severity, exit_zero: bool) -> int:
    if missing or any(result.internal_errors for result in results):
        return EXIT_ERROR
    if exit_zero:
        return EXIT_CLEAN
    failing = SEVERITY_ORDER[: SEVERITY_ORDER.index(fail_on) + 1]
    has_failing = any(finding.severity in failing for result in results for finding in result.findings)
    return EXIT_FINDINGS if has_failing else EXIT_CLEAN


def _add_noqa(sources: Sequence[SourceFile], results: Sequence[FileResult]) -> Tuple[int, int, int]:
    """Append `# noqa: CODE` for every finding, file by file (ruff's --add-noqa). Files that do not
    parse, standard input and notebooks are left alone; internal errors (NNL001) are bugs to
    report, not to silence. Returns (directives added, files changed, findings left without a
    legal line)."""
    # a result is named by its display path; a project finding may sit in a file not linted itself
    paths = {source.display: source.path for source in sources}
    added = changed = skipped = 0
    for result in results:
        path = paths.get(result.path, Path(result.path))
        findings = [(f.line, f.end_line, f.code) for f in result.findings if f.code != INTERNAL_ERROR.code]
        if path is None or path.suffix == ".ipynb" or not findings:
            continue
        if any(f.code == UNPARSABLE.code for f in result.findings):
            continue
        try:
            data = path.read_bytes()
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
            text, lines, left = suppression.add_noqa(data.decode(encoding), findings)
            if lines:
                path.write_bytes(text.encode(encoding))
        except OSError as error:
            _error(f"{result.path}: cannot add noqa: {error.strerror or error}")
            continue
        skipped += left
        added += lines
        changed += 1 if lines else 0
    return added, changed, skipped


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--select", metavar="CODES", help="Comma list of rule codes or prefixes to report, or ALL (default: the rules that are on by default).")
@click.option("--ignore", metavar="CODES", help="Comma list of rule codes or prefixes not to report.")
@click.option("--extend-select", metavar="CODES", help="Codes or prefixes to report in addition to the selection.")
@click.option("--extend-ignore", metavar="CODES", help="Codes or prefixes not to report, in addition to the ignored ones.")
@click.option("--per-file-ignores", metavar="GLOB:CODES", multiple=True, help="Comma list of GLOB:CODE pairs, codes not reported in matching files (replaces the config's).")
@click.option("--exclude", metavar="GLOBS", help="Comma list of globs of files and folders to skip (replaces the config's).")
@click.option("--extend-exclude", metavar="GLOBS", help="Globs to skip in addition to the excluded ones.")
@click.option("--force-exclude/--no-force-exclude", default=True, show_default=True, help="Apply the excludes to files named on the command line too (pre-commit names every file).")
@click.option("--output-format", type=click.Choice(OUTPUT_FORMATS), help=f"Output format (default: {DEFAULT_FORMAT}).")
@click.option("--format", "format_alias", type=click.Choice(("text",) + OUTPUT_FORMATS), help="Alias of --output-format; 'text' is the default text form.")
@click.option("-o", "--output-file", metavar="PATH", help="Write the report to this file instead of standard output.")
@click.option("--show-source", is_flag=True, help="Show the offending line under each finding (concise format; full always does).")
@click.option("--statistics", is_flag=True, help="Count findings per code, and in total, at the end (text formats).")
@click.option("--count", is_flag=True, help="Print the number of findings at the end (text formats).")
@click.option("--fail-on", type=click.Choice([s.value for s in SEVERITY_ORDER]), default=Severity.INFO.value, show_default=True, help="The least severe finding that makes the exit code 1.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings (not on internal errors: those exit 2).")
@click.option("--config", "config_path", metavar="PATH", help="TOML file with the [tool.nnlint] settings to use (/dev/null: none).")
@click.option("--isolated", is_flag=True, help="Ignore every configuration file.")
@click.option("--add-noqa", is_flag=True, help="Append `# noqa: CODE` to every line with a finding (to adopt nnlint on existing code), then exit.")
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
@click.option("-q", "--quiet", is_flag=True, help="Print findings and errors, nothing else (no notes on standard error).")
@click.option("-v", "--verbose", is_flag=True, help="Print the config file used and the traceback of each internal error on standard error.")
@click.option("--list-rules", is_flag=True, help="List every rule (and whether it is on by default) and exit.")
@click.option("--explain", metavar="CODE", help="Print a rule's documentation and exit.")
@click.version_option(__version__, "--version", prog_name="nnlint")
def command(
    paths: Sequence[str],
    select: Optional[str],
    ignore: Optional[str],
    extend_select: Optional[str],
    extend_ignore: Optional[str],
    per_file_ignores: Sequence[str],
    exclude: Optional[str],
    extend_exclude: Optional[str],
    force_exclude: bool,
    output_format: Optional[str],
    format_alias: Optional[str],
    output_file: Optional[str],
    show_source: bool,
    statistics: bool,
    count: bool,
    fail_on: str,
    exit_zero: bool,
    config_path: Optional[str],
    isolated: bool,
    add_noqa: bool,
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
    quiet: bool,
    verbose: bool,
    list_rules: bool,
    explain: Optional[str],
) -> None:
    """Find silent bugs in PyTorch training code.

    PATHS are files or folders (searched for *.py and *.ipynb); '-' reads standard input; no PATH
    means the current folder.
    """
    if list_rules:
        _list_rules()
        sys.exit(EXIT_CLEAN)
    if explain is not None:
        sys.exit(_explain(explain))

    def note(message: str) -> None:
        if not quiet:
            _error(message)

    if confirm:
        from nnlint.runtime import runtime_available

        if not runtime_available():
            _error('--confirm needs PyTorch: pip install "nnlint[runtime]"')
            sys.exit(EXIT_ERROR)
    try:
        report_format = _output_format(output_format, format_alias)
        settings = _settings(
            config_path, isolated, select, ignore, extend_select, extend_ignore, exclude, extend_exclude, per_file_ignores
        )
    except ConfigError as error:
        _error(str(error))
        sys.exit(EXIT_ERROR)
    if fix is not None:
        settings.fix = fix
    if unsafe_fixes is not None:
        settings.unsafe_fixes = unsafe_fixes
    if verbose:
        _error(f"config: {settings.source or 'none'}")
    ignored = _ignored_text_options(report_format, show_source=show_source, statistics=statistics, count=count)
    if ignored:
        note(f"{', '.join(ignored)} {'is' if len(ignored) == 1 else 'are'} ignored with --output-format {report_format}")

    sources, missing = discover(
        list(paths) or ["."], settings.exclude, stdin_filename, force_exclude, settings.include + settings.extend_include
    )
    for message in missing:
        _error(message)
    if not sources and not missing:
        note(f"no Python files or notebooks to lint in {', '.join(paths) or '.'} (none found, or all excluded)")

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
    if add_noqa:
        added, changed, skipped = _add_noqa(sources, results)
        note(f"added {added} noqa directive{'' if added == 1 else 's'} to {changed} file{'' if changed == 1 else 's'}")
        if skipped:
            _error(f"{skipped} finding{'s' if skipped > 1 else ''} inside a multi-line string or continued line got no noqa")
        sys.exit(EXIT_ERROR if missing or any(result.internal_errors for result in results) else EXIT_CLEAN)
    fix_options = FixOptions(unsafe=settings.unsafe_fixes, unfixable=tuple(settings.unfixable))
    run: Optional[FixRun] = None
    write_errors: List[str] = []
    if settings.fix or diff:
        lint_one = relinter(sources, file_timeout or None, projects, cache)
        run, originals = _fix(sources, results, stdin_data, lint_one, enabled_for, fix_options)
        for dropped in run.notes:
            note(dropped)
        if diff:
            changed = _print_diffs(run, quiet)
            sys.exit(EXIT_FINDINGS if changed and not exit_zero else EXIT_CLEAN)
        unwritten = _write_fixes(sources, run, originals)
        write_errors = list(unwritten.values())
        # a file that could not be written keeps its findings
        results = [_after_fixes(r, run.files[r.path]) if r.path in run.files and r.path not in unwritten else r for r in results]
    if confirm:
        from nnlint.runtime import confirm_results

        results = confirm_results(results, timeout=confirm_timeout)

    options = ReportOptions(show_source=show_source, statistics=statistics, count=count, unsafe_fixes=settings.unsafe_fixes)
    report = render(report_format, results, options)
    if run is not None and stdin_data is not None:
        # `--fix -`: the fixed code goes to stdout, the report to stderr (or to the output file)
        stdin_file = run.files.get(next(source.display for source in sources if source.path is None))
        click.echo(stdin_file.text if stdin_file is not None else _decoded(stdin_data), nl=False)
        if output_file is None:
            click.echo(report, nl=False, err=True)
            report = ""
    try:
        _write(report, output_file)
    except ConfigError as error:
        _error(str(error))
        sys.exit(EXIT_ERROR)
    if not quiet:
        _print_fix_summary(run, results, fix_options, report_format)
    for line in write_errors:
        _error(line)
    crashes = [trace for result in results for trace in result.internal_errors]
    if crashes:
        _error(
            f"{len(crashes)} internal error{'s' if len(crashes) > 1 else ''} (reported as NNL001); "
            + ("please report them with these tracebacks:" if verbose else "--verbose prints the tracebacks; please report")
        )
        if verbose:
            for trace in crashes:
                click.echo(trace.rstrip("\n"), err=True)
    sys.exit(EXIT_ERROR if write_errors else _exit_code(results, missing, Severity(fail_on), exit_zero))


def _fix(sources, results, stdin_data: Optional[bytes], lint_one, enabled_for, options: FixOptions) -> Tuple[FixRun, Dict[str, bytes]]:
    """Fix the files whose findings have fixes that apply; nothing is written here."""
    texts: Dict[str, str] = {}
    originals: Dict[str, bytes] = {}
    by_path: Dict[str, SourceFile] = {}
    # the files with a fix to apply, and the files those fixes also edit (a fix may span files)
    wanted = {
        path
        for result in results
        for finding in result.findings
        if options.applies(finding)
        for path in (result.path, *(edit.path for edit in finding.fix.edits))
    }
    for source, result in zip(sources, results):
        if source.display not in wanted:
            continue
        if source.path is not None and source.path.suffix == ".ipynb":
            continue  # a notebook's findings are placed in its cells: fixes are not mapped back yet
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


def _print_diffs(run: FixRun, quiet: bool) -> bool:
    """Print what --fix would change; whether it would change anything."""
    changed = [fixed for fixed in run.files.values() if fixed.changed]
    for fixed in changed:
        click.echo(unified_diff(fixed), nl=False)
    count = run.fixed_count
    if not quiet:
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
    if output_format not in TEXT_FORMATS:
        return
    applies, hidden = fixable_counts(results, options)
    if applies and run is None:
        click.echo(f"[*] {applies} fixable with the `--fix` option.", err=True)
    if hidden:
        click.echo(f"({hidden} hidden fix{'es' if hidden != 1 else ''} can be enabled with the `--unsafe-fixes` option.)", err=True)


def main(argv: Optional[Sequence[str]] = None) -> None:
    command.main(args=list(argv) if argv is not None else None, prog_name="nnlint")
