"""The classifier `lzt tag` uses when given none: the `everyday` vocabulary and its shipped corpus,
trained for the chosen CLIP model on first use (text encoding and training only, no LLM) and
cached under the user cache folder, keyed by model, weights, corpus and prompt templates."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Callable

from lzt import classifier as artifact
from lzt.build import build_classifier
from lzt.classifier import TrainConfig, load_classifier, save_classifier
from lzt.corpus import load_prompt_templates, read_corpus
from lzt.encoder import ClipEncoder
from lzt.errors import LztError
from lzt.labels import load_vocabulary
from lzt.paths import cache_dir
from lzt.resources import resource_dir

DEFAULT_LABELS = "everyday"


def shipped_corpus(labels: str = DEFAULT_LABELS) -> Path:
    for name in (f"{labels}.corpus.jsonl.gz", f"{labels}.corpus.jsonl"):
        path = resource_dir("label_sets") / name
        if path.is_file():
            return path
    raise LztError(f"no shipped corpus for the {labels!r} vocabulary in label_sets/")


def default_templates(encoder: ClipEncoder) -> str:
    """The full 80-template ensemble where encoding is cheap (GPU), 7 templates on a CPU."""
    return "imagenet80" if encoder.device.type == "cuda" else "photo7"


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cached_classifier_path(encoder: ClipEncoder, labels: str = DEFAULT_LABELS) -> Path:
    corpus = shipped_corpus(labels)
    vocabulary_file = resource_dir("label_sets") / f"{labels}.txt"
    key = hashlib.sha256(
        "|".join([
            encoder.name, encoder.pretrained_id, _file_digest(corpus), _file_digest(vocabulary_file),
            default_templates(encoder), str(artifact.FORMAT_VERSION),
        ]).encode()
    ).hexdigest()[:16]
    safe_weights = encoder.pretrained_id.replace("/", "_")
    return cache_dir() / "classifiers" / f"{labels}-{encoder.name}-{safe_weights}-{key}.lzt"


def default_classifier(encoder: ClipEncoder, info: Callable[[str], None], progress, labels: str = DEFAULT_LABELS):
    """Load the cached default classifier for this encoder, building it once if needed.
    `progress(description, total, unit)` is a context manager yielding `advance(n)` (Ui.progress)."""
    path = cached_classifier_path(encoder, labels)
    if path.is_file():
        return load_classifier(path)
    vocabulary = load_vocabulary(labels)
    corpus = shipped_corpus(labels)
    entries = read_corpus(corpus, vocabulary)
    templates = load_prompt_templates(default_templates(encoder))
    info(
        f"building the default '{labels}' classifier for {encoder.name}/{encoder.pretrained_id} "
        f"({len(vocabulary)} labels, {len(entries)} shipped sentences); this happens once"
    )
    started = time.perf_counter()
    texts = len(entries) + len(vocabulary) * len(templates)
    with progress("encoding texts", texts, "texts") as advance:
        classifier, _ = build_classifier(
            vocabulary, entries, templates, encoder, TrainConfig(), {"source": corpus.name}, on_encoded=advance
        )
    save_classifier(classifier, path)
    info(f"built it in {time.perf_counter() - started:.0f}s; cached at {path}")
    return classifier
