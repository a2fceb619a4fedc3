"""Matching words someone else wrote (a dataset's labels, a photo's keywords) to a vocabulary."""

from __future__ import annotations

import re

from lzt.vocab.forms import plural
from lzt.vocab.vocabulary import Vocabulary

_NOT_ALNUM = re.compile(r"[\W_]+")


def _compact(term: str) -> str:
    """`Dining-Table`, `dining_table`, `diningtable` -> `diningtable` (VOC writes `diningtable`)."""
    return _NOT_ALNUM.sub("", term.lower())


class LabelMatcher:
    """Finds the vocabulary label a term means, trying in turn: the name (any case), a synonym,
    the name or a synonym with spaces and punctuation removed (`pottedplant`), and their plurals
    (`dogs`). A term that two labels claim at the same step matches neither of them."""

    def __init__(self, vocabulary: Vocabulary):
        self.names = vocabulary.names
        steps: list[list[tuple[str, str]]] = [
            [(label.name.lower(), label.name) for label in vocabulary.labels],
            [(s.lower(), label.name) for label in vocabulary.labels for s in label.synonyms],
            [(_compact(t), label.name) for label in vocabulary.labels for t in label.terms],
            [(_compact(plural(t)), label.name) for label in vocabulary.labels for t in label.terms],
        ]
        self._tables = [self._unambiguous(pairs) for pairs in steps]

    @staticmethod
    def _unambiguous(pairs: list[tuple[str, str]]) -> dict[str, str]:
        table: dict[str, str] = {}
        claimed_twice: set[str] = set()
        for key, name in pairs:
            if key in table and table[key] != name:
                claimed_twice.add(key)
            table.setdefault(key, name)
        return {key: name for key, name in table.items() if key not in claimed_twice and key}

    def match(self, term: str) -> str | None:
        """The label `term` names, or None."""
        term = " ".join(str(term).split())
        keys = (term.lower(), term.lower(), _compact(term), _compact(term))
        for key, table in zip(keys, self._tables):
            if key in table:
                return table[key]
        return None
