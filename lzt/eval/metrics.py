"""Multi-label metrics for `lzt eval`: mAP, per-label AP, and precision/recall/F1 at top-k.

Conventions (those of the multi-label recognition literature, e.g. ML-GCN, TaI-DPT, CoMC):
- AP of a label: area under its precision-recall curve as a step function, with tied scores
  forming one threshold (scikit-learn's `average_precision_score`). mAP averages the labels that
  have at least one positive image; labels without positives are reported but not averaged.
- Top-k: each image predicts its k best-scoring labels. Per-class precision CP is the mean over
  labels of TP/predicted (0 for a label never predicted), CR the mean of TP/positives over labels
  with positives; CF1 = 2 CP CR / (CP + CR). OP, OR, OF1 pool all labels before dividing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    """AP of one label over N images; NaN when the label has no positive."""
    positives = positives.astype(bool)
    n_pos = int(positives.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, sorted_pos = scores[order], positives[order]
    # Only the last index of each run of tied scores is a threshold.
    distinct = np.r_[np.where(np.diff(sorted_scores))[0], len(sorted_scores) - 1]
    true_pos = np.cumsum(sorted_pos)[distinct]
    predicted = distinct + 1
    precision = true_pos / predicted
    recall = true_pos / n_pos
    recall_steps = np.diff(np.r_[0.0, recall])
    return float(np.sum(recall_steps * precision))


@dataclass
class EvalResult:
    """The figures of an evaluation: per-label AP and positives, mAP over labels with positives,
    and top-k CP/CR/CF1 (per label) and OP/OR/OF1 (pooled)."""

    labels: list[str]
    ap: np.ndarray  # (C,) NaN where a label has no positive
    positives: np.ndarray  # (C,) count of positive images per label
    mean_ap: float
    k: int
    cp: float
    cr: float
    cf1: float
    op: float
    or_: float
    of1: float
    images: int

    def as_dict(self) -> dict:
        """The JSON object of `lzt eval --json` (without `random_weights`)."""
        return {
            "images": self.images,
            "mAP": self.mean_ap,
            f"CP@{self.k}": self.cp, f"CR@{self.k}": self.cr, f"CF1@{self.k}": self.cf1,
            f"OP@{self.k}": self.op, f"OR@{self.k}": self.or_, f"OF1@{self.k}": self.of1,
            "per_label": {
                label: {"AP": None if np.isnan(ap) else float(ap), "positives": int(n)}
                for label, ap, n in zip(self.labels, self.ap, self.positives)
            },
        }


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def topk_predictions(scores: np.ndarray, k: int) -> np.ndarray:
    """(N, C) bool: each row's k highest scores (ties broken by label order)."""
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="mergesort")[:, :k]
    predicted = np.zeros_like(scores, dtype=bool)
    np.put_along_axis(predicted, top, True, axis=1)
    return predicted


def compute_metrics(scores: np.ndarray, targets: np.ndarray, labels: list[str], k: int = 3) -> EvalResult:
    """scores (N, C) real; targets (N, C) 0/1."""
    targets = targets.astype(bool)
    ap = np.array([average_precision(scores[:, c], targets[:, c]) for c in range(scores.shape[1])])
    positives = targets.sum(axis=0)
    mean_ap = float(np.nanmean(ap)) if np.any(~np.isnan(ap)) else float("nan")
    predicted = topk_predictions(scores, k)
    true_pos = (predicted & targets).sum(axis=0)
    n_pred = predicted.sum(axis=0)
    per_class_p = np.divide(true_pos, n_pred, out=np.zeros(len(labels)), where=n_pred > 0)
    has_pos = positives > 0
    cp = float(per_class_p.mean())
    cr = float((true_pos[has_pos] / positives[has_pos]).mean()) if has_pos.any() else 0.0
    op = float(true_pos.sum() / max(1, n_pred.sum()))
    or_ = float(true_pos.sum() / max(1, positives.sum()))
    return EvalResult(
        labels=labels, ap=ap, positives=positives, mean_ap=mean_ap, k=k,
        cp=cp, cr=cr, cf1=_f1(cp, cr), op=op, or_=or_, of1=_f1(op, or_), images=scores.shape[0],
    )
