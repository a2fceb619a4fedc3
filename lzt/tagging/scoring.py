"""How embeddings become label scores: map each embedding across the modality gap, score it
with the classifier, fuse the global and local branches (CoMC), calibrate.

    pixels -> encoder -> map (modality gap) -> classifier scores -> fuse -> calibrate
"""

from __future__ import annotations

import torch

from lzt.classifier import Classifier
from lzt.config import Mapping, ScoringConfig
from lzt.errors import UsageError
from lzt.model import ClipEncoder
from lzt.tagging.calibration import calibrate
from lzt.tagging.mapping import CorpusIndex, map_features


def fuse_scores(global_scores: torch.Tensor, token_scores: torch.Tensor, local_weight: float = 0.5) -> torch.Tensor:
    """CoMC: final = (1 - w) * s_global + w * max over tokens of s_token. (B, C), (B, T, C)."""
    return (1.0 - local_weight) * global_scores + local_weight * token_scores.max(dim=1).values


def as_stored(embeddings: torch.Tensor) -> torch.Tensor:
    """Embeddings rounded to float16, as the embedding cache stores them: a cold run, a warm run
    and a run without a cache then give the same scores to the last digit."""
    return embeddings.half().float()


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
        if config.mapping.method == Mapping.corpus:
            if classifier.corpus_embeddings is None:
                raise UsageError("`MappingConfig.method` corpus needs a classifier built with its corpus embeddings")
            self.corpus = CorpusIndex(classifier.corpus_embeddings, use_gpu=device.type == "cuda")

    def score_embeddings(self, features: torch.Tensor) -> torch.Tensor:
        """(..., D) unit embeddings -> (..., C) classifier scores after the mapping."""
        flat = features.reshape(-1, features.shape[-1]).to(self.weight.device, self.weight.dtype)
        mapped = map_features(flat, self.config.mapping, self.anchors, self.corpus)
        return (mapped @ self.weight.T).reshape(*features.shape[:-1], -1)

    def embed(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """uint8 pixels -> unit global (B, D) and, with the local branch, tokens (B, T, D),
        rounded as stored (see as_stored)."""
        if self.local:
            global_features, tokens = self.encoder.encode_pixels_dense(pixels)
            return as_stored(global_features), as_stored(tokens)
        return as_stored(self.encoder.encode_pixels(pixels)), None

    def score(self, global_features: torch.Tensor, tokens: torch.Tensor | None, calibrated: bool = True) -> torch.Tensor:
        scores = self.score_embeddings(global_features)
        if self.local and tokens is not None:
            scores = fuse_scores(scores, self.score_embeddings(tokens), self.config.local_weight)
        return calibrate(scores, self.config.calibration) if calibrated else scores

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.score(*self.embed(pixels))
