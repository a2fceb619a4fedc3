"""What a tagged set holds: tag frequencies overall and per folder, images without tags, and a
histogram of tags per image, from any output lzt writes:

- JSON Lines of `lzt tag` (`{"path", "tags"}` or `{"path", "error"}` per line), or a labelled set
  (`{"file", "labels"}` per line, as `lzt eval` reads);
- a folder of Parquet shards (`lzt tag --out`);
- a folder of photos, with the caption file or the XMP sidecar beside each (every keyword in it,
  lzt's and anyone else's).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Iterable, Sequence, cast

from lzt.config import KeywordSource, OutputOptions
from lzt.errors import LztError
from lzt.files import UnreadableFile, read_if_present
from lzt.output.captions import split_caption
from lzt.output.xmp import SUBJECT, image_sidecars, property_items
from lzt.record import Record

Source = str | os.PathLike | IO[str]


@dataclass
class FolderStats:
    """One folder's share: its images, how many have no tag, and each tag's number of images."""

    images: int = 0
    untagged: int = 0
    tags: Counter[str] = field(default_factory=Counter)


@dataclass
class TagStats:
    """Counts over a tagged set. images: images counted (tagged or not; failed ones apart);
    errors: records of images that could not be tagged; untagged: paths of images without a
    tag; tags: tag -> images carrying it; folders: folder -> FolderStats; tag_counts: tags per
    image -> images; unreadable: (caption or sidecar, reason) of the files that could not be read.
    Add records with `add` (or `add_record`), then read the counts or `to_dict()`."""

    images: int = 0
    errors: int = 0
    untagged: list[str] = field(default_factory=list)
    tags: Counter[str] = field(default_factory=Counter)
    folders: dict[str, FolderStats] = field(default_factory=dict)
    tag_counts: Counter[int] = field(default_factory=Counter)
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    def add(self, path: str, tags: Sequence[str] | None) -> None:
        """One image: its path as written and its tags (None: it could not be tagged)."""
        if tags is None:
            self.errors += 1
            return
        unique = list(dict.fromkeys(tag for tag in tags if tag))  # a tag counts once per image
        folder = self.folders.setdefault(_folder_of(path), FolderStats())
        self.images += 1
        folder.images += 1
        self.tag_counts[len(unique)] += 1
        self.tags.update(unique)
        folder.tags.update(unique)
        if not unique:
            self.untagged.append(path)
            folder.untagged += 1

    def add_record(self, record: Record) -> None:
        """A Record of Tagger.tag, read_shards or rescore."""
        path = "" if record.path is None else os.fsdecode(record.path)
        self.add(path, None if record.error is not None else [label for label, _ in record.tags or []])

    @property
    def mean_tags(self) -> float:
        """Tags per image, on average over the images counted."""
        return sum(n * images for n, images in self.tag_counts.items()) / self.images if self.images else 0.0

    def to_dict(self) -> dict:
        """The JSON of `lzt stats --json`: counts, tags most frequent first, the histogram of tags
        per image (every count from 0 to the largest), folders and images without tags."""
        return {
            "images": self.images,
            "errors": self.errors,
            "untagged": len(self.untagged),
            "distinct_tags": len(self.tags),
            "mean_tags": round(self.mean_tags, 4),
            "tag_counts": {str(n): self.tag_counts.get(n, 0) for n in range(max(self.tag_counts, default=-1) + 1)},
            "tags": dict(ranked(self.tags)),
            "folders": {
                name: {"images": f.images, "untagged": f.untagged, "tags": dict(ranked(f.tags))}
                for name, f in sorted(self.folders.items())
            },
            "untagged_paths": self.untagged,
            "unreadable": [{"path": path, "reason": reason} for path, reason in self.unreadable],
        }


def ranked(counts: Counter[str]) -> list[tuple[str, int]]:
    """Most frequent first; ties in name order, so the output is the same on every run."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _folder_of(path: str) -> str:
    """The folder part of a path as written (a URI or `shard.tar#dir/photo.jpg` alike)."""
    head = path.replace("\\", "/").rsplit("/", 1)
    return head[0] if len(head) == 2 and head[0] else "."


# --- reading what lzt wrote ---------------------------------------------------------------------


def tag_stats(
    sources: Source | Iterable[Source], *, keywords: KeywordSource | str = KeywordSource.txt,
    caption_ext: str = OutputOptions().caption_ext, exclude: Sequence[str] = (), include_hidden: bool = False,
    on_unreadable: Callable[[str, str], None] | None = None,
) -> TagStats:
    """Counts over every source: a JSON Lines file (or an open text stream of one), a folder of
    Parquet shards, or a folder of photos whose tags are read from their caption files
    (`keywords` txt, extension `caption_ext`) or XMP sidecars (`keywords` xmp: dc:subject of
    `photo.jpg.xmp` and `photo.xmp`). A caption or sidecar that cannot be read is reported
    (`on_unreadable(file, reason)`, and TagStats.unreadable) and its photo left out. An input
    that is none of these is an LztError naming it (and the line, for JSON Lines)."""
    stats = TagStats()
    for source in _listed(sources):
        if not isinstance(source, (str, os.PathLike)):  # an open stream
            add_jsonl(stats, source, getattr(source, "name", "<stream>"))
            continue
        path = Path(os.fspath(source))
        if path.is_dir():
            if is_shard_folder(path):
                _add_shards(stats, path)
            else:
                _add_photos(stats, path, KeywordSource(keywords), caption_ext, exclude, include_hidden, on_unreadable)
        elif path.is_file():
            with open(path, encoding="utf-8", errors="replace", newline="") as handle:
                add_jsonl(stats, handle, os.fsdecode(path))
        else:
            raise LztError(f"no such file or folder: {os.fsdecode(path)}")
    return stats


