"""lzt: training-free zero-shot multi-label image tagging (CoMC, ICML 2024).

A language model writes sentences that mention your labels, the CLIP text encoder embeds them,
and a linear classifier learns the labels from text alone; images are then encoded, mapped across
the image/text modality gap and scored by that classifier.

    import lzt

    with lzt.Tagger.load() as tagger:                 # the built-in `everyday` vocabulary
        for record in tagger.tag(["photos/"]):
            print(record.path, record.tags)

    classifier = lzt.build_classifier(["cat", "dog", "bicycle"], out="pets.lzt")

Configuration objects and errors import at once; the names that need the model side (torch,
open_clip) load their module on first use, so that `import lzt`, `lzt --help` and the text-only
commands start in a fraction of a second.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lzt.config import (
    AdaptConfig,
    Calibration,
    Convention,
    DatasetFormat,
    DecodeOptions,
    Decoder,
    ExtraTags,
    InputConfig,
    KeywordSource,
    KeywordTree,
    LLMConfig,
    Mapping,
    MappingConfig,
    OnExisting,
    OutputOptions,
    RayConfig,
    Resize,
    ScoringConfig,
    Selection,
    TagOrder,
    TrainConfig,
    Unannotated,
    VideoAggregate,
    VideoOptions,
    XmpNaming,
    keyword_tree,
)
from lzt.errors import (
    ClassifierFileError,
    InputError,
    LLMError,
    LztError,
    LztWarning,
    UsageError,
    WeightsUnavailable,
)
from lzt.record import Record, Segment
from lzt.version import __version__

# Name -> the module that defines it, imported when the name is first used.
_LAZY = {
    "Tagger": "lzt.tagging.tagger", "Embeddings": "lzt.tagging.tagger", "select_tags": "lzt.tagging.selection",
    "build_classifier": "lzt.classifier.build", "load_classifier": "lzt.classifier.artifact",
    "save_classifier": "lzt.classifier.artifact", "Classifier": "lzt.classifier.artifact",
    "BuildReport": "lzt.classifier.artifact",
    "generate_corpus": "lzt.text.generate", "GenerationStats": "lzt.text.corpus",
    "register_backend": "lzt.text.backends.base", "load_vocabulary": "lzt.vocab.vocabulary", "read_translations": "lzt.vocab.translations",
    "translated_names": "lzt.vocab.translations", "read_parent_translations": "lzt.vocab.translations",
    "translated_parents": "lzt.vocab.translations", "stored_keyword_tree": "lzt.engines.shards",
    "Vocabulary": "lzt.vocab.vocabulary",
    "load_encoder": "lzt.model.loading", "ClipEncoder": "lzt.model.encoder",
    "evaluate": "lzt.eval.evaluate", "Evaluation": "lzt.eval.evaluate", "EvalResult": "lzt.eval.metrics",
    "make_writer": "lzt.output", "BackgroundWriter": "lzt.output.background", "register_format": "lzt.output.base", "WriteError": "lzt.output.base",
    "tag_shards": "lzt.engines.run", "rescore": "lzt.engines.run", "rescore_shards": "lzt.engines.run",
    "ShardRun": "lzt.engines.run", "read_shards": "lzt.engines.shards",
    # evaluation protocols, thresholds, keywords as labels, dataset import
    "TopK": "lzt.eval.metrics", "LabelledSet": "lzt.eval.dataset", "read_labelled_set": "lzt.eval.dataset",
    "fit_thresholds": "lzt.eval.thresholds", "Thresholds": "lzt.eval.thresholds", "read_keyword_labels": "lzt.eval.keywords",
    "KeywordLabels": "lzt.eval.keywords", "thresholds_from_keywords": "lzt.eval.keywords", "KeywordFit": "lzt.eval.keywords",
    "import_dataset": "lzt.eval.importers", "ImportReport": "lzt.eval.importers",
    # reviewing tags (the server needs the `review` extra)
    "ReviewStore": "lzt.review.store", "ReviewItem": "lzt.review.store", "PhotoQuery": "lzt.review.store",
    "Decision": "lzt.review.store", "Verdict": "lzt.review.store", "AddReport": "lzt.review.store",
    "review_items": "lzt.review.items", "read_tags_file": "lzt.review.items", "apply_review": "lzt.review.apply",
    "ApplyReport": "lzt.review.apply", "export_decisions": "lzt.review.apply", "read_decisions": "lzt.review.apply",
    "ReviewServer": "lzt.review.server", "review_app": "lzt.review.server",
    "adapt_classifier": "lzt.adapt.learning", "collect_evidence": "lzt.adapt.evidence", "Evidence": "lzt.adapt.evidence",
    "PhotoLabels": "lzt.adapt.evidence", "read_photo_labels": "lzt.adapt.sources",
    # caption habits, stats, search
    "add_extra_tags": "lzt.output.extra", "tag_stats": "lzt.output.stats", "TagStats": "lzt.output.stats",
    "FolderStats": "lzt.output.stats", "search": "lzt.tagging.search", "SearchResult": "lzt.tagging.search", "Match": "lzt.tagging.search",
    # per-label knowledge, composed sentences, the plausibility filter, corpus checks
    "load_knowledge": "lzt.vocab.knowledge", "Knowledge": "lzt.vocab.knowledge", "LabelKnowledge": "lzt.vocab.knowledge",
    "SentenceComposer": "lzt.text.compose", "PlausibilityFilter": "lzt.text.plausibility",
    "check_corpus": "lzt.text.check", "CorpusCheck": "lzt.text.check",
    # photo managers' keyword trees as vocabularies
    "import_keywords": "lzt.vocab.importers", "KeywordImport": "lzt.vocab.importers", "KeywordFormat": "lzt.vocab.importers",
}

__all__ = [
    # tagging
    "Tagger", "Record", "Embeddings", "ScoringConfig", "MappingConfig", "Mapping", "Calibration", "Selection", "select_tags",
    "DecodeOptions", "Decoder", "InputConfig", "Resize",
    # RAW photos and videos
    "VideoOptions", "VideoAggregate", "Segment",
    # building classifiers
    "build_classifier", "load_classifier", "save_classifier", "Classifier", "TrainConfig", "BuildReport",
    "generate_corpus", "GenerationStats", "LLMConfig", "register_backend", "load_vocabulary", "Vocabulary", "read_translations", "translated_names",
    "read_parent_translations", "translated_parents",
    "load_knowledge", "Knowledge", "LabelKnowledge", "SentenceComposer", "PlausibilityFilter", "check_corpus", "CorpusCheck",
    "import_keywords", "KeywordImport", "KeywordFormat",
    # models
    "load_encoder", "ClipEncoder",
    # evaluation
    "evaluate", "Evaluation", "EvalResult",
    "TopK", "Convention", "Unannotated", "LabelledSet", "read_labelled_set", "fit_thresholds", "Thresholds",
    "read_keyword_labels", "KeywordLabels", "KeywordSource", "thresholds_from_keywords", "KeywordFit",
    "import_dataset", "ImportReport", "DatasetFormat",
    # learning from corrections
    "adapt_classifier", "collect_evidence", "read_photo_labels", "Evidence", "PhotoLabels", "AdaptConfig",
    # sharded runs (Ray Data, Parquet shards)
    "tag_shards", "read_shards", "rescore", "rescore_shards", "ShardRun", "RayConfig", "stored_keyword_tree",
    # reviewing tags
    "ReviewStore", "ReviewItem", "PhotoQuery", "Decision", "Verdict", "AddReport", "review_items", "read_tags_file",
    "apply_review", "ApplyReport", "export_decisions", "read_decisions", "ReviewServer", "review_app",
    # output
    "make_writer", "BackgroundWriter", "OutputOptions", "OnExisting", "XmpNaming", "register_format", "WriteError",
    "KeywordTree", "keyword_tree",
    # caption habits, stats, search
    "TagOrder", "ExtraTags", "add_extra_tags", "tag_stats", "TagStats", "FolderStats", "search", "SearchResult", "Match",
    # errors and warnings
    "LztError", "UsageError", "InputError", "WeightsUnavailable", "ClassifierFileError", "LLMError", "LztWarning",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'lzt' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what type checkers and editors see; at run time __getattr__ loads them
    from lzt.adapt.evidence import Evidence, PhotoLabels, collect_evidence
    from lzt.adapt.learning import adapt_classifier
    from lzt.adapt.sources import read_photo_labels
    from lzt.classifier.artifact import BuildReport, Classifier, load_classifier, save_classifier
    from lzt.classifier.build import build_classifier
    from lzt.engines.run import ShardRun, rescore, rescore_shards, tag_shards
    from lzt.engines.shards import read_shards, stored_keyword_tree
    from lzt.eval.dataset import LabelledSet, read_labelled_set
    from lzt.eval.evaluate import Evaluation, evaluate
    from lzt.eval.importers import ImportReport, import_dataset
    from lzt.eval.keywords import KeywordFit, KeywordLabels, read_keyword_labels, thresholds_from_keywords
    from lzt.eval.metrics import EvalResult, TopK
    from lzt.eval.thresholds import Thresholds, fit_thresholds
    from lzt.model.encoder import ClipEncoder
    from lzt.model.loading import load_encoder
    from lzt.output import make_writer
    from lzt.output.base import WriteError, register_format
    from lzt.output.extra import add_extra_tags
    from lzt.output.stats import FolderStats, TagStats, tag_stats
    from lzt.review.apply import ApplyReport, apply_review, export_decisions, read_decisions
    from lzt.review.items import read_tags_file, review_items
    from lzt.review.server import ReviewServer, review_app
    from lzt.review.store import AddReport, Decision, PhotoQuery, ReviewItem, ReviewStore, Verdict
    from lzt.tagging.search import Match, SearchResult, search
    from lzt.tagging.selection import select_tags
    from lzt.tagging.tagger import Embeddings, Tagger
    from lzt.text.backends.base import register_backend
    from lzt.text.check import CorpusCheck, check_corpus
    from lzt.text.compose import SentenceComposer
    from lzt.text.corpus import GenerationStats
    from lzt.text.generate import generate_corpus
    from lzt.text.plausibility import PlausibilityFilter
    from lzt.vocab.importers import KeywordFormat, KeywordImport, import_keywords
    from lzt.vocab.knowledge import Knowledge, LabelKnowledge, load_knowledge
    from lzt.vocab.translations import read_parent_translations, read_translations, translated_names, translated_parents
    from lzt.vocab.vocabulary import Vocabulary, load_vocabulary
