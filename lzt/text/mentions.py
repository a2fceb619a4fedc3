"""Which labels a sentence really mentions: the verification step of every corpus sentence."""

from __future__ import annotations

import re

from lzt.vocab import Vocabulary, surface_forms


def _form_key(text: str) -> str:
    return re.sub(r"[\s\-]+", " ", text.lower()).strip()


class MentionMatcher:
    """Finds which labels a sentence mentions: name or synonym, singular or plural,
    case-insensitive, whole words only, longest match first (so `hot dog` is not a `dog`)."""

    def __init__(self, vocabulary: Vocabulary):
        self.names = vocabulary.names
        self._form_to_label: dict[str, int] = {}
        for index, label in enumerate(vocabulary.labels):
            for form in surface_forms(label):
                self._form_to_label.setdefault(_form_key(form), index)
        forms = sorted(self._form_to_label, key=len, reverse=True)
        # A space or hyphen inside a label matches any run of spaces or hyphens, so "hot dog",
        # "hot-dog" and "t shirt"/"t-shirt" are one label.
        alternatives = "|".join(r"[\s\-]+".join(map(re.escape, f.split(" "))) for f in forms)
        self._pattern = re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)

    def label_indices(self, sentence: str) -> list[int]:
        found = set()
        for match in self._pattern.finditer(sentence or ""):
            key = _form_key(match.group(0))
            if key in self._form_to_label:
                found.add(self._form_to_label[key])
        return sorted(found)

    def labels(self, sentence: str) -> list[str]:
        return [self.names[i] for i in self.label_indices(sentence)]


