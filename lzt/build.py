"""Building a classifier: corpus + single-label texts -> text embeddings -> trained artifact."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from lzt.classifier import Classifier, TrainConfig, train_classifier, training_settings
from lzt.corpus import CorpusEntry, corpus_digest, single_label_texts
from lzt.encoder import ClipEncoder
from lzt.labels import Vocabulary


@dataclass
class BuildReport:
    sentences: int
    single_label_texts: int
    encode_seconds: float
    train_seconds: float


def label_targets(entries: Sequence[CorpusEntry], vocabulary: Vocabulary) -> torch.Tensor:
    index = vocabulary.index()
    targets = torch.zeros(len(entries), len(vocabulary))
    for row, entry in enumerate(entries):
        for label in entry.labels:
            targets[row, index[label]] = 1.0
    return targets


def class_anchors(template_embeddings: torch.Tensor, n_labels: int) -> torch.Tensor:
    """Prompt ensemble: the mean of each label's template embeddings, renormalised."""
    per_label = template_embeddings.view(n_labels, -1, template_embeddings.shape[-1])
    return F.normalize(per_label.mean(dim=1), dim=-1)


def build_classifier(
    vocabulary: Vocabulary,
    entries: Sequence[CorpusEntry],
    templates: Sequence[str],
    encoder: ClipEncoder,
    config: TrainConfig,
    corpus_info: dict,
    text_batch_size: int = 256,
    on_encoded: Callable[[int], None] | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    keep_corpus_embeddings: bool = True,
) -> tuple[Classifier, BuildReport]:
    """Encode everything in one pass, train, and return the artifact (not yet saved)."""
    sentences = [entry.sentence for entry in entries]
    template_texts = single_label_texts(vocabulary, templates)
    started = time.perf_counter()
    embeddings = encoder.encode_texts(sentences + template_texts, text_batch_size, on_batch=on_encoded)
    encode_seconds = time.perf_counter() - started
    sentence_embeddings, template_embeddings = embeddings[: len(sentences)], embeddings[len(sentences) :]

    template_targets = torch.zeros(len(template_texts), len(vocabulary))
    template_targets[torch.arange(len(template_texts)), torch.arange(len(template_texts)) // len(templates)] = 1.0
    sentence_targets = label_targets(entries, vocabulary)
    features = torch.cat([sentence_embeddings, template_embeddings])
    targets = torch.cat([sentence_targets, template_targets])

    started = time.perf_counter()
    weight = train_classifier(features, targets, config, encoder.device, on_epoch)
    train_seconds = time.perf_counter() - started

    classifier = Classifier(
        labels=vocabulary.names,
        synonyms={label.name: list(label.synonyms) for label in vocabulary.labels if label.synonyms},
        model=encoder.name,
        pretrained=encoder.pretrained_id,
        embed_dim=encoder.embed_dim,
        weight=weight,
        anchors=class_anchors(template_embeddings, len(vocabulary)),
        corpus_embeddings=sentence_embeddings.half() if keep_corpus_embeddings else None,
        corpus_labels=sentence_targets.to(torch.uint8) if keep_corpus_embeddings else None,
        training={**training_settings(config), "prompt_templates": len(templates)},
        corpus={**corpus_info, "sentences": len(entries), "sha256": corpus_digest(entries)},
    )
    report = BuildReport(len(sentences), len(template_texts), encode_seconds, train_seconds)
    return classifier, report
