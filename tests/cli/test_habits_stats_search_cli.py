"""`lzt tag` caption habits, `lzt export` with them, `lzt stats` and `lzt search` through the real
CLI on coco128 photos with the tiny model: what a user sees on stdout, stderr and $?."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import torch

from lzt.vocab import load_vocabulary
from support import COCO128, copy_photos, exiftool_keywords, invoke, jsonl, needs_exiftool, run_lzt

TAG = ("--pretrained", "none", "-k", "4", "-w", "0", "-q")
SEARCH = ("--model", "lzt-tiny-vit", "--pretrained", "none", "-w", "0")


@pytest.fixture
def dataset(tmp_path, coco128):
    """A kohya-style dataset: `10_ohwx dog/` and `cats/`, three photos each."""
    photos = sorted((COCO128 / "images").glob("*.jpg"))
    for folder, chosen in (("10_ohwx dog", photos[:3]), ("cats", photos[3:6])):
        (tmp_path / "dataset" / folder).mkdir(parents=True)
        for photo in chosen:
            shutil.copy(photo, tmp_path / "dataset" / folder / photo.name)
    return tmp_path / "dataset"


def test_caption_habits_in_captions_and_json_lines(dataset, tiny_classifier):
    plain = jsonl(invoke("tag", dataset, "-c", tiny_classifier, *TAG).stdout)
    habits = ("--prepend", "ohwx,sks", "--prepend", "trigger", "--tags-from-folders", "--underscores", "--order", "vocabulary")
    styled = jsonl(invoke("tag", dataset, "-c", tiny_classifier, *TAG, *habits).stdout)
    invoke("tag", dataset, "-c", tiny_classifier, *TAG, *habits, "--format", "txt")
    order = [label.name for label in load_vocabulary("coco").labels]
    for before, after in zip(plain, styled):
        folder = Path(before["path"]).parent.name
        folder_tag = "ohwx_dog" if folder.startswith("10_") else folder
        own = sorted(before["tags"], key=lambda tag: order.index(tag["label"]))  # the same tags, in vocabulary order
        expected = ["ohwx", "sks", "trigger", folder_tag, *(tag["label"].replace(" ", "_") for tag in own)]
        assert [tag["label"] for tag in after["tags"]] == expected
        assert [tag["score"] for tag in after["tags"]] == [None] * 4 + [tag["score"] for tag in own]
        caption = Path(before["path"]).with_suffix(".txt").read_text(encoding="utf-8")
        assert caption == ", ".join(expected) + "\n"


def test_export_adds_the_habits_a_sharded_run_cannot_store(tmp_path, coco128, tiny_classifier):
    direct, exported = copy_photos(tmp_path / "a" / "beach", 4), copy_photos(tmp_path / "b" / "beach", 4)
    habits = ("--prepend", "ohwx", "--tags-from-folders")
    invoke("tag", direct, "-c", tiny_classifier, *TAG, "--underscores", *habits, "--format", "txt")
    refused = invoke("tag", exported, "-c", tiny_classifier, *TAG, *habits, "--out", tmp_path / "out", check=2)
    assert "lzt export" in refused.stderr
    invoke("tag", exported, "-c", tiny_classifier, *TAG, "--out", tmp_path / "out")
    invoke("export", tmp_path / "out", "--format", "txt", "--underscores", *habits, "-q")
    captions = [sorted(folder.glob("*.txt")) for folder in (direct, exported)]
    assert len(captions[0]) == 4 and [p.read_text() for p in captions[0]] == [p.read_text() for p in captions[1]]
    assert all(p.read_text().startswith("ohwx, beach, ") for p in captions[1])


def test_stats_of_json_lines_stdin_shards_and_captions_agree(tmp_path, coco128, tiny_classifier):
    photos = copy_photos(tmp_path / "photos", 10)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff truncated")
    output = invoke("tag", photos, "-c", tiny_classifier, *TAG, check=3).stdout
    (tmp_path / "tags.jsonl").write_text(output)
    records = jsonl(output)
    counted = json.loads(invoke("stats", tmp_path / "tags.jsonl", "--json").stdout)
    tagged = [r for r in records if "tags" in r]
    assert counted["images"] == 10 and counted["errors"] == 1 and counted["untagged"] == 0
    assert counted["tags"] == dict(Counter(t["label"] for r in tagged for t in r["tags"]))
    assert counted["tag_counts"] == {**{str(n): 0 for n in range(4)}, "4": 10} and counted["mean_tags"] == 4.0
    piped = run_lzt("stats", "-", "--json", input=output)
    assert json.loads(piped.stdout) == counted
    invoke("tag", photos, "-c", tiny_classifier, *TAG, "--out", tmp_path / "out", check=3)
    from_shards = json.loads(invoke("stats", tmp_path / "out", "--json").stdout)
    assert {key: from_shards[key] for key in ("images", "errors", "tags", "tag_counts")} == {key: counted[key] for key in ("images", "errors", "tags", "tag_counts")}
    invoke("tag", photos, "-c", tiny_classifier, *TAG, "--format", "txt", check=3)
    from_captions = json.loads(invoke("stats", photos, "--json").stdout)
    assert from_captions["tags"] == counted["tags"] and from_captions["images"] == 11  # broken.jpg: no caption, no tags
    assert from_captions["untagged_paths"] == [str(photos / "broken.jpg")]
    report = invoke("stats", tmp_path / "tags.jsonl").stdout
    assert report.startswith("10 images") and "1 could not be tagged" in report and "tags per image:" in report


def test_stats_refuses_what_is_not_lzt_output(tmp_path, small_images, tiny_classifier):
    csv = invoke("tag", small_images, "-c", tiny_classifier, *TAG, "--format", "csv").stdout
    (tmp_path / "tags.csv").write_text(csv)
    run = invoke("stats", tmp_path / "tags.csv", check=1)
    assert "tags.csv:1: not JSON" in run.stderr and "Traceback" not in run.stderr
    run = invoke("stats", sorted(small_images.glob("*.jpg"))[0], check=1)
    assert ".jpg:1: not JSON" in run.stderr
    assert "no such file or folder" in invoke("stats", tmp_path / "nowhere", check=2).stderr
    (tmp_path / "empty").mkdir()
    assert "no images under" in invoke("stats", tmp_path / "empty", check=1).stderr


def test_search_ranks_coco128_and_a_second_search_reads_the_cache(coco128, tmp_path, tiny_encoder):
    from lzt.tagging.decoding import decode_image

    cache = ("--cache-dir", tmp_path / "cache")
    first = invoke("search", "dog on a beach", coco128 / "images", *SEARCH, *cache, "--limit", "0")
    found = jsonl(first.stdout)
    assert "device: cpu | model: lzt-tiny-vit (none)" in first.stderr and "searched 128 images" in first.stderr
    images = sorted((coco128 / "images").glob("*.jpg"))
    stacked = torch.stack([decode_image(path, tiny_encoder.preprocess) for path in images])
    embeddings = torch.cat([tiny_encoder.encode_pixels(stacked[i : i + 64]) for i in range(0, 128, 64)]).half().float()
    scores = (embeddings @ tiny_encoder.encode_texts(["dog on a beach"])[0]).tolist()
    expected = sorted(range(128), key=lambda i: (-scores[i], i))
    assert [row["path"] for row in found] == [str(images[i]) for i in expected]
    assert [row["score"] for row in found] == [round(scores[i], 4) for i in expected]
    again = invoke("search", "dog on a beach", coco128 / "images", *SEARCH, *cache, "--max-pixels", "1", "-n", "5")
    assert jsonl(again.stdout) == found[:5]


def test_search_like_a_photo_in_a_real_process(coco128, tmp_path):
    photo = sorted((coco128 / "images").glob("*.jpg"))[7]
    run = run_lzt("search", "--like", photo, coco128 / "images", *SEARCH, "--cache-dir", tmp_path, "-n", "3")
    found = jsonl(run.stdout)
    assert len(found) == 3 and found[0]["path"] == str(photo)
    assert found[0]["score"] == pytest.approx(1.0, abs=2e-3)  # cosine of float16-rounded unit embeddings
    assert found[1]["score"] <= found[0]["score"] and found[2]["score"] <= found[1]["score"]


def test_search_bad_input_is_one_line(tmp_path, small_images):
    (tmp_path / "empty").mkdir()
    run = invoke("search", "dog", tmp_path / "empty", *SEARCH, "--no-cache", check=1)
    assert "error: no images to search under" in run.stderr and "Traceback" not in run.stderr
    (tmp_path / "notes.txt").write_text("hello")
    run = invoke("search", "--like", tmp_path / "notes.txt", small_images, *SEARCH, "--no-cache", check=2)
    assert "error: cannot search --like" in run.stderr and "not an image" in run.stderr
    assert "give the photos" in invoke("search", "dog", *SEARCH, check=2).stderr
    assert "no such file or folder" in invoke("search", "dog", tmp_path / "nowhere", *SEARCH, check=2).stderr


def test_new_commands_explain_themselves():
    for command, needle in (("search", "--like"), ("stats", "--json"), ("tag", "--tags-from-folders"), ("export", "--prepend")):
        assert needle in invoke(command, "--help").stdout and "Example" in invoke(command, "--help").stdout, command


@needs_exiftool
def test_lang_writes_the_builtin_labels_in_another_language(dataset, tiny_classifier):
    """`--lang` renames, it does not rescore: the same tags and scores under German names in
    JSON Lines, Japanese names in captions and XMP sidecars (UTF-8, read back by ExifTool); a
    `--rename` line wins over `--lang`; an unknown language is a usage error."""
    from lzt import read_translations

    german, japanese = read_translations("coco", "de"), read_translations("coco", "ja")
    plain = jsonl(invoke("tag", dataset, "-c", tiny_classifier, *TAG).stdout)
    translated = jsonl(invoke("tag", dataset, "-c", tiny_classifier, *TAG, "--lang", "de").stdout)
    for before, after in zip(plain, translated):
        assert [(german[t["label"]], t["score"]) for t in before["tags"]] == [(t["label"], t["score"]) for t in after["tags"]]
    first = plain[0]["tags"][0]["label"]
    renames = dataset.parent / "renames.txt"
    renames.write_text(f"{first}: mine\n", encoding="utf-8")
    both = jsonl(invoke("tag", dataset, "-c", tiny_classifier, *TAG, "--lang", "de", "--rename", renames).stdout)
    assert both[0]["tags"][0]["label"] == "mine"
    invoke("tag", dataset, "-c", tiny_classifier, *TAG, "--lang", "ja", "--format", "txt")
    invoke("tag", dataset, "-c", tiny_classifier, *TAG, "--lang", "ja", "--format", "xmp", "--xmp-parent", "")
    for before in plain:
        photo = Path(before["path"])
        expected = [japanese[t["label"]] for t in before["tags"]]
        assert photo.with_suffix(".txt").read_text(encoding="utf-8") == ", ".join(expected) + "\n"
        assert sorted(exiftool_keywords(photo.with_name(photo.name + ".xmp"))[0]["Subject"]) == sorted(expected)
    assert "--lang" in invoke("tag", dataset, "-c", tiny_classifier, *TAG, "--lang", "xx", check=2).stderr


def test_lang_names_the_keyword_tree_too(dataset, tmp_path):
    """An everyday classifier (random weights) with `--lang de`: every hierarchical keyword is
    the German path of its label, parents included (`Tiere|Vögel|Eule`), in both XMP trees."""
    from lzt import read_translations, save_classifier
    from lzt.output.xmp import read_keywords
    from lzt.vocab.translations import read_parent_translations
    from support import exiv2_properties, random_classifier

    everyday = load_vocabulary("everyday")
    classifier = random_classifier(everyday.names)
    classifier.parents = {label: list(path) for label, path in everyday.parents().items()}
    save_classifier(classifier, tmp_path / "everyday.lzt")
    names, parents = read_translations("everyday", "de"), read_parent_translations("everyday", "de")
    german_path = {names[label]: "|".join([*(parents[p] for p in path), names[label]]) for label, path in everyday.parents().items()}
    invoke("tag", dataset, "-c", tmp_path / "everyday.lzt", *TAG, "--lang", "de", "--format", "xmp")
    sidecars = sorted(dataset.rglob("*.xmp"))
    assert len(sidecars) == 6
    for sidecar in sidecars:
        flat, tree = read_keywords(sidecar)
        assert len(flat) == 4 and tree == [german_path[k] for k in flat]
        assert exiv2_properties(sidecar)["Xmp.digiKam.TagsList"][1] == [p.replace("|", "/") for p in tree]
