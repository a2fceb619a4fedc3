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
class Record:
    """path: the file as found (relative stays relative); a string for what is not a local file
    (a URI, a member of a tar shard: `shard.tar#name.jpg`); None for an image passed in memory.
    tags: (label, score) pairs, best first unless `Selection.order` says otherwise, or None when
    the image failed; a tag added by ExtraTags (trigger words, folder names) has score None.
    error: the one-line reason it failed; scores: every label's score (C,), when asked for
    (`keep_scores`)."""

    path: Path | str | None
    tags: Sequence[tuple[str, float | None]] | None = None
    error: str | None = None
    scores: torch.Tensor | None = None

    @property
    def ok(self) -> bool:
        """True when the image was tagged (no error)."""
        return self.error is None

    def to_dict(self) -> dict:
        """The JSON Lines object of `lzt tag`: {"path", "tags": [{"label", "score"}]} or {"path", "error"}."""
        path = None if self.path is None else os.fsdecode(self.path)
        if self.error is not None:
            return {"path": path, "error": self.error}
        return {"path": path, "tags": [{"label": label, "score": score} for label, score in self.tags or []]}
