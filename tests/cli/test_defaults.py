"""Out of the box: `lzt tag PATH` without a classifier builds the default one once, then reuses it."""

import json

import pytest

from lzt.classifier.default import shipped_corpus
from lzt.text import read_corpus
from lzt.vocab import builtin_label_sets, load_vocabulary
from support import invoke, jsonl


@pytest.mark.parametrize("name", sorted(builtin_label_sets()))
def test_every_builtin_set_ships_a_verified_corpus_covering_every_label(name):
    vocabulary = load_vocabulary(name)
    entries = read_corpus(shipped_corpus(name), vocabulary)
    covered = {label for entry in entries for label in entry.labels}
    assert covered == set(vocabulary.names)
    assert (shipped_corpus(name).parent / f"{name}.corpus.md").is_file(), "provenance is recorded beside it"


def test_tag_without_classifier_builds_once_then_reuses(everyday_cache, small_images):
    cache, first = everyday_cache
    env = {"LZT_CACHE_DIR": str(cache)}
    assert "building the default 'everyday' classifier" in first.stderr and "cached at" in first.stderr
    records = jsonl(first.stdout)
    everyday = set(load_vocabulary("everyday").names)
    assert len(records) == 12 and all({t["label"] for t in r["tags"]} <= everyday for r in records)
    assert len(list((cache / "classifiers").glob("everyday-lzt-tiny-vit-none-*.lzt"))) == 1
    second = invoke("tag", small_images, "--model", "lzt-tiny-vit", "--pretrained", "none", "-w", "0", "-k", "3", env=env)
    assert "building" not in second.stderr
    assert second.stdout == first.stdout


def test_the_library_uses_the_same_default_classifier(everyday_cache, small_images, monkeypatch):
    import lzt

    cache, first = everyday_cache
    monkeypatch.setenv("LZT_CACHE_DIR", str(cache))
    with lzt.Tagger.load(model="lzt-tiny-vit", pretrained="none") as tagger:
        records = list(tagger.tag([small_images], lzt.Selection(topk=3), workers=0))
    assert len(tagger.labels) == 1168
    assert [json.dumps(record.to_dict()) for record in records] == first.stdout.splitlines()


def test_a_cpu_build_states_its_sentence_budget(everyday_cache):
    """On a CPU the default classifier trains on a balanced subset of a large shipped corpus, and
    says so on stderr; the whole corpus when it is within the budget."""
    from lzt.classifier.default import CPU_SENTENCES

    _, first = everyday_cache
    vocabulary = load_vocabulary("everyday")
    shipped = len(read_corpus(shipped_corpus("everyday"), vocabulary))
    used = min(shipped, CPU_SENTENCES)
    assert f"({len(vocabulary)} labels, {used} sentences + {len(vocabulary) * 7} single-label texts)" in first.stderr
    stated = f"balanced subset of {CPU_SENTENCES} of the {shipped} shipped sentences" in first.stderr
    assert stated == (shipped > CPU_SENTENCES)


def test_a_balanced_subset_keeps_the_rare_labels():
    from collections import Counter

    from lzt.text import CorpusEntry
    from lzt.text.corpus import balanced_subset

    vocabulary = load_vocabulary(["cat", "dog", "bus", "owl"])
    entries = [CorpusEntry(f"A cat and a dog, {n}.", ["cat", "dog"]) for n in range(300)]
    entries += [CorpusEntry(f"A bus, {n}.", ["bus"]) for n in range(40)] + [CorpusEntry("An owl and a cat.", ["cat", "owl"])]
    subset = balanced_subset(entries, vocabulary, 60)
    counts = Counter(label for entry in subset for label in entry.labels)
    assert len(subset) == 60 and counts["owl"] == 1 and counts["bus"] >= 29 and counts["dog"] >= 29
    assert subset == balanced_subset(entries, vocabulary, 60)  # seeded: the same subset every time
    assert [entries.index(e) for e in subset] == sorted(entries.index(e) for e in subset)  # corpus order kept
    assert balanced_subset(entries, vocabulary, 1000) == entries
