"""Caption files: `photo.txt` beside `photo.jpg`, comma-separated tags, best first (WD14/kohya)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from lzt.config import OnExisting
from lzt.files import atomic_write
from lzt.output.base import Format, WriteError, register_format
from lzt.record import Record


def split_caption(text: str) -> list[str]:
    """A caption's tags: comma- or line-separated, stripped, empties dropped."""
    return [t.strip() for t in text.replace("\n", ",").split(",") if t.strip()]


class CaptionWriter:
    """`photo.txt` beside `photo.jpg`: comma-separated tags, best first (WD14/kohya style)."""

    def __init__(self, extension: str = ".txt", on_existing: OnExisting | str = OnExisting.overwrite):
        self.extension = extension if extension.startswith(".") else "." + extension
        self.on_existing = OnExisting(on_existing)
        self.written = 0
        self.skipped = 0

    def caption_path(self, image: Path) -> Path:
        return image.with_suffix(self.extension)

    def write(self, record: Record) -> None:
        if record.error is not None or record.tags is None or record.path is None:
            return
        self.write_tags(Path(record.path), [label for label, _ in record.tags])

    def write_tags(self, image: Path, tags: list[str], remove: Iterable[str] = (), create_empty: bool = True) -> bool:
        """Write `tags` as the caption of `image` by `on_existing`: `append` keeps the existing
        caption's tags first (except those in `remove`, case-insensitive) and adds the new ones
        without duplicates; `skip` leaves an existing caption alone. Without `create_empty`, no
        caption is made where there is none and no tag to write. True when a caption was written."""
        target = self.caption_path(image)
        try:
            if target.exists():
                if self.on_existing == OnExisting.skip:
                    self.skipped += 1
                    return False
                if self.on_existing == OnExisting.append:
                    removed = {t.lower() for t in remove}
                    existing = [t for t in split_caption(target.read_text(encoding="utf-8", errors="replace")) if t.lower() not in removed]
                    seen = {t.lower() for t in existing}
                    tags = existing + [t for t in tags if t.lower() not in seen]
            elif not tags and not create_empty:
                return False
            text = ", ".join(tags) + "\n"
            atomic_write(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        except OSError as exc:  # an unwritable folder, a caption that is a folder: this image only
            raise WriteError(f"{os.fsdecode(target)}: cannot write caption: {exc.strerror or exc}") from exc
        self.written += 1
        return True

    def close(self) -> None:
        pass


register_format(Format(
    "txt", "a caption file beside each image",
    lambda options: CaptionWriter(options.caption_ext, options.on_existing), stream=False,
))
