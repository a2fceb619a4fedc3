"""The classifier a Tagger uses when given none: the `everyday` vocabulary and its shipped
corpus, trained for the chosen CLIP model on first use (text encoding and training only, no LLM)
and cached under the user cache folder, keyed by model, weights, corpus and prompt templates.

On a CPU the text encoder is the slow part (ViT-B-16: about 60 texts/s on 2 cores), so a CPU
build trains on a balanced subset of the shipped corpus (CPU_SENTENCES sentences, chosen so that
rare labels keep theirs) with the 7-template ensemble: a first `lzt tag` stays within about four
minutes on 2 cores. On a GPU the whole corpus and the 80 templates are used."""

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
from lzt.text.corpus import balanced_subset
from lzt.text.prompts import load_prompt_templates
from lzt.vocab import load_vocabulary

DEFAULT_LABELS = "everyday"
# Sentences a CPU build trains on: with 1,168 labels x 7 templates that is about 11,200 texts,
# under four minutes on 2 cores (README, "CLIP models and weights").
CPU_SENTENCES = 3000


def shipped_corpus(labels: str = DEFAULT_LABELS) -> Path:
    """The corpus file shipped for a built-in vocabulary (gzipped JSON Lines)."""
    for name in (f"{labels}.corpus.jsonl.gz", f"{labels}.corpus.jsonl"):
        path = resource_dir("label_sets") / name
        if path.is_file():
            return path
    raise LztError(f"no shipped corpus for the {labels!r} vocabulary in label_sets/")


def sentence_budget(encoder: ClipEncoder) -> int | None:
    """How many shipped sentences a build on this encoder's device uses (None: all of them)."""
    return None if encoder.device.type == "cuda" else CPU_SENTENCES


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
            default_templates(encoder), str(sentence_budget(encoder)), str(FORMAT_VERSION),
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
    shipped = len(entries)
    budget = sentence_budget(encoder)
    if budget is not None and shipped > budget:
        entries = balanced_subset(entries, vocabulary, budget)
        logger.info(
            f"on a CPU the default classifier trains on a balanced subset of {len(entries)} of the {shipped} shipped "
            f"sentences and 7 prompt templates per label, to build in minutes; on a GPU it uses them all"
        )
    templates = load_prompt_templates(default_templates(encoder))
    logger.info(
        f"building the default '{labels}' classifier for {encoder.name}/{encoder.pretrained_id} "
        f"({len(vocabulary)} labels, {len(entries)} sentences + {len(vocabulary) * len(templates)} single-label texts); this happens once"
    )
    started = time.perf_counter()
    texts = len(entries) + len(vocabulary) * len(templates)
    with progress("encoding texts", texts, "texts") as advance:
        info = {"source": corpus.name, "shipped_sentences": shipped}
        classifier = train_on_corpus(vocabulary, entries, templates, encoder, TrainConfig(), info, on_encoded=advance)
    try:
        save_classifier(classifier, path)
        logger.info(f"built it in {time.perf_counter() - started:.0f}s; cached at {path}")
    except OSError as exc:  # the cache is optional: the classifier is in memory, the run goes on
        warn(f"could not cache the default classifier at {path} ({exc.strerror or exc}); it will be built again next time")
    return classifier
