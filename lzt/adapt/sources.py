"""Where evidence comes from: each source is one function, path -> PhotoLabels per photo.

- `dataset`: the labelled-set JSON Lines of `lzt eval`, {"file": "relative/path.jpg", "labels":
  [...]} (optionally "negatives": [...]); files relative to the JSONL's folder. Every label not
  listed is taken not to apply (`unannotated` negative, as `lzt eval` counts it) unless told to
  leave it unannotated.
- `decisions`: review decisions, JSON Lines of {"path": "/abs/photo.jpg", "label": "dog",
  "decision": "accept" | "reject"} (optionally "added": true for a tag the reviewer added, which
  counts as confirmed). For the same photo and label the last row wins; a relative path is taken
  relative to the JSONL's folder.

- `review`: a review database (`lzt review`'s review.db), read with lzt.review.read_decisions;
  then as `decisions`.
- `keywords`: a folder of photos that people keyworded: each photo's XMP sidecar keywords that
  match a label (name, synonym or plural; lzt.eval.keywords, as `lzt calibrate` reads them) are
  confirmed; other labels stay unannotated (a person's keywords are rarely complete), and what
  lzt wrote itself is not evidence.

`read_photo_labels` recognises the kind: a folder is `keywords`, an SQLite file `review`, else
the first JSON row tells. A new source is one more function that yields PhotoLabels, added to
SOURCES (and to `detect_source` when it is a file of its own kind).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator, Sequence

from lzt.adapt.evidence import PhotoLabels
from lzt.errors import LztError, UsageError
from lzt.files import is_sqlite, nonblank_lines
from lzt.vocab import Vocabulary

DECISIONS = ("accept", "reject")
UNANNOTATED = ("negative", "ignore")


def _rows(path: Path, what: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) of each non-blank line; a line that is not a JSON object is an error."""
    for number, line in nonblank_lines(path, what):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LztError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise LztError(f"{path}:{number}: expected a JSON object")
        yield number, row


def _names(path: Path, number: int, row: dict, key: str) -> tuple[str, ...]:
    value = row.get(key, [])
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise LztError(f'{path}:{number}: "{key}" must be a list of label names')
    return tuple(value)


def dataset_photo_labels(path: str | Path, unannotated: str = "negative") -> Iterator[PhotoLabels]:
    """A labelled set's rows: "labels" confirmed, "negatives" rejected, and with `unannotated`
    negative (the default) every other label too; `ignore` leaves the others unannotated."""
    if unannotated not in UNANNOTATED:
        raise UsageError(f"`unannotated` must be {' or '.join(UNANNOTATED)}, not {unannotated!r}")
    path = Path(path)
    for number, row in _rows(path, "dataset"):
        file = row.get("file")
        if not isinstance(file, str) or not file or "labels" not in row:
            raise LztError(f'{path}:{number}: expected {{"file": ..., "labels": [...]}}')
        confirmed, rejected = _names(path, number, row, "labels"), _names(path, number, row, "negatives")
        both = sorted({name.lower() for name in confirmed} & {name.lower() for name in rejected})
        if both:
            raise LztError(f"{path}:{number}: {', '.join(both)} both in \"labels\" and in \"negatives\"")
        yield PhotoLabels((path.parent / file).resolve(), confirmed, rejected, others_rejected=unannotated == "negative")


def decision_photo_labels(path: str | Path) -> Iterator[PhotoLabels]:
    """Review decisions, one PhotoLabels per photo (in the order photos first appear); for the
    same photo and label (case-insensitive) the last decision wins."""
    path = Path(path)

    def statements() -> Iterator[tuple[Path, str, bool]]:
        for number, row in _rows(path, "review decisions"):
            photo, label, decision = row.get("path"), row.get("label"), row.get("decision")
            if not isinstance(photo, str) or not photo or not isinstance(label, str) or not label:
                raise LztError(f'{path}:{number}: expected {{"path": ..., "label": ..., "decision": "accept" or "reject"}}')
            if decision not in DECISIONS:
                raise LztError(f"{path}:{number}: decision must be accept or reject, not {decision!r}")
            yield (path.parent / photo).resolve(), label, decision == "accept"

    return _by_photo(statements())


