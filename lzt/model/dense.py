"""Global and per-location (local) image embeddings from one forward pass, training-free.

CoMC's local branch (COMC.md s.3) for the two open_clip tower families:
- ResNet (ModifiedResNet): each spatial token of the last feature map goes through the
  attention pool's value and output projections only (no attention, no positional embedding).
- ViT (VisionTransformer): each patch token entering the last block goes through that block's
  pre-norm and the value path of its attention (value projection, then output projection),
  skipping the attention weights and the MLP, then the tower's final norm and projection.
Both give tokens in the joint embedding space, scored exactly like the global embedding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def local_branch_support(model) -> str | None:
    """`resnet`, `vit`, or None when the tower is of another kind (timm, CoCa pooling...)."""
    visual = getattr(model, "visual", None)
    if visual is None:
        return None
    if hasattr(visual, "attnpool") and hasattr(visual, "layer4"):
        return "resnet"
    transformer = getattr(visual, "transformer", None)
    if (
        transformer is not None
        and getattr(visual, "attn_pool", None) is None
        and getattr(visual, "proj", None) is not None
        and hasattr(visual, "_embeds")
        and isinstance(getattr(transformer.resblocks[-1], "attn", None), torch.nn.MultiheadAttention)
    ):
        return "vit"
    return None


def _resnet(visual, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = visual.stem(x)
    for layer in (visual.layer1, visual.layer2, visual.layer3, visual.layer4):
        x = layer(x)
    global_features = visual.attnpool(x)
    pool = visual.attnpool
    tokens = x.flatten(2).transpose(1, 2)  # (B, HW, C)
    tokens = pool.c_proj(pool.v_proj(tokens))
    return global_features, tokens


def _vit(visual, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = visual._embeds(x)
    transformer = visual.transformer
    if not transformer.batch_first:
        x = x.transpose(0, 1)
    for block in transformer.resblocks[:-1]:
        x = block(x)
    last = transformer.resblocks[-1]
    # Local path: value projection of the last attention, then its output projection.
    attn = last.attn
    width = attn.embed_dim
    v_weight = attn.in_proj_weight[2 * width :]
    v_bias = attn.in_proj_bias[2 * width :] if attn.in_proj_bias is not None else None
    values = F.linear(last.ln_1(x), v_weight, v_bias)
    local = attn.out_proj(values)
    x = last(x)
    if not transformer.batch_first:
        x, local = x.transpose(0, 1), local.transpose(0, 1)
    pooled, _ = visual._pool(x)
    global_features = pooled @ visual.proj
    prefix = getattr(visual, "num_prefix_tokens", 1) if hasattr(visual, "num_prefix_tokens") else 1
    tokens = visual.ln_post(local[:, prefix:]) @ visual.proj
    return global_features, tokens


@torch.inference_mode()
def encode_global_and_local(model, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised model input (B, 3, H, W) -> unit global (B, D) and unit local (B, T, D)."""
    kind = local_branch_support(model)
    if kind is None:
        raise ValueError("this model's image tower has no supported local branch")
    global_features, tokens = (_resnet if kind == "resnet" else _vit)(model.visual, pixels)
    return F.normalize(global_features.float(), dim=-1), F.normalize(tokens.float(), dim=-1)
