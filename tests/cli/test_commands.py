"""The real CLI, in-process, on real photos: what a user sees on stdout, stderr and $?."""

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from lzt.classifier import load_classifier
from lzt.output.xmp import read_keywords
from lzt.vocab import load_vocabulary
from support import EXIFTOOL, EXISTING_SIDECAR, exiftool_keywords, invoke, jsonl, random_classifier


def vocabulary_names():
    return set(load_vocabulary("coco").names)


def test_version_and_help():
    from lzt import __version__

    assert invoke("--version").stdout.strip() == f"lzt {__version__}"
    for command in ("tag", "build-classifier", "eval", "generate"):
        result = invoke(command, "--help")
        assert "Example" in result.stdout, command


def test_tag_jsonl_on_coco128(coco128, tiny_classifier):
    result = invoke("tag", coco128 / "images", "--classifier", tiny_classifier, "--topk", "5", "--workers", "2")
    records = jsonl(result.stdout)
    images = sorted((coco128 / "images").glob("*.jpg"))
    assert len(records) == len(images) == 128
    assert [r["path"] for r in records] == [str(p) for p in images]  # every image once, sorted
    names = vocabulary_names()
    for record in records:
        assert len(record["tags"]) == 5
        scores = [t["score"] for t in record["tags"]]
        assert scores == sorted(scores, reverse=True)
        assert {t["label"] for t in record["tags"]} <= names
    assert "RANDOM WEIGHTS" in result.stderr and "device: cpu" in result.stderr


def test_threshold_and_topk_together(small_images, tiny_classifier):
    everything = jsonl(invoke("tag", small_images, "-c", tiny_classifier, "--topk", "80", "--workers", "0", "-q").stdout)
    # Midway between two distinct printed scores: printed scores are rounded to 4 decimals.
    distinct = sorted({t["score"] for t in everything[0]["tags"]})
    threshold = (distinct[40] + distinct[41]) / 2
    kept = jsonl(invoke("tag", small_images, "-c", tiny_classifier, "--topk", "80", "--threshold", str(threshold), "--workers", "0", "-q").stdout)
    for full, filtered in zip(everything, kept):
        assert filtered["tags"] == [t for t in full["tags"] if t["score"] >= threshold]
    top3 = jsonl(invoke("tag", small_images, "-c", tiny_classifier, "--topk", "3", "--threshold", str(threshold), "--workers", "0", "-q").stdout)
    for full, small in zip(kept, top3):
        assert small["tags"] == full["tags"][:3]


def test_worker_counts_give_identical_output(small_images, tiny_classifier):
    outputs = {w: invoke("tag", small_images, "-c", tiny_classifier, "--workers", w, "--batch-size", "5", "-q").stdout for w in ("0", "2")}
    assert outputs["0"] == outputs["2"]


def test_csv_output(small_images, tiny_classifier):
    rows = list(csv.DictReader(io.StringIO(invoke("tag", small_images, "-c", tiny_classifier, "-f", "csv", "-k", "2", "-w", "0", "-q").stdout)))
    assert len(rows) == 12 and all(len(r["tags"].split(";")) == 2 and not r["error"] for r in rows)


def test_caption_files_and_append_without_duplicates(small_images, tiny_classifier, tmp_path):
    import shutil

    folder = tmp_path / "imgs"
    shutil.copytree(small_images, folder)
    first = next(iter(sorted(folder.glob("*.jpg"))))
    first.with_suffix(".txt").write_text("holiday, Dog\n")
    invoke("tag", folder, "-c", tiny_classifier, "-f", "txt", "-k", "3", "--on-existing", "append", "-w", "0", "-q")
    captions = sorted(folder.glob("*.txt"))
    assert len(captions) == 12
    tags = [t.strip() for t in first.with_suffix(".txt").read_text().split(",")]
    assert tags[:2] == ["holiday", "Dog"] and len(tags) == len({t.lower() for t in tags})
    assert result_is_stdout_empty(folder, tiny_classifier)


def result_is_stdout_empty(folder, classifier):
    return invoke("tag", folder, "-c", classifier, "-f", "txt", "--on-existing", "skip", "-w", "0", "-q").stdout == ""


def test_eval_reports_map_and_admits_random_weights(coco128, tiny_classifier, tmp_path):
    result = invoke("eval", "-c", tiny_classifier, "--dataset", coco128 / "labels.jsonl", "--json", "-w", "2",
                     "--plot", tmp_path / "pr.png")
    assert (tmp_path / "pr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads(result.stdout)
    assert metrics["images"] == 128 and 0.0 <= metrics["mAP"] <= 1.0
    assert metrics["random_weights"] is True
    assert "mAP" in result.stderr and "RANDOM WEIGHTS" in result.stderr and "chance level" in result.stderr
    assert set(metrics["per_label"]) == vocabulary_names()


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["tag", "/no/such/folder", "-c", "{clf}"], 2, "no such file or folder"),
        (["tag", "{images}", "-c", "/no/such.lzt"], 1, "no classifier file"),
        (["tag", "{images}", "-c", "{clf}", "--format", "yaml"], 2, "'yaml' is not one of"),
        (["tag", "{images}", "-c", "{clf}", "--device", "cuda"], 2, "no CUDA GPU"),
        (["tag", "{images}", "-c", "{clf}", "--model", "ViT-B-32"], 1, "built for model 'lzt-tiny-vit'"),
        (["tag", "{images}", "-c", "{clf}", "--topk", "0"], 2, "topk"),
        (["build-classifier", "--labels", "no-such-set"], 1, "built-in sets"),
    ],
)
def test_expected_failures_are_one_line_without_traceback(args, code, message, small_images, tiny_classifier):
    import torch

    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    args = [a.replace("{clf}", str(tiny_classifier)).replace("{images}", str(small_images)) for a in args]
    result = invoke(*args, check=code)
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_build_classifier_writes_a_complete_artifact(tmp_path):
    out = tmp_path / "voc.lzt"
    result = invoke("build-classifier", "--labels", "voc", "--model", "lzt-tiny-rn", "--pretrained", "none",
                     "--sentences", "60", "--prompts", "photo7", "--out", out, "--seed", "3")
    classifier = load_classifier(out)
    assert len(classifier.labels) == 20 and classifier.model == "lzt-tiny-rn" and classifier.embed_dim == 32
    assert classifier.training["epochs"] == 20 and classifier.training["noise_std"] == 0.1
    assert classifier.corpus["sentences"] >= 60 and len(classifier.corpus["sha256"]) == 64
    assert classifier.synonyms["aeroplane"][:2] == ["airplane", "plane"]
    assert "wrote" in result.stderr
    # Same seed, same bytes: the build is reproducible.
    again = tmp_path / "again.lzt"
    invoke("build-classifier", "--labels", "voc", "--model", "lzt-tiny-rn", "--pretrained", "none",
            "--sentences", "60", "--prompts", "photo7", "--out", again, "--seed", "3", "-q")
    assert out.read_bytes() == again.read_bytes()


