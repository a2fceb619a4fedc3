"""Finding image and video files: a deterministic, streamed walk that skips OS debris and never
loops; a RAW with a same-name JPEG (its twin) comes right after that JPEG."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from lzt.tagging.raw import RAW_EXTENSIONS, is_twin, twins_together

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff",
     ".heic", ".heif", ".avif"}
) | RAW_EXTENSIONS
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi"})
MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS  # what `lzt tag` searches folders for
# OS debris and thumbnails that look like images but are not photos.
DEFAULT_EXCLUDES = ("._*", ".DS_Store", "@eaDir", "#recycle", "Thumbs.db", "@__thumb")


def _excluded(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in patterns)


def _is_linked_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_symlink() and entry.is_dir()
    except OSError:  # a symlink loop: a broken file link, reported at decode time
        return False


def _walk(folder: Path, patterns: Sequence[str], hidden: bool, extensions: frozenset[str]) -> Iterator[Path]:
    """Depth-first, names sorted: a deterministic order. Symlinked folders are not followed
    (no loops, no duplicates); symlinked files are yielded and fail at decode time if broken.
    A folder named like an image (`x.jpg/`) is a folder: searched, never decoded."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        yield folder  # decoding it reports why it cannot be read: one record, not silence
        return
    for entry in _twins_together(entries):
        if (not hidden and entry.name.startswith(".")) or _excluded(entry.name, patterns):
            continue
        path = Path(entry.path)
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        if is_dir:
            yield from _walk(path, patterns, hidden, extensions)
        elif path.suffix.lower() in extensions and not _is_linked_folder(entry):
            yield path


def _twins_together(entries: list[os.DirEntry]) -> list[os.DirEntry]:
    """Sorted entries, each RAW file moved right after its JPEG twin (lzt.tagging.raw);
    folders and the other files keep their places."""
    files = set()
    for entry in entries:
        try:
            if not entry.is_dir(follow_symlinks=False):
                files.add(entry.name)
        except OSError:
            continue
    by_name = {entry.name: entry for entry in entries}
    return [by_name[name] for name in twins_together(list(by_name), files)]


def discover(
    paths: Iterable[Path | str], exclude: Sequence[str] = (), include_hidden: bool = False,
    extensions: frozenset[str] = IMAGE_EXTENSIONS,
) -> Iterator[Path]:
    """Image files under the given files and folders, streamed in a deterministic order.
    A folder named explicitly is searched even if it is a symlink; a file named explicitly is
    always yielded, whatever its extension (missing or broken, it gets an error record).
    `extensions`: the file suffixes searched for in folders (the Ray engine adds `.tar`)."""
    patterns = (*DEFAULT_EXCLUDES, *exclude)
    for given in paths:
        given = Path(given)
        if given.is_dir():
            yield from _walk(given, patterns, include_hidden, extensions)
        else:
            yield given


def chunked(items: Iterable[Path], size: int, together: Callable[[Path, Path], bool] | None = None) -> Iterator[list[Path]]:
    """Lists of `size` items; an item for which `together(previous, item)` holds joins its
    predecessor's list even when that list is full (a RAW stays with its JPEG twin)."""
    chunk: list[Path] = []
    for item in items:
        if len(chunk) >= size and not (together is not None and together(chunk[-1], item)):
            yield chunk
            chunk = []
        chunk.append(item)
    if chunk:
        yield chunk


def _after_twin(previous: Path, path: Path) -> bool:
    """`path` is a RAW twin of `previous` (a JPEG), or a second RAW twin of the same JPEG."""
    return is_twin(previous, path) or (
        previous.suffix.lower() in RAW_EXTENSIONS and path.suffix.lower() in RAW_EXTENSIONS
        and previous.stem == path.stem and previous.parent == path.parent
    )



class PathBatches:
    """Re-iterable batches of discovered paths (each DataLoader worker walks the folders itself;
    walking is cheap next to decoding, and nothing has to be sent between processes). With
    `search` False the paths are taken as they are, one file each (a dataset's file list).
    Folders are searched for images and videos (MEDIA_EXTENSIONS); a RAW twin never leaves its
    JPEG's batch (a batch may then hold a file or two more than `batch_size`)."""

    def __init__(
        self, paths: Sequence[Path | str], batch_size: int, exclude: Sequence[str] = (), include_hidden: bool = False,
        search: bool = True,
    ):
        self.paths = list(paths)
        self.batch_size = batch_size
        self.exclude = tuple(exclude)
        self.include_hidden = include_hidden
        self.search = search

    def __iter__(self) -> Iterator[list[Path]]:
        if not self.search:
            return chunked((Path(path) for path in self.paths), self.batch_size, _after_twin)
        return chunked(discover(self.paths, self.exclude, self.include_hidden, MEDIA_EXTENSIONS), self.batch_size, _after_twin)
