"""The embedding cache: warm re-runs decode nothing, renames are recognised, kills lose nothing."""

import shutil
import signal
import sqlite3
import subprocess
import sys

import pytest
import torch

from conftest import jsonl, run_lzt
from lzt.cache import SCHEMA_VERSION, EmbeddingCache, FileIdentity
from lzt.errors import LztError

# With --max-pixels 1 every decode fails: a run that still tags every file decoded none of them.
NO_DECODING = ("--max-pixels", "1")


@pytest.fixture()
def library(small_images, tmp_path):
    folder = tmp_path / "library"
    shutil.copytree(small_images, folder)
    return folder


def tag(folder, classifier, cache, *extra, check=0):
    return run_lzt("tag", folder, "-c", classifier, "-k", "3", "-w", "0", "-q", "--cache-dir", cache, *extra, check=check)


def test_warm_rerun_decodes_nothing_and_gives_identical_output(library, tiny_classifier, tmp_path):
    cache = tmp_path / "cache"
    cold = tag(library, tiny_classifier, cache).stdout
    warm = tag(library, tiny_classifier, cache, *NO_DECODING).stdout
    assert warm == cold and len(jsonl(warm)) == 12


def test_renamed_and_duplicated_files_are_recognised_by_content(library, tiny_classifier, tmp_path):
    cache = tmp_path / "cache"
    tag(library, tiny_classifier, cache)
    first = sorted(library.glob("*.jpg"))[0]
    first.rename(library / "renamed.jpg")
    shutil.copy(library / "renamed.jpg", library / "copy.jpg")
    records = jsonl(tag(library, tiny_classifier, cache, *NO_DECODING).stdout)
    assert len(records) == 13 and all("tags" in r for r in records)


def test_changed_file_is_encoded_again(library, tiny_classifier, tmp_path):
    cache = tmp_path / "cache"
    tag(library, tiny_classifier, cache)
    from PIL import Image, ImageOps

    target = sorted(library.glob("*.jpg"))[3]
    with Image.open(target) as image:
        flipped = ImageOps.mirror(image)
    flipped.save(target)  # new content, new size and mtime
    records = jsonl(tag(library, tiny_classifier, cache, *NO_DECODING, check=3).stdout)
    errors = [r for r in records if "error" in r]
    assert [r["path"] for r in errors] == [str(target)]


def test_another_classifier_reuses_the_embeddings(library, tiny_classifier, tmp_path):
    cache = tmp_path / "cache"
    tag(library, tiny_classifier, cache)
    other = tmp_path / "voc.lzt"
    run_lzt("build-classifier", "--labels", "voc", "--model", "lzt-tiny-vit", "--pretrained", "none",
            "--sentences", "40", "--prompts", "photo7", "--out", other, "-q")
    assert len(jsonl(tag(library, other, cache, *NO_DECODING).stdout)) == 12


def test_no_cache_writes_nothing(library, tiny_classifier, tmp_path):
    cache = tmp_path / "cache"
    tag(library, tiny_classifier, cache, "--no-cache")
    assert not cache.exists()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_run_resumes_without_loss(coco128, tiny_classifier, tmp_path, sig):
    library = tmp_path / "library"
    shutil.copytree(coco128 / "images", library)
    cache = tmp_path / "cache"
    command = [sys.executable, "-c", "from lzt.cli import main; main()", "tag", str(library), "-c", str(tiny_classifier),
               "-w", "0", "-b", "8", "-q", "--cache-dir", str(cache)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = 0
    while seen < 20:  # let a few batches reach the cache, then kill mid-run
        assert process.stdout.readline(), process.stderr.read()
        seen += 1
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert process.returncode == 130 and "Traceback" not in stderr
    resumed = jsonl(tag(library, tiny_classifier, cache).stdout)
    assert sorted(r["path"] for r in resumed) == sorted(str(p) for p in library.glob("*.jpg"))
    assert len({r["path"] for r in resumed}) == 128
    again = jsonl(tag(library, tiny_classifier, cache, *NO_DECODING).stdout)  # consistent: all cached now
    assert all("tags" in r for r in again) and len(again) == 128


def test_cache_rows_round_trip_and_newer_schema_is_refused(tmp_path, small_images):
    cache = EmbeddingCache(tmp_path, "model-a")
    image = sorted(small_images.glob("*.jpg"))[0]
    identity = FileIdentity.of(image)
    cache.store([(identity, "abc", torch.ones(4), torch.zeros(3, 4))])
    assert cache.hash_for(identity) == "abc"
    found = cache.embedding("abc")
    assert torch.equal(found.global_features, torch.ones(4)) and found.local_features.shape == (3, 4)
    assert EmbeddingCache(tmp_path, "model-b").embedding("abc") is None  # per encoder identity
    cache.close()
    with sqlite3.connect(tmp_path / "embeddings.sqlite3") as db:
        db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(LztError, match="newer lzt"):
        EmbeddingCache(tmp_path, "model-a")
