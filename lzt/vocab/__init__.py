"""Vocabularies: label names, synonyms and plural forms; the built-in sets; the checker."""

from lzt.vocab.forms import article, join_phrases, plural, surface_forms
from lzt.vocab.matching import LabelMatcher
from lzt.vocab.vocabulary import (
    Label,
    Vocabulary,
    builtin_label_sets,
    label_lines,
    load_vocabulary,
    multi_hot,
    parse_vocabulary,
    resolve_vocabulary_file,
)

__all__ = [
    "Label", "LabelMatcher", "Vocabulary", "article", "builtin_label_sets", "join_phrases", "label_lines",
    "load_vocabulary", "multi_hot", "parse_vocabulary", "plural", "resolve_vocabulary_file",
    "surface_forms",
]
