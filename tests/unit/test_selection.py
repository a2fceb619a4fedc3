"""Which tags a record keeps: top-k, thresholds, exclusions, renames, and the `label: value` files."""

import math

import pytest
import torch

from lzt.config import Selection, parse_label_list, read_renames, read_thresholds
from lzt.errors import LztError, UsageError
from lzt.tagging.selection import select_tags

LABELS = ["dog", "cat", "car", "tree"]
SCORES = torch.tensor([[0.9, 0.5, 0.3, -0.2], [0.1, 0.2, 0.8, 0.7]])


def labels_of(rows):
    return [[label for label, _ in row] for row in rows]


def test_topk_is_best_first():
    assert labels_of(select_tags(SCORES, LABELS, Selection(topk=2))) == [["dog", "cat"], ["car", "tree"]]


def test_threshold_then_topk():
    assert labels_of(select_tags(SCORES, LABELS, Selection(topk=3, threshold=0.4))) == [["dog", "cat"], ["car", "tree"]]
    assert labels_of(select_tags(SCORES, LABELS, Selection(topk=1, threshold=0.4))) == [["dog"], ["car"]]


def test_per_label_thresholds_override_and_min_score_floors_everything():
    selection = Selection(topk=None, threshold=0.4, per_label={"car": 0.9, "tree": -1.0})
    assert labels_of(select_tags(SCORES, LABELS, selection)) == [["dog", "cat", "tree"], ["tree"]]
    floored = Selection(topk=None, threshold=0.4, per_label={"tree": -1.0}, min_score=0.0)
    assert labels_of(select_tags(SCORES, LABELS, floored)) == [["dog", "cat"], ["car", "tree"]]


def test_exclude_and_rename():
    selection = Selection(topk=2, exclude=frozenset({"dog"}), rename={"cat": "kitty"})
    assert labels_of(select_tags(SCORES, LABELS, selection)) == [["kitty", "car"], ["car", "tree"]]


def test_scores_are_rounded_and_nothing_is_invented():
    rows = select_tags(SCORES, LABELS, Selection(topk=4, threshold=5.0))
    assert rows == [[], []]
    assert all(not math.isinf(s) for row in select_tags(SCORES, LABELS, Selection(topk=4)) for _, s in row)


def test_tag_files(tmp_path):
    (tmp_path / "t.txt").write_text("# thresholds\ndog: 0.5\ncar:-1  # always\n")
    assert read_thresholds(tmp_path / "t.txt", LABELS) == {"dog": 0.5, "car": -1.0}
    (tmp_path / "r.txt").write_text("dog: Hund\n")
    assert read_renames(tmp_path / "r.txt", LABELS) == {"dog": "Hund"}
    (tmp_path / "bad.txt").write_text("dog: lots\n")
    with pytest.raises(LztError, match=r"bad\.txt:1"):
        read_thresholds(tmp_path / "bad.txt", LABELS)
    (tmp_path / "unknown.txt").write_text("zebra: 0.1\n")
    with pytest.raises(LztError, match="not a label"):
        read_thresholds(tmp_path / "unknown.txt", LABELS)
    assert parse_label_list(["dog,cat", " tree "]) == {"dog", "cat", "tree"}
    with pytest.raises(UsageError, match=r"`Selection\.exclude` names labels this classifier lacks: unicorn"):
        Selection(exclude=parse_label_list(["dog,unicorn"])).check(LABELS)
