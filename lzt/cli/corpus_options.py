"""Getting a corpus for build-classifier: a given file, the template writer, or an LLM run
cached under the user cache folder (so a second build with the same settings costs nothing)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from lzt.cli.ui import Ui
from lzt.corpus import CorpusEntry, entries_from_backend, generate_corpus, plan_corpus, read_corpus
from lzt.labels import Vocabulary
from lzt.llm import make_backend
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
    concurrency: int = 4
    prompt: str | None = None


def obtain_corpus(vocabulary: Vocabulary, options: CorpusOptions, ui: Ui) -> tuple[list[CorpusEntry], dict]:
    if options.corpus is not None:
        entries = read_corpus(options.corpus, vocabulary)
        ui.info(f"corpus: {options.corpus} ({len(entries)} verified sentences)")
        return entries, {"source": str(options.corpus)}
    backend = make_backend(options.llm, options.llm_model, options.base_url, options.seed, options.prompt, ui.warn)
    try:
        plan = plan_corpus(vocabulary, options.sentences, options.seed, options.min_per_label, backend)
        if len(plan.sets) > options.sentences:
            ui.info(f"{len(plan.sets)} label sets (raised from {options.sentences} so every label appears {options.min_per_label}+ times)")
        info = {"source": backend.name, "prompt": backend.prompt_id, "seed": options.seed, "label_sets": len(plan.sets)}
        if options.llm == "template":
            return list(entries_from_backend(plan, backend)), info
        key = hashlib.sha256(json.dumps({**plan.header, "sets": len(plan.sets)}, sort_keys=True).encode()).hexdigest()[:16]
        path = cache_dir() / "corpora" / f"{key}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        ui.info(f"corpus cache: {path}")
        from lzt.cli.generate import run_generation

        run_generation(plan, backend, path, options.concurrency, ui)
        entries = read_corpus(path, vocabulary)
        return entries, {**info, "cache": str(path)}
    finally:
        backend.close()
