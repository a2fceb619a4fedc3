"""Multi-label metrics for `lzt eval`: mAP, per-label AP, and precision/recall/F1 at top-k.

Targets are positives (a bool array) and, optionally, an `ignored` mask: pairs whose truth is
unknown (a VOC "difficult" object, a label OpenImages-style annotators never verified). A pair
is a positive, a negative, or ignored.

AP and mAP follow one of three conventions (`Convention`). Read side by side with the papers'
evaluation code, they agree on binary targets without tied scores where every label has a
positive, and differ elsewhere by convention, not by bug:
- `lzt` (scikit-learn's `average_precision_score`): AP is the area under the step
  precision-recall curve, a block of tied scores forming one threshold; ignored pairs are left
  out; mAP averages the labels that have a positive (the others are reported, not averaged).
- `comc`: the code of CoMC and TaI-DPT (Dassl's evaluator, ASL's `average_precision`): images
  ranked by `numpy.argsort(scores)[::-1]` of float32 scores, tied scores taking the places that
  sort gives them;
  AP = sum of precision@rank at each positive / (positives + 1e-8), so a label without positives
  has AP 0 and mAP averages every label; any pair that is not a positive counts as a negative
  (their VOC loader keeps difficult objects as negatives).
- `mkt`: the code of MKT (`compute_AP`): ignored pairs dropped, images ranked by `torch.sort`
  (descending) of float32 scores, AP = sum of precision@rank at the positives / positives, AP 0
  for a label without positives, mAP averages every label. ML-GCN's code drops ignored pairs
  the same way (and divides by zero on a label without positives).
On binary targets without ties, `comc` and `mkt` mAP = `lzt` mAP x labels with positives / labels.

Top-k (the same under every convention): each image predicts its k best-scoring labels.
Per-class precision CP is the mean over labels of TP/predicted (0 for a label never predicted),
CR the mean of TP/positives over labels with positives; CF1 = 2 CP CR / (CP + CR). OP, OR, OF1
pool all labels before dividing (MKT's F1@k is OF1@k). A prediction on an ignored pair counts as
neither right nor wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from lzt.config import Convention


def average_precision(
    scores: np.ndarray, positives: np.ndarray, ignored: np.ndarray | None = None, convention: Convention | str = Convention.lzt,
) -> float:
    """AP of one label over N images under `convention`. With `lzt`, NaN when the label has no
    positive; the others give 0 then."""
    convention = Convention(convention)
    positives = np.asarray(positives).astype(bool)
    scores = np.asarray(scores)
    if convention is Convention.comc:
        return _ap_comc(scores, positives)
    if ignored is not None:
        keep = ~np.asarray(ignored, dtype=bool)
        scores, positives = scores[keep], positives[keep]
    return _ap_mkt(scores, positives) if convention is Convention.mkt else _ap_lzt(scores, positives)


def _ap_lzt(scores: np.ndarray, positives: np.ndarray) -> float:
    n_pos = int(positives.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, sorted_pos = scores[order], positives[order]
    # Only the last index of each run of tied scores is a threshold.
    distinct = np.r_[np.where(np.diff(sorted_scores))[0], len(sorted_scores) - 1]
    true_pos = np.cumsum(sorted_pos)[distinct]
    precision = true_pos / (distinct + 1)
    recall = true_pos / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _precision_at_positives(ranked_positives: np.ndarray) -> np.ndarray:
    """Precision at the rank of each positive, ranks taken in the given order (ties included)."""
    hits = np.cumsum(ranked_positives)
    ranks = np.arange(1, len(ranked_positives) + 1)
    return (hits / ranks)[ranked_positives]


def _ap_comc(scores: np.ndarray, positives: np.ndarray) -> float:
    # The sort call of their code, on their float32 logits: numpy's default (unstable) argsort, reversed.
    ranked = positives[np.argsort(np.asarray(scores, dtype=np.float32))[::-1]]
    return float(_precision_at_positives(ranked).sum() / (ranked.sum() + 1e-8))


def _ap_mkt(scores: np.ndarray, positives: np.ndarray) -> float:
    import torch

    n_pos = int(positives.sum())
    if n_pos == 0:
        return 0.0
    # Their predictions live in a float32 tensor, sorted by torch.
    order = torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32)).sort(descending=True)[1].numpy()
    return float(_precision_at_positives(positives[order]).sum() / n_pos)


def mean_average_precision(ap: np.ndarray, convention: Convention | str) -> float:
    """`lzt`: the mean over labels with a positive (non-NaN AP); NaN if there is none.
    `comc`/`mkt`: the mean over every label."""
    if Convention(convention) is Convention.lzt:
        return float(np.nanmean(ap)) if np.any(~np.isnan(ap)) else float("nan")
    return float(np.mean(ap)) if len(ap) else float("nan")


@dataclass(frozen=True)
class TopK:
    """Precision, recall and F1 when each image predicts its k best labels: per class (CP, CR,
    CF1) and overall (OP, OR, OF1)."""

    k: int
    cp: float
    cr: float
    cf1: float
    op: float
    or_: float
    of1: float

    def as_dict(self) -> dict[str, float]:
        """`CP@k` ... `OF1@k`, as `lzt eval --json` writes them."""
        k = self.k
        return {f"CP@{k}": self.cp, f"CR@{k}": self.cr, f"CF1@{k}": self.cf1, f"OP@{k}": self.op, f"OR@{k}": self.or_, f"OF1@{k}": self.of1}


@dataclass
class EvalResult:
    """The figures of an evaluation: per-label AP and positives, mAP under `convention` (and
    under every convention in `map_by_convention`), and top-k figures for each k asked.
    `k`, `cp` ... `of1` are those of the first k."""

    labels: list[str]
    ap: np.ndarray  # (C,) under `convention`; with lzt's, NaN where a label has no positive
    positives: np.ndarray  # (C,) count of positive images per label
    mean_ap: float
    topk: list[TopK]
    images: int
    convention: Convention = Convention.lzt
    map_by_convention: dict[str, float] = field(default_factory=dict)
    ignored: int = 0  # (image, label) pairs left out as unknown

    def at(self, k: int) -> TopK:
        """The top-k figures for this k (one of those asked)."""
        for figures in self.topk:
            if figures.k == k:
                return figures
        raise KeyError(f"no top-{k} figures (computed: {', '.join(str(t.k) for t in self.topk)})")

    @property
    def k(self) -> int:
        """The first k asked."""
        return self.topk[0].k

    @property
    def cp(self) -> float:
        """CP at the first k."""
        return self.topk[0].cp

    @property
    def cr(self) -> float:
        """CR at the first k."""
        return self.topk[0].cr

    @property
    def cf1(self) -> float:
        """CF1 at the first k."""
        return self.topk[0].cf1

    @property
    def op(self) -> float:
        """OP at the first k."""
        return self.topk[0].op

    @property
    def or_(self) -> float:
        """OR at the first k."""
        return self.topk[0].or_

    @property
    def of1(self) -> float:
        """OF1 at the first k."""
        return self.topk[0].of1

    @property
    def labels_with_positives(self) -> int:
        """How many labels have at least one positive image."""
        return int((self.positives > 0).sum())

    def as_dict(self) -> dict:
        """The JSON object of `lzt eval --json` (without `random_weights`)."""
        figures: dict = {
            "images": self.images,
            "labels": len(self.labels),
            "labels_with_positives": self.labels_with_positives,
            "convention": self.convention.value,
            "mAP": _number(self.mean_ap),
            "mAP_by_convention": {name: _number(value) for name, value in self.map_by_convention.items()},
        }
        for topk in self.topk:
            figures.update(topk.as_dict())
        figures["ignored_pairs"] = self.ignored
        figures["per_label"] = {
            label: {"AP": _number(ap), "positives": int(n)} for label, ap, n in zip(self.labels, self.ap, self.positives)
        }
        return figures


def _number(value: float) -> float | None:
    """JSON has no NaN: a figure that does not exist is null."""
    return None if np.isnan(value) else float(value)


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def topk_predictions(scores: np.ndarray, k: int) -> np.ndarray:
    """(N, C) bool: each row's k highest scores (ties broken by label order)."""
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="mergesort")[:, :k]
    predicted = np.zeros_like(scores, dtype=bool)
    np.put_along_axis(predicted, top, True, axis=1)
    return predicted


