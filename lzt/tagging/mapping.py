"""Crossing the modality gap: express an image embedding through text embeddings (COMC.md s.3).

    w = softmax(temperature * f K^T)     weights over the keys K (class anchors, or corpus texts)
    m = normalise(w K)                   the image said in the text modality
    z = mix * f + (1 - mix) * m          keep the visual information; not renormalised
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lzt.config import Mapping, MappingConfig
from lzt.errors import UsageError


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


class CorpusIndex:
    """Exact inner-product search over corpus text embeddings with faiss (GPU index when faiss
    was built with CUDA and the model runs on a GPU); `neighbours` gathers each image's k texts."""

    def __init__(self, embeddings: torch.Tensor, use_gpu: bool = False):
        import faiss

        self.keys = F.normalize(embeddings.float(), dim=-1).contiguous()
        index: faiss.Index = faiss.IndexFlatIP(self.keys.shape[1])
        self.on_gpu = False
        if use_gpu and hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:
            self._resources = faiss.StandardGpuResources()
            index = faiss.index_cpu_to_gpu(self._resources, 0, index)
            self.on_gpu = True
        index.add(self.keys.numpy())
        self.index = index

    def __len__(self) -> int:
        return self.keys.shape[0]

    def neighbours(self, features: torch.Tensor, k: int) -> torch.Tensor:
        """(B, D) unit rows -> (B, k, D) the k most similar corpus texts, on features' device."""
        k = min(k, len(self))
        _, found = self.index.search(features.detach().float().cpu().numpy(), k)
        ids = torch.from_numpy(found).clamp_min(0)  # faiss marks a missing result with -1
        return self.keys[ids].to(features.device)


def map_features(features: torch.Tensor, config: MappingConfig, anchors: torch.Tensor, corpus: CorpusIndex | None) -> torch.Tensor:
    """Apply the configured mapping to (B, D) unit image embeddings."""
    if config.method == Mapping.anchors:
        return map_through_keys(features, anchors, config.temperature, config.mix)
    if config.method == Mapping.corpus:
        if corpus is None:
            raise UsageError("corpus mapping needs a classifier that stores its corpus embeddings")
        keys = corpus.neighbours(features, config.neighbours)
        return map_through_neighbours(features, keys, config.temperature, config.mix)
    return features
