"""The classifier a Tagger uses when given none: the `everyday` vocabulary and its shipped
corpus, trained for the chosen CLIP model on first use (text encoding and training only, no LLM)
and cached under the user cache folder, keyed by model, weights, corpus and prompt templates."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from lzt.classifier.artifact import FORMAT_VERSION, Classifier, load_classifier, save_classifier
from lzt.classifier.build import train_on_corpus
from lzt.config import TrainConfig
from lzt.errors import ClassifierFileError, LztError, warn
from lzt.files import resource_dir, user_cache_dir
from lzt.model import ClipEncoder
from lzt.progress import Progress, logger, no_progress
from lzt.text import read_corpus
from lzt.text.prompts import load_prompt_templates
from lzt.vocab import load_vocabulary

DEFAULT_LABELS = "everyday"


def shipped_corpus(labels: str = DEFAULT_LABELS) -> Path:
    """The corpus file shipped for a built-in vocabulary (gzipped JSON Lines)."""
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
    """Where the default classifier for this encoder is cached (it may not exist yet)."""
    corpus = shipped_corpus(labels)
    vocabulary_file = resource_dir("label_sets") / f"{labels}.txt"
    key = hashlib.sha256(
        "|".join([
            encoder.name, encoder.pretrained_id, encoder.activation, _file_digest(corpus), _file_digest(vocabulary_file),
            default_templates(encoder), str(FORMAT_VERSION),
        ]).encode()
    ).hexdigest()[:16]
    safe_weights = encoder.pretrained_id.replace("/", "_")
    return user_cache_dir() / "classifiers" / f"{labels}-{encoder.name}-{safe_weights}-{key}.lzt"


def default_classifier(encoder: ClipEncoder, labels: str = DEFAULT_LABELS, progress: Progress = no_progress) -> Classifier:
    """Load the cached default classifier for this encoder, building it once if needed."""
    path = cached_classifier_path(encoder, labels)
    if path.is_file():
        try:
            return load_classifier(path)
        except ClassifierFileError as exc:  # a damaged cache entry: build it again
            warn(f"the cached default classifier is unusable ({exc}); building it again")
    vocabulary = load_vocabulary(labels)
    corpus = shipped_corpus(labels)
    entries = read_corpus(corpus, vocabulary)
    templates = load_prompt_templates(default_templates(encoder))
    logger.info(
        f"building the default '{labels}' classifier for {encoder.name}/{encoder.pretrained_id} "
        f"({len(vocabulary)} labels, {len(entries)} shipped sentences); this happens once"
    )
    started = time.perf_counter()
    texts = len(entries) + len(vocabulary) * len(templates)
    with progress("encoding texts", texts, "texts") as advance:
        classifier = train_on_corpus(vocabulary, entries, templates, encoder, TrainConfig(), {"source": corpus.name}, on_encoded=advance)
    try:
        save_classifier(classifier, path)
        logger.info(f"built it in {time.perf_counter() - started:.0f}s; cached at {path}")
    except OSError as exc:  # the cache is optional: the classifier is in memory, the run goes on
        warn(f"could not cache the default classifier at {path} ({exc.strerror or exc}); it will be built again next time")
    return classifier
