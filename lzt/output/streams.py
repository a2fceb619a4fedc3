"""Stream formats: JSON Lines and CSV on stdout, every record flushed as it is written (a
consumer such as `jq` or `head` sees it at once)."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import TextIO

from lzt.errors import OutputClosed
from lzt.output.base import Format, register_format
from lzt.record import Record


def display_path(path: Path | str | None) -> str:
    """Paths as given (relative stays relative); undecodable bytes survive as escapes."""
    return "" if path is None else os.fsdecode(path)


class JsonlWriter:
    """One JSON object per record, flushed as written: {"path", "tags": [{"label", "score"}]} or
    {"path", "error"}."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, record: Record) -> None:
        # ensure_ascii keeps lone surrogates from non-UTF-8 file names valid JSON.
        _emit(self.stream, json.dumps(record.to_dict(), ensure_ascii=True) + "\n")

    def close(self) -> None:
        self.stream.flush()


def _emit(stream: TextIO, text: str) -> None:
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError as exc:
        raise OutputClosed() from exc


class CsvWriter:
    """Columns: path, tags ("dog;cat"), scores ("0.91;0.45"; empty for an added tag), error."""

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
            tags = record.tags or []
            # an added tag (trigger word, folder name) has no score: an empty field in `scores`
            scores = ";".join("" if score is None else f"{score:.4f}" for _, score in tags)
            self._row([path, ";".join(label for label, _ in tags), scores, ""])

    def close(self) -> None:
        self.stream.flush()


register_format(Format("jsonl", "one JSON object per image on stdout", lambda options: JsonlWriter(options.output_stream()), stream=True))
register_format(Format("csv", "path,tags,scores,error rows on stdout", lambda options: CsvWriter(options.output_stream()), stream=True))
