"""XMP sidecars: fresh ones, merges that keep everything else, the on_existing modes, corrupt
files left alone; read back with ExifTool where it is installed (CI installs it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import permissions_enforced
from lzt.classifier import Classifier, save_classifier
from lzt.tagger import Record
from lzt.xmp import SidecarError, XmpWriter, read_keywords, sidecar_path

REPO = Path(__file__).resolve().parent.parent
EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool not installed (apt-get install libimage-exiftool-perl)")




# A sidecar as another tool left it: keywords, a rating, a title, a label in a custom namespace,
# an xpacket wrapper, properties split over two rdf:Description elements, and a comment.
EXISTING = """<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Image::ExifTool 12.57">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:acme="http://example.com/acme/1.0/"
    xmp:Rating="4" acme:project="Holiday 2023">
   <acme:reviewers><rdf:Seq><rdf:li>Ann</rdf:li><rdf:li>Bo</rdf:li></rdf:Seq></acme:reviewers>
   <!-- written by hand -->
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Beach day</rdf:li></rdf:Alt></dc:title>
   <dc:subject><rdf:Bag><rdf:li>Dog</rdf:li><rdf:li>family</rdf:li><rdf:li>Éte</rdf:li></rdf:Bag></dc:subject>
   <lr:hierarchicalSubject><rdf:Bag><rdf:li>people|family</rdf:li></rdf:Bag></lr:hierarchicalSubject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end='w'?>
