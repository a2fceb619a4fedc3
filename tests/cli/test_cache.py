"""The embedding cache: warm re-runs decode nothing, renames are recognised, a cache that fails
never sinks a run. (Killed runs: tests/e2e/test_interrupted.py.)"""

import shutil
import sqlite3

import pytest
import torch

from lzt.errors import LztError
from lzt.tagging.cache import SCHEMA_VERSION, EmbeddingCache, FileIdentity
from support import invoke, jsonl, permissions_enforced

# With --max-pixels 1 every decode fails: a run that still tags every file decoded none of them.
NO_DECODING = ("--max-pixels", "1")


@pytest.fixture()
def library(small_images, tmp_path):
    folder = tmp_path / "library"
    shutil.copytree(small_images, folder)
    return folder


def tag(folder, classifier, cache, *extra, check=0):
    return invoke("tag", folder, "-c", classifier, "-k", "3", "-w", "0", "-q", "--cache-dir", cache, *extra, check=check)


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
    invoke("build-classifier", "--labels", "voc", "--model", "lzt-tiny-vit", "--pretrained", "none",
            "--sentences", "40", "--prompts", "photo7", "--out", other, "-q")
    assert len(jsonl(tag(library, other, cache, *NO_DECODING).stdout)) == 12


def test_no_cache_writes_nothing(library, tiny_classifier, tmp_path):
    cache = tmp_path / "cache"
    tag(library, tiny_classifier, cache, "--no-cache")
    assert not cache.exists()


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


# --- a cache that fails never sinks a run -------------------------------------------------------


def cache_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:") and "embedding cache" in line]


@pytest.fixture()
def reference(library, tiny_classifier, tmp_path):
    """What the run prints without any cache: every fault below must give exactly this."""
    return tag(library, tiny_classifier, tmp_path / "unused", "--no-cache").stdout


def test_corrupt_database_is_moved_aside_and_replaced(library, tiny_classifier, tmp_path, reference):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "embeddings.sqlite3").write_bytes(b"this is not a database " * 400)
    result = invoke("tag", library, "-c", tiny_classifier, "-k", "3", "-w", "0", "--cache-dir", cache)
    assert result.stdout == reference
    assert len(cache_warnings(result.stderr)) == 1 and "damaged" in result.stderr and "Traceback" not in result.stderr
    kept = list(cache.glob("embeddings.sqlite3.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"this is not a database")
    assert tag(library, tiny_classifier, cache, *NO_DECODING).stdout == reference  # the fresh cache works


def test_database_damaged_between_runs_is_replaced(library, tiny_classifier, tmp_path, reference):
    cache = tmp_path / "cache"
    tag(library, tiny_classifier, cache)
    database = cache / "embeddings.sqlite3"
    for leftover in cache.glob("embeddings.sqlite3-*"):
        leftover.unlink()
    database.write_bytes(database.read_bytes()[:100] + b"\xff" * 4000)  # the header survives, pages do not
    result = invoke("tag", library, "-c", tiny_classifier, "-k", "3", "-w", "0", "--cache-dir", cache)
    assert result.stdout == reference and "Traceback" not in result.stderr
    assert len(cache_warnings(result.stderr)) == 1 and "damaged" in result.stderr
    assert len(list(cache.glob("embeddings.sqlite3.corrupt-*"))) == 1  # kept for inspection, replaced by a fresh one
    assert tag(library, tiny_classifier, cache, *NO_DECODING).stdout == reference


def test_cache_folder_that_is_a_file_gives_one_warning(library, tiny_classifier, tmp_path, reference):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    result = invoke("tag", library, "-c", tiny_classifier, "-k", "3", "-w", "2", "--cache-dir", blocker / "cache")
    assert result.returncode == 0 and result.stdout == reference
    assert len(cache_warnings(result.stderr)) == 1 and "tagging without it" in result.stderr


@pytest.mark.skipif(not permissions_enforced(), reason="running as root: tests/e2e/test_cache_faults.py mounts a read-only file system instead")
def test_read_only_cache_folder_gives_one_warning(library, tiny_classifier, tmp_path, reference):
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o555)
    try:
        result = invoke("tag", library, "-c", tiny_classifier, "-k", "3", "-w", "0", "--cache-dir", cache)
    finally:
        cache.chmod(0o755)
    assert result.stdout == reference and len(cache_warnings(result.stderr)) == 1


def test_cache_of_a_newer_lzt_is_left_alone_with_one_warning(library, tiny_classifier, tmp_path, reference):
    cache = tmp_path / "cache"
    tag(library, tiny_classifier, cache)
    with sqlite3.connect(cache / "embeddings.sqlite3") as db:
        db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    result = invoke("tag", library, "-c", tiny_classifier, "-k", "3", "-w", "0", "--cache-dir", cache)
    assert result.stdout == reference and len(cache_warnings(result.stderr)) == 1 and "newer lzt" in result.stderr
    with sqlite3.connect(cache / "embeddings.sqlite3") as db:  # not migrated, not replaced
        assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION + 1)


def test_cold_warm_and_uncached_runs_print_the_same_tags(library, tiny_classifier, tmp_path, reference):
    cache = tmp_path / "cache"
    assert tag(library, tiny_classifier, cache).stdout == reference
    assert tag(library, tiny_classifier, cache, *NO_DECODING).stdout == reference
