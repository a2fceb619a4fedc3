"""Decoding one image file safely: upright RGB at reduced size, or a short reason why not.

A bad file never stops a run: every failure becomes a one-line reason for that file (empty,
truncated, not an image, too many pixels, broken link, timed out...). Nothing here changes
process-wide state: the pixel limit is checked per call, not through Pillow's global one.
"""

from __future__ import annotations

import codecs
import errno
import importlib.util
import io
import os
import signal
import stat
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from lzt.config import DecodeOptions
from lzt.errors import InputError
from lzt.model import PreprocessSpec
from lzt.tagging.discovery import VIDEO_EXTENSIONS
from lzt.tagging.jpeg import JpegInfo, decode_jpegs, parse_jpeg
from lzt.tagging.raw import NotRaw, RawDecodeError, is_raw, open_raw

EXIF_ORIENTATION = 0x0112


class DecodeError(ValueError):
    """A file lzt recognised as unusable; the message is the short reason shown to the user."""


class DecodeTimeout(BaseException):
    """Raised by the SIGALRM deadline. A BaseException, like KeyboardInterrupt, so that the broad
    `except Exception` blocks inside Pillow's plugins cannot swallow it."""

    def __init__(self, seconds: float):
        super().__init__(f"decoding took longer than {seconds:g} s; gave up")


# HEIC/HEIF (iPhone photos) through the optional `heif` extra. Opened through pillow_heif's own
# reader instead of registering it into Pillow, which would change Pillow for the whole process.
HEIF_AVAILABLE = importlib.util.find_spec("pillow_heif") is not None


def _open_heif(source: Path | BinaryIO, max_pixels: int) -> Image.Image | None:
    """A HEIF file as a Pillow image, or None when it is not one (or the extra is missing).
    to_pillow() decodes the whole image: the pixel limit is checked on the header before it."""
    if not HEIF_AVAILABLE:
        return None
    import pillow_heif

    fp = str(source) if isinstance(source, Path) else source
    if not isinstance(source, Path):
        source.seek(0)
    if not pillow_heif.is_supported(fp):
        return None
    if not isinstance(source, Path):
        source.seek(0)
    heif = pillow_heif.open_heif(fp, convert_hdr_to_8bit=True)
    width, height = heif.size
    if width * height > max_pixels:
        raise _too_many_pixels(width, height, max_pixels)
    return heif.to_pillow()


@contextmanager
def _deadline(seconds: float | None) -> Iterator[None]:
    """Interrupt the body after `seconds` with DecodeTimeout.

    SIGALRM only reaches the main thread of a process, which is where decoding runs: the main
    process with `workers` 0, and each DataLoader worker (a forked process running its loop in its
    main thread). A blocking read is interrupted; so is Pillow's decode loop, which returns to Python
    between chunks. A decoder stuck inside one C call cannot be interrupted this way (the limit).
    Elsewhere (another thread, no setitimer on the platform) the body runs without a deadline,
    and so it does while the host program has a real-time timer of its own running: lzt never
    cancels or delays another program's alarm."""
    if (
        seconds is None or seconds <= 0 or not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
        or signal.getitimer(signal.ITIMER_REAL)[0] > 0
    ):
        yield
        return
    limit: float = seconds

    def expire(signum: int, frame: object) -> None:
        raise DecodeTimeout(limit)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)


def check_file(path: Path) -> None:
    """Refuse, with a clear reason, what is not a non-empty regular file. This runs before Pillow
    opens anything: opening a FIFO named `x.jpg` would block forever."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise DecodeError("broken symbolic link (its target does not exist)") from None
        raise DecodeError("file not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DecodeError("symbolic link loop") from None
        raise
    if stat.S_ISDIR(info.st_mode):
        try:
            os.listdir(path)
        except OSError as exc:
            raise DecodeError(f"folder cannot be read: {exc.strerror or exc}") from None
        raise DecodeError("is a folder, not an image")
    if not stat.S_ISREG(info.st_mode):
        raise DecodeError("not a regular file (a pipe, socket or device)")
    if info.st_size == 0:
        raise DecodeError("empty file (0 bytes)")


def _looks_like_text(source: Path | BinaryIO) -> bool:
    try:
        if isinstance(source, Path):
            with open(source, "rb") as handle:
                head = handle.read(512)
        else:
            source.seek(0)
            head = source.read(512)
    except OSError:
        return False
    try:  # incremental: a character cut at byte 512 is not a decoding error
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return bool(text) and all(c.isprintable() or c.isspace() for c in text)


def _unidentified_reason(source: Path | BinaryIO, name: str) -> str:
    if Path(name).suffix.lower() in (".heic", ".heif") and not HEIF_AVAILABLE:
        return "HEIC/HEIF needs the optional extra: pip install 'lzt[heif]'"
    if _looks_like_text(source):
        return "not an image (a text or HTML file)"
    return "not an image, or a format Pillow cannot read"


def _high_bit_depth_to_rgb(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float greyscale to 8 bits by scaling, never by clipping
    (Pillow's convert() clips a 16-bit photo to nearly all white)."""
    array = np.asarray(image, dtype=np.float64)
    peak = float(array.max()) if array.size else 0.0
    if image.mode.startswith("I;16"):
        scale = 255.0 / 65535.0
    elif image.mode == "F" and peak <= 1.0:
        scale = 255.0  # float images in [0, 1]
    elif peak <= 255.0:
        scale = 1.0
    elif peak <= 65535.0:
        scale = 255.0 / 65535.0  # 16-bit data held in a 32-bit mode (older Pillow PNG, TIFF)
    else:
        scale = 255.0 / peak
    scaled = np.rint(array * scale).clip(0, 255).astype(np.uint8)
    return Image.fromarray(scaled, "L").convert("RGB")


