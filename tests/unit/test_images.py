"""Discovery and decoding (lzt.tagging.discovery, .decoding, .batches): every colour mode to upright
RGB, and clear reasons for bad files."""

from __future__ import annotations

import io
import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lzt.config import DecodeOptions
from lzt.model import PreprocessSpec
from lzt.tagging import decoding
from lzt.tagging.batches import decode_batch, iter_batches
from lzt.tagging.decoding import DecodeError, DecodeTimeout, decode_image, describe_error
from lzt.tagging.discovery import discover
from support import permissions_enforced

SPEC = PreprocessSpec(image_size=32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
SQUASH = PreprocessSpec(image_size=32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), resize_mode="squash")

needs_permissions = pytest.mark.skipif(not permissions_enforced(), reason="running as root: chmod 000 does not stop reading")


def pixel_colour(tensor: torch.Tensor) -> tuple[int, ...]:
    """The mean colour of a decoded (3, S, S) tensor, rounded."""
    return tuple(round(v) for v in tensor.float().mean(dim=(1, 2)).tolist())


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A tiny PNG that declares width x height pixels: a decompression bomb as Pillow sees it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


# --- colour modes ------------------------------------------------------------------------------


def test_rgba_composited_on_white(tmp_path: Path) -> None:
    clear = np.zeros((40, 40, 4), np.uint8)
    clear[..., 0] = 255  # red, but fully transparent
    Image.fromarray(clear, "RGBA").save(tmp_path / "clear.png")
    solid = clear.copy()
    solid[..., 3] = 255
    Image.fromarray(solid, "RGBA").save(tmp_path / "solid.png")
    assert pixel_colour(decode_image(tmp_path / "clear.png", SPEC)) == (255, 255, 255)
    assert pixel_colour(decode_image(tmp_path / "solid.png", SPEC)) == (255, 0, 0)


def test_palette_with_transparent_index_and_la(tmp_path: Path) -> None:
    palette = Image.new("P", (40, 40), 1)
    palette.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    palette.save(tmp_path / "transparent.png", transparency=1)
    palette.save(tmp_path / "opaque.gif")
    Image.new("LA", (40, 40), (0, 0)).save(tmp_path / "la.png")
    assert pixel_colour(decode_image(tmp_path / "transparent.png", SPEC)) == (255, 255, 255)
    assert pixel_colour(decode_image(tmp_path / "opaque.gif", SPEC)) == (0, 0, 255)
    assert pixel_colour(decode_image(tmp_path / "la.png", SPEC)) == (255, 255, 255)


def test_cmyk_and_greyscale_jpeg(tmp_path: Path) -> None:
    Image.new("CMYK", (48, 48), (255, 0, 0, 0)).save(tmp_path / "cyan.jpg", quality=95)
    Image.new("L", (48, 48), 128).save(tmp_path / "grey.jpg", quality=95)
    r, g, b = pixel_colour(decode_image(tmp_path / "cyan.jpg", SPEC))
    assert r < 10 and g > 245 and b > 245
    grey = decode_image(tmp_path / "grey.jpg", SPEC)
    assert grey.shape == (3, 32, 32) and grey.dtype == torch.uint8
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
    assert abs(pixel_colour(grey)[0] - 128) <= 2


@pytest.mark.parametrize(("value", "expected"), [(65535, 255), (32896, 128), (0, 0)])
def test_16_bit_png_is_scaled_not_clipped(tmp_path: Path, value: int, expected: int) -> None:
    Image.fromarray(np.full((40, 40), value, np.uint16)).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    assert pixel_colour(decode_image(tmp_path / "deep.png", SPEC)) == (expected,) * 3