@pytest.mark.slow
def test_real_architecture_end_to_end(tmp_path, small_images):
    """ViT-B-32 as published (random weights): build, tag, eval on real photos."""
    out = tmp_path / "b32.lzt"
    invoke("build-classifier", "--labels", "voc", "--model", "ViT-B-32", "--pretrained", "none",
            "--sentences", "40", "--prompts", "photo7", "--out", out, "-q")
    records = jsonl(invoke("tag", small_images, "-c", out, "-k", "3", "-w", "0", "-q").stdout)
    assert len(records) == 12 and all(len(r["tags"]) == 3 for r in records)


def test_build_from_a_corpus_file_needs_no_labels(tmp_path):
    corpus = tmp_path / "voc.jsonl"
    invoke("generate", "--labels", "voc", "--llm", "template", "--sentences", "30", "--out", corpus, "-q")
    out = tmp_path / "voc.lzt"
    invoke("build-classifier", "--corpus", corpus, "--model", "lzt-tiny-vit", "--pretrained", "none",
            "--prompts", "photo7", "--out", out, "-q")
    classifier = load_classifier(out)
    assert len(classifier.labels) == 20 and classifier.synonyms["sofa"] == ["couch"]
    assert "--labels is required" in invoke("build-classifier", "--model", "lzt-tiny-vit", check=2).stderr


# --- XMP sidecars through the CLI -----------------------------------------------------------


def test_cli_format_xmp(tmp_path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, colour in (("a.jpg", (200, 30, 30)), ("b.png", (30, 200, 30))):
        Image.fromarray(np.full((40, 60, 3), colour, np.uint8)).save(folder / name)
    (folder / "broken.jpg").write_text("not an image")
    (folder / "b.png.xmp").write_text(EXISTING_SIDECAR, encoding="utf-8")
    images_before = {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix != ".xmp"}
    classifier = tmp_path / "t.lzt"
    random_classifier(["dog", "cat", "car", "beach"], classifier)
    result = invoke("tag", folder, "--classifier", classifier, "--format", "xmp", "--topk", "2", "--workers", "0", "-q", check=3)
    assert result.returncode == 3, result.stderr  # broken.jpg was skipped
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix != ".xmp"} == images_before
    assert sorted(p.name for p in folder.iterdir()) == ["a.jpg", "a.jpg.xmp", "b.png", "b.png.xmp", "broken.jpg"]
    fresh_subject, fresh_hier = read_keywords(folder / "a.jpg.xmp")
    assert len(fresh_subject) == 2 and fresh_hier == fresh_subject  # no parent above the keywords by default
    merged_subject, merged_hier = read_keywords(folder / "b.png.xmp")
    assert merged_subject[:3] == ["Dog", "family", "Éte"] and merged_hier[0] == "people|family"
    assert len(merged_hier) == 3  # people|family + two lzt entries
    if EXIFTOOL:
        rows = {r["SourceFile"].rsplit("/", 1)[-1]: r for r in exiftool_keywords(folder / "a.jpg.xmp", folder / "b.png.xmp")}
        assert rows["a.jpg.xmp"]["Subject"] == fresh_subject
        assert rows["b.png.xmp"]["Subject"] == merged_subject and rows["b.png.xmp"]["Rating"] == 4


def test_cli_xmp_options_and_corrupt_sidecar(tmp_path) -> None:
    """--xmp-naming and --xmp-parent reach the writer; a corrupt sidecar is one skipped image."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg"):
        Image.new("RGB", (40, 40), (90, 90, 200)).save(folder / name)
    (folder / "a.xmp").write_bytes(b"<x:xmpmeta><unclosed")
    classifier = tmp_path / "t.lzt"
    random_classifier(["dog", "cat"], classifier)
    result = invoke("tag", folder, "--classifier", classifier, "--format", "xmp", "--topk", "1",
                    "--xmp-naming", "stem", "--xmp-parent", "", "--workers", "0", "-q", check=3)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if "a.xmp" in line and "not valid XMP" in line]
    assert (folder / "a.xmp").read_bytes() == b"<x:xmpmeta><unclosed"
    subject, hier = read_keywords(folder / "b.xmp")
    assert len(subject) == 1 and hier == subject  # no parent: plain keywords
