"""XMP sidecars: fresh ones, merges that keep everything else, the on_existing modes, corrupt
files left alone; read back with ExifTool where it is installed (CI installs it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from lzt.output.xmp import SidecarError, XmpWriter, read_keywords, sidecar_path
from lzt.tagging import Record
from support import EXISTING_SIDECAR as EXISTING
from support import exiftool_keywords, needs_exiftool, permissions_enforced


def record(path: Path, *labels: str) -> Record:
    return Record(Path(path), tags=[(label, round(0.9 - 0.1 * i, 2)) for i, label in enumerate(labels)])


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (16, 16), (10, 20, 30)).save(path)
    return path


# --- fresh sidecars -----------------------------------------------------------------------------


def test_fresh_sidecar(photo: Path) -> None:
    writer = XmpWriter(parent="lzt")
    writer.write(record(photo, "dog", "frisbee"))
    sidecar = photo.parent / "photo.jpg.xmp"
    assert read_keywords(sidecar) == (["dog", "frisbee"], ["lzt|dog", "lzt|frisbee"])
    assert writer.written == 1
    assert sorted(p.name for p in photo.parent.iterdir()) == ["photo.jpg", "photo.jpg.xmp"]  # no temp file


@needs_exiftool
def test_fresh_sidecar_read_by_exiftool(photo: Path) -> None:
    XmpWriter(parent="lzt").write(record(photo, "dog", "frisbee"))
    [row] = exiftool_keywords(photo.parent / "photo.jpg.xmp")
    assert row["Subject"] == ["dog", "frisbee"]
    assert row["HierarchicalSubject"] == ["lzt|dog", "lzt|frisbee"]


@pytest.mark.parametrize(("naming", "name"), [("full", "photo.jpg.xmp"), ("stem", "photo.xmp")])
def test_naming(photo: Path, naming: str, name: str) -> None:
    assert sidecar_path(photo, naming) == photo.parent / name
    XmpWriter(parent="lzt", naming=naming).write(record(photo, "dog"))
    assert (photo.parent / name).is_file()


@pytest.mark.parametrize(("parent", "expected"), [("", "dog"), ("auto|lzt", "auto|lzt|dog"), ("|tags|", "tags|dog")])
def test_parent(photo: Path, parent: str, expected: str) -> None:
    XmpWriter(parent=parent).write(record(photo, "dog"))
    assert read_keywords(sidecar_path(photo)) == (["dog"], [expected])


def test_nothing_to_write(photo: Path) -> None:
    writer = XmpWriter(parent="lzt")
    writer.write(Record(photo, error="truncated image"))
    writer.write(Record(photo, tags=[]))  # e.g. nothing above --threshold
    assert not sidecar_path(photo).exists() and writer.written == 0


def test_non_utf8_and_unicode_names(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9 ph\xf6to.jpg"
    with open(raw, "wb") as handle:
        handle.write(b"not read")
    image = Path(os.fsdecode(raw))
    XmpWriter(parent="lzt").write(record(image, "café", "日本"))
    assert os.path.exists(raw + b".xmp")
    assert read_keywords(Path(os.fsdecode(raw + b".xmp"))) == (["café", "日本"], ["lzt|café", "lzt|日本"])


# --- merging ------------------------------------------------------------------------------------


def test_merge_keeps_everything_else(photo: Path) -> None:
    sidecar = sidecar_path(photo)
    sidecar.write_text(EXISTING, encoding="utf-8")
    XmpWriter(parent="lzt").write(record(photo, "dog", "beach"))
    subject, hier = read_keywords(sidecar)
    assert subject == ["Dog", "family", "Éte", "beach"]  # "dog" is already there as "Dog"
    assert hier == ["people|family", "lzt|dog", "lzt|beach"]
    text = sidecar.read_text(encoding="utf-8")
    for kept in ('xmp:Rating="4"', 'acme:project="Holiday 2023"', "<acme:reviewers>", "<rdf:li>Bo</rdf:li>",
                 'xml:lang="x-default">Beach day<', "written by hand", 'x:xmptk="Image::ExifTool 12.57"',
                 "<?xpacket begin=", "<?xpacket end="):
        assert kept in text, kept
    assert "ns0:" not in text  # the file's own prefixes, not invented ones


@needs_exiftool
def test_merge_read_by_exiftool(photo: Path) -> None:
    sidecar = sidecar_path(photo)
    sidecar.write_text(EXISTING, encoding="utf-8")
    XmpWriter(parent="lzt").write(record(photo, "dog", "beach"))
    [row] = exiftool_keywords(sidecar)
    assert row["Subject"] == ["Dog", "family", "Éte", "beach"]
    assert row["HierarchicalSubject"] == ["people|family", "lzt|dog", "lzt|beach"]
    assert row["Rating"] == 4 and row["Title"] == "Beach day"
    assert row["Project"] == "Holiday 2023" and row["Reviewers"] == ["Ann", "Bo"]


def test_overwrite_replaces_only_lzts_keywords(photo: Path) -> None:
    sidecar = sidecar_path(photo)
    sidecar.write_text(EXISTING, encoding="utf-8")
    writer = XmpWriter(parent="lzt", on_existing="overwrite")
    writer.write(record(photo, "dog", "beach", "FAMILY"))
    writer.write(record(photo, "car"))
    # beach (lzt's) is gone; Dog, family and Éte (the user's) stay though lzt stopped predicting dog.
    assert read_keywords(sidecar) == (["Dog", "family", "Éte", "car"], ["people|family", "lzt|car"])
    writer.write(record(photo))  # nothing predicted any more: lzt's keywords all go
    assert read_keywords(sidecar) == (["Dog", "family", "Éte"], ["people|family"])
    assert "lzt:added" not in sidecar.read_text(encoding="utf-8")


def test_overwrite_removes_stale_entries_under_the_parent(photo: Path) -> None:
    # A sidecar another tool rewrote without lzt's record: `lzt|...` still marks lzt's entries.
    sidecar = sidecar_path(photo)
    sidecar.write_text(EXISTING.replace("<rdf:li>people|family</rdf:li>", "<rdf:li>people|family</rdf:li><rdf:li>lzt|cat</rdf:li>"))
    XmpWriter(parent="lzt").write(record(photo, "dog"))
    assert read_keywords(sidecar)[1] == ["people|family", "lzt|dog"]


def test_changing_the_parent_moves_lzts_entries(photo: Path) -> None:
    XmpWriter(parent="lzt").write(record(photo, "dog"))
    XmpWriter(parent="auto").write(record(photo, "dog"))
    assert read_keywords(sidecar_path(photo)) == (["dog"], ["auto|dog"])


def test_append_never_removes_and_never_duplicates(photo: Path) -> None:
    sidecar = sidecar_path(photo)
    sidecar.write_text(EXISTING, encoding="utf-8")
    writer = XmpWriter(parent="lzt", on_existing="append")
    writer.write(record(photo, "beach", "dog"))
    writer.write(record(photo, "BEACH", "car", "Family"))
    assert read_keywords(sidecar) == (
        ["Dog", "family", "Éte", "beach", "car"],
        ["people|family", "lzt|beach", "lzt|dog", "lzt|car", "lzt|Family"],
    )


def test_skip_leaves_existing_sidecars_alone(photo: Path, tmp_path: Path) -> None:
    sidecar = sidecar_path(photo)
    sidecar.write_text(EXISTING, encoding="utf-8")
    before = sidecar.read_bytes()
    other = tmp_path / "other.png"
    Image.new("RGB", (8, 8)).save(other)
    writer = XmpWriter(parent="lzt", on_existing="skip")
    writer.write(record(photo, "car"))
    writer.write(record(other, "car"))
    assert sidecar.read_bytes() == before
    assert read_keywords(sidecar_path(other)) == (["car"], ["lzt|car"])
    assert (writer.written, writer.skipped) == (1, 1)


def test_stem_naming_merges_into_the_lightroom_style_file(photo: Path) -> None:
    (photo.parent / "photo.xmp").write_text(EXISTING, encoding="utf-8")
    XmpWriter(parent="lzt", naming="stem").write(record(photo, "beach"))
    assert "beach" in read_keywords(photo.parent / "photo.xmp")[0]
    assert not (photo.parent / "photo.jpg.xmp").exists()


def test_empty_existing_sidecar_is_replaced(photo: Path) -> None:
    sidecar_path(photo).write_bytes(b"")
    XmpWriter(parent="lzt").write(record(photo, "dog"))
    assert read_keywords(sidecar_path(photo)) == (["dog"], ["lzt|dog"])


def test_darktable_style_sidecar_without_wrapper(photo: Path) -> None:
    sidecar = sidecar_path(photo)
    sidecar.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
        'xmlns:darktable="http://darktable.sf.net/" darktable:xmp_version="5">'
        "<darktable:history><rdf:Seq><rdf:li darktable:operation=\"exposure\" darktable:enabled=\"1\"/>"
        "</rdf:Seq></darktable:history></rdf:Description></rdf:RDF></x:xmpmeta>\n"
    )
    XmpWriter(parent="lzt").write(record(photo, "dog"))
    text = sidecar.read_text()
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>') and "<?xpacket" not in text
    assert 'darktable:operation="exposure"' in text and 'darktable:xmp_version="5"' in text
    assert read_keywords(sidecar) == (["dog"], ["lzt|dog"])


# --- broken sidecars ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF", "not valid XMP"),
        (b"\x00\xff\xfe garbage", "not valid XMP"),
        (b"<html><body>not xmp</body></html>", "no rdf:RDF"),
        (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', "DTD"),
    ],
)
def test_corrupt_sidecar_is_left_alone_and_reported(photo: Path, tmp_path: Path, content: bytes, reason: str) -> None:
    sidecar = sidecar_path(photo)
    sidecar.write_bytes(content)
    writer = XmpWriter(parent="lzt")
    with pytest.raises(SidecarError) as caught:
        writer.write(record(photo, "dog"))
    assert reason in str(caught.value) and str(sidecar) in str(caught.value)
    assert "\n" not in str(caught.value)
    assert sidecar.read_bytes() == content
    other = tmp_path / "next.jpg"
    writer.write(record(other, "cat"))  # the writer goes on with the next image
    assert read_keywords(sidecar_path(other)) == (["cat"], ["lzt|cat"])


@pytest.mark.skipif(not permissions_enforced(), reason="running as root: read-only folders stay writable")
def test_unwritable_folder_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(SidecarError, match="cannot write sidecar"):
            XmpWriter(parent="lzt").write(record(folder / "a.jpg", "dog"))
    finally:
        folder.chmod(0o755)


def test_sidecar_that_is_a_folder_is_reported(photo: Path) -> None:
    sidecar_path(photo).mkdir()
    with pytest.raises(SidecarError, match="cannot read existing sidecar"):
        XmpWriter(parent="lzt").write(record(photo, "dog"))