def test_16_bit_rgb_png(tmp_path: Path) -> None:
    # Pillow cannot write 48-bit PNG; a hand-made one checks the reader path end to end.
    height, width = 8, 8
    rows = b"".join(b"\0" + struct.pack(">HHH", 65535, 0, 32896) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    (tmp_path / "rgb48.png").write_bytes(data)
    assert pixel_colour(decode_image(tmp_path / "rgb48.png", SPEC)) == (255, 0, 128)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_first_frame(tmp_path: Path, fmt: str) -> None:
    frames = [Image.new("RGB", (40, 40), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    path = tmp_path / f"anim.{fmt.lower()}"
    extra = {"lossless": True} if fmt == "WEBP" else {}
    frames[0].save(path, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **extra)
    assert Image.open(path).n_frames == 3
    assert pixel_colour(decode_image(path, SPEC)) == (255, 0, 0)


def test_bilevel_image(tmp_path: Path) -> None:
    Image.new("1", (40, 40), 1).save(tmp_path / "bw.png")
    assert pixel_colour(decode_image(tmp_path / "bw.png", SPEC)) == (255, 255, 255)


def test_heic_through_pillow_heif(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    # Written through pillow_heif's own API: lzt does not register HEIF into Pillow (that would
    # change Pillow for the whole process), so Image.save(format="HEIF") is not available.
    pillow_heif.from_pillow(Image.new("RGB", (64, 48), (200, 20, 20))).save(tmp_path / "phone.heic", quality=95)
    Image.init()  # Pillow's own plugins, loaded lazily otherwise
    openers = set(Image.OPEN)
    r, g, b = pixel_colour(decode_image(tmp_path / "phone.heic", SPEC))
    assert r > 180 and g < 40 and b < 40
    assert set(Image.OPEN) == openers  # decoding it registered nothing into Pillow


def test_heic_over_the_pixel_limit_is_refused_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.from_pillow(Image.new("RGB", (64, 48), (200, 20, 20))).save(tmp_path / "phone.heic", quality=95)

    def decoded(self):
        raise AssertionError("the HEIF image was decoded before the pixel limit was checked")

    monkeypatch.setattr(pillow_heif.HeifFile, "to_pillow", decoded)
    assert _reason(tmp_path / "phone.heic", DecodeOptions(max_pixels=3_000)) == (
        "too many pixels: 64x48 exceeds the 3,000-pixel limit (`DecodeOptions.max_pixels`)"
    )


def test_large_jpeg_is_draft_decoded_to_the_target_size(tmp_path: Path) -> None:
    Image.new("RGB", (2000, 1500), (10, 200, 30)).save(tmp_path / "big.jpg")
    tensor = decode_image(tmp_path / "big.jpg", SPEC)
    assert tensor.shape == (3, 32, 32)
    assert max(abs(a - b) for a, b in zip(pixel_colour(tensor), (10, 200, 30))) <= 3


# --- EXIF orientation ---------------------------------------------------------------------------


def _scene(height: int = 60, width: int = 90) -> np.ndarray:
    """Smooth and asymmetric: red grows to the right, green grows downwards. Any wrong rotation
    or mirror changes it a lot; JPEG compresses it almost losslessly."""
    y, x = np.mgrid[0:height, 0:width]
    scene = np.zeros((height, width, 3), np.uint8)
    scene[..., 0] = (255 * x / (width - 1)).astype(np.uint8)
    scene[..., 1] = (255 * y / (height - 1)).astype(np.uint8)
    scene[..., 2] = 60
    return scene


# What the camera stores for each orientation, given the upright scene (numpy, not Pillow, so the
# test does not reuse the code under test): 6 = "rotate 90 degrees clockwise to view".
STORED = {
    3: lambda a: np.rot90(a, 2),
    6: lambda a: np.rot90(a, 1),
    8: lambda a: np.rot90(a, -1),
    2: lambda a: a[:, ::-1],
}


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[decoding.EXIF_ORIENTATION] = orientation
    return exif


@pytest.mark.parametrize("orientation", sorted(STORED))
def test_exif_rotated_png_equals_physically_rotated(tmp_path: Path, orientation: int) -> None:
    scene = _scene()
    Image.fromarray(scene).save(tmp_path / "upright.png")
    stored = np.ascontiguousarray(STORED[orientation](scene))
    Image.fromarray(stored).save(tmp_path / "tagged.png", exif=_exif(orientation))
    for spec in (SPEC, SQUASH):
        assert torch.equal(decode_image(tmp_path / "tagged.png", spec), decode_image(tmp_path / "upright.png", spec))


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_rotated_jpeg_matches_upright(tmp_path: Path, orientation: int) -> None:
    scene = _scene(300, 450)  # big enough for draft (DCT-scaled) decoding to kick in
    Image.fromarray(scene).save(tmp_path / "upright.jpg", quality=95)
    stored = np.ascontiguousarray(STORED[orientation](scene))
    Image.fromarray(stored).save(tmp_path / "tagged.jpg", quality=95, exif=_exif(orientation))
    Image.fromarray(stored).save(tmp_path / "ignored.jpg", quality=95)  # same pixels, no tag
    upright = decode_image(tmp_path / "upright.jpg", SQUASH).float()
    tagged = decode_image(tmp_path / "tagged.jpg", SQUASH).float()
    untagged = decode_image(tmp_path / "ignored.jpg", SQUASH).float()
    assert (tagged - upright).abs().mean() < 3  # JPEG noise only
    assert (untagged - upright).abs().mean() > 30  # what ignoring the tag would give


def test_corrupt_exif_keeps_the_photo(tmp_path: Path) -> None:
    exif = _exif(99)  # not an orientation
    Image.new("RGB", (40, 40), (0, 0, 255)).save(tmp_path / "odd.jpg", exif=exif, quality=95)
    r, _, b = pixel_colour(decode_image(tmp_path / "odd.jpg", SPEC))
    assert b > 240 and r < 15


# --- bad files: clear reasons -------------------------------------------------------------------


def _reason(path: Path, options: DecodeOptions = DecodeOptions()) -> str:
    batch = decode_batch([path], SPEC, options)
    assert batch.ok == [] and batch.pixels.shape == (0, 3, 32, 32)
    return batch.errors[0]


def test_reasons_for_bad_files(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").touch()
    (tmp_path / "text.jpg").write_text("just some notes\n")
    (tmp_path / "page.jpg").write_text("<!DOCTYPE html><html><body>404</body></html>")
    (tmp_path / "binary.jpg").write_bytes(bytes(range(256)) * 4)
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)).save(buffer, "JPEG")
    (tmp_path / "truncated.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    (tmp_path / "folder.jpg").mkdir()
    os.mkfifo(tmp_path / "pipe.jpg")
    (tmp_path / "broken.jpg").symlink_to(tmp_path / "gone.jpg")
    (tmp_path / "loop-a.jpg").symlink_to(tmp_path / "loop-b.jpg")
    (tmp_path / "loop-b.jpg").symlink_to(tmp_path / "loop-a.jpg")
    png_header_only(tmp_path / "bomb.png", 100_000, 100_000)
    expected = {
        "empty.jpg": "empty file",
        "text.jpg": "text or HTML",
        "page.jpg": "text or HTML",
        "binary.jpg": "not an image",
        "truncated.jpg": "truncated",
        "folder.jpg": "is a folder",
        "pipe.jpg": "not a regular file",
        "broken.jpg": "broken symbolic link",
        "loop-a.jpg": "symbolic link loop",
        "bomb.png": "too many pixels",
        "missing.jpg": "file not found",
    }
    for name, reason in expected.items():
        text = _reason(tmp_path / name)
        assert reason in text, (name, text)
        assert "\n" not in text and len(text) <= 200


def test_max_pixels_is_configurable(tmp_path: Path) -> None:
    Image.new("RGB", (100, 100)).save(tmp_path / "small.png")
    assert "10,000-pixel limit" not in _reason_or_ok(tmp_path / "small.png", DecodeOptions(max_pixels=10_000))
    assert "too many pixels" in _reason(tmp_path / "small.png", DecodeOptions(max_pixels=9_999))
    # Over twice the limit (where Pillow's own check would raise rather than warn): lzt's check,
    # per call, whatever Pillow's process-wide limit is.
    assert "too many pixels" in _reason(tmp_path / "small.png", DecodeOptions(max_pixels=4_000))
    assert "4,000-pixel limit" in _reason(tmp_path / "small.png", DecodeOptions(max_pixels=4_000))


@pytest.mark.parametrize("pillow_limit", [None, "default"])
def test_a_bomb_is_refused_before_decoding_with_the_limit_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pillow_limit) -> None:
    # The header declares 10^10 pixels and the data holds 64 bytes: decoding it would fail as
    # truncated, so "too many pixels" means it was refused from the header, before decoding.
    bomb = png_header_only(tmp_path / "bomb.png", 100_000, 100_000)
    if pillow_limit is None:  # what the CLI sets for its process: lzt's `max_pixels` decides alone
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
        assert _reason(bomb) == "too many pixels: 100000x100000 exceeds the 200,000,000-pixel limit (`DecodeOptions.max_pixels`)"
    else:  # a host program that keeps Pillow's default limit: Pillow refuses first, and lzt says so
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 89_478_485)  # Pillow's default; it raises over twice that
        text = _reason(bomb)
        assert text.startswith("too many pixels: refused by Pillow's limit (")
        assert "limit of 178956970 pixels" in text
        assert "\n" not in text and len(text) <= 200


def test_decoding_leaves_pillows_global_limit_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 123_456_789)  # the host program's own setting
    Image.new("RGB", (100, 100)).save(tmp_path / "small.png")
    png_header_only(tmp_path / "bomb.png", 100_000, 100_000)
    for max_pixels in (4_000, 10_000, 500_000_000):
        decode_batch([tmp_path / "small.png", tmp_path / "bomb.png"], SPEC, DecodeOptions(max_pixels=max_pixels))
        assert Image.MAX_IMAGE_PIXELS == 123_456_789
    decode_image(tmp_path / "small.png", SPEC)
    assert Image.MAX_IMAGE_PIXELS == 123_456_789


def _reason_or_ok(path: Path, options: DecodeOptions) -> str:
    batch = decode_batch([path], SPEC, options)
    return batch.errors.get(0, "ok")


@needs_permissions
def test_unreadable_file(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "secret.png")
    (tmp_path / "secret.png").chmod(0)
    assert _reason(tmp_path / "secret.png") == "permission denied"


def test_batch_keeps_going_after_bad_files(tmp_path: Path) -> None:
    Image.new("RGB", (40, 40), (255, 0, 0)).save(tmp_path / "a.png")
    (tmp_path / "b.jpg").write_text("nope")
    Image.new("RGB", (40, 40), (0, 255, 0)).save(tmp_path / "c.png")
    batch = decode_batch([tmp_path / "a.png", tmp_path / "b.jpg", tmp_path / "c.png"], SPEC, DecodeOptions())
    assert batch.ok == [0, 2] and list(batch.errors) == [1]
    assert [pixel_colour(p) for p in batch.pixels] == [(255, 0, 0), (0, 255, 0)]


def test_describe_error_is_one_short_line() -> None:
    assert describe_error(OSError("image file is truncated (3 bytes not processed)")) == "truncated image"
    assert describe_error(SyntaxError("broken PNG file\nmore")) == "corrupt or unsupported image: broken PNG file"
    assert describe_error(RuntimeError("")) == "RuntimeError"
    assert len(describe_error(ValueError("x" * 1000))) == 200


# --- the per-file deadline ----------------------------------------------------------------------


def _stalling_decoder(source: Path, options: DecodeOptions, draft_size: int, name: str) -> Image.Image:
    if "stall" in name:
        time.sleep(30)  # a decoder waiting on a read that never completes
    return Image.new("RGB", (40, 40), (0, 0, 255))


def test_deadline_in_the_main_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decoding, "_open_upright_rgb", _stalling_decoder)
    for name in ("stall.jpg", "fine.jpg"):
        (tmp_path / name).write_bytes(b"x")
    options = DecodeOptions(decode_timeout=0.3)
    with pytest.raises(DecodeTimeout):
        decode_image(tmp_path / "stall.jpg", SPEC, options)
    started = time.monotonic()
    batch = decode_batch([tmp_path / "stall.jpg", tmp_path / "fine.jpg"], SPEC, options)
    assert time.monotonic() - started < 5
    assert batch.errors == {0: "decoding took longer than 0.3 s; gave up"} and batch.ok == [1]


