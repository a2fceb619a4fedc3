"""lzt: training-free zero-shot multi-label image tagging (CoMC, ICML 2024).

A language model writes sentences that mention your labels, the CLIP text encoder embeds them,
and a linear classifier learns the labels from text alone; images are then encoded, mapped across
the image/text modality gap and scored by that classifier.

    import lzt

    with lzt.Tagger.load() as tagger:                 # the built-in `everyday` vocabulary
        for record in tagger.tag(["photos/"]):
            print(record.path, record.tags)

    classifier = lzt.build_classifier(["cat", "dog", "bicycle"], out="pets.lzt")
"""

from lzt.classifier import BuildReport, Classifier, TrainConfig, build_classifier, load_classifier, save_classifier
from lzt.errors import (
    ClassifierFileError,
    InputError,
    LLMError,
    LztError,
    LztWarning,
    UsageError,
    WeightsUnavailable,
)
from lzt.eval import EvalResult, Evaluation, evaluate
from lzt.model import ClipEncoder, InputConfig, Resize, load_encoder
from lzt.output import OnExisting, OutputOptions, WriteError, XmpNaming, make_writer, register_format
from lzt.tagging import (
    Calibration,
    DecodeOptions,
    Embeddings,
    Mapping,
    MappingConfig,
    Record,
    ScoringConfig,
    Selection,
    Tagger,
    select_tags,
)
from lzt.text import GenerationStats, LLMConfig, generate_corpus, register_backend
from lzt.version import __version__
from lzt.vocab import Vocabulary, load_vocabulary

__all__ = [
    # tagging
    "Tagger", "Record", "Embeddings", "ScoringConfig", "MappingConfig", "Mapping", "Calibration", "Selection", "select_tags",
    "DecodeOptions", "InputConfig", "Resize",
    # building classifiers
    "build_classifier", "load_classifier", "save_classifier", "Classifier", "TrainConfig", "BuildReport",
    "generate_corpus", "GenerationStats", "LLMConfig", "register_backend", "load_vocabulary", "Vocabulary",
    # models
    "load_encoder", "ClipEncoder",
    # evaluation
    "evaluate", "Evaluation", "EvalResult",
    # output
    "make_writer", "OutputOptions", "OnExisting", "XmpNaming", "register_format", "WriteError",
    # errors and warnings
    "LztError", "UsageError", "InputError", "WeightsUnavailable", "ClassifierFileError", "LLMError", "LztWarning",
    "__version__",
]
