"""Which tags a record keeps, and under which names: top-k, thresholds, exclusions, renames;
and the small `label: value` files users keep them in."""

from __future__ import annotations

import math
from typing import Sequence

import torch

from lzt.config import Selection

Tags = list[tuple[str, float]]


def select_tags(scores: torch.Tensor, labels: Sequence[str], selection: Selection) -> list[Tags]:
    """Best-first (label, score) lists, one per row of `scores`; scores rounded to 4 decimals."""
    thresholds = torch.tensor(selection.thresholds(labels), device=scores.device)
    masked = scores.masked_fill(~(scores >= thresholds), -math.inf)
    k = len(labels) if selection.topk is None else min(selection.topk, len(labels))
    values, indices = masked.topk(k, dim=1)
    names = [selection.rename.get(label, label) for label in labels]
    return [
        [(names[i], round(v, 4)) for v, i in zip(row_values, row_indices) if v != -math.inf]
        for row_values, row_indices in zip(values.cpu().tolist(), indices.cpu().tolist())
    ]
