"""Learning from corrections: adapt a text-trained classifier to photos a user confirmed.

    photos = read_photo_labels("decisions.jsonl")          # or a labelled set, or your own PhotoLabels
    with Tagger.load("c.lzt") as tagger:
        evidence = collect_evidence(tagger, photos)         # image embeddings + confirmed/rejected labels
    adapted = adapt_classifier(tagger.classifier, evidence)  # the same kind of classifier, same file format
    save_classifier(adapted, "c2.lzt")
"""

from lzt.adapt.evidence import Evidence, PhotoLabels, collect_evidence, evidence_targets
from lzt.adapt.learning import adapt_classifier, evidence_loss, mapped_features
from lzt.adapt.sources import SOURCES, dataset_photo_labels, decision_photo_labels, detect_source, read_photo_labels

__all__ = [
    "SOURCES", "Evidence", "PhotoLabels", "adapt_classifier", "collect_evidence", "dataset_photo_labels",
    "decision_photo_labels", "detect_source", "evidence_loss", "evidence_targets", "mapped_features", "read_photo_labels",
]
