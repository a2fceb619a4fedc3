"""What a review produces: its decisions written into the photos' XMP sidecars or caption files
(`apply_review`), and the decisions themselves as JSON Lines (`export_decisions`,
`read_decisions`), the evidence a classifier can learn from.

In XMP, reviewed tags are kept apart from automatic ones by their place in the keyword tree:
`lzt|reviewed|dog` for a label a person accepted, `lzt|auto|dog` for an automatic tag nobody
decided about (under the `xmp_parent`, `lzt` by default). Both are also plain `dog` keywords in
dc:subject. A photo manager that shows keyword trees (digiKam, Lightroom, darktable, immich)
filters "automatic, not reviewed" by the `lzt|auto` branch. Caption files are plain training text
with no room for a marker: they get the outcome (`reviewed_only` leaves automatic tags out).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable, Iterator

from lzt.config import OutputOptions
from lzt.errors import LztError, UsageError
from lzt.files import atomic_write, is_sqlite, nonblank_lines
from lzt.output.base import WriteError
from lzt.output.captions import CaptionWriter
from lzt.output.xmp import REVIEW_PARENT, XmpWriter
from lzt.progress import Progress, no_progress
from lzt.review.store import Decision, ReviewedPhoto, ReviewStore, Verdict

FORMATS = ("xmp", "txt")


@dataclass
class ApplyReport:
    """What `apply_review` did: photos considered, files `written`, photos `skipped` (path,
    reason), photos `moved` (old, new path: found again by `search`), and the labels `left_out`
    because the vocabulary lacks them (label -> number of photos)."""

    photos: int = 0
    written: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """One photo's review outcome: labels accepted, automatic tags nobody decided about, and
    labels rejected, each in writing order."""

    reviewed: list[str]
    auto: list[str]
    rejected: list[str]


def outcome(photo: ReviewedPhoto, reviewed_only: bool = False) -> Outcome:
    """Accepted labels (tags, then candidates, then added ones, in that order), the automatic
    tags without a decision (none with `reviewed_only`), and the rejected labels."""
    decisions = photo.decisions
    order = [label for label, _ in (*photo.tags, *photo.candidates)] + list(decisions)
    accepted = [label for label in dict.fromkeys(order) if decisions.get(label) == Verdict.accept.value]
    auto = [] if reviewed_only else [label for label, _ in photo.tags if label not in decisions]
    rejected = [label for label, decision in decisions.items() if decision == Verdict.reject.value]
    return Outcome(accepted, auto, rejected)


def _open(store: ReviewStore | str | Path) -> tuple[ReviewStore, bool]:
    if isinstance(store, ReviewStore):
        return store, False
    return ReviewStore(store, create=False), True


def apply_review(
    store: ReviewStore | str | Path,
    *,
    format: str = "xmp",
    options: OutputOptions = OutputOptions(xmp_parent=REVIEW_PARENT),
    reviewed_only: bool = False,
    every_photo: bool = False,
    vocabulary: Iterable[str] | None = None,
    search: Iterable[str | Path] = (),
    progress: Progress = no_progress,
) -> ApplyReport:
    """Write the review's outcome beside each reviewed photo: an XMP sidecar (`format="xmp"`,
    merged by the rules of `lzt tag`'s sidecars, reviewed and automatic keywords marked apart) or
    a caption file (`"txt"`: accepted labels first, then the undecided automatic tags).

    options: on_existing (`overwrite`: lzt's keywords become the outcome; `append`: removes only
        what the review rejected; `skip`), xmp_naming, xmp_parent, caption_ext.
    reviewed_only: write accepted labels only, not the undecided automatic tags.
    every_photo: also photos without any decision (their automatic tags, marked `auto`).
    vocabulary: labels that may be written (default: the review's own); decisions and tags about
        other labels are left out (counted in `left_out`) and stay in the database.
    search: files and folders where photos whose file vanished are looked for (same name, size
        and modification time); one found takes its decisions along.
    A photo whose file is gone, or whose sidecar cannot be read or written, is skipped with its
    reason; the rest goes on."""
    if format not in FORMATS:
        raise UsageError(f"`format` must be xmp or txt for a review, not {format!r}")
    review, owned = _open(store)
    try:
        return _apply(review, format, options, reviewed_only, every_photo, vocabulary, search, progress)
    finally:
        if owned:
            review.close()


def _apply(
    review: ReviewStore, format: str, options: OutputOptions, reviewed_only: bool, every_photo: bool,
    vocabulary: Iterable[str] | None, search: Iterable[str | Path], progress: Progress,
) -> ApplyReport:
    report = ApplyReport()
    if search:
        from lzt.tagging.discovery import discover  # files only: no model, no torch needed here

        report.moved = review.relocate(discover(list(search)))
    known = set(review.vocabulary if vocabulary is None else vocabulary)
    left_out: Counter[str] = Counter()
    xmp = XmpWriter(options.on_existing, options.xmp_naming, options.xmp_parent)
    captions = CaptionWriter(options.caption_ext, options.on_existing)
    photos = list(review.reviewed(every_photo))
    with progress("applying", len(photos), "photos") as advance:
        for photo in photos:
            report.photos += 1
            result = outcome(photo, reviewed_only)
            for label in {*result.reviewed, *result.auto, *result.rejected} - known:
                left_out[label] += 1
            kept = Outcome(*([label for label in labels if label in known] for labels in (result.reviewed, result.auto, result.rejected)))
            try:
                if not os.path.isfile(photo.path):
                    raise WriteError(
                        "file not found: moved or deleted since the review (its decisions stay in the database; "
                        "`search` finds moved files)"
                    )
                if format == "xmp":
                    written = xmp.write_review(Path(photo.path), kept.reviewed, kept.auto, kept.rejected)
                else:
                    written = captions.write_tags(Path(photo.path), [*kept.reviewed, *kept.auto], remove=kept.rejected, create_empty=False)
                report.written += int(written)
            except WriteError as exc:
                report.skipped.append((photo.path, str(exc)))
            advance(1)
    report.left_out = dict(sorted(left_out.items()))
    return report


# --- decisions as JSON Lines -----------------------------------------------------------------------


def export_decisions(store: ReviewStore | str | Path, out: str | Path | IO[str]) -> int:
    """Write every decision as JSON Lines, one object per (photo, label):
    {"path": "<absolute path>", "label": "dog", "decision": "accept" | "reject"}, plus
    "added": true for an accepted label the person added. `out`: a file (written atomically),
    `-` for stdout, or an open text stream. Returns the number of decisions."""
    review, owned = _open(store)
    try:
        lines = [json.dumps(decision.to_dict(), ensure_ascii=True) + "\n" for decision in review.decisions()]
    finally:
        if owned:
            review.close()
    if isinstance(out, (str, Path)) and str(out) == "-":
        out = sys.stdout
    if isinstance(out, (str, Path)):
        atomic_write(Path(out), lambda tmp: tmp.write_text("".join(lines), encoding="utf-8"))
    else:
        out.writelines(lines)
        out.flush()
    return len(lines)


def read_decisions(source: str | Path) -> list[Decision]:
    """Decisions from a review database or from its JSON Lines export (`export_decisions`).
    A line that is not a decision is an LztError naming the file and line."""
    path = Path(source)
    if is_sqlite(path, "decisions in"):
        with ReviewStore(path, create=False) as review:
            return list(review.decisions())
    return list(_decision_lines(path))


def _decision_lines(path: Path) -> Iterator[Decision]:
    for number, line in nonblank_lines(path, "decisions in"):
        try:
            row = json.loads(line)
            if not (isinstance(row, dict) and isinstance(row.get("path"), str) and isinstance(row.get("label"), str)
                    and row.get("decision") in ("accept", "reject")):
                raise ValueError("expected {\"path\", \"label\", \"decision\": \"accept\" | \"reject\"}")
        except ValueError as exc:
            raise LztError(f"{path}:{number}: not a decision: {exc}") from exc
        yield Decision(row["path"], row["label"], row["decision"], bool(row.get("added", False)))
