"""A loaded CLIP model and what it needs around it: preprocessing, batched text and image
encoding (global and per-patch), and input sizes other than the model's own.

Everything returned is L2-normalised float32. The model runs in bf16 on CUDA, fp16 on an Apple
GPU (MPS) and fp32 on the CPU (lzt.model.loading.precision_for).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from lzt.config import InputConfig
from lzt.errors import InputError, UsageError
from lzt.model.dense import encode_global_and_local, local_branch_support


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


def _rgb(values: Sequence[float]) -> tuple[float, float, float]:
    red, green, blue = (float(v) for v in values)
    return red, green, blue


def preprocess_spec(model: Any, image_size: int | None = None, resize_mode: str = "shortest") -> PreprocessSpec:
    from open_clip.model import get_model_preprocess_cfg

    cfg = get_model_preprocess_cfg(model)
    size = cfg.get("size", 224)
    size = size[0] if isinstance(size, (tuple, list)) else size
    return PreprocessSpec(
        image_size=int(image_size or size),
        mean=_rgb(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073))),
        std=_rgb(cfg.get("std", (0.26862954, 0.26130258, 0.27577711))),
        resize_mode=resize_mode,
    )


def input_dtype(model: Any) -> torch.dtype:
    """The dtype the image tower takes: that of its first convolution or linear layer. open_clip's
    bf16 and fp16 modes keep some parameters in float32 (position embeddings, LayerNorms), so
    the model's first parameter does not say it."""
    for module in getattr(model, "visual", model).modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            return module.weight.dtype
    return next(model.parameters()).dtype


class ClipEncoder:
    """An open_clip model, its tokenizer and its preprocessing, with batched encoders."""

    def __init__(self, model: Any, tokenizer: Any, name: str, pretrained: str, device: torch.device):
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.pretrained = pretrained
        self.device = device
        self.dtype = input_dtype(model)
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
        return f"{self.name}|{weights}|{self.activation}|{self.preprocess.identity}"

    @property
    def activation(self) -> str:
        """`quickgelu` or `gelu`: OpenAI's weights need QuickGELU, and embeddings, caches and
        classifiers made with the other activation do not match."""
        from open_clip.transformer import QuickGELU

        return "quickgelu" if any(isinstance(module, QuickGELU) for module in self.model.modules()) else "gelu"

    def describe(self) -> str:
        """`device: cpu | model: ViT-B-16 (openai) | float32`: what a run uses, said up front."""
        device = str(self.device)
        if self.device.type == "cuda":
            device += f" ({torch.cuda.get_device_name(self.device)})"
        elif self.device.type == "mps":
            device += " (Apple GPU)"
        return f"device: {device} | model: {self.name} ({self.pretrained_id}) | {str(self.dtype).replace('torch.', '')}"

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
        """Whether the image tower supports CoMC's local branch (open_clip ViT or ResNet)."""
        return local_branch_support(self.model) is not None

    def encode_pixels_dense(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 (B, 3, H, W) -> unit global (B, D) and unit local tokens (B, T, D)."""
        return encode_global_and_local(self.model, self.normalise_pixels(pixels))

    def check_pixels(self, pixels: object) -> torch.Tensor:
        """The pixels the encoder takes, or an InputError saying what was expected instead of a
        shape error from inside the vision tower."""
        size = self.preprocess.image_size
        expected = f"a uint8 tensor of shape (batch, 3, {size}, {size})"
        if not isinstance(pixels, torch.Tensor):
            raise InputError(f"expected {expected}, got {type(pixels).__name__}")
        if pixels.dtype != torch.uint8:
            raise InputError(f"expected {expected}, got dtype {str(pixels.dtype).replace('torch.', '')}")
        if pixels.ndim != 4 or pixels.shape[1] != 3 or tuple(pixels.shape[2:]) != (size, size):
            raise InputError(f"expected {expected}, got shape {tuple(pixels.shape)}")
        if pixels.shape[0] == 0:
            raise InputError(f"expected {expected}, got an empty batch")
        return pixels

    def set_input(self, config: InputConfig) -> None:
        """A larger (or smaller) input than the model's default, and how images are fitted to it."""
        if config.image_size and config.image_size != self.preprocess.image_size:
            resize_position_embeddings(self.model, config.image_size)
        self.preprocess = preprocess_spec(self.model, config.image_size, config.resize.value)


def _interpolate_grid(embedding: torch.Tensor, prefix: int, new_grid: int) -> torch.Tensor:
    """(prefix + g*g, C) position embeddings -> (prefix + new_grid**2, C), bicubic on the grid."""
    head, grid = embedding[:prefix], embedding[prefix:]
    old = round(grid.shape[0] ** 0.5)
    grid = grid.reshape(1, old, old, -1).permute(0, 3, 1, 2).float()
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode="bicubic", align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(new_grid * new_grid, -1).to(embedding.dtype)
    return torch.cat([head, grid])


def resize_position_embeddings(model: Any, image_size: int) -> None:
    """Let a ViT or ResNet tower take `image_size` inputs by interpolating its position grid."""
    visual = model.visual
    if hasattr(visual, "attnpool"):  # ResNet: the attention pool sees a (size/32)^2 grid
        if image_size % 32:
            raise UsageError("`InputConfig.image_size` must be a multiple of 32 for ResNet models")
        pool = visual.attnpool
        pool.positional_embedding = torch.nn.Parameter(
            _interpolate_grid(pool.positional_embedding.data, 1, image_size // 32), requires_grad=False
        )
    elif hasattr(visual, "positional_embedding") and hasattr(visual, "conv1"):
        patch = visual.conv1.kernel_size[0]
        if image_size % patch:
            raise UsageError(f"`InputConfig.image_size` must be a multiple of the patch size ({patch})")
        prefix = visual.positional_embedding.shape[0] - (visual.grid_size[0] * visual.grid_size[1])
        visual.positional_embedding = torch.nn.Parameter(
            _interpolate_grid(visual.positional_embedding.data, prefix, image_size // patch), requires_grad=False
        )
        visual.grid_size = (image_size // patch, image_size // patch)
    else:
        raise UsageError("`InputConfig.image_size` is supported for open_clip ViT and ResNet towers only")
    visual.image_size = (image_size, image_size)
    if isinstance(getattr(visual, "preprocess_cfg", None), dict):
        visual.preprocess_cfg["size"] = (image_size, image_size)


