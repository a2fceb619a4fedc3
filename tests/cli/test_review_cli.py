"""`lzt review` and `lzt apply` through the real CLI in this process: the options that do not go
together say so in one line, the export prints the documented rows, and apply's exit codes.
Serving the page is tested with real processes in tests/e2e/test_review_server.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lzt.output.xmp import read_keywords, sidecar_path
from reviewing import items_for, new_store, small_photos
from support import invoke


@pytest.fixture
def reviewed(tmp_path: Path) -> tuple[Path, list[Path]]:
    """A review database over three photos with two decisions about the first."""
    photos = small_photos(tmp_path / "photos", 3)
    with new_store(tmp_path / "review.db", items_for(photos), [tmp_path / "photos"]) as store:
        first = store.ids()[0]
        store.decide(first, "person", "accept")
        store.decide(first, "bicycle", "reject")
    return tmp_path / "review.db", photos


def test_export_prints_the_documented_rows(reviewed) -> None:
    db, photos = reviewed
    run = invoke("review", "--db", db, "--export", "-", "-q")
    assert [json.loads(line) for line in run.stdout.splitlines()] == [
        {"path": str(photos[0]), "label": "bicycle", "decision": "reject"},
        {"path": str(photos[0]), "label": "person", "decision": "accept"},
    ]
    out = db.parent / "decisions.jsonl"
    run = invoke("review", "--db", db, "--export", out)
    assert "exported 2 decisions" in run.stderr and len(out.read_text().splitlines()) == 2


def test_apply_writes_and_reports(reviewed) -> None:
    db, photos = reviewed
    run = invoke("apply", "--db", db)
    assert "applied 1 reviewed photos: 1 sidecars written" in run.stderr
    assert read_keywords(sidecar_path(photos[0])) == (["person", "car"], ["lzt|reviewed|person", "lzt|auto|car"])
    run = invoke("apply", "--db", db, "--format", "txt", "--reviewed-only", "--caption-ext", ".caption")
    assert photos[0].with_suffix(".caption").read_text() == "person\n" and "1 captions written" in run.stderr
    vocabulary = db.parent / "vocab.txt"
    vocabulary.write_text("person\ndog\n")  # a vocabulary changed since the review: no car, no bicycle
    run = invoke("apply", "--db", db, "--labels", vocabulary, check=3)
    assert "warning: left out 'bicycle' on 1 photos: not in the vocabulary" in run.stderr
    assert "warning: left out 'car' on 1 photos" in run.stderr
    assert read_keywords(sidecar_path(photos[0])) == (["person"], ["lzt|reviewed|person"])


@pytest.mark.parametrize(("args", "message"), [
    (("review", "--export", "-", "photos/"), "--export writes the decisions already in --db"),
    (("review", "nowhere/", "--no-browser"), "no such file or folder: nowhere/"),
    (("apply", "--format", "jsonl"), "'jsonl' is not one of"),
    (("review", "--candidates", "-1"), "--candidates"),
])
def test_usage_errors(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    run = invoke(*args, "--db", tmp_path / "review.db", check=2)
    assert message in run.stderr and "Traceback" not in run.stderr


def test_rename_is_refused(tmp_path: Path) -> None:
    photos = small_photos(tmp_path / "photos", 1)
    renames = tmp_path / "renames.txt"
    renames.write_text("dog: hound\n")
    run = invoke("review", photos[0].parent, "--rename", renames, "--db", tmp_path / "r.db", "--no-browser", check=2)
    assert "--rename applies to `lzt tag`" in run.stderr and not (tmp_path / "r.db").exists()


def test_a_missing_database_is_an_error_not_a_new_file(tmp_path: Path) -> None:
    run = invoke("apply", "--db", tmp_path / "none.db", check=1)
    assert run.stderr.startswith("error: no review database at") and not (tmp_path / "none.db").exists()
    run = invoke("review", "--db", tmp_path / "none.db", "--export", "-", check=1)
    assert "no review database" in run.stderr


def test_commands_refuse_a_damaged_database_and_leave_it(tmp_path: Path) -> None:
    db = tmp_path / "review.db"
    db.write_bytes(b"SQLite format 3\x00" + os.urandom(2000))
    before = db.read_bytes()
    for args in (("apply", "--db", db), ("review", "--db", db, "--no-browser"), ("review", "--db", db, "--export", "-")):
        result = invoke(*args, check=1)
        assert result.stderr.startswith("error: the review database") and "left as it is" in result.stderr and "Traceback" not in result.stderr
        assert db.read_bytes() == before


def test_an_empty_review_has_nothing_to_serve(tmp_path: Path) -> None:
    result = invoke("review", "--db", tmp_path / "empty.db", "--no-browser", check=2)
    assert "nothing to review" in result.stderr
