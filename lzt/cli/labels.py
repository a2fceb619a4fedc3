"""`lzt labels` (the built-in vocabularies) and `lzt labels check` (the vocabulary linter)."""

from __future__ import annotations

from typing import Annotated, List

import typer

from lzt.cli.app import EXIT_ERROR, EXIT_OK, app
from lzt.cli.ui import Ui
from lzt.errors import LztError
from lzt.vocab import builtin_label_sets, load_vocabulary, resolve_vocabulary_file
from lzt.vocab.check import NOTE, check_file

labels_app = typer.Typer(
    help="List the built-in vocabularies (usable as `--labels NAME`), or check vocabulary files with `lzt labels check`.",
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
