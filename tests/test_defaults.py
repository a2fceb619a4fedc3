"""Out of the box: `lzt tag PATH` without a classifier builds the default one once, then reuses it."""

import pytest

from conftest import jsonl, run_lzt
from lzt.corpus import read_corpus
from lzt.defaults import shipped_corpus
from lzt.labels import builtin_label_sets, load_vocabulary


@pytest.mark.parametrize("name", sorted(builtin_label_sets()))
def test_every_builtin_set_ships_a_verified_corpus_covering_every_label(name):
    vocabulary = load_vocabulary(name)
    entries = read_corpus(shipped_corpus(name), vocabulary)
    covered = {label for entry in entries for label in entry.labels}
    assert covered == set(vocabulary.names)
    assert (shipped_corpus(name).parent / f"{name}.corpus.md").is_file(), "provenance is recorded beside it"


def test_tag_without_classifier_builds_once_then_reuses(small_images, tmp_path):
    env = {"LZT_CACHE_DIR": str(tmp_path / "cache")}
    first = run_lzt("tag", small_images, "--model", "lzt-tiny-vit", "--pretrained", "none", "-w", "0", "-k", "3", env=env)
    assert "building the default 'everyday' classifier" in first.stderr and "cached at" in first.stderr
    records = jsonl(first.stdout)
    everyday = set(load_vocabulary("everyday").names)
    assert len(records) == 12 and all({t["label"] for t in r["tags"]} <= everyday for r in records)
    assert len(list((tmp_path / "cache" / "classifiers").glob("everyday-lzt-tiny-vit-none-*.lzt"))) == 1
    second = run_lzt("tag", small_images, "--model", "lzt-tiny-vit", "--pretrained", "none", "-w", "0", "-k", "3", env=env)
    assert "building" not in second.stderr
    assert second.stdout == first.stdout
