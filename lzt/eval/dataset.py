"""Labelled image sets: JSON Lines of {"file": ..., "labels": [...]}, files relative to the set.

A line may also list `negatives`: labels verified absent. Such a line is ternary: a label it
lists neither way is unannotated (Unannotated says what that means). A line without `negatives`
lists every positive, and every other label is a negative."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from lzt.config import Unannotated
from lzt.errors import LztError
from lzt.vocab import Label, LabelMatcher, Vocabulary, load_vocabulary, multi_hot


@dataclass
class LabelledSet:
    """Images and their labels, in the classifier's names. files: absolute paths; labels: the
    positives of each image; negatives: per image, the labels verified absent (None: every label
    not in `labels`); unknown: dataset labels the vocabulary lacks -> occurrences; conflicts:
    (image index, label) pairs a line lists both as positive and as negative (left out as unknown)."""

    files: list[Path]
    labels: list[list[str]]
    unknown: dict[str, int] = field(default_factory=dict)
    negatives: list[list[str] | None] | None = None
    conflicts: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ternary(self) -> bool:
        """Whether some line lists negatives (and so may leave labels unannotated)."""
        return self.negatives is not None and any(row is not None for row in self.negatives)

    def targets(self, names: Sequence[str], unannotated: Unannotated | str = Unannotated.ignore) -> tuple[np.ndarray, np.ndarray | None]:
        """(positives, ignored): (N, C) bool arrays over `names`; ignored is None when every pair
        is known (a binary set, or `unannotated` negative without conflicts)."""
        unannotated = Unannotated(unannotated)
        positives = multi_hot(self.labels, names)
        if not self.ternary and not self.conflicts:
            return positives, None
        index = {name: i for i, name in enumerate(names)}
        ignored = np.zeros_like(positives)
        for row, negatives in enumerate(self.negatives or [None] * len(self.files)):
            if negatives is not None and unannotated is Unannotated.ignore:
                known = positives[row].copy()
                known[[index[name] for name in negatives]] = True
                ignored[row] = ~known
        for row, label in self.conflicts:
            positives[row, index[label]] = False
            ignored[row, index[label]] = True
        return positives, ignored if ignored.any() else None


def vocabulary_of(labels: Sequence[str] | Vocabulary, synonyms: dict[str, list[str]] | None = None) -> Vocabulary:
    """A Vocabulary from label names (or `name: synonym, ...` items) and a classifier's synonyms."""
    if isinstance(labels, Vocabulary):
        return labels
    if synonyms is None:
        return load_vocabulary(list(labels))
    return Vocabulary(tuple(Label(name, tuple(synonyms.get(name, ()))) for name in labels), "<classifier>")


def read_labelled_set(path: str | Path, labels: Sequence[str] | Vocabulary) -> LabelledSet:
    """Lines of {"file": "relative/to/this/file.jpg", "labels": ["dog", ...]}, optionally with
    "negatives": [...] (labels verified absent from the image).

    Dataset labels are matched to the vocabulary by name, synonym, spelling without spaces
    (`pottedplant`) or plural (`dogs`), case-insensitively (see LabelMatcher); labels the
    vocabulary lacks are counted in `unknown`, not silently dropped."""
    path = Path(path)
    if not path.is_file():
        raise LztError(f"no dataset file at {path}")
    matcher = LabelMatcher(vocabulary_of(labels))
    result = LabelledSet([], [], {}, [], [])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LztError(f"cannot read dataset {path}: {exc}") from exc
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        file, positives, negatives = _parse_line(path, line_no, line)
        row = len(result.files)
        known = known_labels(positives, matcher, result.unknown)
        result.files.append((path.parent / file).resolve())
        if negatives is None:
            assert result.negatives is not None
            result.negatives.append(None)
            result.labels.append(known)
            continue
        absent = known_labels(negatives, matcher, result.unknown)
        both = sorted(set(known) & set(absent))
        result.conflicts.extend((row, label) for label in both)
        result.labels.append(known)
        assert result.negatives is not None
        result.negatives.append([label for label in absent if label not in both])
    if not result.files:
        raise LztError(f"{path} lists no images")
    if not result.ternary:
        result.negatives = None
    return result


def _parse_line(path: Path, line_no: int, line: str) -> tuple[str, list[str], list[str] | None]:
    expected = f"{path}:{line_no}: expected {{\"file\": ..., \"labels\": [...]}} (and optionally \"negatives\": [...])"
    try:
        row = json.loads(line)
        file, positives, negatives = row["file"], row["labels"], row.get("negatives")
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise LztError(expected) from exc
    lists_ok = isinstance(positives, list) and (negatives is None or isinstance(negatives, list))
    if not isinstance(file, str) or not file or not lists_ok:
        raise LztError(expected)
    return file, [str(label) for label in positives], None if negatives is None else [str(label) for label in negatives]


def known_labels(terms: list[str], matcher: LabelMatcher, unknown: dict[str, int]) -> list[str]:
    """The vocabulary labels among `terms`, each once, in the vocabulary's spelling; the terms
    that match none are counted in `unknown`."""
    found: list[str] = []
    for term in terms:
        name = matcher.match(term)
        if name is None:
            unknown[term] = unknown.get(term, 0) + 1
        elif name not in found:
            found.append(name)
    return found
