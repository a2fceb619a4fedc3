"""Building a classifier: vocabulary -> corpus -> text embeddings -> trained artifact."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from lzt.classifier.artifact import BuildReport, Classifier, save_classifier
from lzt.classifier.training import train_classifier, training_settings
from lzt.config import DEFAULT_TEMPLATES, DEFAULT_TEXT_BATCH_SIZE, GPU_TEXT_BATCH_SIZE, TrainConfig
from lzt.errors import UsageError
from lzt.model import ClipEncoder, load_encoder
from lzt.progress import Progress, logger, no_progress
from lzt.text import CorpusEntry, LLMConfig, obtain_corpus
from lzt.text.corpus import corpus_digest, corpus_vocabulary
from lzt.text.generate import DEFAULT_MIN_PER_LABEL, DEFAULT_SENTENCES
from lzt.text.prompts import load_prompt_templates, single_label_texts
from lzt.vocab import Vocabulary, load_vocabulary, multi_hot


def class_anchors(template_embeddings: torch.Tensor, n_labels: int) -> torch.Tensor:
    """Prompt ensemble: the mean of each label's template embeddings, renormalised."""
    per_label = template_embeddings.view(n_labels, -1, template_embeddings.shape[-1])
    return F.normalize(per_label.mean(dim=1), dim=-1)


def train_on_corpus(
    vocabulary: Vocabulary,
    entries: Sequence[CorpusEntry],
    templates: Sequence[str],
    encoder: ClipEncoder,
    training: TrainConfig = TrainConfig(),
    corpus_info: dict | None = None,
    text_batch_size: int | None = None,
    on_encoded: Callable[[int], None] | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    keep_corpus_embeddings: bool = True,
) -> Classifier:
    """Encode every text in one pass, train, and return the artifact (not yet saved).
    text_batch_size: None for 256 on a CPU, 1024 on CUDA."""
    if text_batch_size is None:
        text_batch_size = GPU_TEXT_BATCH_SIZE if encoder.device.type == "cuda" else DEFAULT_TEXT_BATCH_SIZE
    sentences = [entry.sentence for entry in entries]
    template_texts = single_label_texts(vocabulary, templates)
    started = time.perf_counter()
    embeddings = encoder.encode_texts(sentences + template_texts, text_batch_size, on_batch=on_encoded)
    encode_seconds = time.perf_counter() - started
    sentence_embeddings, template_embeddings = embeddings[: len(sentences)], embeddings[len(sentences) :]

    template_targets = torch.zeros(len(template_texts), len(vocabulary))
    template_targets[torch.arange(len(template_texts)), torch.arange(len(template_texts)) // len(templates)] = 1.0
    sentence_targets = torch.from_numpy(multi_hot((entry.labels for entry in entries), vocabulary.names)).float()
    features = torch.cat([sentence_embeddings, template_embeddings])
    targets = torch.cat([sentence_targets, template_targets])

    started = time.perf_counter()
    weight = train_classifier(features, targets, training, encoder.device, on_epoch)
    train_seconds = time.perf_counter() - started

    return Classifier(
        labels=vocabulary.names,
        synonyms={label.name: list(label.synonyms) for label in vocabulary.labels if label.synonyms},
        model=encoder.name,
        pretrained=encoder.pretrained_id,
        embed_dim=encoder.embed_dim,
        weight=weight,
        anchors=class_anchors(template_embeddings, len(vocabulary)),
        corpus_embeddings=sentence_embeddings.half() if keep_corpus_embeddings else None,
        corpus_labels=sentence_targets.to(torch.uint8) if keep_corpus_embeddings else None,
        training={**training_settings(training), "prompt_templates": len(templates)},
        corpus={**(corpus_info or {}), "sentences": len(entries), "sha256": corpus_digest(entries)},
        report=BuildReport(len(sentences), len(template_texts), encode_seconds, train_seconds),
        activation=encoder.activation,
        parents={name: list(parents) for name, parents in vocabulary.parents().items()},
    )


def build_classifier(
    labels: str | Path | Sequence[str] | Vocabulary | None = None,
    *,
    corpus: str | Path | None = None,
    llm: LLMConfig = LLMConfig(),
    sentences: int = DEFAULT_SENTENCES,
    min_per_label: int = DEFAULT_MIN_PER_LABEL,
    model: str | None = None,
    pretrained: str | None = None,
    device: str = "auto",
    encoder: ClipEncoder | None = None,
    prompts: str | Path = DEFAULT_TEMPLATES,
    training: TrainConfig = TrainConfig(),
    text_batch_size: int | None = None,
    out: str | Path | None = None,
    progress: Progress = no_progress,
) -> Classifier:
    """Train a tagger for a vocabulary from text alone (CoMC).

    labels: a built-in set name (`coco`), a vocabulary file, or a list of label strings; may be
        left out with `corpus`, whose header records its vocabulary.
    corpus: a corpus file from `generate_corpus`; without it, the `llm` writer makes one
        (`template`: instantly, in memory; an LLM: cached under the user cache folder).
    model, pretrained, device: the CLIP model (see `load_encoder`; model None: $LZT_MODEL, else
        ViT-B-16), unless `encoder` is given.
    prompts: the single-label prompt ensemble (`imagenet80` as CoMC, `photo7`, or a file).
    training: epochs, noise, seed... (`TrainConfig`); `training.seed` also seeds the sampling.
    text_batch_size: texts per text-encoder batch (None: 256 on a CPU, 1024 on CUDA).
    out: when given, the artifact is also saved there (atomically).
    """
    if labels is None and corpus is None:
        raise UsageError("`labels` is required (or `corpus`, a file from generate_corpus)")
    vocabulary = load_vocabulary(labels) if labels is not None else corpus_vocabulary(Path(str(corpus)))
    templates = load_prompt_templates(prompts)
    if encoder is None:
        encoder = load_encoder(model, pretrained, device)
        logger.info(encoder.describe())
    entries, corpus_info = obtain_corpus(
        vocabulary, corpus=corpus, llm=llm, sentences=sentences, min_per_label=min_per_label,
        seed=training.seed, progress=progress,
    )
    texts = len(entries) + len(vocabulary) * len(templates)
    logger.info(f"{len(vocabulary)} labels | {len(entries)} sentences + {len(vocabulary) * len(templates)} single-label texts")
    with progress("encoding texts", texts, "texts") as advance:
        classifier = train_on_corpus(vocabulary, entries, templates, encoder, training, corpus_info, text_batch_size, on_encoded=advance)
    if out is not None:
        save_classifier(classifier, out)
    return classifier
