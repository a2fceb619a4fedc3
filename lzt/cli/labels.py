"""`lzt labels` (the built-in vocabularies), `lzt labels check` (the vocabulary linter) and
`lzt labels import` (photo managers' keyword trees as vocabularies)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from lzt.cli.app import EXIT_ERROR, EXIT_OK, EXIT_SKIPPED, app
from lzt.cli.options import Quiet
from lzt.cli.ui import Ui
from lzt.errors import LztError
from lzt.vocab import builtin_label_sets, load_vocabulary, resolve_vocabulary_file
from lzt.vocab.check import NOTE, check_file
from lzt.vocab.importers import KeywordFormat, import_keywords

labels_app = typer.Typer(
    help="List the built-in vocabularies (usable as `--labels NAME`), check vocabulary files with `lzt labels check`, "
         "or make one of a photo manager's keyword tree with `lzt labels import`.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(labels_app, name="labels")


@labels_app.callback()
def list_labels(ctx: typer.Context) -> int:
    """List the built-in vocabularies: name, size, file."""
    if ctx.invoked_subcommand is not None:
        return EXIT_OK
    for name, path in builtin_label_sets().items():
        typer.echo(f"{name}\t{len(load_vocabulary(path))} labels\t{path}")
    return EXIT_OK


@labels_app.command(
    "check",
    epilog="Examples:\n\n  lzt labels check my_labels.txt\n\n  lzt labels check --all --style --strict",
)
def check_command(
    paths: Annotated[List[str], typer.Argument(help="Vocabulary files or built-in set names.", show_default=False)] = [],  # noqa: B006
    all_sets: Annotated[bool, typer.Option("--all", help="Check every built-in set in label_sets/.")] = False,
    notes: Annotated[bool, typer.Option("--notes", help="Also print notes (hierarchical labels, redundant synonyms).")] = False,
    style: Annotated[bool, typer.Option("--style", help="Also check the built-in style: lower case, at most 3 words.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on warnings too.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary lines.")] = False,
) -> int:
    """Check vocabularies for duplicates and near-duplicates that would split scores. Exit status 1
    if a file has errors (or warnings, with --strict); `# allow: a ~ b` silences a reviewed pair."""
    specs = list(paths) + ([str(p) for p in builtin_label_sets().values()] if all_sets else [])
    if not specs:
        raise typer.BadParameter("name at least one vocabulary file, or --all", param_hint="PATHS")
    ui = Ui()
    failed = False
    for spec in specs:
        try:
            path = resolve_vocabulary_file(spec)
        except LztError as exc:
            ui.error(str(exc))
            failed = True
            continue
        report = check_file(path, style=style)
        if not quiet:
            for finding in report.findings:
                if finding.severity != NOTE or notes:
                    typer.echo(finding.format(report.source))
        typer.echo(report.summary())
        failed |= bool(report.errors or (strict and report.warnings))
    return EXIT_ERROR if failed else EXIT_OK


@labels_app.command(
    "import",
    epilog=(
        "Examples:\n\n"
        "  lzt labels import keywords.txt --out my_labels.txt\n\n"
        "  lzt labels import ~/Pictures/digikam4.db --exclude People --leaves-only -o my_labels.txt\n\n"
        "  lzt build-classifier --labels my_labels.txt --out mine.lzt"
    ),
)
def import_command(
    file: Annotated[Path, typer.Argument(help="A Lightroom Classic keyword export (Metadata > Export Keywords) or a digiKam database (digikam4.db).", show_default=False)],
    source_format: Annotated[KeywordFormat, typer.Option("--from", help="What FILE is: auto (an SQLite file is digiKam's, else Lightroom's), lightroom or digikam.")] = KeywordFormat.auto,
    leaves_only: Annotated[bool, typer.Option("--leaves-only", help="Only keywords without child keywords become labels (the others stay parents).")] = False,
    exclude: Annotated[List[str], typer.Option("--exclude", help="A keyword to leave out with everything below it: a name (any level, any case: People) or a path (Places|Work). Repeatable.")] = [],  # noqa: B006
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Vocabulary file to write (atomically); default: stdout.")] = None,
    quiet: Quiet = False,
) -> int:
    """Make a vocabulary of a photo manager's keyword tree, keeping synonyms and the hierarchy
    (section headers). What cannot be carried over is named in a warning line each and in the
    file's closing comments; exit status 3 then."""
    ui = Ui(quiet)
    result = import_keywords(file, source_format, leaves_only=leaves_only, exclude=exclude, out=out)
    for note in result.skipped:
        ui.warn(note)
    if out is None:
        typer.echo(result.text, nl=False)
    summary = f"{result.labels} labels, {result.synonyms} synonyms, {result.parents} parents from {file} ({result.format.value})"
    if result.excluded:
        summary += f"; {result.excluded} keywords excluded"
    if result.skipped:
        summary += f"; {len(result.skipped)} skipped"
    ui.info(summary + (f"; wrote {out}" if out is not None else ""))
    return EXIT_SKIPPED if result.skipped else EXIT_OK
