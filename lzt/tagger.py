"""The tagging pipeline: decoded batches in, one scored record per file out.

    pixels -> encoder -> map (modality gap) -> classifier scores -> top-k / threshold
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import torch

from lzt.cache import EmbeddingCache
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

    def embed(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """uint8 pixels -> unit global (B, D) and, with the local branch, tokens (B, T, D)."""
        if self.local:
            return self.encoder.encode_pixels_dense(pixels)
        return self.encoder.encode_pixels(pixels), None

    def score(self, global_features: torch.Tensor, tokens: torch.Tensor | None) -> torch.Tensor:
        scores = self.score_embeddings(global_features)
        if self.local and tokens is not None:
            scores = fuse_scores(scores, self.score_embeddings(tokens), self.config.local_weight)
        return calibrate(scores, self.config.calibration)

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.score(*self.embed(pixels))


def _batch_embeddings(
    batch: ImageBatch, scorer: Scorer, cache: EmbeddingCache | None
) -> tuple[list[int], torch.Tensor, torch.Tensor | None]:
    """Embeddings of every readable file of a batch, freshly encoded or from the cache, in order.
    New embeddings go to the cache in one transaction. With a cache, fresh embeddings are rounded
    to float16 like stored ones, so a cold run and a warm re-run give the same scores."""
    positions = sorted([*batch.ok, *batch.cached])
    if not positions:
        return [], torch.empty(0), None
    device = scorer.encoder.device
    fresh_global, fresh_local = (None, None)
    if batch.ok:
        fresh_global, fresh_local = scorer.embed(batch.pixels)
        if cache is not None:
            fresh_global = fresh_global.half().float()
            fresh_local = None if fresh_local is None else fresh_local.half().float()
    rows_global, rows_local = [], []
    fresh_index = {position: i for i, position in enumerate(batch.ok)}
    for position in positions:
        if position in fresh_index:
            i = fresh_index[position]
            rows_global.append(fresh_global[i])
            rows_local.append(None if fresh_local is None else fresh_local[i])
        else:
            found = batch.cached[position]
            rows_global.append(found.global_features.to(device))
            rows_local.append(None if found.local_features is None else found.local_features.to(device))
    if cache is not None:
        cache.store([
            (*batch.identities[p], rows_global[n], rows_local[n])
            for n, p in enumerate(positions) if p in batch.identities
        ])
    local = torch.stack(rows_local) if scorer.local and all(t is not None for t in rows_local) else None
    return positions, torch.stack(rows_global), local


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
    cache: EmbeddingCache | None = None,
) -> Iterator[Record]:
    """One Record per file of every batch, in order; undecodable files carry their error."""
    scorer = Scorer(encoder, classifier, scoring)
    for batch in batches:
        tags: dict[int, list[tuple[str, float]]] = {}
        all_scores: dict[int, torch.Tensor] = {}
        positions, global_features, tokens = _batch_embeddings(batch, scorer, cache)
        if positions:
            scores = scorer.score(global_features, tokens)
            for position, row in zip(positions, select_tags(scores, classifier.labels, selection)):
                tags[position] = row
            if keep_scores:
                all_scores = dict(zip(positions, scores.float().cpu()))
        for position, path in enumerate(batch.paths):
            if position in batch.errors:
                yield Record(path, error=batch.errors[position])
            else:
                yield Record(path, tags=tags[position], scores=all_scores.get(position))
