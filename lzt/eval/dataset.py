"""Labelled image sets: JSON Lines of {"file": ..., "labels": [...]}, files relative to the set."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from lzt.errors import LztError


@dataclass
class LabelledSet:
    files: list[Path]
    labels: list[list[str]]
    unknown: dict[str, int]  # dataset labels that the vocabulary lacks -> occurrences


def read_labelled_set(path: str | Path, vocabulary_names: Sequence[str]) -> LabelledSet:
    """Lines of {"file": "relative/to/this/file.jpg", "labels": ["dog", ...]}.

    Dataset labels are matched to the classifier's labels case-insensitively; labels the
    classifier does not know are counted and reported, not silently dropped."""
    path = Path(path)
    if not path.is_file():
        raise LztError(f"no dataset file at {path}")
    by_lower = {name.lower(): name for name in vocabulary_names}
    files: list[Path] = []
    labels: list[list[str]] = []
    unknown: dict[str, int] = {}
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            file, row_labels = row["file"], row["labels"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise LztError(f"{path}:{line_no}: expected {{\"file\": ..., \"labels\": [...]}}") from exc
        known = []
        for label in row_labels:
            name = by_lower.get(str(label).lower())
            if name is None:
                unknown[label] = unknown.get(label, 0) + 1
            else:
                known.append(name)
        files.append((path.parent / file).resolve())
        labels.append(known)
    if not files:
        raise LztError(f"{path} lists no images")
    return LabelledSet(files, labels, unknown)
