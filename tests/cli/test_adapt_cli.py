"""`lzt adapt`'s options, messages and exit codes (the real CLI in-process)."""

from __future__ import annotations

import json

import pytest

from lzt.classifier import load_classifier
from support import invoke

ADAPT = ("--pretrained", "none", "-w", "0", "--steps", "20")


@pytest.fixture
def labelled(coco128, tmp_path):
    """Three coco128 photos as a labelled set with absolute paths."""
    rows = [json.loads(line) for line in (coco128 / "labels.jsonl").read_text().splitlines()][:3]
    path = tmp_path / "set.jsonl"
    path.write_text("".join(json.dumps({"file": str(coco128 / row["file"]), "labels": row["labels"]}) + "\n" for row in rows))
    return path


def test_adapt_writes_a_classifier_and_its_record(labelled, tiny_classifier, tmp_path):
    out = tmp_path / "out.lzt"
    run = invoke("adapt", "-c", tiny_classifier, "--from", labelled, "-o", out, *ADAPT, "--strength", "2",
                 "--unknown-weight", "0.2", "--unannotated", "ignore", "--json", "--mapping", "none")
    record = json.loads(run.stdout)
    assert record["settings"] == {"strength": 2.0, "unknown_weight": 0.2, "steps": 20, "lr": 0.03}
    assert record["mapping"]["method"] == "none" and record["rejected"] == 0  # --unannotated ignore: nothing rejected
    assert load_classifier(out).adaptations[0]["base_sha256"] == record["base_sha256"]
    assert "evidence: 3 photos (0 skipped)" in run.stderr


@pytest.mark.parametrize(("rows", "code", "message"), [
    ([{"file": "a.jpg", "labels": ["unicorn"]}], 1, "error: no evidence to adapt from: no photo confirms a label of this classifier (or rejects one among unannotated ones) (its labels are not the classifier's: 1 unknown)"),
    ([{"path": "/nowhere/a.jpg", "label": "dog", "decision": "accept"}], 1, "error: no evidence to adapt from: none of the 1 photos could be read"),
    (["[1, 2]"], 1, "evidence.jsonl:1: expected a JSON object"),
    ([{"file": "a.jpg", "labels": ["dog"], "negatives": ["dog"]}], 1, 'evidence.jsonl:1: dog both in "labels" and in "negatives"'),
])
def test_bad_evidence_is_one_line_and_nothing_is_written(tiny_classifier, tmp_path, rows, code, message):
    source = tmp_path / "evidence.jsonl"
    source.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    run = invoke("adapt", "-c", tiny_classifier, "--from", source, "-o", tmp_path / "out.lzt", *ADAPT, check=code)
    assert message in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out.lzt").exists()


def test_adapt_refuses_to_overwrite_the_classifier_it_adapts(labelled, tiny_classifier):
    run = invoke("adapt", "-c", tiny_classifier, "--from", labelled, "-o", tiny_classifier, *ADAPT, check=2)
    assert "error: --out must differ from --classifier" in run.stderr


def test_adapt_options_are_checked_before_anything_loads(labelled, tiny_classifier, tmp_path):
    assert "--strength" in invoke("adapt", "-c", tiny_classifier, "--from", labelled, "-o", tmp_path / "o.lzt", "--strength", "-1", check=2).stderr
    assert "--from" in invoke("adapt", "-c", tiny_classifier, "-o", tmp_path / "o.lzt", check=2).stderr
    assert "no evidence file or folder at" in invoke("adapt", "-c", tiny_classifier, "--from", tmp_path / "none.jsonl", "-o", tmp_path / "o.lzt", check=1).stderr