def test_deadline_in_dataloader_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # DataLoader workers are forked: they inherit the patched decoder.
    monkeypatch.setattr(decoding, "_open_upright_rgb", _stalling_decoder)
    paths = [tmp_path / name for name in ("a.jpg", "stall.jpg", "b.jpg", "c.jpg")]
    for path in paths:
        path.write_bytes(b"x")
    started = time.monotonic()
    batches = list(iter_batches([paths[:2], paths[2:]], SPEC, workers=2, options=DecodeOptions(decode_timeout=0.5)))
    assert time.monotonic() - started < 20
    assert [b.paths for b in batches] == [paths[:2], paths[2:]]
    assert batches[0].errors == {1: "decoding took longer than 0.5 s; gave up"}
    assert batches[1].ok == [0, 1]


def test_deadline_restores_the_previous_alarm_handler(tmp_path: Path) -> None:
    import signal

    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    before = signal.getsignal(signal.SIGALRM)
    decode_image(tmp_path / "a.png", SPEC, DecodeOptions(decode_timeout=5))
    assert signal.getsignal(signal.SIGALRM) == before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


# --- discovery ----------------------------------------------------------------------------------


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_discover_skips_hidden_debris_and_excludes(tmp_path: Path) -> None:
    for name in ("b.jpg", "a.PNG", "sub/c.jpeg", "x.jpg/inside.webp", ".hidden/h.jpg", ".h.jpg",
                 "._b.jpg", "@eaDir/b.jpg/SYNOPHOTO_THUMB_M.jpg", "drafts/d.jpg", "e.tmp.jpg", "notes.txt"):
        _touch(tmp_path / name)
    (tmp_path / ".DS_Store").write_bytes(b"\0")
    found = [p.relative_to(tmp_path).as_posix() for p in discover([tmp_path], exclude=["drafts", "*.tmp.jpg"])]
    assert found == ["a.PNG", "b.jpg", "sub/c.jpeg", "x.jpg/inside.webp"]
    with_hidden = {p.relative_to(tmp_path).as_posix() for p in discover([tmp_path], include_hidden=True)}
    assert {".hidden/h.jpg", ".h.jpg", "drafts/d.jpg", "e.tmp.jpg"} <= with_hidden
    assert "._b.jpg" not in with_hidden  # AppleDouble debris, hidden or not


