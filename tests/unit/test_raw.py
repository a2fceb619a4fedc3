"""RAW photos: DNGs written by the tests (tests/media.py) with a JPEG preview, a bitmap preview
or none, read through rawpy (LibRaw): the preview when there is one, a demosaic otherwise,
upright; RAW+JPEG twins tagged once; bad RAWs are one error record each."""

from __future__ import annotations

import io
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import lzt
from lzt.model import PreprocessSpec
from lzt.tagging.decoding import DecodeError, decode_image, decode_image_bytes
from lzt.tagging.discovery import PathBatches, discover
from lzt.tagging.raw import open_raw, twins_together
from media import coco_rgb, write_dng
from support import copy_photos, random_classifier

pytest.importorskip("rawpy")

SPEC = PreprocessSpec(64, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "letterbox")  # letterbox: the whole picture is compared


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(np.float64).ravel(), b.astype(np.float64).ravel())[0, 1])


def opened(path: Path, min_preview: int = 32) -> np.ndarray:
    def no_limit(width: int, height: int) -> None:
        return None

    return np.asarray(open_raw(path, min_preview, 640, no_limit))


@pytest.mark.parametrize("preview", ["jpeg", "bitmap", None])
def test_each_kind_of_dng_decodes_to_its_picture(tmp_path: Path, coco128, preview) -> None:
    picture = coco_rgb(3)
    decoded = opened(write_dng(tmp_path / "photo.dng", picture, preview))
    if preview is None:  # the sensor data, demosaiced at half size
        assert decoded.shape == (120, 160, 3)
        picture = np.asarray(Image.fromarray(picture).resize((160, 120)))
    else:
        assert decoded.shape == picture.shape
    # A half-size demosaic (LibRaw's colour pipeline, auto brightness) is close, a preview closer.
    assert correlation(decoded, picture) > (0.9 if preview is None else 0.97)


@pytest.mark.parametrize("preview", ["jpeg", "bitmap", None])
def test_the_raw_orientation_turns_every_kind_upright(tmp_path: Path, coco128, preview) -> None:
    """Orientation 6 (90° clockwise): the preview (which carries no rotation of its own) and the
    demosaiced image both come out as a viewer shows the photo."""
    picture = coco_rgb(4)
    decoded = opened(write_dng(tmp_path / "photo.dng", picture, preview, orientation=6))
    assert decoded.shape[0] > decoded.shape[1]  # portrait now

    def shown(turns: int) -> np.ndarray:  # the picture turned, at the decoded size
        return np.asarray(Image.fromarray(np.ascontiguousarray(np.rot90(picture, k=turns))).resize(decoded.shape[1::-1]))

    assert correlation(decoded, shown(-1)) > 0.9  # what a viewer shows for orientation 6: 90° clockwise
    assert correlation(decoded, shown(1)) < 0.5  # not the other way round


def test_the_preview_is_used_when_there_is_one_and_it_is_large_enough(tmp_path: Path, coco128) -> None:
    sensor, shown = coco_rgb(5), coco_rgb(6)  # a preview of another picture tells which one was decoded
    path = write_dng(tmp_path / "photo.dng", sensor, "jpeg", preview_rgb=shown)
    assert correlation(opened(path), shown) > 0.95
    small = opened(path, min_preview=400)  # a preview smaller than the model needs: demosaic instead
    assert correlation(small, np.asarray(Image.fromarray(sensor).resize((160, 120)))) > 0.9


def test_decode_image_reads_raws_from_files_and_bytes(tmp_path: Path, coco128) -> None:
    path = write_dng(tmp_path / "photo.DNG", coco_rgb(7), "jpeg")
    from_file = decode_image(path, SPEC)
    from_bytes = decode_image_bytes(path.read_bytes(), SPEC, name="photo.DNG")  # a tar member, an object in a bucket
    assert from_file.shape == (3, 64, 64) and from_file.dtype == torch.uint8
    assert np.array_equal(from_file.numpy(), from_bytes.numpy())


def test_the_pixel_limit_applies_to_raws(tmp_path: Path, coco128) -> None:
    for preview in ("jpeg", None):
        path = write_dng(tmp_path / f"{preview}.dng", coco_rgb(8), preview)
        with pytest.raises(DecodeError, match="too many pixels"):
            decode_image(path, SPEC, lzt.DecodeOptions(max_pixels=1000))


