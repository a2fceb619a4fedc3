"""Evidence for adapting a classifier: what a user confirmed or rejected on which photos, and
those photos' image embeddings.

    sources (lzt.adapt.sources)     ->  PhotoLabels per photo (file, confirmed, rejected labels)
    collect_evidence(tagger, ...)   ->  Evidence (embeddings + targets in the classifier's labels)
    adapt_classifier(classifier, evidence)  ->  Classifier
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import torch

from lzt.config import DEFAULT_BATCH_SIZE, DecodeOptions
from lzt.errors import InputError, LztError, warn
from lzt.progress import Progress, no_progress

if TYPE_CHECKING:
    from lzt.tagging import Tagger


@dataclass(frozen=True)
class PhotoLabels:
    """What is known about one photo: labels confirmed on it (they apply), labels rejected on it
    (they do not), and whether every other label is known not to apply either (a fully labelled
    photo, as in a dataset) or simply unannotated (a reviewed photo). Labels are as the source
    wrote them; `collect_evidence` matches them to a classifier's labels and synonyms."""

    path: Path
    confirmed: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()
    others_rejected: bool = False


@dataclass
class Evidence:
    """Photos as a classifier sees them, and what was confirmed on them.

    labels: the classifier's labels, the columns of `targets`.
    embeddings: (N, D) unit global image embeddings, from the model the classifier was built for.
    targets: (N, C) int8: 1 confirmed, -1 rejected, 0 unannotated.
    files: where each row came from (empty for embeddings given directly).
    sources: what the evidence was read from (names only), for the adapted classifier's record.
    unknown_labels: source labels the classifier lacks -> photos naming them (ignored).
    skipped: (file, reason) of photos that could not be read (missing, broken).
    """

    labels: list[str]
    embeddings: torch.Tensor
    targets: torch.Tensor
    files: list[Path] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    unknown_labels: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.embeddings.ndim != 2 or not self.embeddings.is_floating_point():
            raise InputError(f"expected floating-point embeddings of shape (photos, width), got {tuple(self.embeddings.shape)}")
        expected = (self.embeddings.shape[0], len(self.labels))
        if tuple(self.targets.shape) != expected:
            raise InputError(f"expected targets of shape {expected} (photos, labels), got {tuple(self.targets.shape)}")
        if not ((self.targets == 0) | (self.targets == 1) | (self.targets == -1)).all():
            raise InputError("targets must be 1 (confirmed), -1 (rejected) or 0 (unannotated)")
        if self.files and len(self.files) != expected[0]:
            raise InputError(f"{len(self.files)} files for {expected[0]} embeddings")
        self.targets = self.targets.to(torch.int8)

    def __len__(self) -> int:
        return int(self.embeddings.shape[0])

    def counts(self) -> dict[str, int]:
        """Photos, confirmed and rejected (photo, label) pairs, and labels confirmed at least once."""
        return {
            "photos": len(self),
            "confirmed": int((self.targets > 0).sum()),
            "rejected": int((self.targets < 0).sum()),
            "labels_confirmed": int((self.targets > 0).any(dim=0).sum()) if len(self) else 0,
        }


def label_lookup(labels: Sequence[str], synonyms: dict[str, list[str]]) -> dict[str, str]:
    """Lower-cased label names and synonyms -> the classifier's label (a name wins over another
    label's synonym)."""
    lookup = {synonym.lower(): label for label, names in synonyms.items() for synonym in names}
    lookup.update({label.lower(): label for label in labels})
    return lookup


def evidence_targets(
    photos: Iterable[PhotoLabels], labels: Sequence[str], synonyms: dict[str, list[str]] | None = None,
) -> tuple[list[Path], torch.Tensor, dict[str, int]]:
    """Photos' statements -> (files, (N, C) int8 targets, unknown labels -> photos naming them).

    Labels match the classifier's names and synonyms case-insensitively. A photo named twice
    (several sources, several rows) keeps every statement, a later one winning for the same
    label. Photos with nothing to rank in these labels (none confirmed, and none rejected among
    unannotated ones) are left out."""
    lookup = label_lookup(labels, synonyms or {})
    column = {label: i for i, label in enumerate(labels)}
    by_path: dict[Path, torch.Tensor] = {}
    unknown: dict[str, int] = {}
    for photo in photos:
        row = by_path.get(photo.path)
        if row is None:
            row = by_path[photo.path] = torch.zeros(len(labels), dtype=torch.int8)
        if photo.others_rejected:
            row[row == 0] = -1
        missing: set[str] = set()
        for value, names in ((-1, photo.rejected), (1, photo.confirmed)):  # confirmed wins within one statement
            for name in names:
                label = lookup.get(str(name).lower())
                if label is None:
                    missing.add(str(name))
                else:
                    row[column[label]] = value
        for name in missing:
            unknown[name] = unknown.get(name, 0) + 1
    kept = [(path, row) for path, row in by_path.items() if _has_pairs(row)]
    targets = torch.stack([row for _, row in kept]) if kept else torch.zeros(0, len(labels), dtype=torch.int8)
    return [path for path, _ in kept], targets, unknown


def _has_pairs(row: torch.Tensor) -> bool:
    """Whether a photo's targets rank anything: a confirmed label (above the others), or a
    rejected one below unannotated ones."""
    return bool((row > 0).any() or ((row < 0).any() and (row == 0).any()))


def collect_evidence(
    tagger: Tagger,
    photos: Iterable[PhotoLabels],
    *,
    sources: Sequence[str] = (),
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
    decoding: DecodeOptions = DecodeOptions(),
    progress: Progress = no_progress,
    on_skipped: Callable[[Path, str], None] | None = None,
) -> Evidence:
    """Embed the photos with the tagger (its model, input size and embedding cache) and put what
    was confirmed on them in its classifier's labels.

    Labels the classifier lacks are counted (Evidence.unknown_labels, one LztWarning) and
    ignored; photos that cannot be read are skipped (Evidence.skipped; `on_skipped(file,
    reason)` hears of each at once). An LztError when nothing usable is left.
    sources: names of what the statements were read from, kept in the adapted classifier."""
    classifier = tagger.classifier
    files, targets, unknown = evidence_targets(photos, classifier.labels, classifier.synonyms)
    if unknown:
        shown = ", ".join(f"{name!r} ({count})" for name, count in sorted(unknown.items())[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        some = "1 label" if len(unknown) == 1 else f"{len(unknown)} labels"
        warn(f"{some} of the evidence not in the classifier's vocabulary, ignored (photos naming them): {shown}{more}")
    if not files:
        reason = f" (its labels are not the classifier's: {len(unknown)} unknown)" if unknown else ""
        raise LztError(f"no evidence to adapt from: no photo confirms a label of this classifier (or rejects one among unannotated ones){reason}")
    rows: list[torch.Tensor] = []
    kept: list[int] = []
    skipped: list[tuple[Path, str]] = []
    embedded = tagger.embed_files(files, batch_size=batch_size, workers=workers, decoding=decoding)
    with progress("embedding photos", len(files), "images") as advance, contextlib.closing(embedded):
        for index, (_, result) in enumerate(embedded):
            if isinstance(result, str):
                skipped.append((files[index], result))
                if on_skipped is not None:
                    on_skipped(files[index], result)
            else:
                rows.append(result)
                kept.append(index)
            advance(1)
    if not rows:
        raise LztError(f"no evidence to adapt from: none of the {len(files)} photos could be read")
    return Evidence(
        list(classifier.labels), torch.stack(rows), targets[kept], [files[i] for i in kept], list(sources), unknown, skipped,
    )
