"""Dataset builders' caption habits, applied to records before any writer sees them, so every
output format gets them: trigger words and folder names written before the classifier's tags,
and danbooru-style names (ExtraTags).

    records = add_extra_tags(tagger.tag(["dataset/"]), ExtraTags(prepend=("ohwx",), folders=1))

Added tags carry no score (None: `null` in JSON Lines, an empty field in CSV). A classifier tag
equal to an added one (case-insensitive) is written once, where the added one stands.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator

from lzt.config import ExtraTags, style_name
from lzt.record import Record

# kohya's dataset folders are named `REPEATS_NAME` (`10_ohwx dog`): the count is not a tag.
_REPEATS = re.compile(r"^\d+_(?=.)")
_URI = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def folder_names(path: Path | str, levels: int) -> list[str]:
    """The names of the `levels` folders that hold `path`, outermost first. A local path is made
    absolute first when it names fewer folders itself (`photo.jpg` in the current folder); a URI
    or an image inside a tar (`shard.tar#dir/photo.jpg`) gives the folders it names."""
    if levels <= 0:
        return []
    if isinstance(path, str) and (_URI.match(path) or "#" in path):
        parts = list(PurePosixPath(_URI.sub("", path).replace("#", "/")).parent.parts)
    else:
        parts = [part for part in Path(path).parent.parts if part not in (".", "..")]
        if len(parts) < levels or ".." in Path(path).parts:
            parts = list(Path(os.path.abspath(path)).parent.parts)
    parts = [part for part in parts if part not in ("/", "") and not part.endswith((":\\", ":/"))]
    return parts[-levels:]


def folder_tag(name: str, underscores: bool = False) -> str:
    """A folder name as a tag: without kohya's `N_` repeat count, in `underscores` style if asked."""
    return style_name(_REPEATS.sub("", name).strip(), underscores)


def extra_tags_for(path: Path | str | None, extra: ExtraTags) -> list[str]:
    """The tags `extra` adds to the record of `path`: the trigger words, then the folder names."""
    folders = [] if path is None else [folder_tag(name, extra.underscores) for name in folder_names(path, extra.folders)]
    return [*extra.prepend, *folders]


def with_extra_tags(record: Record, extra: ExtraTags) -> Record:
    """The record with `extra`'s tags first (score None) and, with `underscores`, its own in
    danbooru style; each tag once (case-insensitive, the first kept). An error record is
    returned as it is."""
    if record.error is not None or record.tags is None or extra.empty:
        return record
    own = [(style_name(label, extra.underscores), score) for label, score in record.tags]
    seen: set[str] = set()
    tags: list[tuple[str, float | None]] = []
    for label, score in [*((tag, None) for tag in extra_tags_for(record.path, extra)), *own]:
        if label.lower() not in seen:
            seen.add(label.lower())
            tags.append((label, score))
    return replace(record, tags=tags)  # a video's segments and a RAW's twin stay with it


def add_extra_tags(records: Iterable[Record], extra: ExtraTags) -> Iterator[Record]:
    """Every record with `extra`'s tags first (see with_extra_tags), streamed in order."""
    if extra.empty:
        return iter(records)
    return (with_extra_tags(record, extra) for record in records)