def test_discover_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "real"
    _touch(real / "r.jpg")
    root = tmp_path / "root"
    _touch(root / "a.jpg")
    (root / "loop").symlink_to(root)  # a folder loop: not followed
    (root / "linked.jpg").symlink_to(real)  # a folder link named like an image: not followed
    (root / "file-link.jpg").symlink_to(root / "a.jpg")  # a file link: yielded
    (root / "broken.jpg").symlink_to(root / "nowhere.jpg")  # yielded; fails at decode time
    found = [p.name for p in discover([root])]
    assert found == ["a.jpg", "broken.jpg", "file-link.jpg"]
    assert [p.name for p in discover([root / "linked.jpg"])] == ["r.jpg"]  # named explicitly: followed


def test_discover_explicit_paths(tmp_path: Path) -> None:
    _touch(tmp_path / "x.jpg" / "inner.png")
    given = [tmp_path / "x.jpg", tmp_path / "missing.jpg", tmp_path / "notes.txt"]
    assert list(discover(given)) == [tmp_path / "x.jpg" / "inner.png", tmp_path / "missing.jpg", tmp_path / "notes.txt"]


def test_discover_non_utf8_and_unicode_names(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9.jpg"
    with open(raw, "wb") as handle:
        handle.write(b"x")
    _touch(tmp_path / "日本語 фото.JPG")
    found = sorted(os.fsencode(p.name) for p in discover([tmp_path]))
    assert found == sorted([b"caf\xe9.jpg", "日本語 фото.JPG".encode()])


@needs_permissions
def test_unreadable_folder_gives_one_record(tmp_path: Path) -> None:
    _touch(tmp_path / "locked" / "a.jpg")
    (tmp_path / "locked").chmod(0)
    try:
        assert list(discover([tmp_path])) == [tmp_path / "locked"]
        assert "folder cannot be read" in _reason(tmp_path / "locked")
    finally:
        (tmp_path / "locked").chmod(0o755)


def test_decode_error_is_a_value_error() -> None:
    # Callers that caught ValueError for the pixel limit keep working.
    assert issubclass(DecodeError, ValueError)
