"""Scoring a tagger on labelled images: mAP, per-label AP and top-k precision/recall/F1."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from lzt.config import DEFAULT_BATCH_SIZE
from lzt.errors import LztError, UsageError, warn
from lzt.eval.dataset import LabelledSet, read_labelled_set
from lzt.eval.metrics import EvalResult, compute_metrics
from lzt.model import RANDOM_WEIGHTS
from lzt.progress import Progress, no_progress
from lzt.tagging import DecodeOptions, Selection, Tagger, calibrate
from lzt.vocab import multi_hot

RANDOM_WEIGHTS_NOTE = "RANDOM WEIGHTS (`pretrained` none): these figures are chance level and say nothing about lzt's quality."


@dataclass
class Evaluation:
    """metrics: the figures; scores and targets (N, C) of the images that were read;
    skipped: (file, reason) of the images that could not be; random_weights: True when the
    tagger ran without weights (the figures are then chance level), None for given scores."""

    metrics: EvalResult
    scores: np.ndarray
    targets: np.ndarray
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    random_weights: bool | None = None

    def as_dict(self) -> dict:
        """The JSON object of `lzt eval --json`."""
        return {**self.metrics.as_dict(), "random_weights": bool(self.random_weights)}


def evaluate(
    source: Tagger | np.ndarray | torch.Tensor,
    dataset: str | Path | LabelledSet,
    *,
    labels: Sequence[str] | None = None,
    k: int = 3,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
    decoding: DecodeOptions = DecodeOptions(),
    progress: Progress = no_progress,
    on_skipped: Callable[[Path, str], None] | None = None,
) -> Evaluation:
    """Evaluate a Tagger on a labelled set (its images are tagged here), or scores you already
    have: an (N, C) array in the dataset's image order, whose columns are `labels`.

    Dataset labels match the classifier's case-insensitively; labels it lacks are reported in an
    LztWarning and ignored. `image+label` calibration is computed over the whole set. An image
    that cannot be read is left out (Evaluation.skipped), and `on_skipped(file, reason)` hears
    of it at once."""
    names = list(source.labels) if isinstance(source, Tagger) else list(labels or [])
    if not names:
        raise UsageError("`labels` (the score columns) are required with given scores")
    labelled = dataset if isinstance(dataset, LabelledSet) else read_labelled_set(dataset, names)
    for label, count in sorted(labelled.unknown.items()):
        warn(f"dataset label {label!r} ({count} images) is not in the classifier's vocabulary; ignored")
    if isinstance(source, Tagger):
        scores, kept, skipped = _score_files(source, labelled, batch_size, workers, decoding, progress, on_skipped)
        random_weights = source.encoder.pretrained == RANDOM_WEIGHTS
    else:
        scores = np.asarray(source.detach().cpu().numpy() if isinstance(source, torch.Tensor) else source, dtype=np.float64)
        if scores.shape != (len(labelled.files), len(names)):
            raise UsageError(f"expected scores of shape ({len(labelled.files)}, {len(names)}), got {scores.shape}")
        kept, skipped, random_weights = list(range(len(labelled.files))), [], None
    targets = multi_hot([labelled.labels[i] for i in kept], names)
    return Evaluation(compute_metrics(scores, targets, names, k), scores, targets, skipped, random_weights)


def _score_files(
    tagger: Tagger, labelled: LabelledSet, batch_size: int, workers: int | None, decoding: DecodeOptions, progress: Progress,
    on_skipped: Callable[[Path, str], None] | None,
) -> tuple[np.ndarray, list[int], list[tuple[Path, str]]]:
    """Uncalibrated scores of every readable image, calibrated afterwards over all of them:
    per-label statistics need the whole set. One record per dataset line, in order."""
    rows: list[np.ndarray] = []
    kept: list[int] = []
    skipped: list[tuple[Path, str]] = []
    records = tagger.tag_files(
        labelled.files, Selection(topk=1), batch_size=batch_size, workers=workers, decoding=decoding,
        keep_scores=True, calibrate=False,
    )
    with progress("scoring", len(labelled.files), "images") as advance, contextlib.closing(records):
        for index, record in enumerate(records):
            if record.error is not None or record.scores is None:
                skipped.append((labelled.files[index], record.error or "no scores"))
                if on_skipped is not None:
                    on_skipped(labelled.files[index], record.error or "no scores")
            else:
                rows.append(record.scores.numpy())
                kept.append(index)
            advance(1)
    if not rows:
        raise LztError("no image of the dataset could be read")
    scores = calibrate(torch.from_numpy(np.stack(rows)), tagger.scoring.calibration).numpy()
    return scores, kept, skipped
