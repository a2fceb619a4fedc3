"""Bad input never stops or corrupts a run: the real CLI over a generated folder of every kind of
broken, odd and hostile file. One record per file, a reason for each bad one, one stderr line per
skipped file, exit code 3, no traceback, bounded time; and `| head -3` ends cleanly."""

from __future__ import annotations

import io
import json
import os
import shlex
import struct
import subprocess
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lzt.tagging import HEIF_AVAILABLE
from support import invoke, lzt_command, permissions_enforced, random_classifier

LABELS = [f"label{i:03d}" for i in range(300)]  # many labels: long records for the pipe test
OK = "tags"





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


EXCLUDES = ("--exclude", "drafts", "--exclude", "*.tmp.jpg")
EXPLICIT = ("album.jpg", "readme.txt", "dangling.jpg")


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[bytes, str], Path]:
    """(base folder, expected records keyed by path relative to it, classifier file)."""
    base = tmp_path_factory.mktemp("bad")
    expected = {b"photos/" + k: v for k, v in build_folder(base / "photos").items()}
    expected |= {b"explicit/" + k: v for k, v in build_explicit(base / "explicit").items()}
    classifier = base / "t.lzt"
    random_classifier(LABELS, classifier)
    return base, expected, classifier


def environment() -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1"}


@pytest.mark.parametrize("workers", [0, 2])
def test_every_bad_input_gets_one_record_and_the_run_goes_on(case, workers: int) -> None:
    base, expected, classifier = case
    paths = [str(base / "photos")]
    if workers == 0:  # the explicit paths once: the decoding path does not change how they are found
        paths += [str(base / "explicit" / name) for name in EXPLICIT]
    else:
        expected = {k: v for k, v in expected.items() if k.startswith(b"photos/")}
    args = ("tag", *paths, "--classifier", str(classifier), "--topk", "3", "--batch-size", "4", "--workers", str(workers), *EXCLUDES, "-q")
    started = time.monotonic()
    if workers == 0:  # in-process: the same command without a new interpreter
        run = invoke(*args, check=None, env={"NO_COLOR": "1"})
        returncode, stdout, stderr = run.returncode, run.stdout, run.stderr
    else:  # a real process whose decode workers are forked from it, as a user runs it
        result = subprocess.run(lzt_command(*args), capture_output=True, env=environment(), timeout=120)
        returncode, stdout, stderr = result.returncode, result.stdout.decode("utf-8"), result.stderr.decode("utf-8", "replace")
    elapsed = time.monotonic() - started
    assert returncode == 3, stderr  # finished, with skipped files
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    assert elapsed < 90

    records = [json.loads(line) for line in stdout.splitlines()]
    by_path = {os.fsencode(os.path.relpath(r["path"], base)): r for r in records}
    assert len(by_path) == len(records)  # one record per file, no duplicates
    assert sorted(by_path) == sorted(expected)  # nothing missing, nothing hidden/excluded/linked-folder
    for name, want in expected.items():
        got = by_path[name]
        if want == OK:
            assert "error" not in got, (name, got)
            assert len(got["tags"]) == 3 and all(t["label"] in LABELS for t in got["tags"])
        else:
            assert "tags" not in got and want in got["error"], (name, got)
            assert "\n" not in got["error"] and len(got["error"]) <= 200

    skip_lines = [line for line in stderr.splitlines() if "skipped" in line]
    bad = [name for name, want in expected.items() if want != OK]
    assert len(skip_lines) == len(bad)  # one stderr line per skipped file
    for name in bad:
        assert sum(os.fsdecode(name) in line for line in skip_lines) == 1, name


def test_pipe_into_head_ends_cleanly(case, tmp_path: Path) -> None:
    """300 tags per record make the output far larger than a pipe buffer, so lzt is certainly
    still writing when head exits: the closed pipe must end the run quietly with status 0."""
    base, _, classifier = case
    command = shlex.join(lzt_command("tag", str(base / "photos"), "--classifier", str(classifier), "--topk", "300",
                                     "--batch-size", "2", "--workers", "2", *EXCLUDES))
    script = f'{command} 2>{shlex.quote(str(tmp_path / "err"))} | head -3; exit "${{PIPESTATUS[0]}}"'
    result = subprocess.run(["bash", "-c", script], capture_output=True, env=environment(), timeout=120)
    stderr = (tmp_path / "err").read_text(errors="replace")
    assert result.returncode == 0, stderr
    assert len(result.stdout.splitlines()) == 3
    assert all(json.loads(line)["path"] for line in result.stdout.splitlines())
    assert "Traceback" not in stderr and "Exception ignored" not in stderr and "Broken pipe" not in stderr
    assert "tagged" not in stderr  # it stopped early instead of tagging everything into a closed pipe
