"""Evaluation: labelled sets, mAP and top-k metrics, precision-recall plots."""

from lzt.eval.dataset import LabelledSet, read_labelled_set
from lzt.eval.evaluate import RANDOM_WEIGHTS_NOTE, Evaluation, evaluate
from lzt.eval.metrics import EvalResult, average_precision, compute_metrics

__all__ = [
    "RANDOM_WEIGHTS_NOTE", "EvalResult", "Evaluation", "LabelledSet", "average_precision", "compute_metrics",
    "evaluate", "read_labelled_set",
]
