"""Batched JPEG decoding (torchvision; nvJPEG on a GPU): header parsing, EXIF orientation and
the fitted model input, checked on the CPU against Pillow and the CPU decode path. The same
calls run with device="cuda" on a GPU (tests/unit/test_gpu.py)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from lzt.model import PreprocessSpec
from lzt.tagging.decoding import decode_image
from lzt.tagging.jpeg import decode_jpegs, exif_orientation, parse_jpeg, upright

MEAN, STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def jpeg(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def picture(width: int = 64, height: int = 40) -> Image.Image:
    """Not square and not symmetric: every orientation looks different."""
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 // width, y * 255 // height, (x * y) % 256], axis=-1).astype(np.uint8)
    return Image.fromarray(pixels)


def test_headers_say_what_the_batched_decoder_takes():
    baseline = parse_jpeg(jpeg(picture()))
    assert baseline is not None and (baseline.width, baseline.height, baseline.components) == (64, 40, 3)
    assert baseline.sequential and baseline.precision == 8 and baseline.batch_decodable and baseline.orientation == 1
    progressive = parse_jpeg(jpeg(picture(), progressive=True))
    assert progressive is not None and not progressive.sequential and not progressive.batch_decodable
    grey = parse_jpeg(jpeg(picture().convert("L")))
    assert grey is not None and grey.components == 1 and grey.batch_decodable
    cmyk = parse_jpeg(jpeg(picture().convert("CMYK")))
    assert cmyk is not None and cmyk.components == 4 and not cmyk.batch_decodable
    exif = Image.Exif()
    exif[0x0112] = 6
    assert parse_jpeg(jpeg(picture(), exif=exif)).orientation == 6  # type: ignore[union-attr]


def test_what_is_not_a_jpeg_header_is_none():
    png = io.BytesIO()
    picture().save(png, "PNG")
    data = jpeg(picture())
    assert parse_jpeg(png.getvalue()) is None
    assert parse_jpeg(b"") is None and parse_jpeg(b"\xff\xd8") is None
    assert parse_jpeg(data[:20]) is None  # cut inside the headers
    assert exif_orientation(b"XX\x00\x2a") is None and exif_orientation(b"II*\x00\xff\xff\xff\xff") is None


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillows_exif_transpose(orientation):
    from torchvision.io import decode_jpeg

    exif = Image.Exif()
    exif[0x0112] = orientation
    data = jpeg(picture(), exif=exif, quality=95)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    raw = decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    ours = upright(raw, parse_jpeg(data).orientation).permute(1, 2, 0).numpy()  # type: ignore[union-attr]
    assert ours.shape == expected.shape
    assert np.abs(ours.astype(int) - expected.astype(int)).mean() < 1.0  # the same file, two libjpeg builds


@pytest.mark.parametrize("mode", ["shortest", "letterbox", "squash"])
def test_batched_decoding_matches_the_cpu_path(coco128, tmp_path, mode):
    spec = PreprocessSpec(224, MEAN, STD, mode)
    files = sorted((coco128 / "images").glob("*.jpg"))[:6]
    datas = [path.read_bytes() for path in files]
    infos = [parse_jpeg(data) for data in datas]
    assert all(info is not None and info.batch_decodable for info in infos)
    batch = decode_jpegs(datas, infos, spec)  # type: ignore[arg-type]
    assert batch.shape == (6, 3, 224, 224) and batch.dtype == torch.uint8 and batch.device.type == "cpu"
    reference = torch.stack([decode_image(path, spec) for path in files])
    # Different decoders (full decode vs Pillow's DCT-scaled draft) and resamplers: close, not equal.
    difference = (batch.float() - reference.float()).abs().mean().item()
    assert difference < 6.0, difference


def test_a_corrupt_file_fails_the_batch_call_for_the_cpu_path_to_sort_out():
    spec = PreprocessSpec(32, MEAN, STD, "shortest")
    good = jpeg(picture())
    broken = good[:200] + bytes(len(good) - 200)  # headers intact, scan data zeroed
    info = parse_jpeg(broken)
    assert info is not None and info.batch_decodable  # the header cannot tell
    assert decode_jpegs([good], [parse_jpeg(good)], spec).shape == (1, 3, 32, 32)  # type: ignore[list-item]
    assert decode_jpegs([], [], spec).shape == (0, 3, 32, 32)
    with pytest.raises(RuntimeError):  # the whole call fails: the caller decodes this batch on the CPU path
        decode_jpegs([good, broken], [parse_jpeg(good), info], spec)  # type: ignore[list-item]


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory, coco128):
    """Photos the batched decoder takes, and everything it leaves to Pillow or must refuse."""
    folder = tmp_path_factory.mktemp("mixed")
    photos = sorted((coco128 / "images").glob("*.jpg"))
    for path in photos[:5]:
        (folder / path.name).write_bytes(path.read_bytes())
    with Image.open(photos[5]) as image:
        image.save(folder / "progressive.jpg", progressive=True)
        image.save(folder / "lossless.png")
        image.convert("CMYK").save(folder / "cmyk.jpg")
        image.convert("L").save(folder / "grey.jpg")
        exif = Image.Exif()
        exif[0x0112] = 6
        image.save(folder / "rotated.jpg", exif=exif)
    good = (folder / photos[0].name).read_bytes()
    (folder / "zeroed.jpg").write_bytes(good[:600] + bytes(len(good) - 600))  # headers fine, data broken
    (folder / "cut.jpg").write_bytes(good[:40])  # cut inside the headers
    return folder


@pytest.mark.parametrize("workers", [0, 2])
def test_tagging_with_the_batched_decoder_matches_pillow_and_keeps_bad_files_apart(mixed_folder, tiny_classifier, workers):
    from lzt import DecodeOptions, LztWarning, Selection, Tagger

    with pytest.warns(LztWarning, match="RANDOM WEIGHTS"), Tagger.load(tiny_classifier, pretrained="none", device="cpu") as tagger:
        assert not tagger.decodes_jpegs_in_batches() and tagger.decodes_jpegs_in_batches(DecodeOptions(decoder="gpu"))
        runs = {
            decoder: list(tagger.tag([mixed_folder], Selection(topk=None), workers=workers, decoding=DecodeOptions(decoder=decoder), keep_scores=True))
            for decoder in ("cpu", "gpu")
        }
    pillow, batched = runs["cpu"], runs["gpu"]
    assert [r.path for r in batched] == [r.path for r in pillow] and len(batched) == 12
    assert {r.path.name: bool(r.error) for r in batched} == {r.path.name: bool(r.error) for r in pillow}
    assert {r.path.name for r in batched if r.error} == {"zeroed.jpg", "cut.jpg"}
    ok = [(a, b) for a, b in zip(pillow, batched) if a.ok]
    assert all(torch.allclose(a.scores, b.scores, atol=0.15) for a, b in ok)  # different decoders, resamplers: close
    assert sum(a.tags[0][0] == b.tags[0][0] for a, b in ok) >= len(ok) - 2


def test_decoder_option_is_checked():
    from lzt import DecodeOptions, UsageError

    assert DecodeOptions(decoder="gpu").decoder.value == "gpu"
    with pytest.raises(UsageError, match=r"`DecodeOptions.decoder` must be auto, cpu or gpu"):
        DecodeOptions(decoder="nvjpeg")


def test_sharded_runs_take_the_batched_path_too(tmp_path, mixed_folder, tiny_classifier):
    import tarfile

    from lzt import DecodeOptions, LztWarning, Selection, Tagger
    from lzt.engines import read_shards, tag_shards

    archive = tmp_path / "photos.tar"
    with tarfile.open(archive, "w") as tar:
        for path in sorted(mixed_folder.glob("*.jpg"))[:3]:
            tar.add(path, arcname=path.name)
    decoding = DecodeOptions(decoder="gpu")
    with pytest.warns(LztWarning, match="RANDOM WEIGHTS"), Tagger.load(tiny_classifier, pretrained="none", device="cpu") as tagger:
        run = tag_shards([mixed_folder, archive], tmp_path / "out", tagger, engine="local", selection=Selection(topk=3), decoding=decoding)
        direct = list(tagger.tag([mixed_folder], Selection(topk=3), workers=0, decoding=decoding))
    stored = list(read_shards(tmp_path / "out"))
    assert [(r.path, r.tags, r.error) for r in stored[: len(direct)]] == [(r.path, r.tags, r.error) for r in direct]
    members = stored[len(direct) :]
    assert len(members) == 3 and all(r.ok for r in members) and run.errors == 2
    assert [r.tags for r in members] == [r.tags for r in direct if r.path.name in {m.path.rsplit("#", 1)[1] for m in members}]  # type: ignore[union-attr]
