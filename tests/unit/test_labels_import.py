"""`lzt.import_keywords` on keyword trees the tests write (tests/keyword_trees.py): a Lightroom
Classic keyword export and a digiKam database, read back through `lzt.load_vocabulary` (labels,
parents, synonyms), the things it cannot carry over and reports, broken inputs, and a
classifier built from an imported vocabulary that keeps the tree in its manifest."""

from __future__ import annotations

import os
import re
import sqlite3

import pytest

from keyword_trees import (
    DIGIKAM_LABELS,
    DIGIKAM_TAGS,
    LIGHTROOM_LABELS,
    write_digikam,
    write_lightroom,
)
from lzt import KeywordFormat, LztError, LztWarning, UsageError, build_classifier, import_keywords, load_classifier, load_vocabulary
from lzt.vocab.check import check_file


def tree(vocabulary) -> dict:
    """name -> (parents, synonyms), in the vocabulary's order."""
    return {label.name: (label.parents, label.synonyms) for label in vocabulary.labels}


def _saved(folder, text: str):
    path = folder / "imported.txt"
    path.write_text(text, encoding="utf-8")
    return path


# --- Lightroom Classic ------------------------------------------------------------------------------


def test_a_lightroom_export_keeps_synonyms_and_the_tree(tmp_path):
    source = write_lightroom(tmp_path / "keywords.txt")
    result = import_keywords(source, out=tmp_path / "vocab.txt")
    vocabulary = load_vocabulary(tmp_path / "vocab.txt")
    assert tree(vocabulary) == LIGHTROOM_LABELS
    assert list(tree(vocabulary)) == list(LIGHTROOM_LABELS)  # grouped by parent path, in tree order
    assert tree(result.vocabulary) == LIGHTROOM_LABELS and (tmp_path / "vocab.txt").read_text(encoding="utf-8") == result.text
    # Places and Cities are [categories]: parents, never labels; Animals and Birds are both.
    assert "Places" not in vocabulary.names and "Cities" not in vocabulary.names
    assert vocabulary.parents()["Paris"] == ("Places", "Cities")
    assert (result.format, result.labels, result.synonyms, result.parents) == (KeywordFormat.lightroom, 10, 7, 6)
    assert result.skipped == (
        "line 13: synonym 'owl' of 'Dog' under Animals|Mammals dropped: it is the name of the label 'Owl' under Animals|Birds (line 5)",
        "line 21: 'dog' under People is already a label (line 11: 'Dog' under Animals|Mammals); the first is kept",
    )
    header = result.text.splitlines()[:2]
    assert f"imported from {source} (a Lightroom keyword export, UTF-8)" in header[0]
    assert header[1].startswith("# made 20") and "UTC: 10 labels, 7 synonyms" in header[1]
    assert "# not imported (2):" in result.text and "#   line 21: 'dog' under People" in result.text
    assert "[Places|Cities]\nParis\n" in result.text
    assert check_file(tmp_path / "vocab.txt").errors == []


def test_leaves_only_makes_labels_of_the_keywords_without_children(tmp_path):
    result = import_keywords(write_lightroom(tmp_path / "keywords.txt"), "lightroom", leaves_only=True)
    assert tree(result.vocabulary) == {name: value for name, value in LIGHTROOM_LABELS.items()
                                       if name not in ("Animals", "People", "Birds", "Mammals")}
    assert "leaves only" in result.text.splitlines()[1]


@pytest.mark.parametrize("encoding, bom, described", [("utf-8", False, "UTF-8"), ("cp1252", False, "Windows-1252"),
                                                      ("utf-16", True, "UTF-16")])
def test_exports_in_other_encodings_read_the_same(tmp_path, encoding, bom, described):
    result = import_keywords(write_lightroom(tmp_path / "keywords.txt", encoding=encoding, bom=bom))
    assert tree(result.vocabulary) == LIGHTROOM_LABELS and "Möwe" in result.vocabulary.names
    assert f"(a Lightroom keyword export, {described})" in result.text


