"""Finding image files: a deterministic, streamed walk that skips OS debris and never loops."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Iterable, Iterator, Sequence

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff",
     ".heic", ".heif", ".avif"}
)
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
    for entry in entries:
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


def chunked(items: Iterable[Path], size: int) -> Iterator[list[Path]]:
    chunk: list[Path] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk



class PathBatches:
    """Re-iterable batches of discovered paths (each DataLoader worker walks the folders itself;
    walking is cheap next to decoding, and nothing has to be sent between processes). With
    `search` False the paths are taken as they are, one file each (a dataset's file list)."""

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
            return chunked((Path(path) for path in self.paths), self.batch_size)
        return chunked(discover(self.paths, self.exclude, self.include_hidden), self.batch_size)
