"""`lzt generate`: write a verified sentence corpus (JSONL) for a vocabulary with an LLM."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from lzt.cli.app import QuietOption, app
from lzt.cli.ui import Ui, console
from lzt.corpus import CorpusPlan, GenerationStats, corpus_is_complete, generate_corpus, plan_corpus
from lzt.errors import EXIT_OK, UsageError
from lzt.labels import Vocabulary, load_vocabulary
from lzt.llm import (
    LLM_KINDS, BackendShape, PromptTemplate, SentenceBackend, backend_shape, default_prompt, load_prompt, make_backend,
    sets_per_request_for,
)

# --dry-run estimates: about 4 characters per token in English; a chat template adds a few
# tokens per message; a one-line sentence is ~20 tokens, plus "12. " numbering in a batch.
CHARS_PER_TOKEN = 4
CHAT_OVERHEAD_TOKENS = 8
SENTENCE_TOKENS = 20
NUMBERING_TOKENS = 3
# The local server answers one request at a time; a second one queued keeps it busy between
# requests. Remote endpoints serve many at once.
DEFAULT_CONCURRENCY = {"local": 2, "openai": 4, "template": 1}


def estimate_tokens(plan: CorpusPlan, prompt: PromptTemplate) -> tuple[int, int]:
    """(prompt tokens, completion tokens) for the whole plan: an estimate, not a bill."""
    names = plan.vocabulary.names
    prompt_tokens = completion_tokens = 0
    for request in plan.requests():
        label_sets = [[names[j] for j in plan.sets[i]] for i in request]
        prompt_tokens += len(prompt.render(label_sets)) // CHARS_PER_TOKEN + CHAT_OVERHEAD_TOKENS
        per_sentence = SENTENCE_TOKENS + (NUMBERING_TOKENS if prompt.batched else 0)
        completion_tokens += per_sentence * len(request)
    return prompt_tokens, completion_tokens


def dry_run_summary(vocabulary: Vocabulary, llm: str, prompt: str | None, sentences: int, seed: int, min_per_label: int) -> str:
    template = load_prompt(prompt or default_prompt(llm))
    shape = BackendShape(llm, template.id, sets_per_request_for(llm, prompt))  # no GGUF needed
    plan = plan_corpus(vocabulary, sentences, seed, min_per_label, shape)
    requests = len(plan.requests())
    if llm == "template":
        return f"{len(vocabulary)} labels, {len(plan.sets)} label sets: the template writer makes no LLM requests"
    prompt_tokens, completion_tokens = estimate_tokens(plan, template)
    return (
        f"{len(vocabulary)} labels, {len(plan.sets)} label sets, {requests} requests "
        f"({shape.sets_per_request} label set(s) per request, prompt {template.id!r}), about "
        f"{prompt_tokens:,} prompt + {completion_tokens:,} completion tokens; labels left with fewer "
        f"than {min_per_label} verified sentences get top-up requests on top"
    )


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


def run_generation(plan: CorpusPlan, backend: SentenceBackend, out: Path, concurrency: int, ui: Ui) -> GenerationStats:
    """generate_corpus with a progress bar and a summary on stderr."""
    with generation_progress(ui) as on_progress:
        stats = generate_corpus(plan, backend, out, concurrency, on_progress=on_progress)
    elapsed = time.monotonic() - stats.started
    topup = f", {stats.topup_sets} of them top-up sets" if stats.topup_sets else ""
    ui.info(
        f"{out}: {stats.already_done} label sets were already done; this run wrote {stats.written}{topup} "
        f"in {stats.requests} requests and {elapsed:.1f}s: {stats.verified} verified, {stats.dropped} dropped "
        f"(drop rate {stats.drop_rate:.1%}); the corpus holds {stats.corpus_verified} verified sentences"
    )
    if stats.short_labels:
        ui.warn(
            f"{len(stats.short_labels)} label(s) still have fewer than {plan.header.get('min_per_label')} verified "
            f"sentences after top-up: {', '.join(stats.short_labels[:10])}{' ...' if len(stats.short_labels) > 10 else ''}"
        )
    return stats


@app.command(
    epilog=(
        "Examples:\n\n"
        "  lzt generate --labels voc --llm local --sentences 40 --out voc.jsonl\n\n"
        "  OPENAI_API_KEY=... lzt generate --labels vocab.txt --llm openai --llm-model gpt-4o-mini --sentences 20000 --out corpus.jsonl\n\n"
        "  lzt generate --labels vocab.txt --llm openai --base-url http://localhost:11434/v1 --llm-model llama3.2 --dry-run\n\n"
        "An interrupted run resumes when run again with the same --out and settings."
    )
)
def generate(
    labels: str = typer.Option(..., "--labels", "-l", help="Vocabulary: a built-in set name or a file."),
    out: Path = typer.Option(..., "--out", "-o", help="Corpus file (JSON Lines). An existing one from the same settings is resumed."),
    llm: str = typer.Option("local", "--llm", help="template, openai (any OpenAI-compatible server) or local (bundled offline model)."),
    llm_model: Optional[str] = typer.Option(None, "--llm-model", help="Model name for --llm openai; a GGUF file for --llm local (default: bundled SmolLM2-135M)."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (default: $OPENAI_BASE_URL, else OpenAI)."),
    api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env", help="Environment variable holding the API key (never printed). Self-hosted servers usually need none."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="Prompt name in prompts/ or a file: sentence (one label set per request; default for local) or sentences-batch (10 per request; default for openai)."),
    sentences: int = typer.Option(1000, "--sentences", "-n", min=1, help="Label sets to write sentences for (raised if coverage needs more)."),
    min_per_label: int = typer.Option(5, "--min-per-label", min=0, help="Every label appears in at least this many label sets, and labels with fewer verified sentences get top-up requests."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", min=1, help="Requests in flight at once (default: 4 for openai, 2 for local)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the label-set sampling (and of the local model's sampling)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the number of requests and a token estimate, then stop."),
    quiet: bool = QuietOption,
) -> int:
    """Generate (or resume) a sentence corpus with an LLM; every sentence is checked for the labels it mentions."""
    ui = Ui(quiet)
    if llm not in LLM_KINDS:
        raise UsageError(f"unknown --llm {llm!r} (choose from {', '.join(LLM_KINDS)})")
    vocabulary = load_vocabulary(labels)
    if dry_run:
        typer.echo(dry_run_summary(vocabulary, llm, prompt, sentences, seed, min_per_label))
        return EXIT_OK
    out.parent.mkdir(parents=True, exist_ok=True)  # before a model server is started for nothing
    if llm == "openai" and not llm_model:
        raise UsageError("--llm openai needs --llm-model (e.g. gpt-4o-mini, or the name your server serves)")
    planned = plan_corpus(vocabulary, sentences, seed, min_per_label, backend_shape(llm, llm_model, prompt))
    if corpus_is_complete(planned, out):  # a finished run: no server to start, no key needed
        ui.info(f"{out} is complete ({len(planned.sets)} label sets and their top-up); nothing to do")
        return EXIT_OK
    backend = make_backend(llm, llm_model, base_url, seed, prompt, ui.warn, api_key_env=api_key_env)
    try:
        plan = plan_corpus(vocabulary, sentences, seed, min_per_label, backend)
        ui.info(f"{backend.name}: {len(plan.sets)} label sets in {len(plan.requests())} requests -> {out}")
        run_generation(plan, backend, out, concurrency or DEFAULT_CONCURRENCY[llm], ui)
    finally:
        backend.close()
    return EXIT_OK
