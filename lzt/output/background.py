"""Writing on its own thread: captions and sidecars are each written and fsynced, which can take
milliseconds per file, and a GPU tags hundreds of files in that time. A BackgroundWriter takes
records in order from the tagging loop, writes them in the same order on one thread, and hands
back each written record (with its `error` set when its output failed) for the caller to report.

    with BackgroundWriter(writer) as background:
        for record in tagger.tag(paths):
            background.submit(record)
            for written in background.written():
                report(written)
    for written in background.written():     # the last ones, after the thread finished
        report(written)
"""

from __future__ import annotations

import queue
import threading
from typing import Iterator

from lzt.output.base import WriteError, Writer
from lzt.record import Record

_DONE = object()  # the end of the records, on the queue


class BackgroundWriter:
    """A Writer's `write` on a thread of its own, in order, with at most `max_pending` records
    waiting (so memory stays bounded when writing is the slower side). A WriteError is that
    record's error, as in the foreground; any other exception stops the writing and is raised
    again by the next `submit` or by `close`, which also closes the wrapped writer."""

    def __init__(self, writer: Writer, max_pending: int = 1024):
        self.writer = writer
        self._pending: queue.Queue[object] = queue.Queue(max_pending)
        self._written: queue.SimpleQueue[Record] = queue.SimpleQueue()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._write_all, name="lzt-writer", daemon=True)
        self._thread.start()
        self._closed = False

    def _write_all(self) -> None:
        while (record := self._pending.get()) is not _DONE:
            assert isinstance(record, Record)
            if self._failure is not None:  # keep draining, so that `submit` never blocks for ever
                continue
            try:
                self.writer.write(record)
            except WriteError as exc:  # this image's caption or sidecar; it is left as it was
                record.error = str(exc)
            except BaseException as exc:  # a closed stdout, a bug: stop writing, tell the caller
                self._failure = exc
                continue
            self._written.put(record)

    def submit(self, record: Record) -> None:
        """Queue a record for writing (blocks while `max_pending` records wait)."""
        self._raise_failure()
        self._pending.put(record)

    def written(self) -> Iterator[Record]:
        """The records written since the last call, in order, without waiting."""
        while True:
            try:
                yield self._written.get_nowait()
            except queue.Empty:
                return

    def close(self) -> None:
        """Write what is queued, stop the thread, close the wrapped writer; raise the exception
        that stopped the writing, if any. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._pending.put(_DONE)
        self._thread.join()
        self._raise_failure()
        self.writer.close()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
