"""CLIP models: loading (hub tag, checkpoint, random weights), encoding, the local branch."""

from lzt.config import InputConfig, Resize
from lzt.model.catalog import RECOMMENDED, ModelInfo, is_local, pull_weights
from lzt.model.encoder import ClipEncoder, PreprocessSpec
from lzt.model.loading import DEFAULT_MODEL, RANDOM_WEIGHTS, default_model, default_pretrained, load_encoder, resolve_device

__all__ = [
    "DEFAULT_MODEL", "RANDOM_WEIGHTS", "RECOMMENDED", "ClipEncoder", "InputConfig", "ModelInfo",
    "PreprocessSpec", "Resize", "default_model", "default_pretrained", "is_local", "load_encoder", "pull_weights",
    "resolve_device",
]
