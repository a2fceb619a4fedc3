"""Evaluation: labelled sets, mAP (three conventions) and top-k metrics, precision-recall plots,
fitted thresholds, labels from a photo's own keywords, and importers of official dataset formats."""

from lzt.eval.dataset import LabelledSet, read_labelled_set
from lzt.eval.evaluate import RANDOM_WEIGHTS_NOTE, Evaluation, evaluate
from lzt.eval.metrics import EvalResult, TopK, average_precision, compute_metrics
from lzt.eval.thresholds import Thresholds, fit_thresholds

__all__ = [
    "RANDOM_WEIGHTS_NOTE", "EvalResult", "Evaluation", "LabelledSet", "Thresholds", "TopK", "average_precision",
    "compute_metrics", "evaluate", "fit_thresholds", "read_labelled_set",
]
