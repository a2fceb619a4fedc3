"""open_clip loading (hub tag, local checkpoint, or random weights) and batched encoding.

Everything returned is L2-normalised float32. The model runs in bf16 on CUDA and fp32 on CPU.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from lzt.errors import LztError, UsageError

# Extra model-config folders (JSON files in open_clip's format), separated by os.pathsep:
# how tests register a tiny architecture, and how users add their own.
MODEL_CONFIG_ENV = "LZT_MODEL_CONFIG_DIRS"
# Where `lzt models pull` and hub downloads keep weights; also searched for local checkpoints.
PRETRAINED_ENV = "LZT_PRETRAINED"

RANDOM_WEIGHTS = "none"


@dataclass(frozen=True)
class PreprocessSpec:
    """How pixels become model input; part of the embedding-cache key."""

    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize_mode: str = "shortest"  # CLIP's resize of the short side + centre crop

    @property
    def identity(self) -> str:
        return f"{self.image_size}/{self.resize_mode}/{self.mean}/{self.std}"


def resolve_device(spec: str) -> torch.device:
    """`auto` picks CUDA when present; asking for CUDA without it is an error, never a fallback."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as exc:
        raise UsageError(f"unknown device {spec!r} (use auto, cpu, cuda or cuda:N)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {spec} was asked for, but PyTorch sees no CUDA GPU here")
    if device.type not in {"cpu", "cuda"}:
        raise UsageError(f"unsupported device {spec!r} (use auto, cpu, cuda or cuda:N)")
    return device


def register_model_configs() -> None:
    """Make open_clip aware of the config folders named in $LZT_MODEL_CONFIG_DIRS."""
    import open_clip

    for folder in filter(None, os.environ.get(MODEL_CONFIG_ENV, "").split(os.pathsep)):
        if not Path(folder).is_dir():
            raise LztError(f"${MODEL_CONFIG_ENV} names {folder!r}, which is not a folder")
        open_clip.add_model_config(folder)


