"""`lzt adapt` as a user runs it, on real coco128 photos with the tiny model: tag, review
(decisions written from the tags and the ground truth), adapt, tag again; the reviewed photos'
confirmed labels gain on the rejected ones, and a photo that vanished meanwhile is reported and
skipped (exit 3)."""

from __future__ import annotations

import json
import shutil

from lzt.classifier import load_classifier
from support import jsonl, run_lzt

TAG = ("--pretrained", "none", "-w", "0", "-k", "80", "-q")


def scores_by_photo(output: str) -> dict[str, dict[str, float]]:
    return {row["path"]: {tag["label"]: tag["score"] for tag in row["tags"]} for row in jsonl(output)}


def test_adapt_learns_from_review_decisions_and_a_labelled_set(coco128, tiny_classifier, tmp_path):
    rows = [json.loads(line) for line in (coco128 / "labels.jsonl").read_text().splitlines()]
    photos = tmp_path / "photos"
    photos.mkdir()
    for row in rows[:10]:
        shutil.copy(coco128 / row["file"], photos)
    truth = {str(photos / row["file"].split("/")[-1]): set(row["labels"]) for row in rows[:10]}
    before = scores_by_photo(run_lzt("tag", photos, "-c", tiny_classifier, *TAG).stdout)

    # A review of 6 photos: their true labels accepted (added when the tagger missed them), the
    # tagger's wrong top-3 tags rejected; a labelled set of 3 more; and one photo that then vanishes.
    decisions, reviewed = [], sorted(truth)[:6]
    for path in reviewed:
        top = sorted(before[path], key=before[path].get, reverse=True)[:3]
        decisions += [{"path": path, "label": label, "decision": "accept", **({} if label in top else {"added": True})}
                      for label in sorted(truth[path])]
        decisions += [{"path": path, "label": label, "decision": "reject"} for label in top if label not in truth[path]]
    gone = sorted(truth)[9]
    decisions.append({"path": gone, "label": "person", "decision": "accept"})
    decisions.append({"path": reviewed[0], "label": "unicorn", "decision": "accept"})
    (tmp_path / "decisions.jsonl").write_text("".join(json.dumps(d) + "\n" for d in decisions))
    labelled = [{"file": f"photos/{path.split('/')[-1]}", "labels": sorted(truth[path])} for path in sorted(truth)[6:9]]
    (tmp_path / "set.jsonl").write_text("".join(json.dumps(row) + "\n" for row in labelled))
    (photos / gone.split("/")[-1]).unlink()

    out = tmp_path / "mine.lzt"
    run = run_lzt("adapt", "-c", tiny_classifier, "--from", tmp_path / "decisions.jsonl", "--from", tmp_path / "set.jsonl",
                  "-o", out, "--pretrained", "none", "-w", "0", "--json", check=3)
    record = json.loads(run.stdout)
    assert record["photos"] == 9 and record["skipped"] == [gone] and record["unknown_labels"] == {"unicorn": 1}
    assert record["sources"] == ["decisions.jsonl", "set.jsonl"]
    assert record["confirmed"] == sum(len(truth[path]) for path in sorted(truth)[:9])
    assert f"skipped {gone}: file not found" in run.stderr and "'unicorn' (1)" in run.stderr
    assert "evidence: 9 photos (1 skipped)" in run.stderr and f"wrote {out}" in run.stderr
    adapted = load_classifier(out)
    assert adapted.adaptations == [{k: v for k, v in record.items() if k not in ("skipped", "unknown_labels")}]
    assert load_classifier(tiny_classifier).adaptations == []  # the classifier adapted is left as it was

    after = scores_by_photo(run_lzt("tag", photos, "-c", out, *TAG).stdout)
    gains = []
    for path in reviewed:
        rejected = [d["label"] for d in decisions if d["path"] == path and d["decision"] == "reject"]
        lowest = lambda scores: max(scores[label] for label in rejected) if rejected else sorted(scores.values())[-4]  # noqa: E731, B023
        gains += [(after[path][label] - lowest(after[path])) - (before[path][label] - lowest(before[path])) for label in truth[path]]
    # Random weights: nothing to say about quality, but the confirmed labels must gain on the others.
    assert sum(gains) / len(gains) > 0.05 and sum(gain > 0 for gain in gains) >= 0.75 * len(gains)
