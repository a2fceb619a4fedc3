"""`apply_review`: a review's outcome in XMP sidecars (read back by ExifTool) and captions, with
reviewed keywords kept apart from automatic ones, lzt's merge rules, and bad input (vanished
files, a changed vocabulary) reported while the rest is written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lzt.config import OnExisting, OutputOptions
from lzt.output.xmp import REVIEW_PARENT, XmpWriter, read_keywords, sidecar_path
from lzt.record import Record
from lzt.review import ReviewStore, apply_review
from reviewing import items_for, new_store, small_photos
from support import EXISTING_SIDECAR, exiftool_keywords, needs_exiftool


@pytest.fixture
def photos(tmp_path: Path) -> list[Path]:
    return small_photos(tmp_path / "photos", 3)


@pytest.fixture
def store(tmp_path: Path, photos: list[Path]):
    # photo0: tags person, bicycle, car; candidates motorcycle, airplane
    with new_store(tmp_path / "review.db", items_for(photos), [tmp_path / "photos"]) as opened:
        yield opened


def photo_id(store: ReviewStore, name: str) -> int:
    return next(item["id"] for item in store.page(limit=100) if item["name"] == name)


def review_photo0(store: ReviewStore) -> None:
    first = photo_id(store, "photo0000.jpg")
    store.decide(first, "person", "accept")
    store.decide(first, "bicycle", "reject")
    store.decide(first, "motorcycle", "accept")  # a candidate promoted
    store.decide(first, "zebra", "accept")  # added
    # car: an automatic tag nobody decided about


@needs_exiftool
def test_reviewed_and_automatic_keywords_are_marked_apart(store: ReviewStore, photos: list[Path]) -> None:
    review_photo0(store)
    report = apply_review(store)
    assert (report.photos, report.written, report.skipped, report.left_out) == (1, 1, [], {})
    [row] = exiftool_keywords(sidecar_path(photos[0]))
    assert row["Subject"] == ["person", "motorcycle", "zebra", "car"]
    assert row["HierarchicalSubject"] == ["lzt|reviewed|person", "lzt|reviewed|motorcycle", "lzt|reviewed|zebra", "lzt|auto|car"]
    assert not sidecar_path(photos[1]).exists()  # no decision, no sidecar


@needs_exiftool
def test_every_photo_and_reviewed_only(store: ReviewStore, photos: list[Path]) -> None:
    review_photo0(store)
    assert apply_review(store, every_photo=True, reviewed_only=True).written == 1  # the others have nothing reviewed to write
    [row] = exiftool_keywords(sidecar_path(photos[0]))
    assert row["HierarchicalSubject"] == ["lzt|reviewed|person", "lzt|reviewed|motorcycle", "lzt|reviewed|zebra"]
    assert apply_review(store, every_photo=True).written == 3
    rows = exiftool_keywords(*(sidecar_path(p) for p in photos[1:]))
    assert rows[0]["HierarchicalSubject"] == ["lzt|auto|bicycle", "lzt|auto|car", "lzt|auto|motorcycle"]


@needs_exiftool
def test_merging_into_sidecars_lzt_tag_and_a_person_wrote(store: ReviewStore, photos: list[Path]) -> None:
    target = sidecar_path(photos[0])
    target.write_text(EXISTING_SIDECAR, encoding="utf-8")  # a person's keywords: Dog, family, Éte, people|family
    XmpWriter().write(Record(photos[0], [("person", 0.9), ("bicycle", 0.8), ("car", 0.7)]))  # `lzt tag --format xmp`
    review_photo0(store)
    apply_review(store)
    [row] = exiftool_keywords(target)
    assert row["Subject"] == ["Dog", "family", "Éte", "person", "car", "motorcycle", "zebra"]  # bicycle (lzt's, rejected) is gone
    assert row["HierarchicalSubject"] == [
        "people|family", "lzt|reviewed|person", "lzt|reviewed|motorcycle", "lzt|reviewed|zebra", "lzt|auto|car",
    ]
    assert row["Rating"] == 4 and row["Title"] == "Beach day"
    # `lzt tag --format xmp` again: it replaces its automatic keywords, never the reviewed ones
    XmpWriter().write(Record(photos[0], [("giraffe", 0.5)]))
    flat, tree = read_keywords(target)
    assert {"person", "motorcycle", "zebra", "Dog", "giraffe"} <= set(flat)
    assert {"lzt|reviewed|person", "lzt|reviewed|motorcycle", "lzt|reviewed|zebra", "giraffe"} <= set(tree)
    assert "car" not in flat and "lzt|auto|car" not in tree  # an automatic keyword: lzt tag's to replace
    # the person changes their mind: apply again removes what is no longer reviewed
    store.decide(photo_id(store, "photo0000.jpg"), "zebra", "reject")
    apply_review(store)
    flat, tree = read_keywords(target)
    assert "zebra" not in flat and "lzt|reviewed|zebra" not in tree and "giraffe" not in tree
    assert "Dog" in flat and "people|family" in tree


def test_a_keyword_a_person_wrote_is_never_removed(store: ReviewStore, photos: list[Path]) -> None:
    target = sidecar_path(photos[0])
    target.write_text(EXISTING_SIDECAR.replace("<rdf:li>family</rdf:li>", "<rdf:li>bicycle</rdf:li>"), encoding="utf-8")
    review_photo0(store)  # rejects bicycle
    apply_review(store)
    flat, _ = read_keywords(target)
    assert "bicycle" in flat


def test_append_removes_only_what_was_rejected(store: ReviewStore, photos: list[Path]) -> None:
    target = sidecar_path(photos[0])
    XmpWriter().write(Record(photos[0], [("person", 0.9), ("bicycle", 0.8), ("car", 0.7), ("dog", 0.6)]))
    review_photo0(store)
    apply_review(store, options=OutputOptions(on_existing=OnExisting.append, xmp_parent=REVIEW_PARENT))
    flat, tree = read_keywords(target)
    assert flat == ["person", "car", "dog", "motorcycle", "zebra"]
    assert "bicycle" not in tree and "dog" in tree and "lzt|reviewed|person" in tree
    before = target.read_bytes()
    apply_review(store, options=OutputOptions(on_existing=OnExisting.skip))
    assert target.read_bytes() == before


def test_captions(store: ReviewStore, photos: list[Path]) -> None:
    review_photo0(store)
    caption = photos[0].with_suffix(".txt")
    apply_review(store, format="txt")
    assert caption.read_text() == "person, motorcycle, zebra, car\n"
    apply_review(store, format="txt", reviewed_only=True)
    assert caption.read_text() == "person, motorcycle, zebra\n"
    caption.write_text("my tag, bicycle, person\n")
    apply_review(store, format="txt", options=OutputOptions(on_existing=OnExisting.append))
    assert caption.read_text() == "my tag, person, motorcycle, zebra, car\n"  # the rejected bicycle is gone, nothing doubled


def test_vanished_files_are_skipped_and_moved_ones_found(tmp_path: Path, store: ReviewStore, photos: list[Path]) -> None:
    review_photo0(store)
    store.decide(photo_id(store, "photo0001.jpg"), "person", "accept")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(photos[0], elsewhere / photos[0].name)
    report = apply_review(store)
    assert report.written == 1
    assert report.skipped == [(str(photos[0]), "file not found: moved or deleted since the review (its decisions stay in the database; `search` finds moved files)")]
    assert len(list(store.decisions())) == 5  # nothing lost
    report = apply_review(store, search=[elsewhere])
    assert report.moved == [(str(photos[0]), str(elsewhere / photos[0].name))]
    assert report.skipped == [] and sidecar_path(elsewhere / photos[0].name).exists()
    assert str(elsewhere.resolve()) in store.roots()  # its thumbnail is served from there now


def test_a_changed_vocabulary_leaves_labels_out_and_writes_the_rest(tmp_path: Path, store: ReviewStore, photos: list[Path]) -> None:
    review_photo0(store)
    report = apply_review(tmp_path / "review.db", vocabulary=["person", "car", "bicycle"])  # a path: apply opens the database itself
    assert report.left_out == {"motorcycle": 1, "zebra": 1}
    flat, tree = read_keywords(sidecar_path(photos[0]))
    assert flat == ["person", "car"] and tree == ["lzt|reviewed|person", "lzt|auto|car"]
    store.set_vocabulary(["person", "car", "bicycle", "motorcycle"])  # a re-review with another vocabulary
    assert apply_review(store).left_out == {"zebra": 1}
