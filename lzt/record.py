"""What flows from tagging to the writers: one result per input, the tags of an image or why it
could not be tagged."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # a record is plain data: building or reading one needs no torch
    import torch


@dataclass
class Segment:
    """A stretch of a video, from one scene change (or the start) to the next (or the end, or
    `VideoOptions.max_segment` later): `start` and `end` in seconds, and its best-first tags."""

    start: float
    end: float
    tags: list[tuple[str, float]]

    def to_dict(self) -> dict:
        """{"start", "end", "tags": [{"label", "score"}]}, times rounded to milliseconds."""
        return {"start": round(self.start, 3), "end": round(self.end, 3), "tags": [{"label": label, "score": score} for label, score in self.tags]}


@dataclass
class Record:
    """path: the file as found (relative stays relative); a string for what is not a local file
    (a URI, a member of a tar shard: `shard.tar#name.jpg`); None for an image passed in memory.
    tags: (label, score) pairs, best first unless `Selection.order` says otherwise, or None when
    the image failed; a tag added by ExtraTags (trigger words, folder names) has score None.
    error: the one-line reason it failed; scores: every label's score (C,), when asked for
    (`keep_scores`). segments: a video's segments with their own tags (None for a photo);
    tagged_from: the file whose pixels gave these tags when it is another one (a RAW's JPEG twin)."""

    path: Path | str | None
    tags: Sequence[tuple[str, float | None]] | None = None
    error: str | None = None
    scores: torch.Tensor | None = None
    segments: list[Segment] | None = None
    tagged_from: Path | str | None = None

    @property
    def ok(self) -> bool:
        """True when the image was tagged (no error)."""
        return self.error is None

    def to_dict(self) -> dict:
        """The JSON Lines object of `lzt tag`: {"path", "tags": [{"label", "score"}]} or {"path", "error"};
        a video adds "segments", a RAW tagged through its JPEG twin "tagged_from"."""
        path = None if self.path is None else os.fsdecode(self.path)
        if self.error is not None:
            return {"path": path, "error": self.error}
        result: dict = {"path": path, "tags": [{"label": label, "score": score} for label, score in self.tags or []]}
        if self.segments is not None:
            result["segments"] = [segment.to_dict() for segment in self.segments]
        if self.tagged_from is not None:
            result["tagged_from"] = os.fsdecode(self.tagged_from)
        return result
