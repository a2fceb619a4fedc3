"""`lzt generate`: write a verified sentence corpus (JSONL) for a vocabulary with an LLM."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from lzt.cli.app import QuietOption, app
from lzt.cli.ui import Ui
from lzt.corpus import CorpusPlan, GenerationStats, generate_corpus, plan_corpus
from lzt.errors import EXIT_OK
from lzt.labels import load_vocabulary
from lzt.llm import SentenceBackend, make_backend

# Rough token counts for --dry-run: prompt overhead and words per label set / per sentence.
PROMPT_TOKENS = 40
TOKENS_PER_LABEL = 3
SENTENCE_TOKENS = 22


def estimate_tokens(plan: CorpusPlan) -> tuple[int, int]:
    """(prompt tokens, completion tokens) for the whole plan: an estimate, not a bill."""
    requests = len(plan.requests())
    prompt = requests * PROMPT_TOKENS + sum(len(s) * TOKENS_PER_LABEL + 3 for s in plan.sets)
    return prompt, len(plan.sets) * SENTENCE_TOKENS


def run_generation(plan: CorpusPlan, backend: SentenceBackend, out: Path, concurrency: int, ui: Ui) -> GenerationStats:
    with ui.progress("sentences", len(plan.sets), "sets") as advance:
        last = [0]

        def report(stats: GenerationStats) -> None:
            advance(stats.written - last[0])
            last[0] = stats.written

        stats = generate_corpus(plan, backend, out, concurrency, on_progress=report)
    ui.info(
        f"{out}: {stats.already_done} label sets were already done; this run wrote {stats.written} "
        f"in {stats.requests} requests: {stats.verified} verified, {stats.dropped} dropped "
        f"(drop rate {stats.drop_rate:.1%})"
    )
    return stats


@app.command(
    epilog=(
        "Examples:\n\n"
        "  lzt generate --labels voc --llm local --sentences 40 --out voc.jsonl\n\n"
        "  OPENAI_API_KEY=... lzt generate --labels vocab.txt --llm openai --llm-model gpt-4o-mini --sentences 20000 --out corpus.jsonl\n\n"
        "  lzt generate --labels vocab.txt --llm openai --base-url http://localhost:11434/v1 --llm-model llama3.2 --dry-run"
    )
)
def generate(
    labels: str = typer.Option(..., "--labels", "-l", help="Vocabulary: a built-in set name or a file."),
    out: Path = typer.Option(..., "--out", "-o", help="Corpus file (JSON Lines). An existing one from the same settings is resumed."),
    llm: str = typer.Option("local", "--llm", help="template, openai (any OpenAI-compatible server) or local (bundled offline model)."),
    llm_model: Optional[str] = typer.Option(None, "--llm-model", help="Model name for --llm openai; a GGUF file for --llm local (default: bundled SmolLM2-135M)."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL or OpenAI)."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="Prompt name in prompts/ or a file: sentence (one label set per request) or sentences-batch (several)."),
    sentences: int = typer.Option(1000, "--sentences", "-n", min=1, help="Label sets to write sentences for (raised if coverage needs more)."),
    min_per_label: int = typer.Option(5, "--min-per-label", min=0, help="Every label appears in at least this many label sets."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="Requests in flight at once."),
    seed: int = typer.Option(0, "--seed", help="Seed of the label-set sampling."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the number of requests and a token estimate, then stop."),
    quiet: bool = QuietOption,
) -> int:
    """Generate (or resume) a sentence corpus with an LLM; every sentence is checked for the labels it mentions."""
    ui = Ui(quiet)
    vocabulary = load_vocabulary(labels)
    if dry_run:
        from lzt.llm import TemplateBackend, load_prompt

        shape = load_prompt(prompt or ("sentence" if llm == "local" else "sentences-batch"))
        probe = TemplateBackend(seed)
        probe.sets_per_request = 10 if (shape.batched and llm == "openai") else 1
        plan = plan_corpus(vocabulary, sentences, seed, min_per_label, probe)
        prompt_tokens, completion_tokens = estimate_tokens(plan)
        typer.echo(
            f"{len(vocabulary)} labels, {len(plan.sets)} label sets, {len(plan.requests())} requests, "
            f"about {prompt_tokens:,} prompt + {completion_tokens:,} completion tokens"
        )
        return EXIT_OK
    backend = make_backend(llm, llm_model, base_url, seed, prompt, ui.warn)
    try:
        plan = plan_corpus(vocabulary, sentences, seed, min_per_label, backend)
        run_generation(plan, backend, out, concurrency, ui)
    finally:
        backend.close()
    return EXIT_OK
