"""Where a review starts: photos tagged by a Tagger (tags plus the labels just below the cut), or
the JSON Lines `lzt tag` wrote (cut again, or re-scored for candidates)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lzt
from lzt.errors import UsageError
from lzt.review import read_tags_file, review_items
from reviewing import COCO_LABELS
from support import copy_photos, random_classifier


@pytest.fixture(scope="module")
def tagger(tmp_path_factory):
    path = tmp_path_factory.mktemp("clf") / "coco.lzt"
    random_classifier(COCO_LABELS, path)
    with lzt.Tagger.load(path, device="cpu") as loaded:
        yield loaded


@pytest.fixture(scope="module")
def photos(coco128, tmp_path_factory) -> Path:
    return copy_photos(tmp_path_factory.mktemp("photos"), 4)


def expected_candidates(scores, tags: list[str], count: int) -> list[str]:
    order = sorted(range(len(COCO_LABELS)), key=lambda i: -float(scores[i]))
    return [COCO_LABELS[i] for i in order if COCO_LABELS[i] not in tags][:count]


@pytest.mark.parametrize("selection", [lzt.Selection(topk=3), lzt.Selection(topk=None, threshold=0.5), lzt.Selection(topk=4, exclude=frozenset({"person"}))])
def test_candidates_are_the_next_labels_below_the_cut(tagger, photos: Path, selection: lzt.Selection) -> None:
    items = list(review_items(tagger, [photos], selection, candidates=4, workers=0))
    records = list(tagger.tag([photos], selection, workers=0, keep_scores=True))
    assert [Path(i.path) for i in items] == [r.path for r in records]
    for item, record in zip(items, records):
        assert list(item.tags) == record.tags
        tags = [label for label, _ in item.tags]
        wanted = [c for c in expected_candidates(record.scores, tags, 5) if c not in selection.exclude][:4]
        assert [label for label, _ in item.candidates] == wanted
        assert all(score <= min((s for _, s in item.tags), default=float("inf")) for _, score in item.candidates)


def test_a_review_shows_the_classifiers_own_labels(tagger, photos: Path) -> None:
    with pytest.raises(UsageError, match="rename"):
        list(review_items(tagger, [photos], lzt.Selection(rename={"dog": "hound"})))


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_a_tags_file_is_cut_again_and_its_cut_tags_become_candidates(tmp_path: Path, photos: Path, monkeypatch) -> None:
    files = sorted(photos.glob("*.jpg"))
    tags = [{"label": label, "score": 0.9 - 0.1 * k} for k, label in enumerate(["dog", "cat", "car", "bus", "tree"])]
    folder = tmp_path / "out"
    folder.mkdir()
    monkeypatch.chdir(photos.parent)
    source = write_jsonl(folder / "tags.jsonl", [
        {"path": f"{photos.name}/{files[0].name}", "tags": tags},  # relative to where `lzt tag` ran (here)
        {"path": str(files[1]), "error": "truncated image"},
        {"path": str(files[2]), "tags": tags[:2]},
        {"no path": True},
        {"path": "gone.jpg", "tags": tags},
    ])
    (folder / "tags.jsonl").write_text(source.read_text() + "not json\n")
    warnings: list[str] = []
    items = list(read_tags_file(source, lzt.Selection(topk=3), candidates=1, on_warning=warnings.append))
    assert [(Path(i.path), i.error) for i in items] == [(files[0], None), (files[1], "truncated image"), (files[2], None),
                                                        (Path("gone.jpg").absolute(), "file not found")]
    assert [label for label, _ in items[0].tags] == ["dog", "cat", "car"] and [label for label, _ in items[0].candidates] == ["bus"]
    assert [label for label, _ in items[2].tags] == ["dog", "cat"] and not items[2].candidates
    assert [w.split(": ", 1)[0] for w in warnings] == [f"{source}:4", f"{source}:6"]
    threshold = list(read_tags_file(source, lzt.Selection(topk=None, threshold=0.75), on_warning=warnings.append))
    assert [label for label, _ in threshold[0].tags] == ["dog", "cat"] and [label for label, _ in threshold[0].candidates] == ["car", "bus", "tree"]


def test_a_tags_file_with_a_classifier_gets_the_same_candidates_as_tagging(tmp_path: Path, tagger, photos: Path) -> None:
    selection = lzt.Selection(topk=3)
    records = list(tagger.tag([photos], selection, workers=0))
    source = write_jsonl(tmp_path / "tags.jsonl", [record.to_dict() for record in records])
    from_file = list(read_tags_file(source, selection, tagger=tagger, candidates=3, workers=0))
    direct = list(review_items(tagger, [photos], selection, candidates=3, workers=0))
    assert [(list(a.tags), list(a.candidates)) for a in from_file] == [(list(b.tags), list(b.candidates)) for b in direct]
