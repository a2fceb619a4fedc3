"""A photo library as it really is, through the real `lzt` command (in its own process with
forked decoding workers where that matters, else in-process): ordinary photos, a DNG beside its
JPEG twin, DNGs alone (with and without a preview), a short video, and broken RAWs and videos.
JSON Lines with segments and twins, sidecars ExifTool reads back for every file, captions, the
sharded engine's error rows for videos, and both extras missing."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lzt import save_classifier
from lzt.vocab.vocabulary import parse_vocabulary
from media import coco_rgb, without_codec, write_dng, write_video
from support import COCO128, exiftool_keywords, exiv2_properties, invoke, jsonl, needs_exiftool, random_classifier, run_lzt

pytest.importorskip("rawpy")
pytest.importorskip("av")

# A hierarchical vocabulary (its labels in a keyword tree), the kind a photographer keeps.
VOCABULARY = """\
[people]
person
[animals]
dog
cat
birds|bird
[vehicles]
car
bicycle
boat
[places|nature]
tree
beach
[]
food
"""
LABELS = parse_vocabulary(VOCABULARY).names
PATHS = {label: (*parents, label) for label, parents in parse_vocabulary(VOCABULARY).parents().items()} | {"food": ("food",)}
TAG = ("--pretrained", "none", "-k", "3", "--every", "1")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, coco128) -> tuple[Path, Path]:
    """(folder, classifier): 2 photos, photo.jpg with its photo.dng twin, lonely.dng (JPEG
    preview, turned by its orientation), bare.dng (no preview), clip.mp4 (3 photos x 2 s)."""
    base = tmp_path_factory.mktemp("library")
    folder = base / "photos"
    folder.mkdir()
    jpegs = sorted((COCO128 / "images").glob("*.jpg"))
    for source in jpegs[:2]:
        shutil.copy(source, folder / source.name)
    twin = np.asarray(Image.open(jpegs[2]).convert("RGB"))
    Image.fromarray(twin).save(folder / "photo.jpg", quality=90)
    write_dng(folder / "photo.dng", twin, "jpeg")
    write_dng(folder / "lonely.dng", coco_rgb(3), "jpeg", orientation=6)
    write_dng(folder / "bare.dng", coco_rgb(4), None)
    write_video(folder / "clip.mp4", [coco_rgb(i, (160, 120)) for i in (5, 6, 7)])
    classifier = base / "c.lzt"
    tree = random_classifier(LABELS)
    tree.parents = {label: list(path[:-1]) for label, path in PATHS.items() if len(path) > 1}
    save_classifier(tree, classifier)
    return folder, classifier


def test_one_run_tags_photos_raws_and_a_video(library) -> None:
    folder, classifier = library
    run = run_lzt("tag", folder, "-c", classifier, *TAG, "--workers", "2")
    assert "Traceback" not in run.stderr and "Warning" not in run.stderr  # nor LibRaw's OpenMP warning in forked workers
    assert [line for line in run.stderr.splitlines() if line.startswith("warning")] == [run.stderr.splitlines()[0]]  # random weights
    records = {Path(r["path"]).name: r for r in jsonl(run.stdout)}
    order = list(records)
    assert order.index("photo.dng") == order.index("photo.jpg") + 1  # the twin right after its JPEG
    assert set(records) == {*(p.name for p in folder.iterdir())}
    assert records["photo.dng"]["tags"] == records["photo.jpg"]["tags"]
    assert records["photo.dng"]["tagged_from"] == str(folder / "photo.jpg")
    for name in ("lonely.dng", "bare.dng"):
        assert len(records[name]["tags"]) == 3 and "tagged_from" not in records[name]
    clip = records["clip.mp4"]
    assert len(clip["tags"]) == 3
    assert [(s["start"], s["end"]) for s in clip["segments"]] == [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0)]
    assert all(len(s["tags"]) == 3 and {t["label"] for t in s["tags"]} <= set(LABELS) for s in clip["segments"])
    assert "tagged 7 of 7" in run.stderr
    same = invoke("tag", folder, "-c", classifier, *TAG, "--workers", "0")  # decoding in the main process: the same
    assert same.stdout == run.stdout


def test_lzt_stats_summarises_the_run(library, tmp_path: Path) -> None:
    folder, classifier = library
    tags_file = tmp_path / "tags.jsonl"
    tags_file.write_text(invoke("tag", folder, "-c", classifier, *TAG).stdout)
    records = jsonl(tags_file.read_text())
    stats = json.loads(invoke("stats", tags_file, "--json").stdout)
    assert (stats["images"], stats["errors"], stats["untagged"]) == (7, 0, 0)
    counts = Counter(t["label"] for r in records for t in r["tags"])
    assert stats["tags"] == dict(counts)


@needs_exiftool
@pytest.mark.parametrize("naming", ["full", "stem"])
def test_sidecars_for_every_file_read_back_by_exiftool(library, tmp_path: Path, naming: str) -> None:
    source, classifier = library
    folder = shutil.copytree(source, tmp_path / "photos")
    tags = {Path(r["path"]).name: [t["label"] for t in r["tags"]] for r in jsonl(invoke("tag", folder, "-c", classifier, *TAG).stdout)}
    invoke("tag", folder, "-c", classifier, *TAG, "--format", "xmp", "--xmp-naming", naming)
    if naming == "full":  # darktable, digiKam: one per file, the RAW twin included
        expected = {f"{name}.xmp": labels for name, labels in tags.items()}
    else:  # Lightroom: photo.xmp, shared by the JPEG and its RAW twin (the same keywords)
        expected = {f"{Path(name).stem}.xmp": labels for name, labels in tags.items()}
        assert len(expected) == len(tags) - 1
    written = sorted(p.name for p in folder.glob("*.xmp"))
    assert written == sorted(expected)
    rows = {Path(row["SourceFile"]).name: row for row in exiftool_keywords(*(folder / name for name in written))}
    for name, labels in expected.items():
        properties = exiv2_properties(folder / name)  # libexiv2, which digiKam and darktable read XMP with
        assert rows[name]["Subject"] == properties["Xmp.dc.subject"][1] == labels
        paths = ["|".join(PATHS[label]) for label in labels]  # the vocabulary's tree: animals|birds|bird
        assert rows[name]["HierarchicalSubject"] == properties["Xmp.lr.hierarchicalSubject"][1] == paths
        assert rows[name]["TagsList"] == properties["Xmp.digiKam.TagsList"][1] == [p.replace("|", "/") for p in paths]


def test_caption_files_for_raws_and_videos(library, tmp_path: Path) -> None:
    source, classifier = library
    folder = shutil.copytree(source, tmp_path / "photos")
    records = {Path(r["path"]).name: r for r in jsonl(invoke("tag", folder, "-c", classifier, *TAG).stdout)}
    invoke("tag", folder, "-c", classifier, *TAG, "--format", "txt")
    for name in ("clip.mp4", "lonely.dng", "photo.dng"):
        labels = [t["label"] for t in records[name]["tags"]]
        assert (folder / name).with_suffix(".txt").read_text(encoding="utf-8") == ", ".join(labels) + "\n"


def test_bad_raws_and_videos_are_one_record_each(library, tmp_path: Path) -> None:
    source, classifier = library
    folder = tmp_path / "bad"
    folder.mkdir()
    shutil.copy(source / "photo.jpg", folder / "good.jpg")
    dng = (source / "lonely.dng").read_bytes()
    (folder / "cut.dng").write_bytes(dng[:400])
    (folder / "notes.cr2").write_text("not a raw\n")
    video = write_video(tmp_path / "whole.mkv", [coco_rgb(i, (160, 120)) for i in range(3)]).read_bytes()
    (folder / "cut.mkv").write_bytes(video[: len(video) // 3])
    without_codec(write_video(tmp_path / "m.avi", [coco_rgb(0, (160, 120))], codec="mpeg4"), folder / "unknown.avi")
    (folder / "empty.webm").write_bytes(b"")
    run = invoke("tag", folder, "-c", classifier, *TAG, check=3)
    records = {Path(r["path"]).name: r for r in jsonl(run.stdout)}
    reasons = {
        "cut.dng": "not a RAW file LibRaw can read", "notes.cr2": "text or HTML", "cut.mkv": "truncated video",
        "unknown.avi": "no decoder", "empty.webm": "empty file",
    }
    assert sorted(records) == sorted([*reasons, "good.jpg"]) and "tags" in records["good.jpg"]
    for name, reason in reasons.items():
        assert reason in records[name]["error"], records[name]
        assert sum(f"skipped {folder / name}:" in line for line in run.stderr.splitlines()) == 1
    assert "Traceback" not in run.stderr


def test_without_the_extras_raws_and_videos_name_the_install(library, tmp_path: Path) -> None:
    """rawpy and av shadowed by packages that fail to import, as on a machine without the
    extras. A RAW beside its JPEG still gets the JPEG's tags: no RAW decoding is needed."""
    folder, classifier = library
    for module in ("rawpy", "av"):
        (tmp_path / module).mkdir()
        (tmp_path / module / "__init__.py").write_text(f"raise ImportError('no {module} here')\n")
    environment = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    # --no-cache: earlier runs' cached embeddings would serve these files without any decoding.
    run = run_lzt("tag", folder, "-c", classifier, *TAG, "--no-cache", check=3, env=environment)
    records = {Path(r["path"]).name: r for r in jsonl(run.stdout)}
    for name in ("lonely.dng", "bare.dng"):
        assert records[name]["error"] == "RAW files need the optional extra: pip install 'lzt[raw]'"
    assert records["clip.mp4"]["error"] == "videos need the optional extra: pip install 'lzt[video]'"
    assert records["photo.dng"]["tags"] == records["photo.jpg"]["tags"]
    assert "tagged 4 of 7 images; 3 skipped" in run.stderr


def test_the_sharded_engine_tags_raws_and_gives_videos_an_error_row(library, tmp_path: Path) -> None:
    folder, classifier = library
    run = invoke("tag", folder, "-c", classifier, *TAG, "--out", tmp_path / "shards", check=3)
    assert "videos are tagged by the local engine without shards (no --out)" in run.stderr
    rows = {Path(r["path"]).name: r for r in jsonl(invoke("export", tmp_path / "shards", "-q", check=3).stdout)}
    assert set(rows) == {p.name for p in folder.iterdir()}
    assert "error" in rows["clip.mp4"] and all("tags" in rows[name] for name in ("photo.dng", "lonely.dng", "bare.dng"))