def test_names_the_vocabulary_cannot_hold_are_reported_and_the_rest_imported(tmp_path):
    export = (
        "Trips\n"
        "\tParis, France\n"  # a comma: no label, but a section header holds it
        "\t\tEiffel Tower\n"
        "\t\t\t{tour Eiffel, la}\n"  # a synonym with a comma: dropped
        "\t\t\t{eiffel tower}\n"  # its own name again: nothing lost, no note
        "\tAlbum: 2023\n"  # a colon: no label, no children
        "\tWork|Home\n"  # the path separator: not even a parent
        "\t\tDesk\n"
        "\t#private\n"  # the comment sign
        "\tC++\n"
        "\t[  Old   Town ]\n"  # whitespace is cleaned as the vocabulary parser cleans it
        "\t\tOld  Bridge\n"
        "\t{}\n"  # an empty synonym of Trips
    )
    result = import_keywords(write_lightroom(tmp_path / "keywords.txt", export))
    vocabulary = load_vocabulary(_saved(tmp_path, result.text))
    assert tree(vocabulary) == {
        "Trips": ((), ()),
        "C++": (("Trips",), ()),
        "Eiffel Tower": (("Trips", "Paris, France"), ()),
        "Old Bridge": (("Trips", "Old Town"), ()),
    }
    notes = "\n".join(result.skipped)
    assert "line 2: 'Paris, France' under Trips cannot be a label: ',' is reserved in a vocabulary; kept as the parent" in notes
    assert "line 4: synonym 'tour Eiffel, la' of 'Eiffel Tower' under Trips|Paris, France dropped: ',' is reserved" in notes
    assert "line 6: 'Album: 2023' under Trips cannot be a label: ':' is reserved in a vocabulary" in notes
    assert "line 7: 'Work|Home' under Trips skipped with the keyword below it: '|' is reserved" in notes
    assert "line 9: '#private' under Trips skipped: '#' is reserved" in notes
    assert "line 13: synonym '' of 'Trips' dropped: its name is empty" in notes
    assert len(result.skipped) == 6 and "eiffel tower" not in notes


def test_a_label_name_wins_over_an_earlier_synonym_and_a_shared_synonym_stays_with_the_first(tmp_path):
    export = "Animals\n\t{fauna}\n\t{beasts}\n\tFauna\n\tPets\n\t\t{Beasts}\n\t\t{pet: animal, tame}\n"
    result = import_keywords(write_lightroom(tmp_path / "keywords.txt", export))
    assert tree(result.vocabulary) == {"Animals": ((), ("beasts",)), "Fauna": (("Animals",), ()), "Pets": (("Animals",), ())}
    assert result.skipped == (
        "line 2: synonym 'fauna' of 'Animals' dropped: it is the name of the label 'Fauna' under Animals (line 4)",
        "line 6: synonym 'Beasts' of 'Pets' under Animals dropped: it is the synonym of the label 'Animals' (line 1)",
        "line 7: synonym 'pet: animal, tame' of 'Pets' under Animals dropped: ':' and ',' are reserved in a vocabulary",
    )


@pytest.mark.parametrize(
    "export, line, fragment",
    [
        ("Animals\n\t\tOwl\n", 2, "indented by 2 TABs, but the keyword above it has 0"),
        ("\tOwl\n", 1, "indented by 1 TAB, but it is the first keyword"),
        ("Animals\n    Owl\n", 2, "indented with spaces"),
        ("Animals\n\t Owl\n", 2, "indented with spaces"),
        ("{aves}\nAnimals\n", 1, "synonym '{aves}' is not one TAB deeper than a keyword"),
        ("Animals\n\t\t{fauna}\n", 2, "not one TAB deeper"),
        ("Animals\n\x00\x01binary\n", 2, "binary data, not text"),
    ],
)
def test_bad_indentation_and_binary_data_name_the_line(tmp_path, export, line, fragment):
    path = write_lightroom(tmp_path / "bad.txt", export)
    with pytest.raises(LztError) as error:
        import_keywords(path)
    assert f"{path}:{line}:" in str(error.value) and fragment in str(error.value)


def test_files_that_hold_no_keywords_or_are_neither_format_are_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    blank = write_lightroom(tmp_path / "blank.txt", "\n\t\n\n")
    categories = write_lightroom(tmp_path / "categories.txt", "[Places]\n\t[Cities]\n")
    image = tmp_path / "photo.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x08")
    other_db = tmp_path / "other.db"
    with sqlite3.connect(other_db) as db:
        db.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)")
    db.close()
    files = sorted(tmp_path.iterdir())
    cases = [
        (empty, "auto", "holds no keywords"), (blank, "lightroom", "holds no keywords"),
        (categories, "auto", "no keyword can be a label"), (image, "auto", "binary data, not text"),
        (other_db, "auto", "without digiKam's Tags table"), (other_db, "lightroom", "is an SQLite database"),
        (blank, "digikam", "is not an SQLite database"), (tmp_path / "missing.txt", "auto", "no such keyword file"),
        (tmp_path, "auto", "is not a file"), (blank, "aperture", "unknown keyword source 'aperture'"),
    ]
    for path, format, fragment in cases:
        with pytest.raises(LztError, match=fragment):
            import_keywords(path, format)
    assert sorted(tmp_path.iterdir()) == files


def test_exclude_takes_names_anywhere_and_paths_from_the_top(tmp_path):
    source = write_lightroom(tmp_path / "keywords.txt")
    anywhere = import_keywords(source, exclude=["BIRDS", "cities"])
    assert "Owl" not in anywhere.vocabulary.names and "Paris" not in anywhere.vocabulary.names
    assert anywhere.excluded == 5 and "Beach" in anywhere.vocabulary.names  # Birds, Owl, Möwe; Cities, Paris
    by_path = import_keywords(source, exclude=["Places|Cities", "People"])
    assert by_path.excluded == 5 and set(by_path.vocabulary.names) == set(LIGHTROOM_LABELS) - {"Paris", "People", "Ann"}
    assert not any("line 21" in note for note in by_path.skipped)  # People's `dog` was excluded, not skipped
    with pytest.warns(LztWarning, match=re.escape("nothing to exclude: no keyword 'Birds|Owl'")):
        import_keywords(source, exclude=["Birds|Owl"])  # a path starts at the top
    with pytest.raises(UsageError, match="empty keyword name"):
        import_keywords(source, exclude=["Animals|"])


