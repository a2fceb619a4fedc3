"""Corpora as callers want them: generate a corpus file, estimate one before paying for it, or
get the sentences a classifier build needs (a given file, the template writer, or an LLM run
cached under the user cache folder, so that a second build with the same settings costs nothing).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from lzt.errors import warn
from lzt.files import user_cache_dir
from lzt.progress import Progress, logger, no_progress
from lzt.text.backends import (
    BackendShape,
    LLMConfig,
    SentenceBackend,
    backend_kind,
    backend_shape,
    concurrency,
    create_backend,
    writes_without_llm,
)
from lzt.text.corpus import (
    CorpusEntry,
    CorpusPlan,
    GenerationStats,
    corpus_is_complete,
    entries_from_backend,
    plan_corpus,
    read_corpus,
    write_corpus,
)
from lzt.text.plausibility import PlausibilityFilter
from lzt.vocab import Vocabulary, load_vocabulary
from lzt.vocab.knowledge import Knowledge, load_knowledge

DEFAULT_SENTENCES = 2000
DEFAULT_MIN_PER_LABEL = 5
# Estimates for `plan_requests`: about 4 characters per token in English; a chat template adds a
# few tokens per message; a one-line sentence is ~20 tokens, plus "12. " numbering in a batch.
CHARS_PER_TOKEN = 4
CHAT_OVERHEAD_TOKENS = 8
SENTENCE_TOKENS = 20
NUMBERING_TOKENS = 3


def generate_corpus(
    labels: str | Path | Sequence[str] | Vocabulary,
    out: str | Path,
    *,
    llm: LLMConfig = LLMConfig(),
    sentences: int = DEFAULT_SENTENCES,
    min_per_label: int = DEFAULT_MIN_PER_LABEL,
    seed: int = 0,
    knowledge: str | Path | Knowledge | None = None,
    on_progress: Callable[[GenerationStats], None] | None = None,
) -> GenerationStats:
    """Write (or resume) a verified corpus file for a vocabulary.

    Label sets are drawn like CoMC's (1 to 5 labels each, every label in at least
    `min_per_label` sets, so `sentences` is raised for big vocabularies) with the co-occurrences
    of the vocabulary's knowledge (`knowledge`: a knowledge file or a `Knowledge`; None: the file
    beside the vocabulary, else guessed from the names); the writer of `llm` writes one sentence
    per set; each sentence keeps the labels it really mentions, and an LLM's sentence must also
    pass the plausibility filter (lzt.text.plausibility); labels short of `min_per_label`
    verified sentences get top-up rounds. Interrupt it at any point and call it again: it asks
    only for what `out` does not hold yet. A finished file makes no request and starts no model
    (`GenerationStats.complete_before`)."""
    vocabulary = load_vocabulary(labels)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)  # before a model server is started for nothing
    # The shape is what the backend will be (name, prompt, batch size): the plan made from it is
    # the backend's own, known before a model server is started for a finished file.
    plan = _plan(vocabulary, sentences, seed, min_per_label, llm, backend_shape(llm), knowledge)
    if corpus_is_complete(plan, out):
        return GenerationStats(requested_sets=len(plan.sets), already_done=len(plan.sets), complete_before=True)
    backend = create_backend(llm, seed)
    try:
        logger.info(f"{backend.name}: {len(plan.sets)} label sets in {len(plan.requests())} requests -> {out}")
        stats = write_corpus(plan, backend, out, concurrency(llm), on_progress=on_progress)
    finally:
        backend.close()
    _warn_short_labels(stats, min_per_label)
    return stats


def corpus_knowledge(vocabulary: Vocabulary, knowledge: str | Path | Knowledge | None = None) -> Knowledge:
    """The knowledge a corpus of this vocabulary is drawn and judged with (see generate_corpus)."""
    if isinstance(knowledge, Knowledge):
        return knowledge
    return load_knowledge(vocabulary, knowledge)


def _plan(
    vocabulary: Vocabulary, sentences: int, seed: int, min_per_label: int, llm: LLMConfig,
    shape: BackendShape | SentenceBackend, knowledge: str | Path | Knowledge | None,
) -> CorpusPlan:
    """The plan, with the plausibility filter for writers that are LLMs."""
    known = corpus_knowledge(vocabulary, knowledge)
    # Every writer's sentences are judged except those composed from the knowledge itself.
    judge = PlausibilityFilter(known) if getattr(backend_kind(llm.kind), "judged", True) else None
    return plan_corpus(vocabulary, sentences, seed, min_per_label, shape, known, judge)


def _warn_short_labels(stats: GenerationStats, min_per_label: int) -> None:
    if stats.short_labels:
        names = ", ".join(stats.short_labels[:10]) + (" ..." if len(stats.short_labels) > 10 else "")
        warn(f"{len(stats.short_labels)} label(s) still have fewer than {min_per_label} verified sentences after top-up: {names}")


@dataclass(frozen=True)
class RequestEstimate:
    """What a corpus run would cost, known before any request: an estimate, not a bill."""

    labels: int
    label_sets: int
    requests: int  # 0 for writers that send no prompt (template)
    sets_per_request: int
    prompt: str | None
    prompt_tokens: int
    completion_tokens: int


def plan_requests(
    labels: str | Path | Sequence[str] | Vocabulary,
    *,
    llm: LLMConfig = LLMConfig(),
    sentences: int = DEFAULT_SENTENCES,
    min_per_label: int = DEFAULT_MIN_PER_LABEL,
    seed: int = 0,
) -> RequestEstimate:
    """Label sets, requests and tokens of `generate_corpus` with the same arguments (top-up
    rounds, which depend on the replies, come on top). Starts and contacts nothing."""
    vocabulary = load_vocabulary(labels)
    kind = backend_kind(llm.kind)
    prompt = kind.prompt(llm)
    per_request = kind.sets_per_request(llm)
    plan = _plan(vocabulary, sentences, seed, min_per_label, llm, BackendShape(kind.name, prompt.id if prompt else "", per_request), None)
    if prompt is None:
        return RequestEstimate(len(vocabulary), len(plan.sets), 0, per_request, None, 0, 0)
    names = vocabulary.names
    prompt_tokens = completion_tokens = 0
    for request in plan.requests():
        label_sets = [[names[j] for j in plan.sets[i]] for i in request]
        prompt_tokens += len(prompt.render(label_sets)) // CHARS_PER_TOKEN + CHAT_OVERHEAD_TOKENS
        completion_tokens += (SENTENCE_TOKENS + (NUMBERING_TOKENS if prompt.batched else 0)) * len(request)
    return RequestEstimate(
        len(vocabulary), len(plan.sets), len(plan.requests()), per_request, prompt.id, prompt_tokens, completion_tokens
    )


def obtain_corpus(
    vocabulary: Vocabulary,
    *,
    corpus: str | Path | None = None,
    llm: LLMConfig = LLMConfig(),
    sentences: int = DEFAULT_SENTENCES,
    min_per_label: int = DEFAULT_MIN_PER_LABEL,
    seed: int = 0,
    progress: Progress = no_progress,
) -> tuple[list[CorpusEntry], dict]:
    """The verified sentences to train on, and what the classifier manifest records about them:
    from `corpus` when given; else written in memory by the template writer (free); else by
    an LLM into a corpus cached under the user cache folder, reused by later identical builds."""
    if corpus is not None:
        entries = read_corpus(Path(corpus), vocabulary)
        logger.info(f"corpus: {corpus} ({len(entries)} verified sentences)")
        return entries, {"source": str(corpus)}
    if writes_without_llm(llm):  # costs nothing: generated in memory every time
        backend = create_backend(llm, seed)
        try:
            plan = _plan(vocabulary, sentences, seed, min_per_label, llm, backend, None)
            info = {"source": backend.name, "prompt": backend.prompt_id, "seed": seed, "label_sets": len(plan.sets)}
            return list(entries_from_backend(plan, backend)), info
        finally:
            backend.close()
    shape = backend_shape(llm)
    plan = _plan(vocabulary, sentences, seed, min_per_label, llm, shape, None)
    if len(plan.sets) > sentences:
        logger.info(f"{len(plan.sets)} label sets (raised from {sentences} so every label appears {min_per_label}+ times)")
    path = _cached_corpus_path(plan)
    logger.info(f"corpus cache: {path}")
    if not corpus_is_complete(plan, path):  # else the cached corpus is used without any LLM
        _write_cached(vocabulary, plan, path, llm, sentences, min_per_label, seed, progress)
    info = {"source": shape.name, "prompt": shape.prompt_id, "seed": seed, "label_sets": len(plan.sets)}
    return read_corpus(path, vocabulary), {**info, "cache": str(path)}


def _cached_corpus_path(plan: CorpusPlan) -> Path:
    key = hashlib.sha256(json.dumps({**plan.header, "sets": len(plan.sets)}, sort_keys=True).encode()).hexdigest()[:16]
    path = user_cache_dir() / "corpora" / f"{key}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _write_cached(
    vocabulary: Vocabulary, plan: CorpusPlan, path: Path, llm: LLMConfig,
    sentences: int, min_per_label: int, seed: int, progress: Progress,
) -> None:
    with progress("writing sentences", len(plan.sets), "label sets") as advance:
        done = [0]

        def report(stats: GenerationStats) -> None:
            advance(stats.done - done[0])
            done[0] = stats.done

        stats = generate_corpus(vocabulary, path, llm=llm, sentences=sentences, min_per_label=min_per_label, seed=seed, on_progress=report)
    logger.info(summary(stats, path))


def summary(stats: GenerationStats, path: Path) -> str:
    """One line about a finished generation run."""
    if stats.complete_before:
        return f"{path} is complete ({stats.requested_sets} label sets and their top-up); nothing to do"
    topup = f", {stats.topup_sets} of them top-up sets" if stats.topup_sets else ""
    rejected = f", {stats.rejected} rejected by the plausibility filter" if stats.rejected else ""
    return (
        f"{path}: {stats.already_done} label sets were already done; this run wrote {stats.written}{topup} "
        f"in {stats.requests} requests and {stats.seconds:.1f}s: {stats.verified} verified, {stats.dropped} dropped{rejected} "
        f"(drop rate {stats.drop_rate:.1%}); the corpus holds {stats.corpus_verified} verified sentences"
    )
