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
    Calibration,
    Convention,
    DatasetFormat,
    DecodeOptions,
    Decoder,
    InputConfig,
    KeywordSource,
    LLMConfig,
    Mapping,
    MappingConfig,
    OnExisting,
    OutputOptions,
    RayConfig,
    Resize,
    ScoringConfig,
    Selection,
    TrainConfig,
    Unannotated,
    XmpNaming,
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
from lzt.record import Record
from lzt.version import __version__

# Name -> the module that defines it, imported when the name is first used.
_LAZY = {
    "Tagger": "lzt.tagging.tagger", "Embeddings": "lzt.tagging.tagger", "select_tags": "lzt.tagging.selection",
    "build_classifier": "lzt.classifier.build", "load_classifier": "lzt.classifier.artifact",
    "save_classifier": "lzt.classifier.artifact", "Classifier": "lzt.classifier.artifact",
    "BuildReport": "lzt.classifier.artifact",
    "generate_corpus": "lzt.text.generate", "GenerationStats": "lzt.text.corpus",
    "register_backend": "lzt.text.backends.base", "load_vocabulary": "lzt.vocab.vocabulary",
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
    # per-label knowledge, composed sentences, the plausibility filter, corpus checks
    "load_knowledge": "lzt.vocab.knowledge", "Knowledge": "lzt.vocab.knowledge", "LabelKnowledge": "lzt.vocab.knowledge",
    "SentenceComposer": "lzt.text.compose", "PlausibilityFilter": "lzt.text.plausibility",
    "check_corpus": "lzt.text.check", "CorpusCheck": "lzt.text.check",
}

__all__ = [
    # tagging
    "Tagger", "Record", "Embeddings", "ScoringConfig", "MappingConfig", "Mapping", "Calibration", "Selection", "select_tags",
    "DecodeOptions", "Decoder", "InputConfig", "Resize",
    # building classifiers
    "build_classifier", "load_classifier", "save_classifier", "Classifier", "TrainConfig", "BuildReport",
    "generate_corpus", "GenerationStats", "LLMConfig", "register_backend", "load_vocabulary", "Vocabulary",
    "load_knowledge", "Knowledge", "LabelKnowledge", "SentenceComposer", "PlausibilityFilter", "check_corpus", "CorpusCheck",
    # models
    "load_encoder", "ClipEncoder",
    # evaluation
    "evaluate", "Evaluation", "EvalResult",
    "TopK", "Convention", "Unannotated", "LabelledSet", "read_labelled_set", "fit_thresholds", "Thresholds",
    "read_keyword_labels", "KeywordLabels", "KeywordSource", "thresholds_from_keywords", "KeywordFit",
    "import_dataset", "ImportReport", "DatasetFormat",
    # sharded runs (Ray Data, Parquet shards)
    "tag_shards", "read_shards", "rescore", "rescore_shards", "ShardRun", "RayConfig",
    # output
    "make_writer", "BackgroundWriter", "OutputOptions", "OnExisting", "XmpNaming", "register_format", "WriteError",
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
    from lzt.classifier.artifact import BuildReport, Classifier, load_classifier, save_classifier
    from lzt.classifier.build import build_classifier
    from lzt.engines.run import ShardRun, rescore, rescore_shards, tag_shards
    from lzt.engines.shards import read_shards
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
    from lzt.tagging.selection import select_tags
    from lzt.tagging.tagger import Embeddings, Tagger
    from lzt.text.backends.base import register_backend
    from lzt.text.check import CorpusCheck, check_corpus
    from lzt.text.compose import SentenceComposer
    from lzt.text.corpus import GenerationStats
    from lzt.text.generate import generate_corpus
    from lzt.text.plausibility import PlausibilityFilter
    from lzt.vocab.knowledge import Knowledge, LabelKnowledge, load_knowledge
    from lzt.vocab.vocabulary import Vocabulary, load_vocabulary