def _to_rgb(image: Image.Image) -> Image.Image:
    """Every mode to RGB; transparency is composited on white (what a viewer shows)."""
    if image.mode.startswith("I") or image.mode == "F":
        return _high_bit_depth_to_rgb(image)
    if image.has_transparency_data:  # RGBA, LA, PA, and P or RGB with a transparent colour
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def resize_and_crop(image: Image.Image, size: int, mode: str) -> Image.Image:
    """`shortest`: CLIP's resize of the short side to `size`, then centre crop.
    `squash`: resize to size x size (whole image, aspect not kept).
    `letterbox`: whole image fitted inside size x size on a grey background."""
    width, height = image.size
    if mode == "squash":
        return image.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)
    if mode == "letterbox":
        scale = size / max(width, height)
        new = (max(1, round(width * scale)), max(1, round(height * scale)))
        resized = image.resize(new, Image.Resampling.BICUBIC, reducing_gap=3.0)
        canvas = Image.new("RGB", (size, size), (124, 116, 104))  # CLIP mean colour
        canvas.paste(resized, ((size - new[0]) // 2, (size - new[1]) // 2))
        return canvas
    scale = size / min(width, height)
    new = (max(size, round(width * scale)), max(size, round(height * scale)))
    resized = image.resize(new, Image.Resampling.BICUBIC, reducing_gap=3.0)
    left, top = (new[0] - size) // 2, (new[1] - size) // 2
    return resized.crop((left, top, left + size, top + size))


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation. A broken EXIF block costs the rotation, never the photo."""
    try:
        if image.getexif().get(EXIF_ORIENTATION, 1) in range(2, 9):
            return ImageOps.exif_transpose(image)
    except Exception:
        pass
    return image  # not exif_transpose's copy: a full-size copy of every photo costs time


def _too_many_pixels(width: int, height: int, limit: int) -> DecodeError:
    return DecodeError(f"too many pixels: {width}x{height} exceeds the {limit:,}-pixel limit (`DecodeOptions.max_pixels`)")


def _open(source: Path | BinaryIO, max_pixels: int, name: str) -> Image.Image:
    """Open (headers only) with Pillow, else as HEIF; DecodeError when neither can."""
    try:
        return Image.open(source)
    except UnidentifiedImageError:
        image = _open_heif(source, max_pixels)
        if image is None:
            raise DecodeError(_unidentified_reason(source, name)) from None
        return image
    except Image.DecompressionBombError as exc:
        # Pillow's own limit (PIL.Image.MAX_IMAGE_PIXELS, the host program's setting) refused it
        # before lzt's `max_pixels` could be checked.
        raise DecodeError(f"too many pixels: refused by Pillow's limit ({str(exc).splitlines()[0][:120]})") from None


def _open_upright_rgb(source: Path | BinaryIO, options: DecodeOptions, draft_size: int, name: str) -> Image.Image:
    """Decode the first frame, upright and RGB, refusing decompression bombs before decoding."""
    # Pillow's own warnings (odd EXIF, palette transparency, its bomb warning) are left to the
    # host program's warning filters: silencing them here would change them process-wide, and
    # not thread-safely. The `lzt` command ignores them.
    image = _open(source, options.max_pixels, name)
    with image:
        if image.width * image.height > options.max_pixels:
            raise _too_many_pixels(image.width, image.height, options.max_pixels)
        image.seek(0)  # animated GIF/WebP/APNG: the first frame
        if image.format in ("JPEG", "MPO"):
            # DCT scaling: decode at 1/2, 1/4 or 1/8 size when that still covers the target.
            image.draft("RGB", (draft_size, draft_size))
        image.load()
        return _to_rgb(_upright(image))


def decode_image(path: Path, spec: PreprocessSpec, options: DecodeOptions = DecodeOptions()) -> torch.Tensor:
    """A file -> uint8 (3, S, S) tensor, upright (EXIF), RGB; a RAW file from its embedded
    preview (lzt.tagging.raw). Raises on any unreadable file: DecodeError for what lzt
    recognised (with the reason), DecodeTimeout past the deadline, and whatever Pillow raises
    otherwise (see describe_error). A video is refused: Tagger.tag samples its frames itself."""
    with _deadline(options.decode_timeout):
        path = Path(path)
        _refuse_video(path.name)
        check_file(path)
        return _model_input(_open_any(path, options, spec, path.name), spec)


def _refuse_video(name: str) -> None:
    """Videos are tagged frame by frame by Tagger.tag; one-file decoders (the sharded engines')
    give them this error record."""
    if Path(name).suffix.lower() in VIDEO_EXTENSIONS:
        raise DecodeError("a video: videos are tagged by the local engine without shards (no `out`), not by the sharded engines")


def _open_any(source: Path | BinaryIO, options: DecodeOptions, spec: PreprocessSpec, name: str) -> Image.Image:
    """Upright RGB: a RAW through LibRaw, anything else (and a misnamed non-RAW) through Pillow."""
    if is_raw(name):
        try:
            return open_raw(
                source, spec.image_size, spec.image_size * 2,
                lambda width, height: _check_pixels(width, height, options.max_pixels),
            )
        except NotRaw as exc:
            try:  # a JPEG or TIFF saved with a RAW's name: Pillow may read it
                return _open_upright_rgb(_rewound(source), options, spec.image_size * 2, name)
            except (DecodeError, UnidentifiedImageError, OSError):
                raise DecodeError("not an image (a text or HTML file)" if _looks_like_text(source) else str(exc)) from None
        except RawDecodeError as exc:
            raise DecodeError("not an image (a text or HTML file)" if _looks_like_text(source) else str(exc)) from None
    return _open_upright_rgb(source, options, spec.image_size * 2, name)


def _rewound(source: Path | BinaryIO) -> Path | BinaryIO:
    if not isinstance(source, Path):
        source.seek(0)
    return source


def _check_pixels(width: int, height: int, limit: int) -> None:
    if width * height > limit:
        raise _too_many_pixels(width, height, limit)


def open_rgb(path: Path, options: DecodeOptions = DecodeOptions(), draft_size: int = 0) -> Image.Image:
    """A file -> an upright (EXIF) RGB Pillow image, as lzt decodes photos for the model: the
    same file checks, pixel limit and deadline as decode_image. A JPEG is decoded at reduced
    size (DCT scaling) when it still covers `draft_size` pixels on each side (0: full size).
    Thumbnails of the review page are made this way."""
    with _deadline(options.decode_timeout):
        path = Path(path)
        check_file(path)
        return _open_upright_rgb(path, options, draft_size or 1 << 30, path.name)


JPEG_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif"})


def read_batch_jpeg(path: Path, options: DecodeOptions = DecodeOptions()) -> tuple[bytes, JpegInfo] | None:
    """A JPEG file's bytes and headers for the batched decoder (lzt.tagging.jpeg), with the same
    file checks, pixel limit and deadline as decode_image; None when the file is not one the
    batched decoder takes (another format, progressive, CMYK...): decode it with decode_image."""
    if Path(path).suffix.lower() not in JPEG_SUFFIXES:
        return None
    with _deadline(options.decode_timeout):
        path = Path(path)
        check_file(path)
        data = path.read_bytes()
    return batch_jpeg_of(data, options)


def batch_jpeg_of(data: bytes, options: DecodeOptions = DecodeOptions()) -> tuple[bytes, JpegInfo] | None:
    """File bytes in hand (a tar member, an object read from a bucket): `(data, headers)` when the
    batched decoder takes them, else None (decode them with decode_image_bytes)."""
    info = parse_jpeg(data)
    if info is None or not info.batch_decodable:
        return None
    if info.width * info.height > options.max_pixels:
        raise _too_many_pixels(info.width, info.height, options.max_pixels)
    return data, info


def decode_jpeg_rows(
    jpegs: dict[int, tuple[bytes, JpegInfo]], names: dict[int, str], spec: PreprocessSpec, options: DecodeOptions,
    device: str | torch.device,
) -> tuple[list[int], torch.Tensor, dict[int, str]]:
    """JPEGs left to the batched decoder (position -> bytes, headers) -> the positions decoded,
    their uint8 model input on `device`, and an error per position that failed. One batched call
    (nvJPEG on CUDA); when it refuses the batch, each file is decoded alone by the same decoder
    (so a file's pixels never depend on its batch), and a file it refuses goes to Pillow, whose
    refusal is that file's error."""
    positions = sorted(jpegs)
    try:
        return positions, decode_jpegs([jpegs[p][0] for p in positions], [jpegs[p][1] for p in positions], spec, device), {}
    except RuntimeError:
        pass
    rows, kept, errors = [], [], {}
    for position in positions:
        data, info = jpegs[position]
        try:
            try:
                rows.append(decode_jpegs([data], [info], spec, device)[0])
            except RuntimeError:
                rows.append(decode_image_bytes(data, spec, options, names.get(position, "")).to(device))
            kept.append(position)
        except (Exception, DecodeTimeout) as exc:  # this file's own failure
            errors[position] = describe_error(exc)
    size = spec.image_size
    pixels = torch.stack(rows) if rows else torch.empty(0, 3, size, size, dtype=torch.uint8, device=device)
    return kept, pixels, errors


def merge_rows(first: list[int], first_pixels: torch.Tensor, second: list[int], second_pixels: torch.Tensor) -> tuple[list[int], torch.Tensor]:
    """Two sets of (positions, rows) -> one, in position order, on the second's device."""
    positions = [*first, *second]
    order = sorted(range(len(positions)), key=positions.__getitem__)
    merged = torch.cat([first_pixels.to(second_pixels.device), second_pixels])
    return [positions[i] for i in order], merged[order]


def decode_image_bytes(data: bytes, spec: PreprocessSpec, options: DecodeOptions = DecodeOptions(), name: str = "") -> torch.Tensor:
    """An image file's bytes (a member of a tar shard, an object read from a bucket) -> uint8
    (3, S, S), with the same checks and errors as decode_image. `name` (the file name) only
    words the error for a HEIC file without the extra."""
    with _deadline(options.decode_timeout):
        _refuse_video(name)
        if not data:
            raise DecodeError("empty file (0 bytes)")
        return _model_input(_open_any(io.BytesIO(data), options, spec, name), spec)


def _model_input(rgb: Image.Image, spec: PreprocessSpec) -> torch.Tensor:
    pixels = np.asarray(resize_and_crop(rgb, spec.image_size, spec.resize_mode), dtype=np.uint8)
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)


def prepare_image(image: object, spec: PreprocessSpec) -> torch.Tensor:
    """An image already in memory -> uint8 (3, S, S): a Pillow image in any mode (upright by its
    EXIF, transparency on white), or a uint8 array of shape (H, W, 3) (RGB) or (H, W) (grey)."""
    if isinstance(image, Image.Image):
        rgb = _to_rgb(_upright(image))
    elif isinstance(image, (np.ndarray, torch.Tensor)):
        array = image.cpu().numpy() if isinstance(image, torch.Tensor) else image
        expected = "a uint8 array of shape (height, width, 3) (RGB) or (height, width) (grey)"
        if array.dtype != np.uint8:
            raise InputError(f"expected {expected}, got dtype {array.dtype}")
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[:, :, 0]
        if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
            raise InputError(f"expected {expected}, got shape {tuple(array.shape)}")
        if array.shape[0] == 0 or array.shape[1] == 0:
            raise InputError(f"expected {expected}, got an empty image of shape {tuple(array.shape)}")
        rgb = Image.fromarray(np.ascontiguousarray(array), "L" if array.ndim == 2 else "RGB").convert("RGB")
    else:
        raise InputError(f"expected a PIL image or a uint8 array, got {type(image).__name__}")
    return _model_input(rgb, spec)


def describe_error(exc: BaseException) -> str:
    """A short, one-line human reason for a file that could not be decoded."""
    if isinstance(exc, (DecodeError, DecodeTimeout)):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not an image"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image, or a format Pillow cannot read"
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return f"too many pixels (decompression-bomb limit, `DecodeOptions.max_pixels`): {exc}".splitlines()[0][:200]
    if isinstance(exc, MemoryError):
        return "out of memory while decoding"
    if isinstance(exc, OSError) and "truncated" in str(exc).lower():
        return "truncated image"
    if isinstance(exc, (OSError, SyntaxError, ValueError, EOFError)) and str(exc).strip():
        return f"corrupt or unsupported image: {str(exc).strip().splitlines()[0]}"[:200]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]

