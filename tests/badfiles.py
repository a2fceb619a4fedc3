"""Every kind of broken, odd and hostile input file, generated: the bad-input folder that the
robustness tests of each engine run over (tests/e2e/test_bad_inputs.py, tests/e2e/test_ray_cluster.py)."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from lzt.tagging import HEIF_AVAILABLE
from support import permissions_enforced

OK = "tags"  # what `build_folder` expects of a good file: tags, no error


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int, height: int) -> bytes:
    """A 100-byte PNG declaring width x height pixels: what a decompression bomb looks like."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b"")


def photo(seed: int, size: tuple[int, int] = (72, 48)) -> np.ndarray:
    """A smooth random-ish picture (compresses well, differs per seed)."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    rng = np.random.default_rng(seed)
    channels = [np.sin(x * rng.uniform(2, 9) + y * rng.uniform(2, 9) + rng.uniform(0, 6)) for _ in range(3)]
    return (127.5 + 127 * np.stack(channels, axis=-1)).astype(np.uint8)


def build_folder(root: Path) -> dict[bytes, str]:
    """Every case, generated; returns relative path (bytes) -> OK or the expected reason.
    Files that must produce no record at all are created but not listed."""
    expected: dict[bytes, str] = {}

    def good(name: str | bytes) -> Path:
        expected[os.fsencode(name)] = OK
        return root / os.fsdecode(name)

    def bad(name: str, reason: str) -> Path:
        expected[os.fsencode(name)] = reason
        return root / name

    root.mkdir(parents=True)
    Image.fromarray(photo(0)).save(good("ok.jpg"), quality=90)
    rgba = np.dstack([photo(1), np.tile(np.linspace(0, 255, 72, dtype=np.uint8), (48, 1))])
    Image.fromarray(rgba, "RGBA").save(good("alpha.png"))
    Image.fromarray(photo(2)).quantize(16).save(good("palette.png"), transparency=0)
    Image.fromarray(photo(3)).quantize(32).save(good("palette.gif"))
    Image.fromarray(photo(4)).convert("CMYK").save(good("cmyk.jpg"))
    Image.fromarray(photo(5)).convert("L").save(good("grey.jpg"))
    Image.fromarray(photo(6)[..., 0].astype(np.uint16) * 257).save(good("deep16.png"))
    frames = [Image.fromarray(photo(10 + i)) for i in range(3)]
    frames[0].save(good("anim.gif"), save_all=True, append_images=frames[1:], duration=80, loop=0)
    frames[0].save(good("anim.webp"), save_all=True, append_images=frames[1:], duration=80, loop=0)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(photo(7)).save(good("rotated.jpg"), exif=exif)
    Image.fromarray(photo(8)).save(good("my holiday photo.JPG"))
    Image.fromarray(photo(9)).save(good("SHOUTING.JPEG"))
    Image.fromarray(photo(10)).save(good("日本語 фото.png"))
    with open(os.fsencode(root) + b"/caf\xe9 latin1.jpg", "wb") as handle:  # not UTF-8
        Image.fromarray(photo(11)).save(handle, "JPEG")
    expected[b"caf\xe9 latin1.jpg"] = OK
    (root / "x.jpg").mkdir()  # a folder named like an image: searched, never decoded
    Image.fromarray(photo(12)).save(good("x.jpg/inner.png"))
    (root / "link-to-ok.jpg").symlink_to("ok.jpg")
    good("link-to-ok.jpg")
    if HEIF_AVAILABLE:  # the optional `heif` extra: the test writes with its Pillow plugin; lzt reads without
        import pillow_heif

        pillow_heif.from_pillow(Image.fromarray(photo(13))).save(good("phone.heic"))

    bad("empty.jpg", "empty file").touch()
    encoded = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (160, 160, 3), dtype=np.uint8)).save(encoded, "JPEG")
    bad("truncated.jpg", "truncated").write_bytes(encoded.getvalue()[: len(encoded.getvalue()) // 2])
    bad("notes.jpg", "text or HTML").write_text("shopping: milk, eggs\n")
    bad("page.jpg", "text or HTML").write_text("<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n")
    bad("bomb.png", "too many pixels").write_bytes(bomb_png(100_000, 100_000))
    bad("broken-link.jpg", "broken symbolic link").symlink_to("gone.jpg")
    bad("loop-a.jpg", "symbolic link loop").symlink_to("loop-b.jpg")
    bad("loop-b.jpg", "symbolic link loop").symlink_to("loop-a.jpg")
    bad("self-loop.jpg", "symbolic link loop").symlink_to("self-loop.jpg")
    os.mkfifo(bad("fifo.jpg", "not a regular file"))  # would block a naive open() forever
    if permissions_enforced():  # not as root, where chmod 000 files stay readable
        Image.fromarray(photo(14)).save(bad("locked.jpg", "permission denied"))
        (root / "locked.jpg").chmod(0)

    # No record at all: hidden, OS debris, excluded, not an image, linked folders (not followed).
    for name in (".hidden/h.jpg", "._ok.jpg", "@eaDir/ok.jpg/SYNOPHOTO_THUMB_M.jpg", ".dot.jpg",
                 "drafts/d.jpg", "draft.tmp.jpg"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo(20)).save(root / name, "JPEG")
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (root / "readme.txt").write_text("not an image extension")
    (root / "folder-loop").symlink_to(".")
    (root / "linked-folder.jpg").symlink_to("x.jpg")
    return expected


def build_explicit(root: Path) -> dict[bytes, str]:
    """Paths named on the command line: a folder named like an image is searched; a file is
    always tried, whatever its extension; a dangling link gets its error record."""
    (root / "album.jpg").mkdir(parents=True)
    Image.fromarray(photo(30)).save(root / "album.jpg" / "inner.png")
    (root / "readme.txt").write_text("named explicitly, so tried, and refused\n")
    (root / "dangling.jpg").symlink_to("nowhere.jpg")
    return {b"album.jpg/inner.png": OK, b"readme.txt": "text or HTML", b"dangling.jpg": "broken symbolic link"}
