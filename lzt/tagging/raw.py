"""RAW photos (CR2, CR3, NEF, ARW, DNG, RAF, ORF, RW2) through rawpy (LibRaw), the `raw` extra.

A RAW file is tagged from the preview its camera embedded (a JPEG, sometimes a bitmap): what
the photographer saw on the camera, at a fraction of the cost of developing the sensor data. A
full demosaic (at half size) runs only when the file has no preview, or one too small for the
model. The preview is turned upright by its own EXIF orientation, else by the RAW's.

RAW+JPEG twins (`IMG_0001.CR2` beside `IMG_0001.JPG`, as cameras write them): the search lists
the RAW right after its JPEG, and the RAW is not decoded at all: it gets the JPEG's tags
(`Record.tagged_from`), so that each file receives its own sidecar.

This module only reads files; lzt.tagging.decoding calls it and words its errors.
"""

from __future__ import annotations

import importlib
import io
from pathlib import Path
from typing import Any, BinaryIO, Callable

from PIL import Image

RAW_EXTENSIONS = frozenset({".cr2", ".cr3", ".nef", ".arw", ".dng", ".raf", ".orf", ".rw2"})
JPEG_TWIN_EXTENSIONS = frozenset({".jpg", ".jpeg"})  # what cameras write beside a RAW
RAW_EXTRA_MISSING = "RAW files need the optional extra: pip install 'lzt[raw]'"

# LibRaw's `flip` (sizes.flip) as an EXIF orientation: 3 = 180°, 5 = 90° counter-clockwise,
# 6 = 90° clockwise; LibRaw uses no other value for camera orientation.
_FLIP_TO_ORIENTATION = {0: 1, 3: 3, 5: 8, 6: 6}
_ROTATIONS = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_270, 8: Image.Transpose.ROTATE_90}


class RawDecodeError(ValueError):
    """A RAW file that could not be read; the message is the short reason."""


class NotRaw(RawDecodeError):
    """LibRaw does not recognise the file as a RAW (it may be another image with a RAW's name)."""


def is_raw(path: Path | str) -> bool:
    """Whether the file's extension is one of RAW_EXTENSIONS (any case)."""
    return Path(path).suffix.lower() in RAW_EXTENSIONS


def _rawpy() -> Any:
    """The rawpy module, or None when the `raw` extra is not installed."""
    try:
        return importlib.import_module("rawpy")
    except ImportError:
        return None


def raw_available() -> bool:
    """Whether rawpy (the `raw` extra) can be imported."""
    return _rawpy() is not None


def open_raw(
    source: Path | BinaryIO, min_preview: int, draft_size: int, check_size: Callable[[int, int], None],
) -> Image.Image:
    """An upright RGB image of a RAW file: its embedded preview when one is at least
    `min_preview` pixels on its short side, else the sensor data demosaiced at half size.
    `draft_size`: a JPEG preview is decoded with DCT scaling down to about this size;
    `check_size(width, height)` refuses too many pixels before anything is decoded (it raises).
    Raises RawDecodeError (NotRaw when LibRaw does not take the file)."""
    rawpy = _rawpy()
    if rawpy is None:
        raise RawDecodeError(RAW_EXTRA_MISSING)
    try:
        with _opened(rawpy, source) as raw:
            orientation = _FLIP_TO_ORIENTATION.get(int(raw.sizes.flip), 1)
            preview = _preview(raw, rawpy, min_preview, draft_size, orientation, check_size)
            if preview is not None:
                return preview
            check_size(raw.sizes.width, raw.sizes.height)
            # postprocess applies LibRaw's flip itself; 8 bits, camera white balance, sRGB.
            pixels = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
            return Image.fromarray(pixels, "RGB")
    except rawpy.LibRawFileUnsupportedError:
        raise NotRaw("not a RAW file LibRaw can read (an unsupported camera, or damaged)") from None
    except rawpy.LibRawError as exc:
        raise RawDecodeError(f"corrupt RAW file: {_message(exc)}") from None