def test_out_is_written_atomically_and_never_over_the_source(tmp_path):
    source = write_lightroom(tmp_path / "keywords.txt")
    before = source.read_bytes()
    with pytest.raises(UsageError, match="the file being imported"):
        import_keywords(source, out=source)
    assert source.read_bytes() == before
    with pytest.raises(LztError, match="cannot write the vocabulary"):
        import_keywords(source, out=tmp_path)  # a folder
    out = tmp_path / "sub" / "vocab.txt"
    result = import_keywords(source, out=out)
    assert out.read_text(encoding="utf-8") == result.text and [p.name for p in out.parent.iterdir()] == ["vocab.txt"]


def test_a_deep_tree_imports_without_recursion(tmp_path):
    depth = 1500  # deeper than Python's recursion limit
    export = "".join("\t" * level + f"k{level}\n" for level in range(depth))
    result = import_keywords(write_lightroom(tmp_path / "deep.txt", export), leaves_only=True)
    assert result.vocabulary.names == [f"k{depth - 1}"] and len(result.vocabulary.labels[0].parents) == depth - 1


# --- digiKam ---------------------------------------------------------------------------------------


def test_a_digikam_database_gives_its_tag_tree_and_is_left_unchanged(tmp_path):
    db = write_digikam(tmp_path / "digikam4.db")
    db.chmod(0o444)  # opened read-only: a write-protected database reads as well
    before = (db.read_bytes(), os.stat(db).st_mtime_ns)
    result = import_keywords(db, exclude=["People"])
    assert (db.read_bytes(), os.stat(db).st_mtime_ns) == before
    assert not [p for p in tmp_path.iterdir() if p.name != "digikam4.db"]  # no journal left behind
    vocabulary = load_vocabulary(_saved(tmp_path, result.text))
    assert {label.name: label.parents for label in vocabulary.labels} == DIGIKAM_LABELS
    assert vocabulary.names[:2] == ["Animals", "Places"]  # siblings by name, as digiKam shows them
    assert (result.format, result.labels, result.synonyms, result.parents, result.excluded) == (KeywordFormat.digikam, 7, 0, 3, 3)
    # The internal subtree (colour and pick labels) is bookkeeping: left out without a note.
    assert not any(name.startswith(("_Digikam", "Color", "Pick")) for name in vocabulary.names)
    assert result.skipped == ("tag 15: 'dog' under Places is already a label (tag 12: 'Dog' under Animals); the first is kept",)


def test_digikam_face_bookkeeping_tags_are_left_out_and_people_kept(tmp_path):
    result = import_keywords(write_digikam(tmp_path / "digikam4.db"), "digikam")
    assert result.vocabulary.parents()["Ann"] == ("People",) and "Bo" in result.vocabulary.names
    assert "Unknown" not in result.vocabulary.names  # holds unnamed faces (unknownPerson)


def test_broken_parent_links_are_reported_and_the_rest_imported(tmp_path):
    tags = [*DIGIKAM_TAGS, (20, 21, "Loop A"), (21, 20, "Loop B"), (22, 21, "Below the loop"), (23, 23, "Own parent"),
            (30, 99, "Orphan"), (31, 30, "Orphan child"), (32, 31, "Orphan grandchild")]
    result = import_keywords(write_digikam(tmp_path / "digikam4.db", tags), exclude=["People"])
    assert {label.name: label.parents for label in result.vocabulary.labels} == DIGIKAM_LABELS
    assert result.skipped[1:] == (
        "tag 20 'Loop A', tag 21 'Loop B' and the tag below skipped: their parent links form a cycle (20 -> 21 -> 20)",
        "tag 23 'Own parent' skipped: it is its own parent",
        "tag 30 'Orphan' and the 2 tags below skipped: its parent tag 99 does not exist",
    )


# --- a classifier from an imported vocabulary -------------------------------------------------------


def test_a_classifier_built_from_an_import_keeps_the_tree(tmp_path, tiny_encoder):
    vocab = tmp_path / "vocab.txt"
    import_keywords(write_lightroom(tmp_path / "keywords.txt"), out=vocab)
    out = tmp_path / "mine.lzt"
    build_classifier(vocab, sentences=40, prompts="photo7", encoder=tiny_encoder, out=out)  # the template writer
    classifier = load_classifier(out)
    assert classifier.labels == list(LIGHTROOM_LABELS)
    assert classifier.parents == {name: list(parents) for name, (parents, _) in LIGHTROOM_LABELS.items() if parents}
    assert classifier.synonyms["Möwe"] == ["gull", "seagull"]
