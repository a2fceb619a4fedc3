"""`lzt corpus check`: counts, duplicates, sources, grammar, implausible pairs and co-occurrence
of a corpus file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from lzt.cli.app import EXIT_ERROR, EXIT_OK, app
from lzt.cli.ui import Ui

corpus_app = typer.Typer(help="Sentence corpora: `lzt corpus check` reports what a corpus file holds and what is wrong with it.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")


@corpus_app.command(
    "check",
    epilog=(
        "Examples:\n\n"
        "  lzt corpus check corpus.jsonl\n\n"
        "  lzt corpus check label_sets/coco.corpus.jsonl.gz --min-sets 40000 --min-per-label 400\n\n"
        "  lzt corpus check corpus.jsonl --labels vocab.txt --json | jq .per_label"
    ),
)
def check_command(
    path: Annotated[Path, typer.Argument(help="Corpus file from `lzt generate` (plain or .gz).", show_default=False)],
    labels: Annotated[Optional[str], typer.Option("--labels", "-l", help="Vocabulary (default: the one the corpus header records).")] = None,
    knowledge: Annotated[Optional[Path], typer.Option("--knowledge", help="Knowledge file (default: the vocabulary's own, else guessed from the names).")] = None,
    min_per_label: Annotated[Optional[int], typer.Option("--min-per-label", help="Fail when a label has fewer verified sentences.")] = None,
    min_sets: Annotated[Optional[int], typer.Option("--min-sets", help="Fail when the corpus has fewer verified sentences (label sets).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Also fail on grammar violations and `never` pairs.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print everything as one JSON object (with the co-occurrence matrix) on stdout.")] = False,
    top: Annotated[int, typer.Option("--top", help="Most frequent label pairs to list in the summary.")] = 10,
) -> int:
    """Report a corpus: sentences per label, duplicates, sources, grammar-rule violations,
    implausible pairs and the label co-occurrence matrix. Exit status 1 if a floor is not reached."""
    from lzt.text.check import check_corpus, summary

    ui = Ui()
    report = check_corpus(path, labels, knowledge)
    problems = report.problems(min_per_label, min_sets)
    if strict:
        if report.grammar_violations:
            problems.append(f"{report.grammar_violations} grammar violations")
        if report.never_pairs:
            problems.append(f"{sum(report.never_pairs.values())} never pairs")
    if as_json:
        typer.echo(json.dumps({**report.as_dict(), "problems": problems}, ensure_ascii=False))
    else:
        for line in summary(report, top):
            typer.echo(line)
        floors = [f for f in (f"at least {min_per_label} sentences per label" if min_per_label is not None else "",
                              f"at least {min_sets:,} label sets" if min_sets is not None else "") if f]
        if floors and not problems:
            typer.echo("floors: " + "; ".join(floors) + ": ok")
    for problem in problems:
        ui.error(problem)
    return EXIT_ERROR if problems else EXIT_OK
