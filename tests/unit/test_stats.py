"""`tag_stats`: counts over what lzt wrote (JSON Lines, labelled sets, captions, sidecars), and
one clear error for an input that is none of these."""

from __future__ import annotations

import io
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from lzt import LztError, Record, TagStats, tag_stats
from lzt.output.captions import CaptionWriter
from lzt.output.xmp import XmpWriter
from support import COCO128

RECORDS = [
    {"path": "a/1.jpg", "tags": [{"label": "dog", "score": 0.9}, {"label": "grass", "score": 0.5}]},
    {"path": "a/2.jpg", "tags": [{"label": "dog", "score": 0.7}]},
    {"path": "b/3.jpg", "tags": []},
    {"path": "b/4.jpg", "error": "truncated image"},
    {"path": "5.jpg", "tags": [{"label": "ohwx", "score": None}, {"label": "cat", "score": 0.3}, {"label": "dog", "score": 0.2}]},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows) + "\n", encoding="utf-8")  # a blank line at the end
    return path


def test_counts_of_lzt_tag_records(tmp_path):
    stats = tag_stats(write_jsonl(tmp_path / "tags.jsonl", RECORDS))
    tagged = [r for r in RECORDS if "tags" in r]
    assert stats.images == len(tagged) and stats.errors == 1
    assert stats.tags == Counter(t["label"] for r in tagged for t in r["tags"])
    assert stats.untagged == ["b/3.jpg"]
    assert stats.tag_counts == Counter(len(r["tags"]) for r in tagged)
    assert set(stats.folders) == {"a", "b", "."}
    assert stats.folders["a"].images == 2 and stats.folders["a"].tags == Counter({"dog": 2, "grass": 1})
    assert stats.folders["b"].untagged == 1 and stats.mean_tags == pytest.approx(6 / 4)
    as_json = stats.to_dict()
    assert list(as_json["tags"]) == ["dog", "cat", "grass", "ohwx"]  # most frequent first, ties by name
    assert as_json["tag_counts"] == {"0": 1, "1": 1, "2": 1, "3": 1} and as_json["untagged_paths"] == ["b/3.jpg"]
    assert json.loads(json.dumps(as_json)) == as_json


def test_labelled_sets_streams_and_records_count_alike(tmp_path):
    rows = [{"file": "x/1.jpg", "labels": ["dog", "cat"]}, {"file": "x/2.jpg", "labels": []}]
    from_file = tag_stats(write_jsonl(tmp_path / "labels.jsonl", rows))
    from_stream = tag_stats(io.StringIO("".join(json.dumps(r) + "\n" for r in rows)))
    from_records = TagStats()
    for row in rows:
        from_records.add_record(Record(Path(row["file"]), tags=[(label, 1.0) for label in row["labels"]]))
    for stats in (from_file, from_stream, from_records):
        assert stats.images == 2 and stats.tags == Counter({"dog": 1, "cat": 1}) and stats.untagged == ["x/2.jpg"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"path,tags,scores,error\nx.jpg,dog,0.9,\n", r"bad\.jsonl:1: not JSON"),
        (b'{"path": "x.jpg", "tags": []}\n[1, 2]\n', r"bad\.jsonl:2: not a record of `lzt tag`"),
        (b'{"path": "x.jpg", "tags": ["dog"]}\n', r"bad\.jsonl:1: not a record"),
        (b'{"file": "x.jpg", "labels": "dog"}\n', r"bad\.jsonl:1: not a record"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01 binary", r"bad\.jsonl:1: not JSON"),
    ],
)
def test_an_input_that_is_not_lzt_json_lines_is_one_clear_error(tmp_path, content, message):
    (tmp_path / "bad.jsonl").write_bytes(content)
    with pytest.raises(LztError, match=message):
        tag_stats(tmp_path / "bad.jsonl")


def test_missing_and_empty_inputs(tmp_path):
    with pytest.raises(LztError, match="no such file or folder"):
        tag_stats(tmp_path / "nowhere.jsonl")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("dog, cat")
    with pytest.raises(LztError, match=r"no images under .*empty"):
        tag_stats(tmp_path / "empty")
    (tmp_path / "none.jsonl").write_text("")
    assert tag_stats(tmp_path / "none.jsonl").images == 0


@pytest.fixture
def photos(tmp_path, coco128):
    for folder, count in (("dogs", 3), ("cats", 2)):
        (tmp_path / "photos" / folder).mkdir(parents=True)
        for image in sorted((COCO128 / "images").glob("*.jpg"))[:count]:
            shutil.copy(image, tmp_path / "photos" / folder / image.name)
    return tmp_path / "photos"


def test_a_folder_of_captions_and_one_of_sidecars_count_what_the_writers_wrote(photos):
    images = sorted(photos.rglob("*.jpg"))
    written = {image: [("dog", 0.9), ("ball", 0.4)] if "dogs" in image.parts else [("cat", 0.8)] for image in images[:-1]}
    captions, sidecars = CaptionWriter(), XmpWriter()
    for image, tags in written.items():
        captions.write(Record(image, tags=tags))
        sidecars.write(Record(image, tags=tags))
    (images[-1].with_suffix(".txt")).write_text(" \n")  # an empty caption: no tags
    expected = Counter(label for tags in written.values() for label, _ in tags)
    for keywords in ("txt", "xmp"):
        stats = tag_stats(photos, keywords=keywords)
        assert stats.images == len(images) and stats.tags == expected, keywords
        assert stats.untagged == [str(images[-1])]
        assert {name.rsplit("/", 1)[-1] for name in stats.folders} == {"dogs", "cats"}


def test_an_unreadable_sidecar_is_reported_and_its_photo_left_out(photos):
    images = sorted(photos.rglob("*.jpg"))
    Path(f"{images[0]}.xmp").write_text("<x:xmpmeta broken")
    reported = []
    stats = tag_stats(photos, keywords="xmp", on_unreadable=lambda path, reason: reported.append((path, reason)))
    assert stats.images == len(images) - 1 and len(stats.unreadable) == 1 == len(reported)
    assert reported[0][0] == f"{images[0]}.xmp" and "not valid XMP" in reported[0][1]