def _opened(rawpy: Any, source: Path | BinaryIO) -> Any:
    """A RawPy with the file opened, nothing unpacked yet (extract_thumb unpacks only the
    preview). rawpy.imread does the same, but warns in every forked DataLoader worker about
    LibRaw's OpenMP; that risk needs a parent that ran LibRaw's OpenMP code before forking, and
    lzt's parent process decodes RAWs only when it has no decoding workers."""
    raw = rawpy.RawPy()
    if isinstance(source, Path) and _utf8(str(source)):
        raw.open_file(str(source))
    elif isinstance(source, Path):  # a name that is not valid UTF-8, which rawpy cannot pass to LibRaw
        with open(source, "rb") as handle:
            raw.open_buffer(handle)
    else:
        raw.open_buffer(source)
    return raw


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _preview(
    raw: Any, rawpy: Any, min_preview: int, draft_size: int, orientation: int, check_size: Callable[[int, int], None],
) -> Image.Image | None:
    """The embedded preview, upright, or None (no preview, an unsupported one, or too small)."""
    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None
    if thumb.format == rawpy.ThumbFormat.BITMAP:
        height, width = thumb.data.shape[:2]
        if min(width, height) < min_preview:
            return None
        image = Image.fromarray(thumb.data, "RGB")
    else:
        try:
            image = Image.open(io.BytesIO(thumb.data))
        except (OSError, SyntaxError, ValueError):  # a damaged preview: develop the sensor data instead
            return None
        if min(image.size) < min_preview:
            return None
        check_size(*image.size)
        try:
            own = image.getexif().get(0x0112, 1)  # LibRaw often writes the RAW's orientation here
            if own in range(2, 9):
                orientation = own
            if image.format == "JPEG":
                image.draft("RGB", (draft_size, draft_size))
            image = image.convert("RGB")
        except (OSError, SyntaxError, ValueError):
            return None
    rotation = _ROTATIONS.get(orientation)
    return image.transpose(rotation) if rotation is not None else image


def _message(exc: BaseException) -> str:
    text = exc.args[0] if exc.args else type(exc).__name__
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text).strip().splitlines()[0][:160] if str(text).strip() else type(exc).__name__


# --- RAW+JPEG twins ----------------------------------------------------------------------------


def is_twin(jpeg: Path, raw: Path) -> bool:
    """Whether `raw` is the RAW twin of `jpeg`: same folder, same name but for the extension
    (case-sensitive, as cameras write both), a JPEG and a RAW."""
    return (
        Path(raw).suffix.lower() in RAW_EXTENSIONS and Path(jpeg).suffix.lower() in JPEG_TWIN_EXTENSIONS
        and Path(raw).stem == Path(jpeg).stem and Path(raw).parent == Path(jpeg).parent
    )


def twin_position(paths: list[Path], position: int) -> int | None:
    """The position of the JPEG twin of the RAW at `position`, when it comes just before it (or
    before other RAW twins of the same JPEG, `photo.CR2` and `photo.DNG`): how the search lists
    twins. None when the RAW has no twin there."""
    path = paths[position]
    if not is_raw(path):
        return None
    before = position - 1
    while before >= 0 and is_raw(paths[before]) and paths[before].stem == path.stem and paths[before].parent == path.parent:
        before -= 1
    return before if before >= 0 and is_twin(paths[before], path) else None


def twins_together(names: list[str], files: set[str] | None = None) -> list[str]:
    """A folder's entry names in sorted order, but each RAW with a JPEG twin moved right after
    that JPEG (the first JPEG of that name, when there are several). `files`: the names that
    are files (None: all); folders are never twins and keep their places."""
    candidates = [name for name in names if files is None or name in files]
    jpegs: dict[str, str] = {}
    for name in candidates:
        stem, suffix = _split(name)
        if suffix in JPEG_TWIN_EXTENSIONS:
            jpegs.setdefault(stem, name)
    followers: dict[str, list[str]] = {}
    for name in candidates:
        stem, suffix = _split(name)
        if suffix in RAW_EXTENSIONS and stem in jpegs:
            followers.setdefault(jpegs[stem], []).append(name)
    if not followers:
        return names
    moved = {name for group in followers.values() for name in group}
    ordered = []
    for name in names:
        if name in moved:
            continue
        ordered.append(name)
        ordered.extend(followers.get(name, ()))
    return ordered


def _split(name: str) -> tuple[str, str]:
    path = Path(name)
    return path.stem, path.suffix.lower()
