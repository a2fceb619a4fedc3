"""Recommended open_clip models, whether their weights are on this machine, and fetching them."""

from __future__ import annotations

import os
from dataclasses import dataclass

from lzt.errors import UsageError, WeightsUnavailable
from lzt.model.loading import WEIGHTS_DIR_ENV, cached_weights, hub_reachable, offline_message, register_model_configs


@dataclass(frozen=True)
class ModelInfo:
    model: str
    pretrained: str
    params_m: float  # millions of parameters (image + text towers)
    imagenet_zero_shot: float  # top-1 %, as published in open_clip's results table
    note: str

    @property
    def fp32_mb(self) -> int:
        return round(self.params_m * 4)


# Published figures (open_clip's zero-shot results table; CoMC/TagCLIP papers for the notes).
RECOMMENDED = (
    ModelInfo("ViT-B-16", "openai", 149.6, 68.3, "default: the backbone of TagCLIP's 68.8 COCO mAP; 196 patches for the local branch"),
    ModelInfo("RN50", "openai", 102.0, 59.8, "CoMC's paper backbone (68.8 COCO mAP as re-run by SPARC)"),
    ModelInfo("ViT-B-32", "openai", 151.3, 63.3, "fastest; best choice on CPU-only machines"),
    ModelInfo("ViT-B-16", "datacomp_xl_s13b_b90k", 149.6, 73.5, "stronger open weights at the default's speed"),
    ModelInfo("ViT-L-14", "openai", 427.6, 75.5, "higher quality, about 4x the compute of ViT-B-16"),
    ModelInfo("ViT-L-14-336", "openai", 427.9, 76.6, "SPARC's backbone; 336 px input"),
    ModelInfo("ViT-L-14", "datacomp_xl_s13b_b90k", 427.6, 79.2, "best open ViT-L weights"),
)


def is_local(model: str, pretrained: str) -> bool:
    """True when this machine already holds the weights (no network needed to load them)."""
    register_model_configs()
    return cached_weights(model, pretrained) is not None


def pull_weights(model: str, pretrained: str = "openai") -> str:
    """Download a tag's weights into the hub cache (needs a network); returns the file path."""
    import open_clip
    from open_clip.pretrained import download_pretrained, get_pretrained_cfg

    register_model_configs()
    tags = open_clip.list_pretrained_tags_by_model(model)
    if pretrained not in tags:
        raise UsageError(f"{model} has no pretrained tag {pretrained!r} (tags: {', '.join(tags) or 'none'})")
    if not hub_reachable():
        raise WeightsUnavailable(offline_message(model, pretrained, "no network"))
    try:
        return download_pretrained(get_pretrained_cfg(model, pretrained), cache_dir=os.environ.get(WEIGHTS_DIR_ENV))
    except Exception as exc:
        raise WeightsUnavailable(f"download of {model}/{pretrained} failed: {str(exc).splitlines()[0][:200]}") from exc
