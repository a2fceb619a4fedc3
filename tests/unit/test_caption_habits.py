"""Dataset builders' caption habits: tag order, danbooru-style names, trigger words and folder
names as tags; one implementation that every output format gets."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
import torch

from lzt import ExtraTags, Record, Selection, TagOrder, UsageError, add_extra_tags, make_writer, select_tags
from lzt.config import OutputOptions
from lzt.output.extra import folder_names, folder_tag, with_extra_tags

LABELS = ["dog", "hot dog", "car", "tree"]
SCORES = torch.tensor([[0.1, 0.9, 0.5, 0.7], [0.8, 0.2, 0.6, 0.4]])


def test_order_by_vocabulary_keeps_the_same_tags_in_the_vocabulary_order():
    by_score = select_tags(SCORES, LABELS, Selection(topk=3))
    by_vocabulary = select_tags(SCORES, LABELS, Selection(topk=3, order="vocabulary"))
    for best, listed in zip(by_score, by_vocabulary):
        assert sorted(best) == sorted(listed)  # the same tags, scores included
        assert [label for label, _ in listed] == sorted((label for label, _ in best), key=LABELS.index)
    assert [score for _, score in by_score[0]] == sorted((score for _, score in by_score[0]), reverse=True)
    with pytest.raises(UsageError, match="score or vocabulary"):
        Selection(order="alphabet")
    assert Selection(order="vocabulary").order is TagOrder.vocabulary


def test_output_names_go_through_one_function_rename_then_underscores():
    selection = Selection(topk=None, rename={"tree": "old  oak"}, underscores=True)
    assert [selection.output_name(label) for label in LABELS] == ["dog", "hot_dog", "car", "old_oak"]
    rows = select_tags(SCORES, LABELS, selection)
    assert [label for label, _ in rows[0]] == ["hot_dog", "old_oak", "car", "dog"]
    assert Selection().output_name("hot dog") == "hot dog"


@pytest.mark.parametrize(
    ("path", "levels", "expected"),
    [
        ("dataset/10_ohwx dog/a.jpg", 1, ["10_ohwx dog"]),
        ("dataset/animals/cat/a.jpg", 2, ["animals", "cat"]),
        ("dataset/animals/cat/a.jpg", 0, []),
        ("s3://bucket/trips/beach/a.jpg", 2, ["trips", "beach"]),
        ("shards/000.tar#beach/a.jpg", 1, ["beach"]),
    ],
)
def test_folder_names(path, levels, expected):
    where = path if "://" in path or "#" in path else Path(path)
    assert folder_names(where, levels) == expected


def test_a_relative_path_without_enough_folders_is_made_absolute(tmp_path, monkeypatch):
    (tmp_path / "holiday").mkdir()
    monkeypatch.chdir(tmp_path / "holiday")
    assert folder_names(Path("a.jpg"), 1) == ["holiday"]
    assert folder_names(Path("../holiday/a.jpg"), 2) == [tmp_path.name, "holiday"]


def test_folder_tags_drop_kohya_repeat_counts():
    assert folder_tag("10_ohwx dog") == "ohwx dog"
    assert folder_tag("10_ohwx dog", underscores=True) == "ohwx_dog"
    assert folder_tag("2023") == "2023" and folder_tag("5_") == "5_"  # nothing left to be a name: kept as it is


def test_extra_tags_come_first_without_scores_and_each_tag_once():
    record = Record(Path("data/5_Dog/x.jpg"), tags=[("dog", 0.9), ("hot dog", 0.5), ("OHWX", 0.4)])
    extra = ExtraTags(prepend=("ohwx", " ", "sks"), folders=1, underscores=True)
    assert extra.prepend == ("ohwx", "sks")
    out = with_extra_tags(record, extra)
    assert out.tags == [("ohwx", None), ("sks", None), ("Dog", None), ("hot_dog", 0.5)]
    assert out.path == record.path and record.tags == [("dog", 0.9), ("hot dog", 0.5), ("OHWX", 0.4)]  # the input is left alone
    failed = Record(Path("data/x.jpg"), error="truncated image")
    assert with_extra_tags(failed, extra) is failed
    assert ExtraTags().empty and not ExtraTags(underscores=True).empty
    with pytest.raises(UsageError, match="folders"):
        ExtraTags(folders=-1)
    plain = [Record(Path("x.jpg"), tags=[("dog", 0.1)])]
    assert list(add_extra_tags(plain, ExtraTags())) == plain


def test_every_format_writes_the_added_tags(tmp_path):
    photo = tmp_path / "beach" / "p.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"")  # writers never read the image
    record = with_extra_tags(Record(photo, tags=[("hot dog", 0.75)]), ExtraTags(prepend=("ohwx",), folders=1, underscores=True))
    stream = io.StringIO()
    make_writer("jsonl", OutputOptions(stream=stream)).write(record)
    assert json.loads(stream.getvalue())["tags"] == [{"label": "ohwx", "score": None}, {"label": "beach", "score": None}, {"label": "hot_dog", "score": 0.75}]
    stream = io.StringIO()
    make_writer("csv", OutputOptions(stream=stream)).write(record)
    assert stream.getvalue().splitlines()[1] == f"{os.fsdecode(photo)},ohwx;beach;hot_dog,;;0.7500,"
    make_writer("txt").write(record)
    assert (photo.parent / "p.txt").read_text() == "ohwx, beach, hot_dog\n"
    make_writer("xmp").write(record)
    from lzt.output.xmp import read_keywords

    assert read_keywords(photo.parent / "p.jpg.xmp")[0] == ["ohwx", "beach", "hot_dog"]


def test_extra_tags_keep_a_videos_segments_and_a_raws_twin():
    from lzt.record import Segment

    record = Record(Path("clip.mp4"), tags=[("dog", 0.9)], segments=[Segment(0.0, 2.0, [("dog", 0.9)])], tagged_from=Path("clip.jpg"))
    added = with_extra_tags(record, ExtraTags(prepend=("ohwx",), underscores=True))
    assert added.tags == [("ohwx", None), ("dog", 0.9)]
    assert (added.segments, added.tagged_from) == (record.segments, record.tagged_from)