def topk_metrics(scores: np.ndarray, positives: np.ndarray, k: int, ignored: np.ndarray | None = None) -> TopK:
    """CP, CR, CF1, OP, OR, OF1 at k; predictions on ignored pairs are not counted."""
    positives = positives.astype(bool)
    predicted = topk_predictions(scores, k)
    if ignored is not None:
        predicted &= ~ignored.astype(bool)
    true_pos = (predicted & positives).sum(axis=0)
    n_pred = predicted.sum(axis=0)
    n_pos = positives.sum(axis=0)
    per_class_p = np.divide(true_pos, n_pred, out=np.zeros(scores.shape[1]), where=n_pred > 0)
    has_pos = n_pos > 0
    cp = float(per_class_p.mean()) if scores.shape[1] else 0.0
    cr = float((true_pos[has_pos] / n_pos[has_pos]).mean()) if has_pos.any() else 0.0
    op = float(true_pos.sum() / max(1, n_pred.sum()))
    or_ = float(true_pos.sum() / max(1, n_pos.sum()))
    return TopK(k, cp, cr, _f1(cp, cr), op, or_, _f1(op, or_))


def compute_metrics(
    scores: np.ndarray, targets: np.ndarray, labels: list[str], k: int | Sequence[int] = 3, *,
    ignored: np.ndarray | None = None, convention: Convention | str = Convention.lzt,
) -> EvalResult:
    """scores (N, C) real; targets (N, C) positives (bool or 0/1); ignored (N, C) bool or None:
    pairs of unknown truth. `k`: one k or several (top-k figures for each, from one ranking)."""
    convention = Convention(convention)
    positives = np.asarray(targets).astype(bool)
    if ignored is not None:
        ignored = np.asarray(ignored, dtype=bool) & ~positives  # a positive is never unknown
    ks = [k] if isinstance(k, int) else list(dict.fromkeys(k))
    if not ks or min(ks) < 1:
        raise ValueError("`k` must be at least 1")
    columns = range(scores.shape[1])
    aps = {
        c: np.array([average_precision(scores[:, i], positives[:, i], None if ignored is None else ignored[:, i], c) for i in columns])
        for c in Convention
    }
    maps = {c.value: mean_average_precision(aps[c], c) for c in Convention}
    return EvalResult(
        labels=list(labels), ap=aps[convention], positives=positives.sum(axis=0), mean_ap=maps[Convention(convention).value],
        topk=[topk_metrics(scores, positives, value, ignored) for value in ks], images=scores.shape[0], convention=convention,
        map_by_convention=maps,
        ignored=0 if ignored is None else int(ignored.sum()),
    )
