"""The tagging pipeline: decoded batches in, one scored record per file out.

    pixels -> encoder -> map (modality gap) -> classifier scores -> top-k / threshold
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import torch

from lzt.calibration import CALIBRATIONS, calibrate
from lzt.classifier import Classifier
from lzt.encoder import ClipEncoder
from lzt.images import ImageBatch
from lzt.mapping import CorpusIndex, MappingConfig, map_features


@dataclass(frozen=True)
class ScoringConfig:
    """How embeddings become label scores (the options of `lzt tag` and `lzt eval`)."""

    mapping: MappingConfig = MappingConfig()
    local: bool = True  # add CoMC's local branch when the tower supports it
    local_weight: float = 0.5  # final = (1 - w) * global + w * local
    calibration: str = "none"

    def __post_init__(self) -> None:
        if self.calibration not in CALIBRATIONS:
            raise ValueError(f"unknown calibration {self.calibration!r} (choose from {', '.join(CALIBRATIONS)})")
        if not 0.0 <= self.local_weight <= 1.0:
            raise ValueError("the local weight must lie in [0, 1]")


def fuse_scores(global_scores: torch.Tensor, token_scores: torch.Tensor, local_weight: float = 0.5) -> torch.Tensor:
    """CoMC: final = (1 - w) * s_global + w * max over tokens of s_token. (B, C), (B, T, C)."""
    return (1.0 - local_weight) * global_scores + local_weight * token_scores.max(dim=1).values


@dataclass(frozen=True)
class Selection:
    """Which tags a record keeps, and under which names.

    A label is kept when it is not excluded, scores at least its threshold (its own from
    `per_label`, else `threshold`) and at least `min_score` (a floor for every label); of those,
    the `topk` best. `rename` changes the names written out (not what is scored)."""

    topk: int | None = 10
    threshold: float | None = None
    per_label: dict[str, float] = field(default_factory=dict)
    min_score: float | None = None
    exclude: frozenset[str] = frozenset()
    rename: dict[str, str] = field(default_factory=dict)

    def thresholds(self, labels: list[str]) -> torch.Tensor:
        """(C,) the score each label must reach; -inf where nothing applies."""
        values = []
        for label in labels:
            value = self.per_label.get(label, self.threshold)
            floor = self.min_score
            candidates = [v for v in (value, floor) if v is not None]
            values.append(max(candidates) if candidates else -math.inf)
        values = torch.tensor(values)
        excluded = torch.tensor([label in self.exclude for label in labels], dtype=torch.bool)
        return values.masked_fill(excluded, math.inf)


@dataclass
class Record:
    path: Path
    tags: list[tuple[str, float]] | None = None
    error: str | None = None
    scores: torch.Tensor | None = None  # (C,) all labels, kept when asked (eval)


class Scorer:
    """Pixels -> (B, C) label scores: encode, map each embedding, score, fuse, calibrate."""

    def __init__(self, encoder: ClipEncoder, classifier: Classifier, config: ScoringConfig = ScoringConfig()):
        self.encoder = encoder
        self.config = config
        self.local = config.local and config.local_weight > 0 and encoder.has_local_branch()
        device = encoder.device
        self.weight = classifier.weight.to(device)
        self.anchors = classifier.anchors.to(device)
        self.corpus = None
        if config.mapping.method == "corpus":
            if classifier.corpus_embeddings is None:
                raise ValueError("--mapping corpus needs a classifier built with its corpus embeddings")
            self.corpus = CorpusIndex(classifier.corpus_embeddings, use_gpu=device.type == "cuda")

    def score_embeddings(self, features: torch.Tensor) -> torch.Tensor:
        """(..., D) unit embeddings -> (..., C) classifier scores after the mapping."""
        flat = features.reshape(-1, features.shape[-1])
        mapped = map_features(flat, self.config.mapping, self.anchors, self.corpus)
        return (mapped @ self.weight.T).reshape(*features.shape[:-1], -1)

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        if self.local:
            global_features, tokens = self.encoder.encode_pixels_dense(pixels)
            scores = fuse_scores(self.score_embeddings(global_features), self.score_embeddings(tokens), self.config.local_weight)
        else:
            scores = self.score_embeddings(self.encoder.encode_pixels(pixels))
        return calibrate(scores, self.config.calibration)


def select_tags(scores: torch.Tensor, labels: list[str], selection: Selection) -> list[list[tuple[str, float]]]:
    """Best-first (label, score) lists, one per row of `scores`."""
    thresholds = selection.thresholds(labels).to(scores.device)
    eligible = scores >= thresholds
    masked = scores.masked_fill(~eligible, -math.inf)
    k = len(labels) if selection.topk is None else min(selection.topk, len(labels))
    values, indices = masked.topk(k, dim=1)
    values, indices = values.cpu().tolist(), indices.cpu().tolist()
    names = [selection.rename.get(label, label) for label in labels]
    return [
        [(names[i], round(v, 4)) for v, i in zip(row_values, row_indices) if v != -math.inf]
        for row_values, row_indices in zip(values, indices)
    ]


def tag_batches(
    batches: Iterable[ImageBatch],
    encoder: ClipEncoder,
    classifier: Classifier,
    selection: Selection,
    scoring: ScoringConfig = ScoringConfig(),
    keep_scores: bool = False,
) -> Iterator[Record]:
    """One Record per file of every batch, in order; undecodable files carry their error."""
    scorer = Scorer(encoder, classifier, scoring)
    for batch in batches:
        tags: dict[int, list[tuple[str, float]]] = {}
        all_scores: dict[int, torch.Tensor] = {}
        if batch.ok:
            scores = scorer(batch.pixels)
            for position, row in zip(batch.ok, select_tags(scores, classifier.labels, selection)):
                tags[position] = row
            if keep_scores:
                all_scores = dict(zip(batch.ok, scores.float().cpu()))
        for position, path in enumerate(batch.paths):
            if position in batch.errors:
                yield Record(path, error=batch.errors[position])
            else:
                yield Record(path, tags=tags[position], scores=all_scores.get(position))
