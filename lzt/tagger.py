"""The tagging pipeline: decoded batches in, one scored record per file out.

    pixels -> encoder -> map (modality gap) -> classifier scores -> top-k / threshold
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import torch

from lzt.classifier import Classifier
from lzt.encoder import ClipEncoder
from lzt.images import ImageBatch
from lzt.mapping import MappingConfig, map_through_keys


@dataclass(frozen=True)
class Selection:
    """Which tags a record keeps: the `topk` best, then only those scoring >= `threshold`."""

    topk: int | None = 10
    threshold: float | None = None


@dataclass
class Record:
    path: Path
    tags: list[tuple[str, float]] | None = None
    error: str | None = None
    scores: torch.Tensor | None = None  # (C,) all labels, kept when asked (eval)


class Scorer:
    """Image embeddings -> (B, C) label scores, on the encoder's device."""

    def __init__(self, classifier: Classifier, device: torch.device, mapping: MappingConfig = MappingConfig()):
        self.mapping = mapping
        self.weight = classifier.weight.to(device)
        self.anchors = classifier.anchors.to(device)

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        features = features.float()
        if self.mapping.method == "anchors":
            features = map_through_keys(features, self.anchors, self.mapping.temperature, self.mapping.mix)
        return features @ self.weight.T


def select_tags(scores: torch.Tensor, labels: list[str], selection: Selection) -> list[list[tuple[str, float]]]:
    """Best-first (label, score) lists, one per row of `scores`."""
    k = len(labels) if selection.topk is None else min(selection.topk, len(labels))
    values, indices = scores.topk(k, dim=1)
    values, indices = values.cpu().tolist(), indices.cpu().tolist()
    results = []
    for row_values, row_indices in zip(values, indices):
        results.append([
            (labels[i], round(v, 4))
            for v, i in zip(row_values, row_indices)
            if selection.threshold is None or v >= selection.threshold
        ])
    return results


def tag_batches(
    batches: Iterable[ImageBatch],
    encoder: ClipEncoder,
    classifier: Classifier,
    selection: Selection,
    mapping: MappingConfig = MappingConfig(),
    keep_scores: bool = False,
) -> Iterator[Record]:
    """One Record per file of every batch, in order; undecodable files carry their error."""
    scorer = Scorer(classifier, encoder.device, mapping)
    for batch in batches:
        tags: dict[int, list[tuple[str, float]]] = {}
        all_scores: dict[int, torch.Tensor] = {}
        if batch.ok:
            scores = scorer(encoder.encode_pixels(batch.pixels))
            for position, row in zip(batch.ok, select_tags(scores, classifier.labels, selection)):
                tags[position] = row
            if keep_scores:
                all_scores = dict(zip(batch.ok, scores.float().cpu()))
        for position, path in enumerate(batch.paths):
            if position in batch.errors:
                yield Record(path, error=batch.errors[position])
            else:
                yield Record(path, tags=tags[position], scores=all_scores.get(position))
