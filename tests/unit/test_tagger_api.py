"""The Tagger API beyond files: images and embeddings in memory, clear errors for wrong input,
and a context manager that leaves no decoding process behind."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest
import torch
from PIL import Image

import lzt
from lzt.errors import InputError, UsageError
from lzt.tagging import Tagger


@pytest.fixture(scope="module")
def tagger(tiny_encoder, tiny_classifier):
    with Tagger(tiny_encoder, lzt.load_classifier(tiny_classifier)) as tagger:
        yield tagger


@pytest.fixture(scope="module")
def photos(small_images):
    return [Image.open(path).convert("RGB") for path in sorted(small_images.glob("*.jpg"))[:4]]


def test_labels_and_identity(tagger, tiny_classifier):
    assert tagger.labels == lzt.load_classifier(tiny_classifier).labels and len(tagger.labels) == 80
    assert tagger.device.type == "cpu" and tagger.uses_local_branch and tagger.cache is None


def test_images_in_memory_as_pil_or_arrays_tag_alike(tagger, photos):
    from_pil = tagger.tag_images(photos, lzt.Selection(topk=4), keep_scores=True)
    from_arrays = tagger.tag_images([np.asarray(photo) for photo in photos], lzt.Selection(topk=4))
    assert [r.tags for r in from_pil] == [r.tags for r in from_arrays]
    assert all(r.path is None and r.ok and len(r.tags) == 4 for r in from_pil)
    stacked = np.stack([np.asarray(photo.resize((64, 48))) for photo in photos])  # (B, H, W, 3) in one array
    assert len(tagger.tag_images(stacked)) == 4
    grey = tagger.tag_images([np.asarray(photos[0].convert("L"))])
    assert grey[0].ok and len(grey[0].tags) == 10


def test_embed_then_score_embeddings_gives_the_same_scores(tagger, photos):
    embeddings = tagger.embed(photos)
    assert embeddings.global_embeddings.shape == (4, 32) and embeddings.local_embeddings.shape[:2] == (4, 16)
    scores = tagger.score_embeddings(embeddings.global_embeddings, embeddings.local_embeddings)
    kept = torch.stack([r.scores for r in tagger.tag_images(photos, keep_scores=True)])
    assert torch.allclose(scores, kept, atol=1e-4)  # score_embeddings renormalises: float16 rounding apart
    global_only = tagger.score_embeddings(embeddings.global_embeddings * 3.0)  # normalised: scale does not matter
    assert global_only.shape == (4, 80)
    assert torch.allclose(global_only, tagger.score_embeddings(embeddings.global_embeddings), atol=1e-5)


@pytest.mark.parametrize(
    "images, expected",
    [
        ([], "empty batch"),
        ([np.zeros((8, 8, 3), np.float32)], "uint8"),
        ([np.zeros((8, 8, 4), np.uint8)], "(height, width, 3)"),
        ([np.zeros(8, np.uint8)], "got shape (8,)"),
        ([np.zeros((0, 8, 3), np.uint8)], "empty image"),
        (["photo.jpg"], "PIL image or a uint8 array"),
        (np.zeros((2, 8, 8), np.uint8), "(batch, height, width, 3)"),
    ],
)
def test_wrong_images_are_clear_errors(tagger, images, expected):
    with pytest.raises(InputError, match=None) as caught:
        tagger.tag_images(images)
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    "pixels, expected",
    [
        (torch.zeros(2, 3, 32, 32), "dtype float32"),
        (torch.zeros(2, 4, 32, 32, dtype=torch.uint8), "got shape (2, 4, 32, 32)"),
        (torch.zeros(2, 3, 64, 64, dtype=torch.uint8), "(batch, 3, 32, 32)"),
        (torch.zeros(0, 3, 32, 32, dtype=torch.uint8), "empty batch"),
        (np.zeros((2, 3, 32, 32), np.uint8), "got ndarray"),
    ],
)
def test_wrong_pixels_are_clear_errors(tagger, pixels, expected):
    with pytest.raises(InputError) as caught:
        tagger.embed_pixels(pixels)
    assert expected in str(caught.value)


def test_wrong_embeddings_are_clear_errors(tagger):
    with pytest.raises(InputError, match=r"shape \(batch, 32\), got \(2, 512\)"):
        tagger.score_embeddings(torch.zeros(2, 512))
    with pytest.raises(InputError, match="empty batch"):
        tagger.score_embeddings(torch.zeros(0, 32))
    with pytest.raises(InputError, match="floating-point"):
        tagger.score_embeddings(torch.zeros(2, 32, dtype=torch.int64))
    with pytest.raises(InputError, match=r"local embeddings of shape \(2, tokens, 32\)"):
        tagger.score_embeddings(torch.randn(2, 32), torch.randn(3, 16, 32))


def test_selection_naming_unknown_labels_is_a_usage_error(tagger, small_images):
    with pytest.raises(UsageError, match=r"Selection\.exclude"):
        tagger.tag([small_images], lzt.Selection(exclude=frozenset({"unicorn"})))
    with pytest.raises(UsageError, match=r"Selection\.per_label"):
        tagger.tag_images([np.zeros((8, 8, 3), np.uint8)], lzt.Selection(per_label={"unicorn": 0.5}))
    with pytest.raises(UsageError, match="topk"):
        lzt.Selection(topk=0)


def test_missing_paths_are_records_not_exceptions(tagger, tmp_path):
    records = list(tagger.tag([tmp_path / "missing.jpg"], workers=0))
    assert len(records) == 1 and records[0].error == "file not found"


def test_closing_stops_the_decoding_processes_of_an_unfinished_run(tiny_encoder, tiny_classifier, small_images):
    before = {child.pid for child in multiprocessing.active_children()}
    with Tagger(tiny_encoder, lzt.load_classifier(tiny_classifier)) as tagger:
        run = tagger.tag([small_images], batch_size=2, workers=2)
        assert next(run).ok  # workers are running, ten images still to go
        assert {child.pid for child in multiprocessing.active_children()} - before
    assert not {child.pid for child in multiprocessing.active_children()} - before
    assert next(run, None) is None  # the closed run yields nothing more


def test_one_path_or_one_image_alone_is_not_iterated(tagger, small_images, photos):
    records = list(tagger.tag(str(small_images), workers=0))  # not one run per character of the string
    assert len(records) == 12 and all(r.ok for r in records)
    assert [r.tags for r in tagger.tag_images(photos[0])] == [tagger.tag_images([photos[0]])[0].tags]
    with pytest.raises(UsageError, match="batch_size"):
        tagger.tag_images(photos, batch_size=0)


def test_tag_files_takes_entries_as_given(tagger, small_images, tmp_path):
    files = sorted(small_images.glob("*.jpg"))[:2]
    records = list(tagger.tag_files([files[0], small_images, tmp_path / "gone.jpg", files[1]], workers=0))
    assert [r.path for r in records] == [files[0], small_images, tmp_path / "gone.jpg", files[1]]
    assert [r.ok for r in records] == [True, False, False, True]
    assert records[1].error == "is a folder, not an image" and records[2].error == "file not found"


def test_evaluate_keeps_dataset_lines_and_images_together(tagger, coco128, tmp_path):
    import json

    rows = [json.loads(line) for line in (coco128 / "labels.jsonl").read_text().splitlines()][:5]
    dataset = tmp_path / "labels.jsonl"
    entries = [{"file": str(coco128 / rows[0]["file"]), "labels": rows[0]["labels"]},
               {"file": str(coco128 / "images"), "labels": ["person"]},  # a folder: one skipped line, not 128 images
               *({"file": str(coco128 / row["file"]), "labels": row["labels"]} for row in rows[1:])]
    dataset.write_text("".join(json.dumps(entry) + "\n" for entry in entries))
    heard = []
    evaluation = lzt.evaluate(tagger, dataset, workers=0, on_skipped=lambda path, reason: heard.append((path, reason)))
    assert evaluation.metrics.images == 5 and evaluation.scores.shape == (5, 80)
    assert heard == evaluation.skipped == [(coco128 / "images", "is a folder, not an image")]
    alone = lzt.evaluate(tagger, _write(tmp_path, entries[2:]), workers=0)  # the lines after the folder, alone
    assert (evaluation.targets[1:] == alone.targets).all() and np.allclose(evaluation.scores[1:], alone.scores, atol=1e-5)


def _write(folder, entries):
    import json

    path = folder / "alone.jsonl"
    path.write_text("".join(json.dumps(entry) + "\n" for entry in entries))
    return path


def test_records_do_not_depend_on_how_batches_overlap(tiny_encoder, tiny_classifier, coco128, tmp_path):
    """Batches are launched one ahead of the records made from them: with a broken file in the
    middle, and batches of 1 (filling the cache), 5 (half of them from it) and all, every file
    gets the same record."""
    from lzt import Selection

    folder = tmp_path / "photos"
    folder.mkdir()
    for path in sorted((coco128 / "images").glob("*.jpg"))[:11]:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "000000000999.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    runs = []
    cached = Tagger(tiny_encoder, lzt.load_classifier(tiny_classifier), cache=tmp_path / "cache")
    for batch_size in (1, 5, 64):
        if batch_size == 5:  # half the files found again by their content, under a name the cache forgot
            with cached.cache.db:
                cached.cache.db.execute("DELETE FROM files WHERE rowid % 2 = 0")
        records = list(cached.tag(folder, Selection(topk=3), batch_size=batch_size, workers=0, keep_scores=True))
        runs.append([(r.path.name, r.tags, r.error is None) for r in records])
        assert all(r.scores is not None for r in records if r.ok)
    cached.close()
    assert runs[0] == runs[1] == runs[2]
    assert len(runs[0]) == 12 and [ok for _, _, ok in runs[0]].count(False) == 1


def test_device_overlap_on_a_cpu_runs_in_order():
    from lzt.tagging.overlap import DeviceOverlap

    overlap = DeviceOverlap(torch.device("cpu"))
    values = torch.arange(6.0).view(2, 3)
    with overlap.decoding():
        decoded = values * 2
    overlap.hand_over(decoded)
    assert overlap.to_host(decoded) is decoded and overlap.mark() is None
    DeviceOverlap.wait(None)
