"""Getting a corpus for build-classifier: a given file, the template writer, or an LLM run
cached under the user cache folder (so a second build with the same settings costs nothing)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from lzt.cli.ui import Ui
from lzt.corpus import CorpusEntry, corpus_is_complete, entries_from_backend, plan_corpus, read_corpus
from lzt.labels import Vocabulary
from lzt.llm import backend_shape, make_backend
from lzt.paths import cache_dir


@dataclass
class CorpusOptions:
    llm: str
    llm_model: str | None
    base_url: str | None
    sentences: int
    min_per_label: int
    seed: int
    corpus: Path | None = None
    concurrency: int | None = None  # None: the --llm kind's default (4 openai, 2 local)
    prompt: str | None = None
    api_key_env: str = "OPENAI_API_KEY"


def obtain_corpus(vocabulary: Vocabulary, options: CorpusOptions, ui: Ui) -> tuple[list[CorpusEntry], dict]:
    if options.corpus is not None:
        entries = read_corpus(options.corpus, vocabulary)
        ui.info(f"corpus: {options.corpus} ({len(entries)} verified sentences)")
        return entries, {"source": str(options.corpus)}
    if options.llm == "template":  # costs nothing: generated in memory every time
        backend = make_backend("template", None, None, options.seed, None, ui.warn)
        plan = plan_corpus(vocabulary, options.sentences, options.seed, options.min_per_label, backend)
        info = {"source": backend.name, "prompt": backend.prompt_id, "seed": options.seed, "label_sets": len(plan.sets)}
        return list(entries_from_backend(plan, backend)), info
    shape = backend_shape(options.llm, options.llm_model, options.prompt)
    plan = plan_corpus(vocabulary, options.sentences, options.seed, options.min_per_label, shape)
    if len(plan.sets) > options.sentences:
        ui.info(f"{len(plan.sets)} label sets (raised from {options.sentences} so every label appears {options.min_per_label}+ times)")
    key = hashlib.sha256(json.dumps({**plan.header, "sets": len(plan.sets)}, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / "corpora" / f"{key}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    ui.info(f"corpus cache: {path}")
    if not corpus_is_complete(plan, path):  # else the cached corpus is used without any LLM
        _generate(vocabulary, options, path, ui)
    info = {"source": shape.name, "prompt": shape.prompt_id, "seed": options.seed, "label_sets": len(plan.sets)}
    return read_corpus(path, vocabulary), {**info, "cache": str(path)}


def _generate(vocabulary: Vocabulary, options: CorpusOptions, path: Path, ui: Ui) -> None:
    from lzt.cli.generate import DEFAULT_CONCURRENCY, run_generation

    backend = make_backend(
        options.llm, options.llm_model, options.base_url, options.seed, options.prompt, ui.warn, api_key_env=options.api_key_env
    )
    try:
        plan = plan_corpus(vocabulary, options.sentences, options.seed, options.min_per_label, backend)
        run_generation(plan, backend, path, options.concurrency or DEFAULT_CONCURRENCY[options.llm], ui)
    finally:
        backend.close()
