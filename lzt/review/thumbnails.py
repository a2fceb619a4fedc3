"""Thumbnails for the review page: made on demand, upright (EXIF), cached on disk.

Only files inside the folders under review are read: the file's real path (every symlink
resolved, at the moment of the request) must lie inside one of the review's roots, so neither a
symlink in a reviewed folder nor a file swapped for one after the import can reach outside. The
cache key is the real path with the file's size and modification time, so an edited photo gets a
new thumbnail. Decoding is lzt's own (lzt.tagging.decoding): the same checks and pixel limit as
tagging, JPEGs decoded at reduced size.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
import threading
from pathlib import Path
from typing import Iterable

from PIL import Image

from lzt.config import DecodeOptions
from lzt.errors import LztError
from lzt.files import atomic_write

DEFAULT_SIZE = 320  # pixels on the long side: sharp in a 160-pixel tile on a high-density screen
QUALITY = 82


class ThumbnailError(LztError):
    """A thumbnail that cannot be served; `status` is the HTTP status that says why: 403 outside
    the folders under review, 404 no such file, 422 not a readable image."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


def inside(real: str, roots: Iterable[str]) -> bool:
    """Whether the real path `real` is one of `roots` or lies below one of them."""
    allowed = set(roots)
    current = real
    while True:
        if current in allowed:
            return True
        parent = os.path.dirname(current)
        if parent == current:
            return False
        current = parent


class Thumbnails:
    """On-demand JPEG thumbnails (`size` pixels on the long side) cached under `folder`; at most
    `parallel` are made at once, so a page of new photos cannot take every core."""

    def __init__(self, folder: str | Path, size: int = DEFAULT_SIZE, options: DecodeOptions = DecodeOptions(), parallel: int = 2):
        self.folder = Path(folder)
        self.size = size
        self.options = options
        self._slots = threading.BoundedSemaphore(max(1, parallel))

    def get(self, path: str, roots: Iterable[str]) -> bytes:
        """The thumbnail of the photo at `path` (JPEG bytes); ThumbnailError when it cannot be served."""
        real = os.path.realpath(path)
        if not inside(real, roots):
            raise ThumbnailError(403, "outside the folders under review (a symbolic link leads elsewhere)")
        try:
            info = os.stat(real)
        except OSError:
            raise ThumbnailError(404, "file not found (moved or deleted since it was added to the review)") from None
        if not stat.S_ISREG(info.st_mode):
            raise ThumbnailError(404, "not a regular file")
        key = hashlib.sha256(f"{real}\0{info.st_size}\0{info.st_mtime_ns}\0{self.size}".encode("utf-8", "surrogateescape")).hexdigest()
        cached = self.folder / key[:2] / f"{key}.jpg"
        if cached.is_file():
            with contextlib.suppress(OSError):
                return cached.read_bytes()
        with self._slots:
            data = self._make(Path(real))
        with contextlib.suppress(OSError):  # a cache that cannot be written costs time, never the thumbnail
            atomic_write(cached, lambda tmp: tmp.write_bytes(data))
        return data

    def _make(self, path: Path) -> bytes:
        from lzt.tagging.decoding import DecodeTimeout, describe_error, open_rgb  # torch loads with it: only when needed

        try:
            image = open_rgb(path, self.options, self.size)
            image.thumbnail((self.size, self.size), Image.Resampling.LANCZOS, reducing_gap=3.0)
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=QUALITY, optimize=True)
        except (Exception, DecodeTimeout) as exc:
            raise ThumbnailError(422, describe_error(exc)) from exc
        return buffer.getvalue()
