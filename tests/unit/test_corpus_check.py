"""`lzt corpus check` and lzt.text.check.check_corpus on corpora with planted problems."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from lzt.text.check import check_corpus
from lzt.text.corpus import CORPUS_FORMAT, vocabulary_digest
from lzt.vocab import load_vocabulary
from support import invoke

COCO = load_vocabulary("coco")


def corpus(path: Path, rows: list[dict], gz: bool = False) -> Path:
    header = {"format": CORPUS_FORMAT, "version": 1, "vocabulary": vocabulary_digest(COCO), "labels": len(COCO), "seed": 0,
              "label_names": [[label.name, *label.synonyms] for label in COCO.labels]}
    text = "".join(json.dumps(r) + "\n" for r in [header, *rows])
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


ROWS = [
    {"set": 0, "sentence": "A man riding a bicycle next to a car.", "labels": ["person", "bicycle", "car"], "model": "template"},
    {"set": 1, "sentence": "A man riding a bicycle next to a car.", "labels": ["person", "bicycle", "car"], "model": "template"},  # duplicate
    {"set": 2, "sentence": "A giraffe next to a toilet.", "labels": ["giraffe", "toilet"], "model": "openai:some-model"},  # never
    {"set": 3, "sentence": "A apple and a broccoli on a table.", "labels": ["apple", "broccoli", "dining table"], "model": "local:tiny"},  # grammar x2
    {"set": 4, "sentence": "Nothing to see here.", "labels": [], "model": "local:tiny"},  # dropped
    {"set": 5, "sentence": "A cat is a dog.", "labels": [], "rejected": ["equation: cat is a dog"], "model": "local:tiny"},
    {"set": 6, "sentence": "A fork and a knife.", "labels": ["fork"], "model": "template"},  # stale: knife is mentioned too
    {"topup": 1, "sets": [["fork"]]},
]


def test_check_counts_everything(tmp_path: Path):
    report = check_corpus(corpus(tmp_path / "c.jsonl", ROWS))
    assert report.knowledge.endswith("coco.knowledge.jsonl")  # found from the header's vocabulary digest
    assert (report.lines, report.verified, report.dropped, report.rejected, report.stale) == (7, 5, 1, 1, 1)
    per_label = report.sentences_per_label()
    assert per_label["person"] == 2 and per_label["knife"] == 1 and per_label["toaster"] == 0
    assert report.duplicates == 1 and report.duplicate_examples == ["A man riding a bicycle next to a car."]
    assert report.sources == {"template": 3, "openai:some-model": 1, "local:tiny": 1}
    assert report.grammar == {"a-an": 1, "article-mass": 1}
    assert dict(report.never_pairs) == {(COCO.names.index("giraffe"), COCO.names.index("toilet")): 1}
    assert report.top_pairs(1) == [("person", "bicycle", 2)]
    assert report.sizes == {3: 3, 2: 2}
    assert report.problems(min_per_label=1) and report.problems(min_sets=6) and not report.problems(min_sets=5)
    data = report.as_dict()
    assert data["cooccurrence"]["bicycle"]["person"] == 2 and data["cooccurrence"]["person"]["bicycle"] == 2
    assert data["never_pairs"] == {"giraffe ~ toilet": 1} and data["per_label_summary"]["max"] == 2


def test_check_command_summary_json_and_floors(tmp_path: Path):
    path = corpus(tmp_path / "c.jsonl.gz", ROWS, gz=True)
    result = invoke("corpus", "check", str(path), check=None)
    assert result.returncode == 0, result.stderr
    assert "7 lines, 5 verified sentences (label sets) for 80 labels" in result.stdout
    assert "duplicates: 1 sentences repeat an earlier one" in result.stdout
    assert "grammar: 2 violations" in result.stdout and "implausible pairs (never): 1 (giraffe ~ toilet 1)" in result.stdout
    assert "most frequent pairs: person + bicycle 2" in result.stdout
    failed = invoke("corpus", "check", str(path), "--min-per-label", "1", "--min-sets", "10", check=None)
    assert failed.returncode == 1
    assert "error: 5 label sets (verified sentences), fewer than 10" in failed.stderr
    assert "error: 70 label(s) with fewer than 1 sentences: motorcycle (0), airplane (0)" in failed.stderr
    assert invoke("corpus", "check", str(path), "--strict", check=None).returncode == 1
    as_json = invoke("corpus", "check", str(path), "--json", check=None)
    data = json.loads(as_json.stdout)
    assert data["verified"] == 5 and data["per_label"]["person"] == 2 and data["problems"] == []
    assert data["sources"] == {"template": 3, "openai:some-model": 1, "local:tiny": 1}


def test_check_command_on_a_users_corpus_and_bad_files(tmp_path: Path):
    out = tmp_path / "mine.jsonl"
    invoke("generate", "--labels", "voc", "--sentences", "60", "--min-per-label", "2", "--out", str(out), "-q")
    result = invoke("corpus", "check", str(out), "--min-per-label", "2", check=None)
    assert result.returncode == 0, result.stderr
    assert "sources: template 60 (100.0%)" in result.stdout and "grammar: 0 violations" in result.stdout
    assert "floors: at least 2 sentences per label: ok" in result.stdout
    missing = invoke("corpus", "check", str(tmp_path / "none.jsonl"), check=None)
    assert missing.returncode == 1 and "no corpus file at" in missing.stderr
    other = tmp_path / "other.jsonl"
    other.write_text('{"hello": 1}\n', encoding="utf-8")
    assert "is not an lzt corpus file" in invoke("corpus", "check", str(other), check=None).stderr