def test_bad_raws_give_one_line_reasons(tmp_path: Path, coco128) -> None:
    good = write_dng(tmp_path / "good.dng", coco_rgb(9), "jpeg").read_bytes()
    (tmp_path / "truncated.dng").write_bytes(good[:300])
    (tmp_path / "noise.arw").write_bytes(np.random.default_rng(0).integers(0, 255, 5000, dtype=np.uint8).tobytes())
    (tmp_path / "notes.cr2").write_text("shopping: milk, eggs\n")
    (tmp_path / "empty.nef").write_bytes(b"")
    reasons = {
        "truncated.dng": "not a RAW file LibRaw can read", "noise.arw": "not a RAW file LibRaw can read",
        "notes.cr2": "text or HTML", "empty.nef": "empty file",
    }
    for name, reason in reasons.items():
        with pytest.raises(DecodeError, match=reason):
            decode_image(tmp_path / name, SPEC)


def test_names_that_are_not_utf8_are_read(tmp_path: Path, coco128) -> None:
    path = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9 latin1.NEF"))
    write_dng(path, coco_rgb(12), "jpeg")
    assert decode_image(path, SPEC).shape == (3, 64, 64)


def test_a_jpeg_with_a_raw_name_is_still_read(tmp_path: Path, coco128) -> None:
    Image.fromarray(coco_rgb(10)).save(tmp_path / "photo.nef", "JPEG")
    assert decode_image(tmp_path / "photo.nef", SPEC).shape == (3, 64, 64)