def _by_photo(rows: Iterator[tuple[Path, str, bool]]) -> Iterator[PhotoLabels]:
    """(photo, label, accepted) statements -> one PhotoLabels per photo, in the order photos
    first appear; for the same photo and label (case-insensitive) the last statement wins."""
    photos: dict[Path, dict[str, tuple[str, bool]]] = {}
    for photo, label, accepted in rows:
        decisions = photos.setdefault(photo, {})
        decisions.pop(label.lower(), None)  # the last decision, and its position, count
        decisions[label.lower()] = (label, accepted)
    for file, decisions in photos.items():
        yield PhotoLabels(
            file,
            confirmed=tuple(label for label, accepted in decisions.values() if accepted),
            rejected=tuple(label for label, accepted in decisions.values() if not accepted),
        )


def review_photo_labels(path: str | Path) -> Iterator[PhotoLabels]:
    """The decisions of a review database (`lzt review`), accepted labels confirmed and rejected
    ones rejected; a damaged or foreign database is an LztError, left as it is."""
    from lzt.review.apply import read_decisions

    decisions = read_decisions(path)
    return _by_photo((Path(d.path), d.label, d.decision == "accept") for d in decisions if d.decision in DECISIONS)


def keyword_photo_labels(path: str | Path, labels: Sequence[str] | Vocabulary) -> Iterator[PhotoLabels]:
    """The photos under a folder whose XMP sidecars carry keywords matching `labels`: those
    labels confirmed, the others unannotated. A sidecar that cannot be read is an LztError
    naming it (a person's keywords are the evidence: none is dropped silently)."""
    from lzt.eval.keywords import read_keyword_labels

    def unreadable(file: Path, reason: str) -> None:
        raise LztError(f"{file}: {reason}")

    found = read_keyword_labels([path], labels, on_unreadable=unreadable)
    for file, confirmed in zip(found.dataset.files, found.dataset.labels):
        if confirmed:
            yield PhotoLabels(Path(file), tuple(confirmed), (), others_rejected=False)


SOURCES: dict[str, Callable[..., Iterator[PhotoLabels]]] = {
    "dataset": dataset_photo_labels,
    "decisions": decision_photo_labels,
    "review": review_photo_labels,
    "keywords": keyword_photo_labels,
}


def detect_source(path: str | Path) -> str:
    """The kind of an evidence file (a key of SOURCES), from its first row."""
    path = Path(path)
    if path.is_dir():
        return "keywords"
    if not path.is_file():
        raise LztError(f"no evidence file or folder at {path}")
    if is_sqlite(path, "evidence file"):
        return "review"
    for _, row in _rows(path, "evidence file"):
        if "file" in row and "labels" in row:
            return "dataset"
        if "decision" in row and "path" in row:
            return "decisions"
        break
    else:
        raise LztError(f"{path} holds no rows")
    raise LztError(
        f'{path}: neither a labelled set ({{"file", "labels"}} per line) nor review decisions '
        '({"path", "label", "decision"} per line)'
    )


def read_photo_labels(
    path: str | Path, kind: str | None = None, *, unannotated: str = "negative", labels: Sequence[str] | Vocabulary | None = None,
) -> list[PhotoLabels]:
    """Every photo's statements in an evidence file (or, for `keywords`, a folder) of `kind` (a
    key of SOURCES; None: recognised from the path). unannotated: for a labelled set, whether
    unlisted labels count as rejected (`negative`) or stay unannotated (`ignore`). labels: the
    classifier's labels (a Vocabulary for synonyms), which the `keywords` kind matches against."""
    kind = kind or detect_source(path)
    if kind not in SOURCES:
        raise UsageError(f"unknown evidence kind {kind!r} (choose from {', '.join(SOURCES)})")
    if kind == "dataset":
        return list(dataset_photo_labels(path, unannotated))
    if kind == "keywords":
        if labels is None:
            raise UsageError("`labels` is needed to read photos' keywords as evidence")
        return list(keyword_photo_labels(path, labels))
    return list(SOURCES[kind](Path(path)))
