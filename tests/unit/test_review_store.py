"""The review database: decisions kept across restarts, paging and filters over many photos,
moved files, a changed vocabulary, damaged or foreign files refused and left as they were, and
the decisions export other tools read."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from lzt.errors import LztError, UsageError
from lzt.review import PhotoQuery, ReviewItem, ReviewStore, export_decisions, read_decisions
from reviewing import COCO_LABELS, items_for, new_store, small_photos


@pytest.fixture
def photos(tmp_path: Path) -> list[Path]:
    return small_photos(tmp_path / "photos", 5)


@pytest.fixture
def store(tmp_path: Path, photos: list[Path]):
    with new_store(tmp_path / "review.db", items_for(photos), [tmp_path / "photos"]) as opened:
        yield opened


def ids_by_name(store: ReviewStore) -> dict[str, int]:
    return {item["name"]: item["id"] for item in store.page(limit=100)}


def test_decisions_survive_a_restart(tmp_path: Path, photos: list[Path], store: ReviewStore) -> None:
    first = ids_by_name(store)["photo0000.jpg"]
    tags = [t["label"] for t in store.photos([first])[0]["tags"]]
    shown = store.decide(first, tags[0], "accept")
    assert shown["tags"][0] == {"label": tags[0], "score": 0.9, "decision": "accept"}  # rounded to 4 decimals
    store.decide(first, tags[1], "reject")
    store.decide(first, "zebra", "accept")  # not a tag nor a candidate: added
    store.close()
    with ReviewStore(tmp_path / "review.db", create=False) as again:
        photo = again.photos([first])[0]
        assert [t["decision"] for t in photo["tags"]] == ["accept", "reject", None]
        assert photo["added"] == [{"label": "zebra", "decision": "accept"}]
        assert again.summary() == {"photos": 5, "reviewed_photos": 1, "decisions": 3, "accepted": 2, "rejected": 1}
        # re-importing the same photos with new scores keeps every decision
        again.add(items_for(photos, tags=1, candidates=0))
        assert {(d.label, d.decision) for d in again.decisions()} == {(tags[0], "accept"), (tags[1], "reject"), ("zebra", "accept")}
        again.decide(first, tags[1], "clear")
        assert {d.label for d in again.decisions()} == {tags[0], "zebra"}


def test_a_decision_is_on_disk_when_decide_returns(tmp_path: Path, store: ReviewStore) -> None:
    first = ids_by_name(store)["photo0001.jpg"]
    store.decide(first, "person", "accept")
    # another connection (another process would be the same) sees it at once
    with sqlite3.connect(tmp_path / "review.db") as other:
        assert other.execute("SELECT label, decision, added FROM decisions").fetchall() == [("person", "accept", 1)]


def test_labels_outside_the_vocabulary_cannot_be_added(store: ReviewStore) -> None:
    first = ids_by_name(store)["photo0000.jpg"]
    with pytest.raises(UsageError, match="not in the vocabulary"):
        store.decide(first, "unicorn", "accept")
    with pytest.raises(UsageError, match="accept, reject or clear"):
        store.decide(first, "person", "maybe")
    with pytest.raises(UsageError, match="no photo 999"):
        store.decide(999, "person", "accept")


def test_export_rows_are_exactly_the_documented_shape(tmp_path: Path, store: ReviewStore, photos: list[Path]) -> None:
    first = ids_by_name(store)["photo0000.jpg"]
    store.decide(first, COCO_LABELS[0], "accept")  # a tag
    store.decide(first, COCO_LABELS[3], "accept")  # a candidate, promoted: not "added"
    store.decide(first, COCO_LABELS[1], "reject")
    store.decide(first, "zebra", "accept")  # added
    store.decide(first, "giraffe", "reject")  # a label rejected without being proposed: no "added" on a reject
    out = tmp_path / "decisions.jsonl"
    assert export_decisions(store, out) == 5
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    path = str(photos[0].absolute())
    assert rows == [
        {"path": path, "label": "bicycle", "decision": "reject"},
        {"path": path, "label": "giraffe", "decision": "reject"},
        {"path": path, "label": "motorcycle", "decision": "accept"},
        {"path": path, "label": "person", "decision": "accept"},
        {"path": path, "label": "zebra", "decision": "accept", "added": True},
    ]
    assert read_decisions(out) == read_decisions(tmp_path / "review.db") == list(store.decisions())
    broken = tmp_path / "broken.jsonl"
    broken.write_text(out.read_text() + '{"path": "x.jpg", "label": "dog", "decision": "maybe"}\n')
    with pytest.raises(LztError, match=r"broken.jsonl:6: not a decision"):
        read_decisions(broken)


def test_paging_and_filters_over_many_photos(tmp_path: Path) -> None:
    # 20,000 photos (files need not exist to be paged): the listing is paged by the database.
    paths = [tmp_path / "lib" / f"p{i:05d}.jpg" for i in range(20_000)]
    with new_store(tmp_path / "big.db", items_for(paths), [tmp_path / "lib"]) as store:
        assert store.count() == 20_000
        page = store.page(PhotoQuery(), offset=100, limit=50)
        assert len(page) == 50
        everything = store.ids(PhotoQuery())
        assert [p["id"] for p in page] == everything[100:150]
        person = PhotoQuery(label="person")  # photo i has COCO labels i..i+2 as tags, i+3..i+4 as candidates
        assert store.count(person) == 3 * 20_000 // 80
        assert store.count(PhotoQuery(label="person", where="candidates")) == 2 * 20_000 // 80
        assert store.count(PhotoQuery(label="person", where="any")) == 5 * 20_000 // 80
        scores = [p["tags"][[t["label"] for t in p["tags"]].index("person")]["score"] for p in store.page(person, limit=500)]
        assert scores == sorted(scores, reverse=True)
        ranged = PhotoQuery(label="person", min_score=0.75, max_score=0.85)  # where person is the second tag
        assert store.count(ranged) == 20_000 // 80
        assert all(next(t["score"] for t in p["tags"] if t["label"] == "person") == pytest.approx(0.8, abs=0.03)
                   for p in store.page(ranged, limit=500))
        best = PhotoQuery(label="person", min_score=0.85)
        assert store.decide_all(best, "person", "reject", expected=250) == 250
        assert store.count(PhotoQuery(label="person", status="decided")) == 250
        assert store.count(PhotoQuery(label="person", status="undecided")) == 500
        assert store.count(PhotoQuery(status="decided")) == 250
        with pytest.raises(UsageError, match="reload it"):
            store.decide_all(person, "person", "accept", expected=3)
        by_path = store.ids(PhotoQuery(sort="path", descending=False), limit=3)
        assert [p["name"] for p in store.photos(by_path)] == ["p00000.jpg", "p00001.jpg", "p00002.jpg"]


def test_bulk_decisions_follow_the_filtered_view(store: ReviewStore) -> None:
    view = PhotoQuery(label="bicycle")  # photos 0 and 1 have it as a tag
    count = store.count(view)
    assert count == 2
    assert store.decide_all(view, "bicycle", "reject", expected=count) == 2
    assert {(d.label, d.decision) for d in store.decisions()} == {("bicycle", "reject")}
    assert store.count(PhotoQuery(label="bicycle", status="undecided")) == 0
    assert store.decide_all(view, "zebra", "accept") == 2  # adding a label to a whole view marks it added
    assert all(d.added for d in store.decisions() if d.label == "zebra")


def test_moved_files_take_their_decisions_along(tmp_path: Path, store: ReviewStore, photos: list[Path]) -> None:
    first = ids_by_name(store)["photo0000.jpg"]
    store.decide(first, "person", "accept")
    moved_folder = tmp_path / "moved"
    moved_folder.mkdir()
    target = moved_folder / photos[0].name
    shutil.move(photos[0], target)  # a move keeps name, size and modification time
    report = store.add([ReviewItem(target, [("person", 0.9)])])
    assert report.moved == [(str(photos[0].absolute()), str(target.absolute()))] and report.added == 0
    assert [d.path for d in store.decisions()] == [str(target.absolute())]
    # relocate() finds a vanished file among the given files (apply's `search`)
    shutil.move(target, photos[0])
    assert store.relocate([photos[0]]) == [(str(target.absolute()), str(photos[0].absolute()))]
    assert store.photo_path(first) == str(photos[0].absolute())


def test_a_changed_vocabulary_keeps_decisions_and_names_them(store: ReviewStore) -> None:
    first = ids_by_name(store)["photo0000.jpg"]
    store.decide(first, "zebra", "accept")
    store.decide(first, "person", "reject")
    stale = store.set_vocabulary([label for label in COCO_LABELS if label != "zebra"])
    assert stale == {"zebra": 1}
    assert len(list(store.decisions())) == 2


def test_errors_are_reported_not_imported(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "r.db") as store:
        report = store.add([ReviewItem(tmp_path / "bad.jpg", error="truncated image"), ReviewItem(tmp_path / "ok.jpg", [("dog", 1.0)])])
        assert report.errors == [(str((tmp_path / "bad.jpg").absolute()), "truncated image")] and report.added == 1
        assert store.vocabulary == ["dog"]  # the labels of imported tags join the vocabulary
        assert store.roots() == [str(tmp_path.resolve())]  # without roots: the folders of the photos


@pytest.mark.parametrize("content", [b"this is not a database at all\n" * 10, b"\x00" * 4096])
def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "review.db"
    path.write_bytes(content)
    with pytest.raises(LztError, match=r"not a review database|damaged"):
        ReviewStore(path)
    assert path.read_bytes() == content


def test_a_damaged_database_is_refused_and_left_alone(tmp_path: Path, photos: list[Path]) -> None:
    path = tmp_path / "review.db"
    with new_store(path, items_for(photos * 200), [tmp_path]) as store:
        store.decide(store.ids()[0], "person", "accept")
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    data[page_size * 2: page_size * 2 + 512] = os.urandom(512)  # scribble over a b-tree page
    path.write_bytes(bytes(data))
    with pytest.raises(LztError, match=r"damaged.*left as it is"):
        ReviewStore(path, create=False)
    assert path.read_bytes() == bytes(data)


def test_foreign_and_newer_databases_are_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "other.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE t (x)")
    before = foreign.read_bytes()
    with pytest.raises(LztError, match="not an lzt review database"):
        ReviewStore(foreign)
    assert foreign.read_bytes() == before
    newer = tmp_path / "newer.db"
    ReviewStore(newer).close()
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE meta SET value='99' WHERE key='schema'")
    with pytest.raises(LztError, match="newer lzt"):
        ReviewStore(newer)
    with pytest.raises(LztError, match="no review database"):
        ReviewStore(tmp_path / "missing.db", create=False)