def test_without_the_extra_a_raw_names_the_install(tmp_path: Path, coco128, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_dng(tmp_path / "photo.cr3", coco_rgb(11), "jpeg")
    monkeypatch.setitem(sys.modules, "rawpy", None)  # `import rawpy` now raises ImportError
    with pytest.raises(DecodeError, match=r"pip install 'lzt\[raw\]'"):
        decode_image(path, SPEC)


# --- twins ---------------------------------------------------------------------------------------


def test_twins_are_listed_together_jpeg_first() -> None:
    names = ["IMG_1.CR2", "IMG_1.JPG", "IMG_2.jpg", "a", "b.dng", "b.jpeg", "b.nef", "c.dng", "z.jpg"]
    assert twins_together(names) == ["IMG_1.JPG", "IMG_1.CR2", "IMG_2.jpg", "a", "b.jpeg", "b.dng", "b.nef", "c.dng", "z.jpg"]
    assert twins_together(names, files={"IMG_1.CR2", "IMG_2.jpg"}) == names  # a folder named IMG_1.JPG is no twin


def test_discovery_puts_each_raw_after_its_jpeg_and_batches_keep_them_together(tmp_path: Path, coco128) -> None:
    for stem in ("a", "b", "c"):
        Image.fromarray(coco_rgb(0, (64, 48))).save(tmp_path / f"{stem}.jpg")
        write_dng(tmp_path / f"{stem}.CR2", coco_rgb(0, (64, 48)), "jpeg")
    (tmp_path / "b.jpg.d").mkdir()
    Image.fromarray(coco_rgb(1, (64, 48))).save(tmp_path / "b.jpg.d" / "inner.png")
    write_dng(tmp_path / "lonely.dng", coco_rgb(1, (64, 48)), None)
    found = [p.relative_to(tmp_path).as_posix() for p in discover([tmp_path], extensions=lzt.tagging.MEDIA_EXTENSIONS)]
    assert found == ["a.jpg", "a.CR2", "b.jpg", "b.CR2", "b.jpg.d/inner.png", "c.jpg", "c.CR2", "lonely.dng"]
    batches = [[p.name for p in batch] for batch in PathBatches([tmp_path], batch_size=3)]
    assert batches == [["a.jpg", "a.CR2", "b.jpg", "b.CR2"], ["inner.png", "c.jpg", "c.CR2"], ["lonely.dng"]]


@pytest.fixture(scope="module")
def tagger(tmp_path_factory: pytest.TempPathFactory):
    classifier = random_classifier([f"label{i}" for i in range(12)], tmp_path_factory.mktemp("clf") / "c.lzt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lzt.LztWarning)
        with lzt.Tagger.load(classifier, pretrained="none", device="cpu") as loaded:
            yield loaded


@pytest.mark.parametrize("workers", [0, 2])
def test_a_twin_takes_its_jpegs_tags_and_a_lonely_raw_is_tagged_from_its_preview(tmp_path: Path, coco128, tagger, workers: int) -> None:
    folder = copy_photos(tmp_path / "photos", 3)
    first = sorted(folder.glob("*.jpg"))[0]
    write_dng(first.with_suffix(".CR2"), coco_rgb(20), "jpeg")  # another picture: its pixels must not be used
    write_dng(folder / "lonely.dng", np.asarray(Image.open(first).convert("RGB")), "bitmap")
    records = list(tagger.tag([folder], lzt.Selection(topk=3), workers=workers, batch_size=1, keep_scores=True))
    paths = [Path(r.path).name for r in records]
    assert paths[:2] == [first.name, first.with_suffix(".CR2").name] and len(paths) == 5
    jpeg, twin = records[0], records[1]
    assert twin.ok and twin.tags == jpeg.tags and twin.tagged_from == jpeg.path
    assert twin.to_dict()["tagged_from"] == str(jpeg.path) and "tagged_from" not in jpeg.to_dict()
    by_name = {Path(r.path).name: r for r in records}
    assert by_name["lonely.dng"].ok and by_name["lonely.dng"].tagged_from is None
    # The lonely DNG shows the first JPEG's picture: its scores are close to that JPEG's own.
    assert float((by_name["lonely.dng"].scores - jpeg.scores).abs().max()) < 0.25


def test_twins_with_the_batched_jpeg_decoder(tmp_path: Path, coco128, tagger) -> None:
    """`decoder="gpu"` leaves baseline JPEGs to torchvision's batched decoder (libjpeg-turbo on a
    CPU device, nvJPEG on CUDA): a twin still takes its JPEG's tags once they are decoded."""
    folder = copy_photos(tmp_path / "photos", 2)
    for jpeg in sorted(folder.glob("*.jpg")):
        write_dng(jpeg.with_suffix(".dng"), coco_rgb(30), "jpeg")
    records = list(tagger.tag([folder], lzt.Selection(topk=2), workers=0, decoding=lzt.DecodeOptions(decoder="gpu")))
    assert [Path(r.path).suffix for r in records] == [".jpg", ".dng", ".jpg", ".dng"]
    for jpeg, raw in (records[:2], records[2:]):
        assert raw.tags == jpeg.tags and raw.tagged_from == jpeg.path
    cpu = list(tagger.tag([folder], lzt.Selection(topk=2), workers=0, decoding=lzt.DecodeOptions(decoder="cpu")))
    assert [r.tagged_from for r in cpu] == [r.tagged_from for r in records]


def test_a_twin_whose_jpeg_is_broken_is_decoded_itself(tmp_path: Path, coco128, tagger) -> None:
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0broken")
    write_dng(tmp_path / "photo.dng", coco_rgb(21), "jpeg")
    jpeg, raw = tagger.tag([tmp_path], lzt.Selection(topk=2), workers=0)
    assert not jpeg.ok and raw.ok and raw.tagged_from is None


def test_tag_files_keeps_one_record_per_entry_with_twins(tmp_path: Path, coco128, tagger) -> None:
    Image.fromarray(coco_rgb(22)).save(tmp_path / "x.jpg")
    write_dng(tmp_path / "x.dng", coco_rgb(22), None)
    records = list(tagger.tag_files([tmp_path / "x.jpg", tmp_path / "x.dng", tmp_path / "x.jpg"], workers=0))
    assert [r.path.name for r in records] == ["x.jpg", "x.dng", "x.jpg"] and all(r.ok for r in records)
    assert records[1].tagged_from == tmp_path / "x.jpg"


def test_a_raw_preview_jpeg_survives_a_round_trip_through_pillow(tmp_path: Path, coco128) -> None:
    """The bytes LibRaw hands back for a JPEG preview are a JPEG Pillow reads (with the EXIF
    orientation LibRaw writes into it)."""
    import rawpy

    path = write_dng(tmp_path / "photo.dng", coco_rgb(23), "jpeg", orientation=8)
    with rawpy.imread(str(path)) as raw:
        thumb = raw.extract_thumb()
    assert thumb.format == rawpy.ThumbFormat.JPEG
    image = Image.open(io.BytesIO(thumb.data))
    assert image.format == "JPEG" and image.size == (320, 240)
