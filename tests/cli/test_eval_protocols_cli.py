"""`lzt eval` as the papers measure (several k, ZSL beside GZSL, each convention, from one
scoring pass), thresholds that `lzt tag` then applies exactly as fitted, and `lzt calibrate`
from keywords a person wrote: the real CLI on real photos."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

import lzt
from lzt.eval.metrics import compute_metrics
from lzt.tagging import Tagger, calibrate
from lzt.vocab import load_vocabulary
from support import invoke, jsonl

CLI = ("-w", "2", "-q")


def test_one_eval_prints_several_k_zsl_and_gzsl_and_every_convention(coco128, tiny_classifier):
    result = invoke("eval", "-c", tiny_classifier, "-d", coco128 / "labels.jsonl", "--k", "3", "--k", "5", "--subset", "voc",
                    "--convention", "comc", "--json", "-w", "2")
    figures = json.loads(result.stdout)
    assert figures["convention"] == "comc" and figures["mAP"] == figures["mAP_by_convention"]["comc"]
    # Per k, not one k's figures twice (OP alone can coincide: 6 hits of 384 and 10 of 640).
    assert {"CP@3", "OF1@3", "CP@5", "OF1@5"} <= set(figures) and (figures["OP@5"], figures["OR@5"]) != (figures["OP@3"], figures["OR@3"])
    by = figures["mAP_by_convention"]
    share = figures["labels_with_positives"] / figures["labels"]
    assert (figures["labels_with_positives"], figures["labels"]) == (71, 80)  # coco128: 0.8875
    assert by["comc"] == pytest.approx(by["lzt"] * share, abs=1e-6) and by["mkt"] == pytest.approx(by["lzt"] * share, abs=1e-6)
    subset = figures["subset"]
    voc_in_coco = {"person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "boat", "bird", "cat", "dog", "horse",
                   "sheep", "cow", "bottle", "chair", "couch", "potted plant", "dining table", "tv"}
    assert set(subset["per_label"]) == voc_in_coco and subset["labels"] == 20 and {"CP@3", "CP@5"} <= set(subset)
    for label in voc_in_coco:  # the same scores (no per-image calibration): the same AP, ranked alone or not
        assert subset["per_label"][label] == figures["per_label"][label]
    for needle in ("all labels (GZSL): mAP", "subset (ZSL, 20 labels ranked alone)", "top-3:", "top-5:", "comc convention", "lzt ", "mkt "):
        assert needle in result.stderr, needle


def test_the_subset_and_every_k_come_from_one_scoring_pass(coco128, tiny_encoder, tiny_classifier, tmp_path):
    rows = (coco128 / "labels.jsonl").read_text().splitlines()[:24]
    dataset = tmp_path / "labels.jsonl"
    dataset.write_text("".join(json.dumps({**json.loads(r), "file": str(coco128 / json.loads(r)["file"])}) + "\n" for r in rows))
    passes = []

    def progress(description, total, unit=""):
        passes.append((description, total))
        import contextlib

        return contextlib.nullcontext(lambda n=1: None)

    classifier = lzt.load_classifier(tiny_classifier)
    with Tagger(tiny_encoder, classifier, lzt.ScoringConfig(calibration="image")) as tagger:
        calibrated = lzt.evaluate(tagger, dataset, k=[3, 5], subset="voc", workers=0, progress=progress)
    assert passes == [("scoring", 24)]
    with Tagger(tiny_encoder, classifier) as tagger:
        raw = lzt.evaluate(tagger, dataset, workers=0)
    # Per-image calibration is redone over the subset's columns alone.
    columns = [classifier.labels.index(name) for name in calibrated.subset_labels]
    import torch

    expected = compute_metrics(calibrate(torch.from_numpy(raw.scores[:, columns]), "image").numpy(), raw.targets[:, columns],
                               calibrated.subset_labels, [3, 5])
    assert calibrated.subset.topk == expected.topk and calibrated.subset.mean_ap == pytest.approx(expected.mean_ap, abs=1e-12)


def test_thresholds_written_by_eval_are_applied_by_tag_as_fitted(coco128, tiny_classifier, tmp_path):
    thresholds = tmp_path / "thresholds.txt"
    invoke("eval", "-c", tiny_classifier, "-d", coco128 / "labels.jsonl", "--write-thresholds", thresholds, "--min-positives", "4", *CLI)
    text = thresholds.read_text()
    assert text.startswith("# lzt thresholds for tiny.lzt, fitted on 128 images") and "--calibration none" in text
    fitted = {m["label"]: m for m in (re.match(r"(?P<label>[^:#]+): (?P<value>\S+)  # (?P<how>\w+), (?P<positives>\d+) positives, F1 (?P<f1>\S+)", line)
                                       for line in text.splitlines()) if m}
    assert len(fitted) == 80
    assert {how for how in (m["how"] for m in fitted.values())} == {"fitted", "fallback"}
    assert all((m["how"] == "fitted") == (int(m["positives"]) >= 4) for m in fitted.values())
    tagged = jsonl(invoke("tag", coco128 / "images", "-c", tiny_classifier, "--thresholds", thresholds, "--topk", "80", *CLI).stdout)
    truth = {Path(json.loads(line)["file"]).name: set(json.loads(line)["labels"]) for line in (coco128 / "labels.jsonl").read_text().splitlines()}
    kept = {Path(record["path"]).name: {tag["label"] for tag in record["tags"]} for record in tagged}
    assert set(kept) == set(truth)
    for label, m in fitted.items():
        tp = sum(label in kept[name] and label in truth[name] for name in truth)
        predicted = sum(label in kept[name] for name in truth)
        positives = sum(label in truth[name] for name in truth)
        f1 = 2 * tp / (predicted + positives) if predicted + positives else 0.0
        assert f1 == pytest.approx(float(m["f1"]), abs=6e-4), label  # the file rounds F1 to 3 decimals


def test_dataset_labels_the_classifier_lacks_are_named_and_the_rest_is_evaluated(coco128, tiny_classifier, tmp_path):
    rows = [json.loads(line) for line in (coco128 / "labels.jsonl").read_text().splitlines()][:10]
    dataset = tmp_path / "labels.jsonl"
    dataset.write_text("".join(json.dumps({"file": str(coco128 / r["file"]), "labels": [*r["labels"], "unicorn"],
                                           "negatives": ["dragon", "dog"] if i < 3 else []}) + "\n" for i, r in enumerate(rows)))
    result = invoke("eval", "-c", tiny_classifier, "-d", dataset, "--json", "-w", "0")
    figures = json.loads(result.stdout)
    assert figures["images"] == 10 and figures["unknown_labels"] == {"dragon": 3, "unicorn": 10}
    assert "warning: dataset label 'unicorn' (10 images) is not in the classifier's vocabulary; ignored" in result.stderr
    # Lines that list negatives leave the other labels unannotated: ignored by default.
    assert figures["unannotated"] == "ignore" and figures["ignored_pairs"] > 0
    negative = json.loads(invoke("eval", "-c", tiny_classifier, "-d", dataset, "--json", "-w", "0", "--unannotated", "negative", "-q").stdout)
    assert negative["ignored_pairs"] == 0 and negative["unannotated"] == "negative"
    dataset.write_text('{"file": "a.jpg", "labels": ["dog"]}\nnot json\n')
    result = invoke("eval", "-c", tiny_classifier, "-d", dataset, check=1)
    assert "labels.jsonl:2: expected" in result.stderr and "Traceback" not in result.stderr


# --- lzt calibrate -------------------------------------------------------------------------------


def sidecar(keywords: list[str]) -> str:
    items = "".join(f"<rdf:li>{k}</rdf:li>" for k in keywords)
    return ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:lr="http://ns.adobe.com/lightroom/1.0/">'
            f'<dc:subject><rdf:Bag>{items}</rdf:Bag></dc:subject>'
            '<lr:hierarchicalSubject><rdf:Bag><rdf:li>Events|Holiday</rdf:li></rdf:Bag></lr:hierarchicalSubject>'
            '</rdf:Description></rdf:RDF></x:xmpmeta>')


# Keywords as people write them: synonyms, plurals, other words; the labels they stand for.
SPELLING = {"person": "People", "dog": "puppies", "car": "automobile", "cup": "mugs"}


@pytest.fixture(scope="module")
def keyworded(coco128, tiny_classifier, tmp_path_factory):
    """24 photos: 20 keyworded by hand (XMP sidecars and, alike, caption files), 2 tagged by lzt
    only, 1 with a broken sidecar, 1 with nothing; and the labels the hand keywords mean."""
    folder = tmp_path_factory.mktemp("keyworded")
    rows = [json.loads(line) for line in (coco128 / "labels.jsonl").read_text().splitlines()][:24]
    truth = {}
    for i, row in enumerate(rows):
        image = folder / Path(row["file"]).name
        shutil.copy(coco128 / row["file"], image)
        if i < 20:
            keywords = [SPELLING.get(label, label) for label in row["labels"]] + ["summer 2019"]
            (folder / f"{image.name}.xmp").write_text(sidecar(keywords))
            image.with_suffix(".txt").write_text(", ".join(keywords) + "\n")
            truth[image.name] = set(row["labels"])
    lzt_only = [folder / Path(row["file"]).name for row in rows[20:22]]
    invoke("tag", *lzt_only, "-c", tiny_classifier, "--format", "xmp", "-k", "3", *CLI)
    (folder / f"{Path(rows[22]['file']).name}.xmp").write_text("<x:xmpmeta")
    return folder, truth


def threshold_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_calibrate_fits_on_hand_keywords_only_and_tag_reads_the_result(keyworded, tiny_classifier, tmp_path):
    folder, truth = keyworded
    out = tmp_path / "thresholds.txt"
    result = invoke("calibrate", folder, "--from", "xmp", "-c", tiny_classifier, "--out", out, "--min-positives", "2", "-w", "2", check=3)
    assert "24 photos, 20 with keywords (3 without, 1 unreadable)" in result.stderr
    assert re.search(r"warning: skipped \S+\.jpg\.xmp: not valid XMP", result.stderr) and "Traceback" not in result.stderr
    counts = {label: sum(label in labels for labels in truth.values()) for label in load_vocabulary("coco").names}
    for line in threshold_lines(out.read_text()):
        label, rest = line.split(": ", 1)
        assert f", {counts[label]} positives," in rest, line  # lzt's own keywords were not counted
    assert counts["person"] >= 2 and counts["dog"] >= 1
    tagged = invoke("tag", folder, "-c", tiny_classifier, "--thresholds", out, "--topk", "80", *CLI)
    assert len(jsonl(tagged.stdout)) == 24
    captions = invoke("calibrate", folder, "--from", "txt", "-c", tiny_classifier, "--min-positives", "2", *CLI)
    assert threshold_lines(captions.stdout) == threshold_lines(out.read_text())  # the same keywords: the same thresholds


def test_calibrate_without_any_keyword_says_so(small_images, tiny_classifier, tmp_path):
    folder = tmp_path / "bare"
    shutil.copytree(small_images, folder)
    result = invoke("calibrate", folder, "-c", tiny_classifier, *CLI, check=1)
    assert "error: none of the 12 photos has an XMP sidecar with keywords" in result.stderr


def test_keyword_labels_leave_out_what_lzt_recorded_as_its_own(keyworded):
    folder, truth = keyworded
    from lzt.eval.keywords import read_keyword_labels

    keywords = read_keyword_labels([folder], load_vocabulary("coco"))
    assert {path.name: set(labels) for path, labels in zip(keywords.dataset.files, keywords.dataset.labels)} == truth
    assert keywords.unmatched == {"summer 2019": 20, "Events": 20, "Holiday": 20}
