"""Score calibration (COMC.md s.5, SPARC): standardise scores so that labels and images compare.

- `image`: per image, z-score across labels. Works image by image (streaming-safe).
- `image+label`: then per label, z-score across the images scored together. The statistics come
  from the images of one batch (`lzt tag`) or of the whole set (`lzt eval`), so a label's score
  depends on what else is in the batch: use large batches, and never with a single image. It
  keeps each label's ranking of the images, so it cannot change mAP; it makes thresholds
  comparable across labels. The per-image step is the one that changes rankings.
"""

from __future__ import annotations

import torch

from lzt.config import Calibration

_EPS = 1e-6


def standardise_per_image(scores: torch.Tensor) -> torch.Tensor:
    """(B, C): each row to mean 0, std 1 across labels."""
    mean = scores.mean(dim=1, keepdim=True)
    std = scores.std(dim=1, keepdim=True, unbiased=False)
    return (scores - mean) / (std + _EPS)


def standardise_per_label(scores: torch.Tensor) -> torch.Tensor:
    """(B, C): each column to mean 0, std 1 across the images of the batch (needs B > 1)."""
    if scores.shape[0] < 2:
        return scores
    mean = scores.mean(dim=0, keepdim=True)
    std = scores.std(dim=0, keepdim=True, unbiased=False)
    return (scores - mean) / (std + _EPS)


def calibrate(scores: torch.Tensor, method: Calibration | str) -> torch.Tensor:
    method = Calibration(method)
    if method == Calibration.image:
        return standardise_per_image(scores)
    if method == Calibration.image_label:
        return standardise_per_label(standardise_per_image(scores))
    return scores