"""


def record(path: Path, *labels: str) -> Record:
    return Record(Path(path), tags=[(label, round(0.9 - 0.1 * i, 2)) for i, label in enumerate(labels)])


def exiftool_keywords(*sidecars: Path) -> list[dict]:
    out = subprocess.run(
        [EXIFTOOL, "-j", "-XMP:Subject", "-XMP:HierarchicalSubject", "-XMP:Rating", "-XMP:Title",
         "-XMP-acme:all", *map(str, sidecars)],
        capture_output=True, text=True, check=True,
    ).stdout
    rows = json.loads(out)
    for row in rows:  # ExifTool gives a single keyword as a string, several as a list
        for key in ("Subject", "HierarchicalSubject"):
            value = row.get(key, [])
            row[key] = value if isinstance(value, list) else [value]
    return rows


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (16, 16), (10, 20, 30)).save(path)
    return path


# --- fresh sidecars -----------------------------------------------------------------------------


def test_fresh_sidecar(photo: Path) -> None:
    writer = XmpWriter()
    writer.write(record(photo, "dog", "frisbee"))
    sidecar = photo.parent / "photo.jpg.xmp"
    assert read_keywords(sidecar) == (["dog", "frisbee"], ["lzt|dog", "lzt|frisbee"])
    assert writer.written == 1
    assert sorted(p.name for p in photo.parent.iterdir()) == ["photo.jpg", "photo.jpg.xmp"]  # no temp file


@needs_exiftool
def test_fresh_sidecar_read_by_exiftool(photo: Path) -> None:
    XmpWriter().write(record(photo, "dog", "frisbee"))
    [row] = exiftool_keywords(photo.parent / "photo.jpg.xmp")
    assert row["Subject"] == ["dog", "frisbee"]
    assert row["HierarchicalSubject"] == ["lzt|dog", "lzt|frisbee"]


@pytest.mark.parametrize(("naming", "name"), [("full", "photo.jpg.xmp"), ("stem", "photo.xmp")])
def test_naming(photo: Path, naming: str, name: str) -> None:
    assert sidecar_path(photo, naming) == photo.parent / name
    XmpWriter(naming=naming).write(record(photo, "dog"))
    assert (photo.parent / name).is_file()


@pytest.mark.parametrize(("parent", "expected"), [("", "dog"), ("auto|lzt", "auto|lzt|dog"), ("|tags|", "tags|dog")])
def test_parent(photo: Path, parent: str, expected: str) -> None:
    XmpWriter(parent=parent).write(record(photo, "dog"))
    assert read_keywords(sidecar_path(photo)) == (["dog"], [expected])


def test_nothing_to_write(photo: Path) -> None:
    writer = XmpWriter()
    writer.write(Record(photo, error="truncated image"))
    writer.write(Record(photo, tags=[]))  # e.g. nothing above --threshold
    assert not sidecar_path(photo).exists() and writer.written == 0


def test_non_utf8_and_unicode_names(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9 ph\xf6to.jpg"
    with open(raw, "wb") as handle:
        handle.write(b"not read")
    image = Path(os.fsdecode(raw))
    XmpWriter().write(record(image, "café", "日本"))
    assert os.path.exists(raw + b".xmp")
    assert read_keywords(Path(os.fsdecode(raw + b".xmp"))) == (["café", "日本"], ["lzt|café", "lzt|日本"])


# --- merging ------------------------------------------------------------------------------------


def test_merge_keeps_everything_else(photo: Path) -> None:
    sidecar = sidecar_path(photo)
    sidecar.write_text(EXISTING, encoding="utf-8")
    XmpWriter().write(record(photo, "dog", "beach"))
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
    XmpWriter().write(record(photo, "dog", "beach"))
    [row] = exiftool_keywords(sidecar)
    assert row["Subject"] == ["Dog", "family", "Éte", "beach"]
    assert row["HierarchicalSubject"] == ["people|family", "lzt|dog", "lzt|beach"]
    assert row["Rating"] == 4 and row["Title"] == "Beach day"
    assert row["Project"] == "Holiday 2023" and row["Reviewers"] == ["Ann", "Bo"]


def test_overwrite_replaces_only_lzts_keywords(photo: Path) -> None:
    sidecar = sidecar_path(photo)
    sidecar.write_text(EXISTING, encoding="utf-8")
    writer = XmpWriter(on_existing="overwrite")
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
    XmpWriter().write(record(photo, "dog"))
    assert read_keywords(sidecar)[1] == ["people|family", "lzt|dog"]


def test_changing_the_parent_moves_lzts_entries(photo: Path) -> None:
    XmpWriter(parent="lzt").write(record(photo, "dog"))
    XmpWriter(parent="auto").write(record(photo, "dog"))
    assert read_keywords(sidecar_path(photo)) == (["dog"], ["auto|dog"])


def test_append_never_removes_and_never_duplicates(photo: Path) -> None:
    sidecar = sidecar_path(photo)
    sidecar.write_text(EXISTING, encoding="utf-8")
    writer = XmpWriter(on_existing="append")
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
    writer = XmpWriter(on_existing="skip")
    writer.write(record(photo, "car"))
    writer.write(record(other, "car"))
    assert sidecar.read_bytes() == before
    assert read_keywords(sidecar_path(other)) == (["car"], ["lzt|car"])
    assert (writer.written, writer.skipped) == (1, 1)


def test_stem_naming_merges_into_the_lightroom_style_file(photo: Path) -> None:
    (photo.parent / "photo.xmp").write_text(EXISTING, encoding="utf-8")
    XmpWriter(naming="stem").write(record(photo, "beach"))
    assert "beach" in read_keywords(photo.parent / "photo.xmp")[0]
    assert not (photo.parent / "photo.jpg.xmp").exists()


def test_empty_existing_sidecar_is_replaced(photo: Path) -> None:
    sidecar_path(photo).write_bytes(b"")
    XmpWriter().write(record(photo, "dog"))
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
    XmpWriter().write(record(photo, "dog"))
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
    writer = XmpWriter()
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
            XmpWriter().write(record(folder / "a.jpg", "dog"))
    finally:
        folder.chmod(0o755)


def test_sidecar_that_is_a_folder_is_reported(photo: Path) -> None:
    sidecar_path(photo).mkdir()
    with pytest.raises(SidecarError, match="cannot read existing sidecar"):
        XmpWriter().write(record(photo, "dog"))


# --- the real CLI -------------------------------------------------------------------------------


def make_classifier(path: Path, labels: list[str]) -> Path:
    """A random-weight classifier for the tiny test CLIP model: instant, unlike build-classifier."""
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(len(labels), 32, generator=generator)
    anchors = torch.nn.functional.normalize(torch.randn(len(labels), 32, generator=generator), dim=1)
    save_classifier(Classifier(labels, {}, "lzt-tiny-vit", "none", 32, weight, anchors), path)
    return path


def run_lzt(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "LZT_MODEL_CONFIG_DIRS": str(REPO / "tests" / "model_configs"), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-c", "from lzt.cli import main; main()", *args],
        capture_output=True, text=True, env=env, timeout=timeout,
    )


def test_cli_format_xmp(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, colour in (("a.jpg", (200, 30, 30)), ("b.png", (30, 200, 30))):
        Image.fromarray(np.full((40, 60, 3), colour, np.uint8)).save(folder / name)
    (folder / "broken.jpg").write_text("not an image")
    (folder / "b.png.xmp").write_text(EXISTING, encoding="utf-8")
    images_before = {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix != ".xmp"}
    classifier = make_classifier(tmp_path / "t.lzt", ["dog", "cat", "car", "beach"])
    result = run_lzt("tag", str(folder), "--classifier", str(classifier), "--format", "xmp",
                     "--topk", "2", "--workers", "0", "-q")
    assert result.returncode == 3, result.stderr  # broken.jpg was skipped
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix != ".xmp"} == images_before
    assert sorted(p.name for p in folder.iterdir()) == ["a.jpg", "a.jpg.xmp", "b.png", "b.png.xmp", "broken.jpg"]
    fresh_subject, fresh_hier = read_keywords(folder / "a.jpg.xmp")
    assert len(fresh_subject) == 2 and fresh_hier == [f"lzt|{k}" for k in fresh_subject]
    merged_subject, merged_hier = read_keywords(folder / "b.png.xmp")
    assert merged_subject[:3] == ["Dog", "family", "Éte"] and merged_hier[0] == "people|family"
    assert len(merged_hier) == 3  # people|family + two lzt entries
    if EXIFTOOL:
        rows = {Path(r["SourceFile"]).name: r for r in exiftool_keywords(folder / "a.jpg.xmp", folder / "b.png.xmp")}
        assert rows["a.jpg.xmp"]["Subject"] == fresh_subject
        assert rows["b.png.xmp"]["Subject"] == merged_subject and rows["b.png.xmp"]["Rating"] == 4


def test_cli_xmp_options_and_corrupt_sidecar(tmp_path: Path) -> None:
    """Needs the lead's patch to lzt/cli/tag.py (--xmp-naming, --xmp-parent, SidecarError counted)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg"):
        Image.new("RGB", (40, 40), (90, 90, 200)).save(folder / name)
    (folder / "a.xmp").write_bytes(b"<x:xmpmeta><unclosed")
    classifier = make_classifier(tmp_path / "t.lzt", ["dog", "cat"])
    result = run_lzt("tag", str(folder), "--classifier", str(classifier), "--format", "xmp", "--topk", "1",
                     "--xmp-naming", "stem", "--xmp-parent", "", "--workers", "0", "-q")
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if "a.xmp" in line and "not valid XMP" in line]
    assert (folder / "a.xmp").read_bytes() == b"<x:xmpmeta><unclosed"
    subject, hier = read_keywords(folder / "b.xmp")
    assert len(subject) == 1 and hier == subject  # no parent: plain keywords
