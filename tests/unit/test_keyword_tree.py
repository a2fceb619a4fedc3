"""Keyword hierarchies: the vocabulary syntax, the tree a classifier keeps, the names it is
written under, and the three XMP properties that carry it, read back by ExifTool and libexiv2."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from lzt import LztError, OutputOptions, Selection, load_classifier, load_vocabulary, make_writer, save_classifier
from lzt.config import KeywordTree, keyword_tree
from lzt.errors import ClassifierFileError
from lzt.output.xmp import Sidecar, XmpWriter, merge_reviewed_keywords, read_keywords, sidecar_path
from lzt.record import Record
from lzt.vocab.translations import read_parent_translations
from lzt.vocab.vocabulary import parse_vocabulary
from support import EXISTING_SIDECAR, exiftool_keywords, exiv2_properties, needs_exiftool, random_classifier

VOCABULARY = """\
dog: puppy            # at the top
[animals|birds]       # a section
owl: eagle owl [animal]
raptors|eagle: erne   # a path of its own, inside the section
[food and drink: fruit]
apple
[]
beach: seaside [scene]
"""

TREE = KeywordTree({"owl": ("animals", "birds"), "eagle": ("animals", "birds", "raptors")})


def tagged(image: Path, *labels: str) -> Record:
    return Record(image, tags=[(label, round(0.9 - 0.1 * i, 2)) for i, label in enumerate(labels)])


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (16, 16), (10, 20, 30)).save(path)
    return path


# --- the vocabulary syntax ------------------------------------------------------------------------


def test_sections_and_paths_place_labels_in_a_tree() -> None:
    vocabulary = parse_vocabulary(VOCABULARY)
    assert vocabulary.names == ["dog", "owl", "eagle", "apple", "beach"]
    assert vocabulary.parents() == {
        "owl": ("animals", "birds"), "eagle": ("animals", "birds", "raptors"), "apple": ("food and drink: fruit",),
    }
    owl, eagle, beach = vocabulary.labels[1], vocabulary.labels[2], vocabulary.labels[4]
    assert (owl.synonyms, owl.kind) == (("eagle owl",), "animal")
    assert eagle.synonyms == ("erne",)
    assert (beach.parents, beach.kind, beach.synonyms) == ((), "scene", ("seaside",))


def test_plain_files_and_lists_work_as_before() -> None:
    plain = parse_vocabulary("dog\ntv: television, tv monitor\nbeach: seaside [scene]\n")
    assert plain.parents() == {} and plain.labels[1].synonyms == ("television", "tv monitor")
    listed = load_vocabulary(["animals|cat: kitten", "dog"])
    assert listed.parents() == {"cat": ("animals",)} and listed.labels[0].synonyms == ("kitten",)


@pytest.mark.parametrize(("text", "line"), [("[animals||birds]\nowl\n", 2), ("dog\n|owl\n", 2), ("animals| |owl\n", 1)])
def test_an_empty_node_is_an_error_naming_the_line(text: str, line: int) -> None:
    with pytest.raises(LztError, match=rf"<text>:{line}: empty parent in the keyword path"):
        parse_vocabulary(text)


def test_a_label_twice_in_two_branches_is_still_a_duplicate() -> None:
    with pytest.raises(LztError, match="'mouse' is a duplicate of line 2"):
        parse_vocabulary("[animals]\nmouse\n[things]\nmouse\n")


def test_everyday_has_a_tree_from_its_sections() -> None:
    everyday = load_vocabulary("everyday")
    parents = everyday.parents()
    assert len(parents) == len(everyday)  # every label sits in a section
    assert parents["owl"] == ("animals", "birds")
    assert parents["dog"] == ("animals", "pets and farm animals")
    assert parents["person"] == ("people",)
    assert parents["apple"] == ("food and drink", "fruit")
    assert {path[0] for path in parents.values()} >= {"people", "animals", "food and drink", "places", "vehicles"}


# --- the classifier keeps the tree --------------------------------------------------------------


def test_the_classifier_file_keeps_each_labels_parents(tmp_path: Path) -> None:
    classifier = random_classifier(["dog", "owl"])
    classifier.parents = {"owl": ["animals", "birds"]}
    save_classifier(classifier, tmp_path / "tree.lzt")
    assert load_classifier(tmp_path / "tree.lzt").parents == {"owl": ["animals", "birds"]}
    # A flat vocabulary's file has no `parents` key: files written before hierarchies keep their checksum.
    assert "parents" not in random_classifier(["dog", "owl"]).manifest()


def test_a_file_with_malformed_parents_is_refused(tmp_path: Path) -> None:
    classifier = random_classifier(["dog", "owl"])
    classifier.parents = {"owl": ["animals", ""]}  # signed correctly, but not a path
    save_classifier(classifier, tmp_path / "bad.lzt")
    with pytest.raises(ClassifierFileError, match="parents"):
        load_classifier(tmp_path / "bad.lzt")


def test_build_classifier_stores_the_vocabularys_tree(tmp_path: Path, tiny_encoder) -> None:
    from lzt import build_classifier

    (tmp_path / "vocab.txt").write_text(VOCABULARY)
    build_classifier(tmp_path / "vocab.txt", sentences=40, prompts="photo7", encoder=tiny_encoder, out=tmp_path / "v.lzt")
    assert load_classifier(tmp_path / "v.lzt").parents == {
        "owl": ["animals", "birds"], "eagle": ["animals", "birds", "raptors"], "apple": ["food and drink: fruit"],
    }


# --- names written out ----------------------------------------------------------------------------


def test_the_tree_is_written_in_the_selections_names() -> None:
    selection = Selection(rename={"owl": "barn owl"}, underscores=True)
    tree = keyword_tree({"owl": ["animals", "birds of prey"], "dog": ["animals"]}, selection, {"animals": "Tiere"})
    assert tree.parents == {"barn_owl": ("Tiere", "birds_of_prey"), "dog": ("Tiere",)}
    assert tree.path("barn_owl") == ("Tiere", "birds_of_prey", "barn_owl")
    assert tree.path("ohwx") == ("ohwx",)  # a keyword the classifier does not know sits at the top


def test_everyday_parents_have_names_in_every_language() -> None:
    german = read_parent_translations("everyday", "de")
    assert (german["animals"], german["birds"], german["food and drink"]) == ("Tiere", "Vögel", "Essen und Trinken")
    assert read_parent_translations("everyday", "ja")["animals"] == "動物"


# --- XMP ------------------------------------------------------------------------------------------


def test_default_sidecar_shows_the_label_in_every_app(photo: Path) -> None:
    """No parent above lzt's keywords by default: immich, darktable and Lightroom read
    lr:hierarchicalSubject (`animals|birds|owl`, `dog`), digiKam reads digiKam:TagsList."""
    make_writer("xmp", OutputOptions(tree=TREE)).write(tagged(photo, "owl", "dog"))
    sidecar = sidecar_path(photo)
    assert read_keywords(sidecar) == (["owl", "dog"], ["animals|birds|owl", "dog"])
    properties = exiv2_properties(sidecar)
    assert properties["Xmp.digiKam.TagsList"] == ("XmpSeq", ["animals/birds/owl", "dog"])  # digiKam skips a Bag


def test_with_parents_and_a_parent(photo: Path) -> None:
    XmpWriter(parent="lzt", tree=TREE, with_parents=True).write(tagged(photo, "eagle", "owl", "dog"))
    properties = exiv2_properties(sidecar_path(photo))
    assert properties["Xmp.dc.subject"] == ("XmpBag", ["eagle", "owl", "dog", "animals", "birds", "raptors"])
    assert properties["Xmp.lr.hierarchicalSubject"][1] == ["lzt|animals|birds|raptors|eagle", "lzt|animals|birds|owl", "lzt|dog"]
    assert properties["Xmp.digiKam.TagsList"][1] == ["lzt/animals/birds/raptors/eagle", "lzt/animals/birds/owl", "lzt/dog"]


@needs_exiftool
def test_exiftool_and_exiv2_read_the_same_tree(photo: Path) -> None:
    XmpWriter(tree=TREE, with_parents=True).write(tagged(photo, "owl", "Möwe", "日本"))
    row = exiftool_keywords(sidecar_path(photo))[0]
    properties = exiv2_properties(sidecar_path(photo))
    assert row["Subject"] == properties["Xmp.dc.subject"][1] == ["owl", "Möwe", "日本", "animals", "birds"]
    assert row["HierarchicalSubject"] == properties["Xmp.lr.hierarchicalSubject"][1] == ["animals|birds|owl", "Möwe", "日本"]
    assert row["TagsList"] == properties["Xmp.digiKam.TagsList"][1] == ["animals/birds/owl", "Möwe", "日本"]


def test_overwrite_moves_lzts_keywords_in_all_three_and_keeps_others(photo: Path) -> None:
    sidecar = sidecar_path(photo)
    sidecar.write_text(EXISTING_SIDECAR)
    writer = XmpWriter(tree=TREE, with_parents=True)
    writer.write(tagged(photo, "owl"))
    writer.write(tagged(photo, "eagle"))
    properties = exiv2_properties(sidecar)
    assert properties["Xmp.dc.subject"][1] == ["Dog", "family", "Éte", "animals", "birds", "eagle", "raptors"]
    assert properties["Xmp.lr.hierarchicalSubject"][1] == ["people|family", "animals|birds|raptors|eagle"]
    # digiKam reads only TagsList once there is one: the person's keywords were copied into it.
    assert properties["Xmp.digiKam.TagsList"][1] == ["people/family", "Dog", "Éte", "animals/birds/raptors/eagle"]
    assert properties["Xmp.xmp.Rating"][1] == ["4"]


def test_a_sidecar_with_flat_keywords_only_gets_them_in_the_hierarchy_too(photo: Path) -> None:
    """immich imports only lr:hierarchicalSubject when it is present: keywords another tool wrote
    into dc:subject alone must not vanish from it because lzt added the property."""
    sidecar = sidecar_path(photo)
    sidecar.write_text(EXISTING_SIDECAR.replace("<lr:hierarchicalSubject><rdf:Bag><rdf:li>people|family</rdf:li></rdf:Bag></lr:hierarchicalSubject>", ""))
    XmpWriter(tree=TREE).write(tagged(photo, "owl"))
    assert read_keywords(sidecar)[1] == ["Dog", "family", "Éte", "animals|birds|owl"]
    XmpWriter(tree=TREE).write(tagged(photo, "eagle"))  # the copies are not lzt's: never removed
    assert read_keywords(sidecar)[1] == ["Dog", "family", "Éte", "animals|birds|raptors|eagle"]


def test_tag_never_removes_a_reviews_markers_whatever_its_parent(photo: Path) -> None:
    sidecar = sidecar_path(photo)
    XmpWriter(tree=TREE).write(tagged(photo, "owl", "dog"))
    parsed = Sidecar.parse(sidecar.read_bytes())
    merge_reviewed_keywords(parsed, reviewed=["owl"], auto=[], rejected=["dog"], parent="lzt", replace=False)
    sidecar.write_bytes(parsed.serialise())
    properties = exiv2_properties(sidecar)
    assert properties["Xmp.lr.hierarchicalSubject"][1] == ["animals|birds|owl", "lzt|reviewed|owl"]
    assert properties["Xmp.digiKam.TagsList"][1] == ["animals/birds/owl", "lzt/reviewed/owl"]
    XmpWriter(tree=TREE).write(tagged(photo, "eagle"))  # another run, default (empty) parent
    properties = exiv2_properties(sidecar)
    assert properties["Xmp.lr.hierarchicalSubject"][1] == ["lzt|reviewed|owl", "animals|birds|raptors|eagle"]
    assert properties["Xmp.digiKam.TagsList"][1] == ["lzt/reviewed/owl", "animals/birds/raptors/eagle"]


def test_tagging_a_run_twice_is_stable(photo: Path) -> None:
    for _ in range(2):
        XmpWriter(tree=TREE, with_parents=True).write(tagged(photo, "owl", "dog"))
    first = sidecar_path(photo).read_bytes()
    XmpWriter(tree=TREE, with_parents=True).write(tagged(photo, "owl", "dog"))
    assert sidecar_path(photo).read_bytes() == first


# --- the tree tells the template writer what a label is --------------------------------------------


@pytest.mark.parametrize(
    ("name", "parents", "kind"),
    [
        ("kestrel", ("animals", "birds"), "animal"),
        ("kestrel", (), "object"),  # the name alone says nothing
        ("granny smith", ("food and drink", "fruit"), "food"),
        ("whisk", ("things", "kitchen and dining"), "object"),  # a node's -ing is no activity
        ("surfing", ("animals",), "activity"),  # the name's own kind wins
    ],
)
def test_a_labels_parents_guess_its_kind(name: str, parents: tuple[str, ...], kind: str) -> None:
    from lzt.vocab.kinds import guess_kind_in_tree

    assert guess_kind_in_tree(name, parents) == kind


def test_knowledge_of_a_user_vocabulary_uses_its_tree(tmp_path: Path) -> None:
    from lzt import load_knowledge

    (tmp_path / "mine.txt").write_text("[animals|birds]\nkestrel\n[]\nkestrel statue\n")
    knowledge = load_knowledge(tmp_path / "mine.txt")
    assert [(e.label, e.kind) for e in knowledge.entries] == [("kestrel", "animal"), ("kestrel statue", "object")]