def _listed(sources: Source | Iterable[Source]) -> list[Source]:
    """One source alone, or several: a path must not be iterated character by character."""
    if isinstance(sources, (str, os.PathLike)) or hasattr(sources, "read"):
        return [cast(Source, sources)]
    return list(sources)


def add_jsonl(stats: TagStats, lines: Iterable[str], name: str) -> None:
    """Count the records of a JSON Lines text (what `lzt tag` prints, or a labelled set)."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise LztError(
                f"{name}:{number}: not JSON: expected the JSON Lines of `lzt tag` ({{\"path\", \"tags\"}} per line), "
                "a folder of Parquet shards, or a folder of photos with captions or sidecars"
            ) from None
        stats.add(*_record_of(row, name, number))


def _record_of(row: object, name: str, number: int) -> tuple[str, list[str] | None]:
    """(path, tags or None) of one JSON Lines row."""
    if isinstance(row, dict) and isinstance(row.get("path"), str) and ("tags" in row or "error" in row):
        tags = row.get("tags")
        if row.get("error") is not None or tags is None:
            return row["path"], None
        if isinstance(tags, list) and all(isinstance(t, dict) and isinstance(t.get("label"), str) for t in tags):
            return row["path"], [t["label"] for t in tags]
    elif (isinstance(row, dict) and isinstance(row.get("file"), str) and isinstance(row.get("labels"), list)
          and all(isinstance(label, str) for label in row["labels"])):
        return row["file"], list(row["labels"])
    raise LztError(
        f"{name}:{number}: not a record of `lzt tag` ({{\"path\", \"tags\": [{{\"label\", \"score\"}}]}} or "
        f"{{\"path\", \"error\"}}) nor of a labelled set ({{\"file\", \"labels\"}})"
    )


def is_shard_folder(folder: str | os.PathLike) -> bool:
    """Whether a local folder holds the Parquet shards of a sharded run (`lzt tag --out`)."""
    path = Path(folder)
    return (path / "_lzt" / "job.json").is_file() or any(path.glob("part-*.parquet"))


def _add_shards(stats: TagStats, folder: Path) -> None:
    try:
        from lzt.engines.shards import read_shards
    except ImportError as exc:  # pragma: no cover - pyarrow is in the test extra
        raise LztError(f"reading the Parquet shards in {folder} needs pyarrow (pip install 'lzt[ray]')") from exc
    for record in read_shards(folder):
        stats.add_record(record)


def _add_photos(
    stats: TagStats, folder: Path, keywords: KeywordSource, caption_ext: str, exclude: Sequence[str], include_hidden: bool,
    on_unreadable: Callable[[str, str], None] | None,
) -> None:
    from lzt.tagging.discovery import discover  # no model side: discovery is plain file walking

    found = False
    for image in discover([folder], exclude, include_hidden):
        found = True
        try:
            tags = caption_tags(image, caption_ext) if keywords is KeywordSource.txt else sidecar_tags(image)
        except UnreadableFile as exc:
            stats.unreadable.append((os.fsdecode(exc.path), exc.reason))
            if on_unreadable is not None:
                on_unreadable(os.fsdecode(exc.path), exc.reason)
            continue
        stats.add(os.fsdecode(image), tags)
    if not found:
        raise LztError(f"no images under {os.fsdecode(folder)} (nor Parquet shards): nothing to count")


def caption_tags(image: Path, caption_ext: str = OutputOptions().caption_ext) -> list[str]:
    """The tags of an image's caption file (`photo.txt`), as the caption writer splits them;
    none when there is no caption."""
    data = read_if_present(image.with_suffix(caption_ext if caption_ext.startswith(".") else "." + caption_ext))
    return [] if data is None else split_caption(data.decode("utf-8", errors="replace"))


def sidecar_tags(image: Path) -> list[str]:
    """The dc:subject keywords of an image's XMP sidecars (`photo.jpg.xmp`, then `photo.xmp`),
    each once (case-insensitive); none when there is no sidecar."""
    keywords: dict[str, str] = {}
    for _, sidecar in image_sidecars(image):
        for keyword in property_items(sidecar, SUBJECT):
            keywords.setdefault(keyword.lower(), keyword)
    return list(keywords.values())

