"""The CoMC classifier: training on text embeddings, the artifact file, the default classifier."""

from lzt.classifier.artifact import BuildReport, Classifier, load_classifier, save_classifier
from lzt.classifier.build import build_classifier, train_on_corpus
from lzt.classifier.default import DEFAULT_LABELS, default_classifier
from lzt.classifier.training import train_classifier
from lzt.config import TrainConfig

__all__ = [
    "DEFAULT_LABELS", "BuildReport", "Classifier", "TrainConfig", "build_classifier", "default_classifier",
    "load_classifier", "save_classifier", "train_classifier", "train_on_corpus",
]
