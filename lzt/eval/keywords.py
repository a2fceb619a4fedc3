"""A user's own keywords as labels: photos already tagged by hand calibrate lzt for the rest.

The keywords of a photo (its XMP sidecar, or its caption file) that match a vocabulary label,
by name, synonym or plural (LabelMatcher), are its positives; every other label of the
vocabulary counts as absent. Only photos with at least one keyword take part: a photo nobody
keyworded says nothing. Keywords lzt wrote itself are not evidence and are left out: those it
recorded as its own in the sidecar (`lzt:addedKeywords`, `lzt:addedHierarchical`) and the
hierarchical ones under its parent (`lzt|dog`). Caption files carry no such record: calibrate
on captions a person wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from lzt.config import DEFAULT_BATCH_SIZE, KeywordSource, OutputOptions
from lzt.errors import LztError
from lzt.eval.dataset import LabelledSet, known_labels, vocabulary_of
from lzt.eval.evaluate import Evaluation, evaluate
from lzt.eval.thresholds import DEFAULT_MIN_POSITIVES, Thresholds
from lzt.files import UnreadableFile
from lzt.output.stats import caption_tags
from lzt.output.xmp import ADDED_KEYWORDS, REVIEW_PARENT, SUBJECT, TREES, image_sidecars, lzt_owns, property_items
from lzt.progress import Progress, no_progress
from lzt.tagging import DecodeOptions, Tagger
from lzt.tagging.discovery import discover
from lzt.vocab import LabelMatcher, Vocabulary


@dataclass
class KeywordLabels:
    """What a folder of keyworded photos yields. dataset: the photos with keywords and their
    matched labels; photos: images found; without_keywords: of those, how many had no sidecar
    or caption, or no keyword in it; unmatched: keywords that match no label -> occurrences;
    unreadable: (sidecar or caption, reason) of the files that could not be read."""

    dataset: LabelledSet
    photos: int = 0
    without_keywords: int = 0
    unmatched: dict[str, int] = field(default_factory=dict)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)


def read_keyword_labels(
    paths: Iterable[str | Path], labels: Sequence[str] | Vocabulary, *, source: KeywordSource | str = KeywordSource.xmp,
    caption_ext: str = OutputOptions().caption_ext, xmp_parent: str = REVIEW_PARENT, exclude: Sequence[str] = (),
    include_hidden: bool = False, on_unreadable: Callable[[Path, str], None] | None = None,
) -> KeywordLabels:
    """The photos under `paths` that carry keywords, labelled by the keywords that match
    `labels` (names, or a Vocabulary with synonyms). `source`: `xmp` reads `photo.jpg.xmp` and
    `photo.xmp` (both namings), `txt` reads `photo.txt` (`caption_ext`). A sidecar or caption
    that cannot be read is reported (`on_unreadable(file, reason)`) and its photo left out."""
    source = KeywordSource(source)
    matcher = LabelMatcher(vocabulary_of(labels))
    result = KeywordLabels(LabelledSet([], []))
    parent = xmp_parent.strip().strip("|")
    for image in discover(paths, exclude, include_hidden):
        result.photos += 1
        try:
            keywords = caption_tags(image, caption_ext) if source is KeywordSource.txt else _sidecar_keywords(image, parent)
        except UnreadableFile as exc:
            result.unreadable.append((exc.path, exc.reason))
            if on_unreadable is not None:
                on_unreadable(exc.path, exc.reason)
            continue
        if not keywords:
            result.without_keywords += 1
            continue
        result.dataset.files.append(image.resolve())
        result.dataset.labels.append(known_labels(keywords, matcher, result.unmatched))
    if not result.dataset.files:
        raise LztError(f"none of the {result.photos} photos has {'a caption' if source is KeywordSource.txt else 'an XMP sidecar'} with keywords")
    return result


DARKTABLE_TAGS = "darktable|"


def _sidecar_keywords(image: Path, parent: str) -> list[str]:
    """dc:subject and the parts of lr:hierarchicalSubject entries (`Animals|Dog`: both) of the
    sidecars of both namings, without what lzt recorded as its own."""
    keywords: list[str] = []
    for _, sidecar in image_sidecars(image):
        added = {k.lower() for k in property_items(sidecar, ADDED_KEYWORDS)}
        keywords += [k for k in property_items(sidecar, SUBJECT) if k.lower() not in added]
        hierarchy = TREES[0]  # lr:hierarchicalSubject, with the writer's own rule for what is lzt's
        owned = lzt_owns(sidecar, hierarchy, parent)
        for entry in property_items(sidecar, hierarchy.tag):
            if owned(entry) or entry.lower().startswith(DARKTABLE_TAGS):
                continue  # lzt's, or darktable's own automatic tags (`darktable|format|jpg`): not a person's
            keywords += hierarchy.nodes(entry)
    return keywords


def describe(keywords: KeywordLabels) -> str:
    """One line: how many photos, how many with keywords, how many labels matched."""
    used = len(keywords.dataset.files)
    matched = len({label for row in keywords.dataset.labels for label in row})
    return (
        f"{keywords.photos} photos, {used} with keywords ({keywords.without_keywords} without"
        f"{f', {len(keywords.unreadable)} unreadable' if keywords.unreadable else ''}); "
        f"{matched} labels of the vocabulary among their keywords, {len(keywords.unmatched)} keywords match none"
    )



@dataclass
class KeywordFit:
    """What `thresholds_from_keywords` did: the thresholds, the evaluation they were fitted on
    (the keyworded photos, scored), and the keywords read."""

    thresholds: Thresholds
    evaluation: Evaluation
    keywords: KeywordLabels


def thresholds_from_keywords(
    tagger: Tagger, paths: Iterable[str | Path], *, source: KeywordSource | str = KeywordSource.xmp,
    min_positives: int = DEFAULT_MIN_POSITIVES, caption_ext: str = OutputOptions().caption_ext,
    xmp_parent: str = REVIEW_PARENT, exclude: Sequence[str] = (), include_hidden: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE, workers: int | None = None, decoding: DecodeOptions = DecodeOptions(),
    progress: Progress = no_progress, on_unreadable: Callable[[Path, str], None] | None = None,
    on_skipped: Callable[[Path, str], None] | None = None,
) -> KeywordFit:
    """Per-label thresholds for `tagger`, fitted on the photos under `paths` that a person
    already keyworded (read_keyword_labels): those photos are scored, their matching keywords
    are the truth, and each label gets the threshold maximising its F1 (see fit_thresholds)."""
    keywords = read_keyword_labels(
        paths, vocabulary_of(tagger.labels, tagger.classifier.synonyms), source=source, caption_ext=caption_ext,
        xmp_parent=xmp_parent, exclude=exclude, include_hidden=include_hidden, on_unreadable=on_unreadable,
    )
    evaluation = evaluate(
        tagger, keywords.dataset, batch_size=batch_size, workers=workers, decoding=decoding, progress=progress, on_skipped=on_skipped,
    )
    return KeywordFit(evaluation.fit_thresholds(min_positives), evaluation, keywords)
