"""Precision-recall curves for `lzt eval --plot` (matplotlib is the optional `plot` extra)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lzt.errors import LztError
from lzt.eval.metrics import EvalResult


def precision_recall_curve(scores: np.ndarray, positives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step curve points (recall, precision) at every distinct score threshold, best first."""
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, sorted_pos = scores[order], positives[order].astype(bool)
    distinct = np.r_[np.where(np.diff(sorted_scores))[0], len(sorted_scores) - 1]
    true_pos = np.cumsum(sorted_pos)[distinct]
    precision = true_pos / (distinct + 1)
    recall = true_pos / max(1, positives.sum())
    return np.r_[0.0, recall], np.r_[1.0, precision]


def plot_pr_curves(
    result: EvalResult, scores: np.ndarray, targets: np.ndarray, path: Path, per_side: int = 5, note: str = "",
    ignored: np.ndarray | None = None,
) -> None:
    """The `per_side` best and worst labels (by AP, among labels with positives) on one figure;
    `ignored` pairs (unknown truth) are left out of the curves."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise LztError("plotting needs matplotlib: pip install 'lzt[plot]'") from exc
    ranked = sorted((i for i in range(len(result.labels)) if result.positives[i] > 0), key=lambda i: -result.ap[i])
    best, worst = ranked[:per_side], ranked[-per_side:][::-1] if len(ranked) > per_side else []
    figure, axes = plt.subplots(1, 2 if worst else 1, figsize=(12 if worst else 6, 5), squeeze=False)
    for axis, group, title in ((axes[0][0], best, "best labels"), *(((axes[0][1], worst, "worst labels"),) if worst else ())):
        for i in group:
            keep = slice(None) if ignored is None else ~ignored[:, i]
            recall, precision = precision_recall_curve(scores[keep, i], targets[keep, i])
            axis.step(recall, precision, where="post", label=f"{result.labels[i]} (AP {100 * result.ap[i]:.1f})")
        axis.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title)
        axis.legend(loc="lower left", fontsize="small")
        axis.grid(alpha=0.3)
    figure.suptitle(
        f"mAP {100 * result.mean_ap:.2f} ({result.convention.value} convention), {result.labels_with_positives} labels with positives, "
        f"{result.images} images{note}"
    )
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
