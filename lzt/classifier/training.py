"""Training the CoMC linear classifier on text embeddings (COMC.md s.2, the reference code's
settings): no bias, fresh Gaussian noise at every step, the double ranking loss, Adam with one
warm-up epoch and a cosine schedule. Seeded with its own generator: same seed, same weights."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Callable

import torch

from lzt.config import TrainConfig


def ranking_loss(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Double ranking loss: sum over (positive p, negative n) of max(0, 1 - s_p + s_n), batch mean.

    Positives per sample are few (1..5), so the pairs are formed as (B, P, C) with P the largest
    positive count, instead of (B, C, C): memory stays linear in the vocabulary size. Pairs that
    do not count (padding, a positive on the negative side) get -inf inside the hinge, which
    makes them exactly 0 with a zero gradient: no (B, P, C) mask to build and multiply (2x faster
    on CPU than masking, same loss and gradients to the bit).
    """
    positive = targets.bool()
    max_pos = int(positive.sum(dim=1).max().item()) if positive.numel() else 0
    if max_pos == 0:
        return scores.sum() * 0.0
    # Each sample's positive scores, padded with +inf; its negative scores, positives at -inf.
    pos_scores = torch.where(positive, scores, torch.full_like(scores, -math.inf)).topk(max_pos, dim=1).values
    pos_scores = torch.where(torch.isfinite(pos_scores), pos_scores, torch.full_like(pos_scores, math.inf))
    negatives = scores.masked_fill(positive, -math.inf)
    hinge = torch.relu(1.0 - pos_scores.unsqueeze(2) + negatives.unsqueeze(1))  # (B, P, C)
    return hinge.sum(dim=(1, 2)).mean()


def learning_rate(epoch: int, config: TrainConfig) -> float:
    """Constant warm-up lr for the first epoch(s), then cosine decay over all epochs (Dassl)."""
    if epoch < config.warmup_epochs:
        return config.warmup_lr
    # Dassl steps its cosine successor only after the warm-up: the first epoch after it runs at
    # the full lr, and epoch e uses cos(pi * (e - warmup) / epochs).
    return 0.5 * config.lr * (1.0 + math.cos(math.pi * (epoch - config.warmup_epochs) / config.epochs))


def train_classifier(
    features: torch.Tensor,
    targets: torch.Tensor,
    config: TrainConfig = TrainConfig(),
    device: torch.device | str = "cpu",
    on_epoch: Callable[[int, float], None] | None = None,
) -> torch.Tensor:
    """Train W (C, D), no bias, on unit text embeddings (N, D) and 0/1 targets (N, C)."""
    device = torch.device(device)
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    n, dim = features.shape
    classes = targets.shape[1]
    layer = torch.nn.Linear(dim, classes, bias=False)
    with torch.no_grad():  # seeded init, independent of the global RNG
        bound = 1.0 / math.sqrt(dim)
        layer.weight.copy_(torch.rand(classes, dim, generator=generator) * 2 * bound - bound)
    layer.to(device)
    optimiser = torch.optim.Adam(layer.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=device.type == "cuda")
    x_all = features.float().to(device)
    y_all = targets.float().to(device)
    # The noise is drawn where it is used: on a GPU, drawing a (N, D) block per step on the host
    # and copying it over would take longer than the training itself. The CPU keeps its single
    # generator, so CPU builds stay bit-for-bit reproducible across versions.
    noise_generator = generator if device.type == "cpu" else torch.Generator(device=device).manual_seed(config.seed)
    for epoch in range(config.epochs):
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(epoch, config)
        order = torch.randperm(n, generator=generator).to(device)
        total = torch.zeros((), device=device)  # summed on the device: no host sync per step
        for start in range(0, n, config.batch_size):
            idx = order[start : start + config.batch_size]
            x = x_all[idx]
            # Fresh Gaussian noise every step stands in for the image/text modality gap.
            noise = torch.randn(x.shape, generator=noise_generator, device=device) * config.noise_std
            loss = ranking_loss(layer(x + noise), y_all[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += loss.detach() * len(idx)
        if on_epoch:
            on_epoch(epoch, float(total) / n)
    return layer.weight.detach().float().cpu().contiguous()


def training_settings(config: TrainConfig) -> dict:
    return asdict(config)
