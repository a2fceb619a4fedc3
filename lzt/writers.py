"""Output formats: JSON Lines and CSV on stdout; caption .txt and XMP sidecars beside images.

Stream writers flush every record (a consumer such as `jq` or `head` sees it at once).
File writers never touch the image and replace their file atomically.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Protocol, TextIO

from lzt.classifier import atomic_write
from lzt.errors import OutputClosed
from lzt.tagger import Record

FORMATS = ("jsonl", "csv", "txt", "xmp")
ON_EXISTING = ("skip", "overwrite", "append")


class Writer(Protocol):
    def write(self, record: Record) -> None: ...

    def close(self) -> None: ...


def display_path(path: Path) -> str:
    """Paths as given (relative stays relative); undecodable bytes survive as escapes."""
    return os.fsdecode(path)


class JsonlWriter:
    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, record: Record) -> None:
        if record.error is not None:
            obj = {"path": display_path(record.path), "error": record.error}
        else:
            obj = {"path": display_path(record.path), "tags": [{"label": l, "score": s} for l, s in record.tags]}
        # ensure_ascii keeps lone surrogates from non-UTF-8 file names valid JSON.
        _emit(self.stream, json.dumps(obj, ensure_ascii=True) + "\n")

    def close(self) -> None:
        self.stream.flush()


def _emit(stream: TextIO, text: str) -> None:
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError as exc:
        raise OutputClosed() from exc


class CsvWriter:
    """Columns: path, tags ("dog;cat"), scores ("0.91;0.45"), error."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self._row(["path", "tags", "scores", "error"])

    def _row(self, cells: list[str]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer).writerow(cells)
        _emit(self.stream, buffer.getvalue())

    def write(self, record: Record) -> None:
        path = display_path(record.path).encode("utf-8", "backslashreplace").decode("utf-8")
        if record.error is not None:
            self._row([path, "", "", record.error])
        else:
            self._row([path, ";".join(l for l, _ in record.tags), ";".join(f"{s:.4f}" for _, s in record.tags), ""])

    def close(self) -> None:
        self.stream.flush()


def _split_caption(text: str) -> list[str]:
    return [t.strip() for t in text.replace("\n", ",").split(",") if t.strip()]


class CaptionWriter:
    """`photo.txt` beside `photo.jpg`: comma-separated tags, best first (WD14/kohya style)."""

    def __init__(self, extension: str = ".txt", on_existing: str = "overwrite"):
        self.extension = extension if extension.startswith(".") else "." + extension
        self.on_existing = on_existing
        self.written = 0
        self.skipped = 0

    def caption_path(self, image: Path) -> Path:
        return image.with_suffix(self.extension)

    def write(self, record: Record) -> None:
        if record.error is not None:
            return
        target = self.caption_path(Path(record.path))
        tags = [label for label, _ in record.tags]
        if target.exists():
            if self.on_existing == "skip":
                self.skipped += 1
                return
            if self.on_existing == "append":
                existing = _split_caption(target.read_text(encoding="utf-8", errors="replace"))
                seen = {t.lower() for t in existing}
                tags = existing + [t for t in tags if t.lower() not in seen]
        text = ", ".join(tags) + "\n"
        atomic_write(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        self.written += 1

    def close(self) -> None:
        pass
