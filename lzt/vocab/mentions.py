"""Which labels a sentence really mentions: the verification step of every corpus sentence, and
the check that a knowledge phrase ("a bowl of rice", "at a wedding") names its own label."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lzt.vocab.forms import surface_forms
from lzt.vocab.vocabulary import Vocabulary


def form_key(text: str) -> str:
    """A term as mentions compare it: lower case, runs of spaces and hyphens as one space."""
    return re.sub(r"[\s\-]+", " ", text.lower()).strip()


@dataclass(frozen=True)
class Mention:
    """One label mention in a sentence: where it is, which label, the text as written."""

    start: int
    end: int
    label: int  # index in the vocabulary
    text: str


class MentionMatcher:
    """Finds which labels a sentence mentions: name or synonym, singular or plural,
    case-insensitive, whole words only, longest match first (so `hot dog` is not a `dog`)."""

    def __init__(self, vocabulary: Vocabulary):
        self.names = vocabulary.names
        self._form_to_label: dict[str, int] = {}
        for index, label in enumerate(vocabulary.labels):
            for form in surface_forms(label):
                self._form_to_label.setdefault(form_key(form), index)
        forms = sorted(self._form_to_label, key=len, reverse=True)
        # A space or hyphen inside a label matches any run of spaces or hyphens, so "hot dog",
        # "hot-dog" and "t shirt"/"t-shirt" are one label.
        alternatives = "|".join(r"[\s\-]+".join(map(re.escape, f.split(" "))) for f in forms)
        self._pattern = re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)

    def mentions(self, sentence: str) -> list[Mention]:
        """Every mention, left to right (a label named twice appears twice)."""
        found = []
        for match in self._pattern.finditer(sentence or ""):
            key = form_key(match.group(0))
            if key in self._form_to_label:
                found.append(Mention(match.start(), match.end(), self._form_to_label[key], match.group(0)))
        return found

    def label_indices(self, sentence: str) -> list[int]:
        """Indices of the labels mentioned, in vocabulary order, each once."""
        return sorted({mention.label for mention in self.mentions(sentence)})

    def labels(self, sentence: str) -> list[str]:
        """Names of the labels mentioned, in vocabulary order, each once."""
        return [self.names[i] for i in self.label_indices(sentence)]
