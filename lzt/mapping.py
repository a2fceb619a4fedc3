"""Crossing the modality gap: express an image embedding through text embeddings (COMC.md s.3).

    w = softmax(temperature * f K^T)     weights over the keys K (class anchors, or corpus texts)
    m = normalise(w K)                   the image said in the text modality
    z = mix * f + (1 - mix) * m          keep the visual information; not renormalised
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

MAPPINGS = ("anchors", "corpus", "none")


@dataclass(frozen=True)
class MappingConfig:
    method: str = "anchors"
    temperature: float = 100.0
    mix: float = 0.7  # weight of the image embedding itself
    neighbours: int = 64  # corpus mapping: how many nearest corpus texts take part

    def __post_init__(self) -> None:
        if self.method not in MAPPINGS:
            raise ValueError(f"unknown mapping {self.method!r} (choose from {', '.join(MAPPINGS)})")
        if not 0.0 <= self.mix <= 1.0:
            raise ValueError("the mapping mix must lie in [0, 1]")


def map_through_keys(features: torch.Tensor, keys: torch.Tensor, temperature: float, mix: float) -> torch.Tensor:
    """features (B, D) unit rows; keys (K, D) unit rows -> (B, D) fused embeddings."""
    weights = torch.softmax(temperature * features @ keys.T, dim=-1)
    mapped = F.normalize(weights @ keys, dim=-1)
    return mix * features + (1.0 - mix) * mapped


def map_through_neighbours(
    features: torch.Tensor, neighbour_keys: torch.Tensor, temperature: float, mix: float
) -> torch.Tensor:
    """Like map_through_keys, with each image's own k nearest keys: neighbour_keys (B, k, D)."""
    similarity = torch.einsum("bd,bkd->bk", features, neighbour_keys)
    weights = torch.softmax(temperature * similarity, dim=-1)
    mapped = F.normalize(torch.einsum("bk,bkd->bd", weights, neighbour_keys), dim=-1)
    return mix * features + (1.0 - mix) * mapped
