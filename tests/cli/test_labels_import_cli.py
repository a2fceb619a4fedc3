"""`lzt labels import` as a user runs it: the vocabulary on stdout or in `--out`, a warning line
per thing not carried over, the summary line, the exit codes, and the imported file used by
`lzt build-classifier` (tiny model) whose classifier keeps the keyword tree."""

from __future__ import annotations

from keyword_trees import DIGIKAM_LABELS, LIGHTROOM_LABELS, write_digikam, write_lightroom
from lzt import load_classifier, load_vocabulary
from lzt.vocab import parse_vocabulary
from support import invoke, run_lzt


def test_import_to_a_file_reports_on_stderr_and_exits_3_when_something_was_skipped(tmp_path):
    source = write_lightroom(tmp_path / "keywords.txt")
    out = tmp_path / "vocab.txt"
    result = invoke("labels", "import", source, "--out", out, check=3)
    assert result.stdout == ""
    vocabulary = load_vocabulary(out)
    assert {label.name: (label.parents, label.synonyms) for label in vocabulary.labels} == LIGHTROOM_LABELS
    lines = result.stderr.splitlines()
    assert lines[0].startswith("warning: line 13: synonym 'owl' of 'Dog' under Animals|Mammals dropped")
    assert lines[1].startswith("warning: line 21: 'dog' under People is already a label")
    assert lines[2] == f"10 labels, 7 synonyms, 6 parents from {source} (lightroom); 2 skipped; wrote {out}"


def test_import_to_stdout_in_a_real_process(tmp_path):
    source = write_lightroom(tmp_path / "keywords.txt", "Animals\n\t{fauna}\n\tBirds\n\t\tMöwe\n\t\t\t{gull}\n")
    result = run_lzt("labels", "import", source, "--from", "lightroom")
    vocabulary = parse_vocabulary(result.stdout)
    assert {label.name: (label.parents, label.synonyms) for label in vocabulary.labels} == {
        "Animals": ((), ("fauna",)), "Birds": (("Animals",), ()), "Möwe": (("Animals", "Birds"), ("gull",)),
    }
    assert result.stdout.startswith(f"# lzt vocabulary imported from {source}") and "not imported" not in result.stdout
    assert result.stderr.strip() == f"3 labels, 2 synonyms, 2 parents from {source} (lightroom)"
    assert run_lzt("labels", "import", source, "-q").stderr == ""


def test_bad_input_is_one_line_and_an_exit_code(tmp_path):
    bad = write_lightroom(tmp_path / "bad.txt", "Animals\n\t\tOwl\n")
    good = write_lightroom(tmp_path / "keywords.txt")
    inner = write_lightroom(tmp_path / "inner.txt", "Animals\n\t[Birds]\n")  # a leaf that is a category
    cases = [
        (["labels", "import", tmp_path / "missing.txt"], 1, "error: no such keyword file"),
        (["labels", "import", bad], 1, f"error: {bad}:2: 'Owl' is indented by 2 TABs"),
        (["labels", "import", good, "--from", "digikam"], 1, "is not an SQLite database"),
        (["labels", "import", inner, "--leaves-only"], 1, "no keyword can be a label (0 skipped, 0 excluded, inner keywords left out by --leaves-only)"),
        (["labels", "import", good, "--from", "aperture"], 2, "aperture"),
        (["labels", "import", good, "--out", good], 2, "error: --out is the file being imported"),
        (["labels", "import", good, "--exclude", "People|"], 2, "error: --exclude holds an empty keyword name"),
    ]
    for args, code, message in cases:
        result = invoke(*args, check=code)
        assert message in result.stderr and "Traceback" not in result.stderr and result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt", "inner.txt", "keywords.txt"]


def test_a_digikam_import_builds_a_classifier_that_keeps_the_tree(tmp_path):
    db = write_digikam(tmp_path / "digikam4.db")
    vocab = tmp_path / "vocab.txt"
    result = invoke("labels", "import", db, "--exclude", "people", "--exclude", "Nobody", "-o", vocab, check=3)
    assert "warning: nothing to exclude: no keyword 'Nobody'" in result.stderr
    assert "warning: tag 15: 'dog' under Places is already a label (tag 12: 'Dog' under Animals)" in result.stderr
    assert result.stderr.splitlines()[-1] == f"7 labels, 0 synonyms, 3 parents from {db} (digikam); 3 keywords excluded; 1 skipped; wrote {vocab}"
    out = tmp_path / "mine.lzt"
    invoke("build-classifier", "--labels", vocab, "--model", "lzt-tiny-vit", "--pretrained", "none",
           "--sentences", "40", "--prompts", "photo7", "--out", out, "-q")
    classifier = load_classifier(out)
    assert classifier.labels == list(DIGIKAM_LABELS)
    assert classifier.parents == {name: list(parents) for name, parents in DIGIKAM_LABELS.items() if parents}


def test_leaves_only_from_the_command_line(tmp_path):
    db = write_digikam(tmp_path / "digikam4.db", [(1, 0, "Animals"), (2, 1, "Birds"), (3, 2, "Owl"), (4, 1, "Cat")], [])
    result = invoke("labels", "import", db, "--leaves-only", check=0)  # Birds (with Owl) comes before Cat
    vocabulary = parse_vocabulary(result.stdout)
    assert vocabulary.names == ["Owl", "Cat"] and vocabulary.parents() == {"Cat": ("Animals",), "Owl": ("Animals", "Birds")}
