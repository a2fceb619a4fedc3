"""`lzt dataset import` on small files the tests write in each official format (COCO instances
JSON, VOC XML folders, NUS-WIDE label files, OpenImages CSVs): the JSON Lines it writes, read
back by `lzt eval`'s reader, and the damaged entries it reports and leaves out."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lzt import LztError, UsageError, evaluate, import_dataset, read_labelled_set
from lzt.vocab import load_vocabulary
from support import invoke, jsonl


def photo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (120, 30, 200)).save(path)
    return path


def lines(path: Path) -> list[dict]:
    return jsonl(path.read_text(encoding="utf-8"))


# --- COCO --------------------------------------------------------------------------------------


def write_coco(root: Path) -> Path:
    for name in ("000001.jpg", "000002.jpg", "000003.jpg"):
        photo(root / "val2014" / name)
    instances = {
        "images": [{"id": 1, "file_name": "000001.jpg"}, {"id": 2, "file_name": "000002.jpg"}, {"id": 3, "file_name": "000003.jpg"}],
        "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}, {"id": 62, "name": "chair"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 18}, {"id": 11, "image_id": 1, "category_id": 1, "iscrowd": 1},
            {"id": 12, "image_id": 1, "category_id": 18}, {"id": 13, "image_id": 2, "category_id": 62},
            {"id": 14, "image_id": 2, "category_id": 99},  # a category the file does not list
        ],
    }
    path = root / "annotations" / "instances_val2014.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(instances))
    return path


def test_coco_instances_become_binary_lines_beside_the_split_folder(tmp_path):
    source = write_coco(tmp_path / "coco")
    problems = []
    report = import_dataset("coco", source, tmp_path / "out" / "coco.jsonl", on_problem=lambda p, r: problems.append(r))
    assert lines(tmp_path / "out" / "coco.jsonl") == [
        {"file": "../coco/val2014/000001.jpg", "labels": ["dog", "person"]},
        {"file": "../coco/val2014/000002.jpg", "labels": ["chair"]},
        {"file": "../coco/val2014/000003.jpg", "labels": []},
    ]
    assert (report.images, report.labels, report.ternary, report.missing_images) == (3, 3, False, 0)
    assert problems == ["1 annotations lack an image id or name an unknown category; left out"]
    labelled = read_labelled_set(tmp_path / "out" / "coco.jsonl", load_vocabulary("coco"))
    assert all(path.is_file() for path in labelled.files) and labelled.negatives is None


# --- Pascal VOC --------------------------------------------------------------------------------


def voc_xml(filename: str, objects: list[tuple[str, int]]) -> str:
    body = "".join(f"<object><name>{name}</name><pose>Left</pose><truncated>0</truncated><difficult>{difficult}</difficult>"
                   "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>" for name, difficult in objects)
    return f"<annotation><folder>VOC2007</folder><filename>{filename}</filename><size><width>8</width><height>8</height></size>{body}</annotation>"


def write_voc(root: Path) -> Path:
    (root / "Annotations").mkdir(parents=True)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "Annotations" / "000001.xml").write_text(voc_xml("000001.jpg", [("dog", 0), ("person", 0), ("person", 1)]))
    (root / "Annotations" / "000002.xml").write_text(voc_xml("000002.jpg", [("chair", 1), ("diningtable", 0)]))
    (root / "Annotations" / "000003.xml").write_text("<annotation><object><name>cat")  # truncated
    (root / "Annotations" / "000004.xml").write_text(voc_xml("000004.jpg", [("cat", 0)]))
    (root / "ImageSets" / "Main" / "test.txt").write_text("000001\n000002\n000003\n")
    for name in ("000001", "000002", "000003", "000004"):
        photo(root / "JPEGImages" / f"{name}.jpg")
    return root


def test_voc_difficult_objects_are_left_unannotated_and_a_broken_file_is_reported(tmp_path):
    source = write_voc(tmp_path / "VOC2007")
    problems = []
    out = tmp_path / "voc.jsonl"
    report = import_dataset("voc", source, out, split="test", on_problem=lambda p, r: problems.append(p.name))
    first, second = lines(out)
    classes = 20
    assert first["labels"] == ["dog", "person"] and len(first["negatives"]) == classes - 2
    assert second["labels"] == ["diningtable"] and "chair" not in second["negatives"] and len(second["negatives"]) == classes - 2
    assert report.ternary and report.images == 2 and problems == ["000003.xml"]
    # `lzt eval` sees the difficult-only chair as unknown (ignored), the VOC spellings as the voc labels.
    vocabulary = load_vocabulary("voc")
    scores = np.random.default_rng(0).normal(size=(2, len(vocabulary)))
    evaluation = evaluate(scores, out, labels=vocabulary)
    chair = vocabulary.names.index("chair")
    assert evaluation.ignored is not None and evaluation.ignored[1, chair] and evaluation.ignored.sum() == 1
    assert evaluation.targets[1, vocabulary.names.index("dining table")]
    negative = evaluate(scores, out, labels=vocabulary, unannotated="negative")
    assert negative.ignored is None and negative.metrics.ignored == 0
    import_dataset("voc", source, tmp_path / "all.jsonl")
    assert len(lines(tmp_path / "all.jsonl")) == 3  # without a split: every readable annotation


# --- NUS-WIDE ----------------------------------------------------------------------------------


def write_nuswide(root: Path, concepts=("animal", "clouds", "sky")) -> Path:
    (root / "ImageList").mkdir(parents=True)
    (root / "TrainTestLabels").mkdir()
    (root / "Concepts81.txt").write_text("\n".join(concepts) + "\n")
    images = ["actor\\0001_2124494179.jpg", "sky\\0002_1.jpg", "sky\\0003_2.jpg"]
    (root / "ImageList" / "TestImagelist.txt").write_text("\r\n".join(images) + "\r\n")
    photo(root / "Flickr" / "actor" / "0001_2124494179.jpg")
    photo(root / "Flickr" / "sky" / "0002_1.jpg")  # the third image's file is missing, as often
    table = {"animal": "1\n0\n0\n", "clouds": "0\n1\n1\n", "sky": "0\n1\n0\n"}
    for concept in concepts:
        (root / "TrainTestLabels" / f"Labels_{concept}_Test.txt").write_text(table[concept])
    return root


def test_nuswide_label_files_become_binary_lines_and_missing_images_are_counted(tmp_path):
    source = write_nuswide(tmp_path / "NUS-WIDE")
    report = import_dataset("nuswide", source, source / "nus.jsonl")
    assert lines(source / "nus.jsonl") == [
        {"file": "Flickr/actor/0001_2124494179.jpg", "labels": ["animal"]},
        {"file": "Flickr/sky/0002_1.jpg", "labels": ["clouds", "sky"]},
        {"file": "Flickr/sky/0003_2.jpg", "labels": ["clouds"]},
    ]
    assert report.missing_images == 1
    kept = import_dataset("nuswide", source, source / "kept.jsonl", skip_missing=True)
    assert kept.images == 2 and len(lines(source / "kept.jsonl")) == 2
    (source / "TrainTestLabels" / "Labels_sky_Test.txt").write_text("0\n1\n")
    with pytest.raises(LztError, match="has 2 lines for 3 images"):
        import_dataset("nuswide", source, source / "bad.jsonl")
    assert not (source / "bad.jsonl").exists()
    with pytest.raises(UsageError, match="test or train"):
        import_dataset("nuswide", source, source / "bad.jsonl", split="val")


# --- OpenImages --------------------------------------------------------------------------------


def write_openimages(root: Path, header: bool) -> Path:
    root.mkdir(parents=True)
    rows = [["LabelName", "DisplayName"]] if header else []
    rows += [["/m/0bt9lr", "Dog"], ["/m/01yrx", "Cat"], ["/m/0k4j", "Car"]]
    with open(root / "oidv7-class-descriptions.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with open(root / "validation-annotations-human-imagelabels.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([
            ["ImageID", "Source", "LabelName", "Confidence"],
            ["0001eeaf4aed83f9", "verification", "/m/0bt9lr", "1"], ["0001eeaf4aed83f9", "verification", "/m/01yrx", "0"],
            ["000a1249af2bc5f0", "crowdsource-verification", "/m/0k4j", "0"], ["000a1249af2bc5f0", "verification", "/m/09xyz", "1"],
            ["broken-row"],
        ])
    photo(root / "0001eeaf4aed83f9.jpg")
    photo(root / "000a1249af2bc5f0.jpg")
    return root / "validation-annotations-human-imagelabels.csv"


@pytest.mark.parametrize("header", [True, False])
def test_openimages_verified_labels_become_positives_and_negatives(tmp_path, header):
    source = write_openimages(tmp_path / "oi", header)
    problems = []
    report = import_dataset("openimages", source, tmp_path / "oi.jsonl", on_problem=lambda p, r: problems.append(r))
    assert lines(tmp_path / "oi.jsonl") == [
        {"file": "oi/0001eeaf4aed83f9.jpg", "labels": ["Dog"], "negatives": ["Cat"]},
        {"file": "oi/000a1249af2bc5f0.jpg", "labels": ["/m/09xyz"], "negatives": ["Car"]},
    ]
    assert report.ternary and len(problems) == 2 and "no display name (/m/09xyz)" in problems[1]
    labelled = read_labelled_set(tmp_path / "oi.jsonl", ["dog", "cat", "car", "bird"])
    positives, ignored = labelled.targets(["dog", "cat", "car", "bird"])
    assert positives.tolist() == [[True, False, False, False], [False, False, False, False]]
    assert ignored.tolist() == [[False, False, True, True], [True, True, False, True]]
    assert labelled.unknown == {"/m/09xyz": 1}


def test_the_command_reports_and_refuses_clearly(tmp_path):
    source = write_voc(tmp_path / "VOC2007")
    result = invoke("dataset", "import", "voc", source, "--split", "test", "--out", tmp_path / "v.jsonl", check=3)
    assert "wrote" in result.stderr and "2 images" in result.stderr and "000003.xml" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    result = invoke("dataset", "import", "coco", tmp_path / "none.json", "--out", tmp_path / "c.jsonl", check=1)
    assert "error: no such file or folder" in result.stderr
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert "expected a JSON object" in invoke("dataset", "import", "coco", tmp_path / "bad.json", "--out", tmp_path / "c.jsonl", check=1).stderr
    result = invoke("dataset", "import", "coco", write_coco(tmp_path / "coco"), "--split", "test", "--out", tmp_path / "c.jsonl", check=2)
    assert "error: --split applies to voc and nuswide" in result.stderr