def _check_model_name(name: str) -> None:
    import open_clip

    if name.startswith(("hf-hub:", "local-dir:")) or name in open_clip.list_models():
        return
    close = difflib.get_close_matches(name, open_clip.list_models(), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else " (see `lzt models`)"
    raise UsageError(f"unknown open_clip model {name!r}{hint}")


def _offline_message(name: str, pretrained: str, exc: BaseException) -> str:
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        reason = "no network, and they are not in the local cache"
    else:
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
    return (
        f"could not fetch weights {name}/{pretrained} ({reason}). "
        f"Fixes: run `lzt models pull {name} --pretrained {pretrained}` on a connected machine; "
        f"or pass --pretrained /path/to/checkpoint (.safetensors/.bin/.pt); "
        f"or set ${PRETRAINED_ENV}=/path/to/checkpoint"
    )


def hub_reachable(timeout: float = 3.0) -> bool:
    """One quick connection attempt, so an offline machine fails in seconds instead of
    sitting through the hub client's retries (about a minute)."""
    import socket
    from urllib.parse import urlparse

    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _use_cached_weights_only() -> None:
    """Offline: let huggingface_hub answer from its local cache without network attempts."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        import huggingface_hub.constants as hub_constants

        hub_constants.HF_HUB_OFFLINE = True
    except ImportError:
        pass


def create_model(name: str, pretrained: str, device: torch.device, warn: Callable[[str], None]):
    """Build the open_clip model; returns (model, tokenizer). Errors are one readable line."""
    import open_clip

    register_model_configs()
    _check_model_name(name)
    precision = "bf16" if device.type == "cuda" else "fp32"
    if pretrained == RANDOM_WEIGHTS:
        warn(
            f"RANDOM WEIGHTS: {name} was created with --pretrained none. Speed, shapes and formats "
            "are real; tags and scores are meaningless."
        )
        weights = None
        # Same random weights in every process: a classifier built with random weights then
        # matches the text tower that `lzt tag` recreates (tests and benchmarks rely on it).
        torch.manual_seed(0)
    elif Path(pretrained).expanduser().is_file():
        weights = str(Path(pretrained).expanduser())
    elif Path(pretrained).expanduser().exists():
        raise UsageError(f"--pretrained {pretrained} is not a checkpoint file")
    else:
        weights = pretrained
        tags = open_clip.list_pretrained_tags_by_model(name)
        if not name.startswith("hf-hub:") and pretrained not in tags:
            known = ", ".join(tags) or "none published"
            raise UsageError(
                f"{pretrained!r} is neither a file nor a pretrained tag of {name} (tags: {known})"
            )
        if not hub_reachable():
            _use_cached_weights_only()
    try:
        model = open_clip.create_model(
            name,
            pretrained=weights,
            precision=precision,
            device=device,
            pretrained_text=weights is not None,
            cache_dir=os.environ.get("LZT_WEIGHTS_DIR"),
        )
    except Exception as exc:  # loaders and network stacks raise many types; all mean the same here
        if weights is None:
            raise
        if Path(weights).is_file():
            raise LztError(f"{weights} is not a usable checkpoint of {name}: {str(exc)[:200]}") from exc
        raise LztError(_offline_message(name, pretrained, exc)) from exc
    model.eval()
    tokenizer = open_clip.get_tokenizer(name)
    return model, tokenizer


def preprocess_spec(model, image_size: int | None = None, resize_mode: str = "shortest") -> PreprocessSpec:
    from open_clip.model import get_model_preprocess_cfg

    cfg = get_model_preprocess_cfg(model)
    size = cfg.get("size", 224)
    size = size[0] if isinstance(size, (tuple, list)) else size
    return PreprocessSpec(
        image_size=int(image_size or size),
        mean=tuple(float(v) for v in cfg.get("mean", (0.48145466, 0.4578275, 0.40821073))),
        std=tuple(float(v) for v in cfg.get("std", (0.26862954, 0.26130258, 0.27577711))),
        resize_mode=resize_mode,
    )


class ClipEncoder:
    """An open_clip model, its tokenizer and its preprocessing, with batched encoders."""

    def __init__(self, model, tokenizer, name: str, pretrained: str, device: torch.device):
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.pretrained = pretrained
        self.device = device
        self.dtype = next(model.parameters()).dtype
        self.preprocess = preprocess_spec(model)
        self.embed_dim = int(self._probe_width())
        self._mean = torch.tensor(self.preprocess.mean, device=device).view(1, 3, 1, 1)
        self._std = torch.tensor(self.preprocess.std, device=device).view(1, 3, 1, 1)

    @property
    def identity(self) -> str:
        """What an image embedding depends on: model, exact weights, input size and fitting."""
        weights = self.pretrained_id
        path = Path(self.pretrained)
        if path.is_file():
            stat = path.stat()
            weights += f"@{stat.st_size}:{stat.st_mtime_ns}"
        return f"{self.name}|{weights}|{self.preprocess.identity}"

    @property
    def pretrained_id(self) -> str:
        """What the manifest records: a tag, a checkpoint's file name, or `none`."""
        path = Path(self.pretrained)
        return path.name if path.is_file() else self.pretrained

    def _probe_width(self) -> int:
        projection = getattr(self.model, "text_projection", None)
        if isinstance(projection, torch.nn.Linear):
            return projection.out_features
        if isinstance(projection, torch.Tensor):
            return projection.shape[1]
        with torch.inference_mode():
            tokens = self.tokenizer(["a"]).to(self.device)
            return self.model.encode_text(tokens).shape[-1]

    # --- text ------------------------------------------------------------------------------

    def can_trim_text(self) -> bool:
        """Trimming padding is exact only for a causal text tower pooled at the end-of-text token."""
        model = self.model
        return (
            hasattr(model, "token_embedding")
            and getattr(model, "attn_mask", None) is not None
            and getattr(model, "text_pool_type", None) in {"argmax", "eos"}
            and hasattr(model, "positional_embedding")
        )

    def _encode_token_batch(self, tokens: torch.Tensor, trim: bool) -> torch.Tensor:
        if not trim:
            return self.model.encode_text(tokens)
        # Causal mask: the end-of-text token never attends to the padding after it, so cutting
        # the batch at its longest sequence gives the same embedding for a fraction of the work.
        length = int((tokens != 0).sum(dim=1).max().item())
        length = max(1, min(length, tokens.shape[1]))
        tokens = tokens[:, :length]
        model = self.model
        cast_dtype = model.transformer.get_cast_dtype()
        x = model.token_embedding(tokens).to(cast_dtype)
        x = x + model.positional_embedding[:length].to(cast_dtype)
        x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
        x = model.ln_final(x)
        from open_clip.transformer import text_global_pool

        x = text_global_pool(x, tokens, model.text_pool_type, getattr(model, "text_eos_id", None))
        projection = model.text_projection
        if projection is not None:
            x = projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection
        return x

    @torch.inference_mode()
    def encode_texts(
        self,
        texts: Sequence[str],
        batch_size: int = 256,
        trim: bool = True,
        on_batch: Callable[[int], None] | None = None,
    ) -> torch.Tensor:
        """(N, D) float32 unit vectors on the CPU. Texts are sorted by length so that trimmed
        batches hold sequences of similar length, then put back in their order."""
        if not texts:
            return torch.empty(0, self.embed_dim)
        tokens = self.tokenizer(list(texts))
        trim = trim and self.can_trim_text()
        order = torch.argsort((tokens != 0).sum(dim=1), descending=True) if trim else torch.arange(len(texts))
        out = torch.empty(len(texts), self.embed_dim)
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            batch = tokens[idx].to(self.device, non_blocking=True)
            features = self._encode_token_batch(batch, trim)
            out[idx] = F.normalize(features.float(), dim=-1).cpu()
            if on_batch:
                on_batch(len(idx))
        return out

    # --- images ----------------------------------------------------------------------------

    def normalise_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 3, H, W) on any device -> normalised model input on the model's device."""
        x = pixels.to(self.device, non_blocking=True).float().div_(255.0)
        x = (x - self._mean) / self._std
        return x.to(self.dtype)

    @torch.inference_mode()
    def encode_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 3, H, W) -> (B, D) float32 unit vectors on the model's device."""
        features = self.model.encode_image(self.normalise_pixels(pixels))
        return F.normalize(features.float(), dim=-1)

    def has_local_branch(self) -> bool:
        from lzt.dense import local_branch_support

        return local_branch_support(self.model) is not None

    def encode_pixels_dense(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 (B, 3, H, W) -> unit global (B, D) and unit local tokens (B, T, D)."""
        from lzt.dense import encode_global_and_local

        return encode_global_and_local(self.model, self.normalise_pixels(pixels))

    def set_input(self, image_size: int | None, resize_mode: str) -> None:
        """A larger (or smaller) input than the model's default, and how images are fitted to it."""
        if image_size and image_size != self.preprocess.image_size:
            resize_position_embeddings(self.model, image_size)
        self.preprocess = preprocess_spec(self.model, image_size, resize_mode)


def _interpolate_grid(embedding: torch.Tensor, prefix: int, new_grid: int) -> torch.Tensor:
    """(prefix + g*g, C) position embeddings -> (prefix + new_grid**2, C), bicubic on the grid."""
    head, grid = embedding[:prefix], embedding[prefix:]
    old = int(round(grid.shape[0] ** 0.5))
    grid = grid.reshape(1, old, old, -1).permute(0, 3, 1, 2).float()
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode="bicubic", align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(new_grid * new_grid, -1).to(embedding.dtype)
    return torch.cat([head, grid])


def resize_position_embeddings(model, image_size: int) -> None:
    """Let a ViT or ResNet tower take `image_size` inputs by interpolating its position grid."""
    visual = model.visual
    if hasattr(visual, "attnpool"):  # ResNet: the attention pool sees a (size/32)^2 grid
        if image_size % 32:
            raise UsageError("--image-size must be a multiple of 32 for ResNet models")
        pool = visual.attnpool
        pool.positional_embedding = torch.nn.Parameter(
            _interpolate_grid(pool.positional_embedding.data, 1, image_size // 32), requires_grad=False
        )
    elif hasattr(visual, "positional_embedding") and hasattr(visual, "conv1"):
        patch = visual.conv1.kernel_size[0]
        if image_size % patch:
            raise UsageError(f"--image-size must be a multiple of the patch size ({patch})")
        prefix = visual.positional_embedding.shape[0] - (visual.grid_size[0] * visual.grid_size[1])
        visual.positional_embedding = torch.nn.Parameter(
            _interpolate_grid(visual.positional_embedding.data, prefix, image_size // patch), requires_grad=False
        )
        visual.grid_size = (image_size // patch, image_size // patch)
    else:
        raise UsageError("--image-size is supported for open_clip ViT and ResNet towers only")
    visual.image_size = (image_size, image_size)
    if isinstance(getattr(visual, "preprocess_cfg", None), dict):
        visual.preprocess_cfg["size"] = (image_size, image_size)


def default_pretrained(name: str) -> str:
    """$LZT_PRETRAINED if set, else the model's `openai` weights, else its first published tag."""
    import open_clip

    if os.environ.get(PRETRAINED_ENV):
        return os.environ[PRETRAINED_ENV]
    register_model_configs()
    tags = open_clip.list_pretrained_tags_by_model(name)
    if "openai" in tags or not tags:
        return "openai" if tags else RANDOM_WEIGHTS
    return tags[0]


def load_encoder(
    name: str, pretrained: str | None, device_spec: str, warn: Callable[[str], None]
) -> ClipEncoder:
    device = resolve_device(device_spec)
    pretrained = pretrained or default_pretrained(name)
    model, tokenizer = create_model(name, pretrained, device, warn)
    return ClipEncoder(model, tokenizer, name, pretrained, device)
