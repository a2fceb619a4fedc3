"""`lzt generate`: write a verified sentence corpus (JSONL) for a vocabulary with an LLM."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Callable, Iterator

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from lzt.cli.app import EXIT_OK, app
from lzt.cli.options import LLMOptions, Quiet, SamplingOptions, with_groups
from lzt.cli.ui import Ui, console
from lzt.text import GenerationStats, generate_corpus, plan_requests
from lzt.text.backends import writes_without_llm
from lzt.text.generate import RequestEstimate, summary


@contextmanager
def generation_progress(ui: Ui) -> Iterator[Callable[[GenerationStats], None]]:
    """A bar on stderr: label sets done of all, verified, dropped, sentences per second, ETA.
    Yields the on_progress callback. No bar with --quiet or when stderr is not a terminal."""
    if ui.quiet or not console.is_terminal:
        yield lambda stats: None
        return
    columns = [
        TextColumn("sentences"), BarColumn(), MofNCompleteColumn(),
        TextColumn("[green]{task.fields[verified]} verified[/] [yellow]{task.fields[dropped]} dropped[/]"),
        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("sentences", total=None, verified=0, dropped=0, rate="")

        def update(stats: GenerationStats) -> None:
            elapsed = max(time.monotonic() - stats.started, 1e-9)
            bar.update(
                task, total=stats.requested_sets, completed=stats.done, verified=stats.verified,
                dropped=stats.dropped, rate=f"{stats.written / elapsed:.2f}/s",
            )

        yield update


def describe_estimate(estimate: RequestEstimate, kind: str, min_per_label: int) -> str:
    if estimate.prompt is None:
        return f"{estimate.labels} labels, {estimate.label_sets} label sets: the {kind} writer makes no LLM requests"
    return (
        f"{estimate.labels} labels, {estimate.label_sets} label sets, {estimate.requests} requests "
        f"({estimate.sets_per_request} label set(s) per request, prompt {estimate.prompt!r}), about "
        f"{estimate.prompt_tokens:,} prompt + {estimate.completion_tokens:,} completion tokens; labels left with fewer "
        f"than {min_per_label} verified sentences get top-up requests on top"
    )


@app.command(
    epilog=(
        "Examples:\n\n"
        "  lzt generate --labels voc --llm local --sentences 40 --out voc.jsonl\n\n"
        "  OPENAI_API_KEY=... lzt generate --labels vocab.txt --llm openai --llm-model gpt-4o-mini --sentences 20000 --out corpus.jsonl\n\n"
        "  lzt generate --labels vocab.txt --llm openai --base-url http://localhost:11434/v1 --llm-model llama3.2 --out c.jsonl --dry-run\n\n"
        "An interrupted run resumes when run again with the same --out and settings."
    )
)
@with_groups
def generate(
    *,
    labels: Annotated[str, typer.Option("--labels", "-l", help="Vocabulary: a built-in set name or a file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Corpus file (JSON Lines). An existing one from the same settings is resumed.")],
    llm: LLMOptions,
    sampling: SamplingOptions,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the number of requests and a token estimate, then stop.")] = False,
    quiet: Quiet = False,
) -> int:
    """Generate (or resume) a sentence corpus with an LLM; every sentence is checked for the labels it mentions."""
    ui = Ui(quiet)
    config = llm.config()
    if dry_run:
        estimate = plan_requests(labels, llm=config, sentences=sampling.sentences, min_per_label=sampling.min_per_label, seed=sampling.seed)
        typer.echo(describe_estimate(estimate, config.kind, sampling.min_per_label))
        return EXIT_OK
    if writes_without_llm(config):
        ui.info(f"the {config.kind} writer makes the sentences without an LLM; --llm local or --llm openai asks one")
    with generation_progress(ui) as on_progress:
        stats = generate_corpus(
            labels, out, llm=config, sentences=sampling.sentences, min_per_label=sampling.min_per_label,
            seed=sampling.seed, on_progress=on_progress,
        )
    ui.info(summary(stats, out))
    return EXIT_OK
