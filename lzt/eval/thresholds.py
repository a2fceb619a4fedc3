"""Per-label thresholds fitted on labelled images: for `lzt tag --thresholds`.

Each label with at least `min_positives` positive images gets the threshold that maximises its
F1 on them (its own precision/recall trade-off); the others, too rare to fit one on, get the
fallback: the single threshold that maximises F1 over every (image, label) pair pooled. A
threshold lies halfway between the lowest score it keeps and the highest it drops, so that a
score a little off the labelled ones falls on the side its neighbours did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from lzt.config import DEFAULT_MIN_POSITIVES
from lzt.errors import LztError, UsageError
from lzt.files import atomic_write


@dataclass(frozen=True)
class Cut:
    """The best F1 of one set of (score, positive) pairs, and the threshold that reaches it."""

    threshold: float
    f1: float
    precision: float
    recall: float


def best_cut(scores: np.ndarray, positives: np.ndarray) -> Cut:
    """The threshold (keep scores >= it) that maximises F1; the highest one among equals.
    `positives` must hold at least one True."""
    order = np.argsort(-scores, kind="mergesort")
    ranked, hits = scores[order], positives[order].astype(bool)
    n_pos = int(hits.sum())
    ends = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]  # last index of each tie block
    true_pos = np.cumsum(hits)[ends]
    kept = ends + 1
    f1 = 2 * true_pos / (kept + n_pos)
    best = int(np.argmax(f1))
    below = ranked[ends[best] + 1] if ends[best] + 1 < len(ranked) else None
    lowest_kept = float(ranked[ends[best]])
    threshold = lowest_kept if below is None else (lowest_kept + float(below)) / 2
    # Taggers compare float32 scores with float32 thresholds: halfway must stay above `below` there.
    if below is not None and not np.float32(threshold) > np.float32(below):
        threshold = lowest_kept
    return Cut(threshold, float(f1[best]), float(true_pos[best] / kept[best]), float(true_pos[best] / n_pos))


@dataclass
class Thresholds:
    """Per-label thresholds: `values[i]` for `labels[i]`; `fitted[i]` False where the label had
    fewer than `min_positives` positives and got `fallback`. `f1`, `precision`, `recall`: on the
    labelled images, at each label's threshold; `positives`: its positive images."""

    labels: list[str]
    values: np.ndarray
    fitted: np.ndarray
    f1: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    positives: np.ndarray
    fallback: float
    min_positives: int

    def as_dict(self) -> dict[str, float]:
        """label -> threshold (what `Selection(per_label=...)` takes)."""
        return {label: float(value) for label, value in zip(self.labels, self.values)}

    def text(self, comment: str = "") -> str:
        """The `label: threshold` file `lzt tag --thresholds` reads, one line per label, with the
        fit's figures as comments."""
        lines = [f"# {line}" for line in comment.splitlines()]
        lines.append(
            f"# per-label F1-maximising thresholds (labels with >= {self.min_positives} positives); "
            f"others: the pooled-F1 fallback {self.fallback!r}"
        )
        for i, label in enumerate(self.labels):
            how = "fitted" if self.fitted[i] else "fallback"
            lines.append(
                f"{label}: {float(self.values[i])!r}  # {how}, {int(self.positives[i])} positives, "
                f"F1 {self.f1[i]:.3f} P {self.precision[i]:.3f} R {self.recall[i]:.3f}"
            )
        return "\n".join(lines) + "\n"

    def save(self, path: str | Path, comment: str = "") -> None:
        """Write `text(comment)` to `path` atomically."""
        text = self.text(comment)
        atomic_write(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def fit_thresholds(
    scores: np.ndarray, positives: np.ndarray, labels: Sequence[str], *, ignored: np.ndarray | None = None,
    min_positives: int = DEFAULT_MIN_POSITIVES,
) -> Thresholds:
    """Per-label thresholds maximising F1 on labelled scores (N, C), positives (N, C) and, when
    some pairs are unknown, an `ignored` (N, C) mask (those pairs take no part). Labels with
    fewer than `min_positives` positives get the threshold maximising F1 over all pairs pooled."""
    if min_positives < 1:
        raise UsageError("`min_positives` must be at least 1")
    scores = np.asarray(scores, dtype=np.float64)
    positives = np.asarray(positives).astype(bool)
    known = np.ones_like(positives) if ignored is None else ~np.asarray(ignored, dtype=bool)
    if not (positives & known).any():
        raise LztError("no positive (image, label) pair to fit thresholds on")
    pooled = best_cut(scores[known], positives[known])
    count = len(labels)
    values, f1, precision, recall = (np.full(count, math.nan) for _ in range(4))
    fitted = np.zeros(count, dtype=bool)
    n_pos = (positives & known).sum(axis=0)
    for c in range(count):
        column_scores, column_pos = scores[known[:, c], c], positives[known[:, c], c]
        if n_pos[c] >= min_positives:
            cut = best_cut(column_scores, column_pos)
            fitted[c] = True
        else:
            cut = _at(column_scores, column_pos, pooled.threshold)
        values[c], f1[c], precision[c], recall[c] = cut.threshold, cut.f1, cut.precision, cut.recall
    return Thresholds(list(labels), values, fitted, f1, precision, recall, n_pos, pooled.threshold, min_positives)


def _at(scores: np.ndarray, positives: np.ndarray, threshold: float) -> Cut:
    """F1, precision and recall of one label at a given threshold."""
    kept = scores >= threshold
    true_pos = int((kept & positives).sum())
    n_kept, n_pos = int(kept.sum()), int(positives.sum())
    precision = true_pos / n_kept if n_kept else 0.0
    recall = true_pos / n_pos if n_pos else 0.0
    f1 = 2 * true_pos / (n_kept + n_pos) if n_kept + n_pos else 0.0
    return Cut(threshold, f1, precision, recall)
