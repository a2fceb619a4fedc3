"""BackgroundWriter: records written in order on a thread of their own, errors kept apart."""

from __future__ import annotations

import io
import json
import threading

import pytest

from lzt import BackgroundWriter, OutputOptions, Record, WriteError, make_writer


class Sidecars:
    """A writer that records what it wrote and on which thread; `bad` names fail their output."""

    def __init__(self, bad: set[str] = frozenset(), crash_on: str | None = None):
        self.bad, self.crash_on = bad, crash_on
        self.written: list[str] = []
        self.threads: set[str] = set()
        self.closed = False

    def write(self, record: Record) -> None:
        self.threads.add(threading.current_thread().name)
        if record.path == self.crash_on:
            raise BrokenPipeError("stdout was closed")
        if record.path in self.bad:
            raise WriteError(f"cannot write the sidecar of {record.path}")
        self.written.append(record.path)

    def close(self) -> None:
        self.closed = True


def test_records_are_written_in_order_off_the_calling_thread():
    sidecars = Sidecars(bad={"p3"})
    reported: list[Record] = []
    with BackgroundWriter(sidecars, max_pending=2) as background:
        for i in range(50):
            background.submit(Record(f"p{i}", tags=[("dog", 0.5)]))
            reported.extend(background.written())
    reported.extend(background.written())
    assert sidecars.written == [f"p{i}" for i in range(50) if i != 3]
    assert sidecars.threads == {"lzt-writer"} and sidecars.closed
    assert [r.path for r in reported] == [f"p{i}" for i in range(50)]
    assert [r.path for r in reported if r.error] == ["p3"] and "sidecar" in reported[3].error


def test_a_failure_that_is_not_one_records_stops_the_writing_and_is_raised():
    sidecars = Sidecars(crash_on="p2")
    background = BackgroundWriter(sidecars, max_pending=1)
    with pytest.raises(BrokenPipeError):
        for i in range(200):  # never blocks for ever, though the thread stopped writing
            background.submit(Record(f"p{i}", tags=[]))
        background.close()
    assert sidecars.written == ["p0", "p1"]


def test_jsonl_through_the_background_writer_matches_the_foreground():
    records = [Record(f"photo{i}.jpg", tags=[("cat", 0.25 + i / 100)]) for i in range(20)]
    foreground, background_stream = io.StringIO(), io.StringIO()
    writer = make_writer("jsonl", OutputOptions(stream=foreground))
    for record in records:
        writer.write(record)
    writer.close()
    with BackgroundWriter(make_writer("jsonl", OutputOptions(stream=background_stream))) as background:
        for record in records:
            background.submit(record)
    assert background_stream.getvalue() == foreground.getvalue()
    assert [json.loads(line)["path"] for line in foreground.getvalue().splitlines()] == [r.path for r in records]
