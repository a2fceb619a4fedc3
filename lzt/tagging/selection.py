"""Which tags a record keeps, in which order and under which names: top-k, thresholds,
exclusions, order, renames."""

from __future__ import annotations

import math
from typing import Sequence

import torch

from lzt.config import Selection, TagOrder

Tags = list[tuple[str, float]]


def select_tags(scores: torch.Tensor, labels: Sequence[str], selection: Selection) -> list[Tags]:
    """Best-first (label, score) lists, one per row of `scores`; scores rounded to 4 decimals."""
    values, indices = top_scores(scores, labels, selection)
    return tags_from_top(values, indices, labels, selection)


def top_scores(scores: torch.Tensor, labels: Sequence[str], selection: Selection) -> tuple[torch.Tensor, torch.Tensor]:
    """The device half of select_tags: (B, k) scores and label indices of each row's best labels
    that pass their thresholds, -inf where fewer qualify. Only these small tensors need to reach
    the host, not the (B, C) scores."""
    thresholds = torch.tensor(selection.thresholds(labels), device=scores.device)
    masked = scores.masked_fill(~(scores >= thresholds), -math.inf)
    k = len(labels) if selection.topk is None else min(selection.topk, len(labels))
    return masked.topk(k, dim=1)


def tags_from_top(values: torch.Tensor, indices: torch.Tensor, labels: Sequence[str], selection: Selection) -> list[Tags]:
    """The host half of select_tags: top_scores' tensors -> named, rounded tag lists, best
    first or in the vocabulary's order (`Selection.order`)."""
    names = [selection.output_name(label) for label in labels]
    by_vocabulary = selection.order is TagOrder.vocabulary
    rows = []
    for row_values, row_indices in zip(values.cpu().tolist(), indices.cpu().tolist()):
        kept = [(i, v) for v, i in zip(row_values, row_indices) if v != -math.inf]
        if by_vocabulary:
            kept.sort()  # label index: the vocabulary's order
        rows.append([(names[i], round(v, 4)) for i, v in kept])
    return rows
