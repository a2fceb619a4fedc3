"""Scoring a tagger on labelled images: mAP, per-label AP and top-k precision/recall/F1."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from lzt.config import DEFAULT_BATCH_SIZE, Calibration, Convention, Unannotated
from lzt.errors import LztError, UsageError, warn
from lzt.eval.dataset import LabelledSet, read_labelled_set, vocabulary_of
from lzt.eval.metrics import EvalResult, compute_metrics
from lzt.eval.thresholds import DEFAULT_MIN_POSITIVES, Thresholds, fit_thresholds
from lzt.model import RANDOM_WEIGHTS
from lzt.progress import Progress, no_progress
from lzt.tagging import DecodeOptions, Selection, Tagger, calibrate
from lzt.vocab import LabelMatcher, Vocabulary, load_vocabulary

RANDOM_WEIGHTS_NOTE = "RANDOM WEIGHTS (`pretrained` none): these figures are chance level and say nothing about lzt's quality."


@dataclass
class Evaluation:
    """metrics: the figures over every label; scores, targets (positives) and ignored (unknown
    pairs, or None) (N, C) of the images that were read; subset: the figures of the labels of
    `subset` ranked alone (None without one), subset_labels their names; skipped: (file, reason)
    of the images that could not be read; unknown_labels: dataset labels the classifier lacks ->
    occurrences; random_weights: True when the tagger ran without weights (the figures are then
    chance level), None for given scores."""

    metrics: EvalResult
    scores: np.ndarray
    targets: np.ndarray
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    random_weights: bool | None = None
    ignored: np.ndarray | None = None
    subset: EvalResult | None = None
    subset_labels: list[str] = field(default_factory=list)
    unknown_labels: dict[str, int] = field(default_factory=dict)
    unannotated: Unannotated = Unannotated.ignore

    def as_dict(self) -> dict:
        """The JSON object of `lzt eval --json`."""
        figures = {**self.metrics.as_dict(), "unannotated": self.unannotated.value, "unknown_labels": dict(sorted(self.unknown_labels.items()))}
        if self.subset is not None:
            figures["subset"] = self.subset.as_dict()
        figures["skipped"] = len(self.skipped)
        figures["random_weights"] = bool(self.random_weights)
        return figures

    def fit_thresholds(self, min_positives: int = DEFAULT_MIN_POSITIVES) -> Thresholds:
        """Per-label thresholds maximising F1 on these images (see lzt.eval.thresholds)."""
        return fit_thresholds(self.scores, self.targets, self.metrics.labels, ignored=self.ignored, min_positives=min_positives)


def evaluate(
    source: Tagger | np.ndarray | torch.Tensor,
    dataset: str | Path | LabelledSet,
    *,
    labels: Sequence[str] | Vocabulary | None = None,
    k: int | Sequence[int] = 3,
    subset: str | Path | Sequence[str] | Vocabulary | None = None,
    convention: Convention | str = Convention.lzt,
    unannotated: Unannotated | str = Unannotated.ignore,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
    decoding: DecodeOptions = DecodeOptions(),
    progress: Progress = no_progress,
    on_skipped: Callable[[Path, str], None] | None = None,
) -> Evaluation:
    """Evaluate a Tagger on a labelled set (its images are tagged here), or scores you already
    have: an (N, C) array in the dataset's image order, whose columns are `labels`.

    k: one k or several (`[3, 5]`): top-k figures for each, from one scoring pass.
    subset: labels (a vocabulary file, a built-in set name or a list) also evaluated alone, as in
        zero-shot (ZSL) protocols beside the generalised (GZSL) figures over every label: their
        columns are ranked among themselves for top-k, and per-image calibration is redone over
        them; the classifier and its mapping are the same.
    convention: whose AP and mAP (`Convention`); the mAP under every convention is reported too.
    unannotated: what labels a `negatives`-listing line lists neither way are (`Unannotated`).

    Dataset labels match the classifier's by name, synonym, compact spelling or plural (see
    read_labelled_set); labels it lacks are reported in an LztWarning and ignored. `image+label`
    calibration is computed over the whole set. An image that cannot be read is left out
    (Evaluation.skipped), and `on_skipped(file, reason)` hears of it at once."""
    convention, unannotated = Convention(convention), Unannotated(unannotated)
    vocabulary = _vocabulary(source, labels)
    names = vocabulary.names
    labelled = dataset if isinstance(dataset, LabelledSet) else read_labelled_set(dataset, vocabulary)
    _warn_about(labelled)
    subset_columns = _subset_columns(subset, vocabulary) if subset is not None else None
    if isinstance(source, Tagger):
        raw, kept, skipped = _score_files(source, labelled, batch_size, workers, decoding, progress, on_skipped)
        calibration, random_weights = source.scoring.calibration, source.encoder.pretrained == RANDOM_WEIGHTS
    else:
        raw = np.asarray(source.detach().cpu().numpy() if isinstance(source, torch.Tensor) else source, dtype=np.float64)
        if raw.shape != (len(labelled.files), len(names)):
            raise UsageError(f"expected scores of shape ({len(labelled.files)}, {len(names)}), got {raw.shape}")
        kept, skipped, random_weights, calibration = list(range(len(labelled.files))), [], None, Calibration.none
    positives, ignored = labelled.targets(names, unannotated)
    positives = positives[kept]
    ignored = None if ignored is None else ignored[kept]
    scores = _calibrated(raw, calibration)
    metrics = compute_metrics(scores, positives, names, k, ignored=ignored, convention=convention)
    evaluation = Evaluation(metrics, scores, positives, skipped, random_weights, ignored, unknown_labels=dict(labelled.unknown), unannotated=unannotated)
    if subset_columns is not None:
        columns = np.array(subset_columns)
        evaluation.subset_labels = [names[c] for c in subset_columns]
        evaluation.subset = compute_metrics(
            _calibrated(raw[:, columns], calibration), positives[:, columns], evaluation.subset_labels, k,
            ignored=None if ignored is None else ignored[:, columns], convention=convention,
        )
    return evaluation


def _vocabulary(source: Tagger | np.ndarray | torch.Tensor, labels: Sequence[str] | Vocabulary | None) -> Vocabulary:
    if isinstance(source, Tagger):
        return vocabulary_of(source.labels, source.classifier.synonyms)
    if labels is None or len(labels) == 0:
        raise UsageError("`labels` (the score columns) are required with given scores")
    return vocabulary_of(labels)


def _warn_about(labelled: LabelledSet) -> None:
    for label, count in sorted(labelled.unknown.items()):
        warn(f"dataset label {label!r} ({count} images) is not in the classifier's vocabulary; ignored")
    if labelled.conflicts:
        shown = ", ".join(sorted({label for _, label in labelled.conflicts})[:5])
        warn(f'{len(labelled.conflicts)} (image, label) pairs are listed both in "labels" and in "negatives" ({shown}); left out as unknown')


def _subset_columns(subset: str | Path | Sequence[str] | Vocabulary, vocabulary: Vocabulary) -> list[int]:
    """The classifier's columns of the `subset` labels, in the classifier's order."""
    wanted = load_vocabulary(subset)
    matcher = LabelMatcher(vocabulary)
    index = vocabulary.index()
    columns, missing = set(), []
    for label in wanted.labels:
        name = next((found for term in label.terms if (found := matcher.match(term)) is not None), None)
        if name is None:
            missing.append(label.name)
        else:
            columns.add(index[name])
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        warn(f"`subset` names {len(missing)} labels the classifier lacks ({shown}); left out of the subset")
    if not columns:
        raise UsageError("`subset` names no label of the classifier")
    return sorted(columns)


def _calibrated(raw: np.ndarray, calibration: Calibration) -> np.ndarray:
    if calibration is Calibration.none:
        return raw
    return calibrate(torch.from_numpy(np.ascontiguousarray(raw)), calibration).numpy()


def _score_files(
    tagger: Tagger, labelled: LabelledSet, batch_size: int, workers: int | None, decoding: DecodeOptions, progress: Progress,
    on_skipped: Callable[[Path, str], None] | None,
) -> tuple[np.ndarray, list[int], list[tuple[Path, str]]]:
    """Uncalibrated scores of every readable image (calibrated afterwards over all of them:
    per-label statistics need the whole set). One record per dataset line, in order."""
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
    return np.stack(rows), kept, skipped
