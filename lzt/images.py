"""Finding image files, decoding them safely at reduced size, and batching them.

Decoding happens in DataLoader worker processes. Each worker takes whole batches (batch c goes
to worker c mod W), so batches come back in discovery order and memory holds at most
`prefetch` batches per worker, whatever the folder size.

A bad file never stops a run: decode_batch turns any failure into a short reason for that file
(empty, truncated, not an image, too many pixels, broken link, timed out...), and the tagger
emits it as an error record.
"""

from __future__ import annotations

import codecs
import errno
import fnmatch
import os
import sqlite3
import signal
import stat
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from lzt.cache import CachedEmbedding, EmbeddingCache, FileIdentity, content_hash
from lzt.encoder import PreprocessSpec

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff",
     ".heic", ".heif", ".avif"}
)
# OS debris and thumbnails that look like images but are not photos.
DEFAULT_EXCLUDES = ("._*", ".DS_Store", "@eaDir", "#recycle", "Thumbs.db", "@__thumb")
DEFAULT_MAX_PIXELS = 200_000_000  # decompression-bomb limit: 200 MP


# --- discovery -------------------------------------------------------------------------------


def _excluded(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in patterns)


def _is_linked_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_symlink() and entry.is_dir()
    except OSError:  # a symlink loop: a broken file link, reported at decode time
        return False


def _walk(folder: Path, patterns: Sequence[str], hidden: bool) -> Iterator[Path]:
    """Depth-first, names sorted: a deterministic order. Symlinked folders are not followed
    (no loops, no duplicates); symlinked files are yielded and fail at decode time if broken.
    A folder named like an image (`x.jpg/`) is a folder: searched, never decoded."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        yield folder  # decoding it reports why it cannot be read: one record, not silence
        return
    for entry in entries:
        if (not hidden and entry.name.startswith(".")) or _excluded(entry.name, patterns):
            continue
        path = Path(entry.path)
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        if is_dir:
            yield from _walk(path, patterns, hidden)
        elif path.suffix.lower() in IMAGE_EXTENSIONS and not _is_linked_folder(entry):
            yield path


def discover(
    paths: Iterable[Path | str], exclude: Sequence[str] = (), include_hidden: bool = False
) -> Iterator[Path]:
    """Image files under the given files and folders, streamed in a deterministic order.
    A folder named explicitly is searched even if it is a symlink; a file named explicitly is
    always yielded, whatever its extension (missing or broken, it gets an error record)."""
    patterns = (*DEFAULT_EXCLUDES, *exclude)
    for given in paths:
        given = Path(given)
        if given.is_dir():
            yield from _walk(given, patterns, include_hidden)
        else:
            yield given


# --- decoding --------------------------------------------------------------------------------

EXIF_ORIENTATION = 0x0112
DEFAULT_DECODE_TIMEOUT = 30.0  # seconds per file: generous, a healthy 100 MP photo takes a few


@dataclass
class DecodeOptions:
    max_pixels: int = DEFAULT_MAX_PIXELS
    decode_timeout: float | None = DEFAULT_DECODE_TIMEOUT  # None or <= 0: no deadline
    cache: CacheSpec | None = None  # look embeddings up before decoding


class DecodeError(ValueError):
    """A file lzt recognised as unusable; the message is the short reason shown to the user."""


class DecodeTimeout(BaseException):
    """Raised by the SIGALRM deadline. A BaseException, like KeyboardInterrupt, so that the broad
    `except Exception` blocks inside Pillow's plugins cannot swallow it."""

    def __init__(self, seconds: float):
        super().__init__(f"decoding took longer than {seconds:g} s; gave up")


def _register_heif() -> bool:
    """HEIC/HEIF (iPhone photos) through the optional `heif` extra."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


HEIF_AVAILABLE = _register_heif()


@contextmanager
def _deadline(seconds: float | None) -> Iterator[None]:
    """Interrupt the body after `seconds` with DecodeTimeout.

    SIGALRM only reaches the main thread of a process, which is where decoding runs: the main
    process with --workers 0, and each DataLoader worker (a forked process running its loop in its
    main thread). A blocking read is interrupted; so is Pillow's decode loop, which returns to Python
    between chunks. A decoder stuck inside one C call cannot be interrupted this way (the limit).
    Elsewhere (another thread, no setitimer on the platform) the body runs without a deadline."""
    usable = (
        seconds is not None and seconds > 0 and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise DecodeTimeout(seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)


def _check_file(path: Path) -> None:
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


def _looks_like_text(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError:
        return False
    try:  # incremental: a character cut at byte 512 is not a decoding error
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return bool(text) and all(c.isprintable() or c.isspace() for c in text)


def _unidentified_reason(path: Path) -> str:
    if path.suffix.lower() in (".heic", ".heif") and not HEIF_AVAILABLE:
        return "HEIC/HEIF needs the optional extra: pip install 'lzt[heif]'"
    if _looks_like_text(path):
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
        return image.resize((size, size), Image.BICUBIC, reducing_gap=3.0)
    if mode == "letterbox":
        scale = size / max(width, height)
        new = (max(1, round(width * scale)), max(1, round(height * scale)))
        resized = image.resize(new, Image.BICUBIC, reducing_gap=3.0)
        canvas = Image.new("RGB", (size, size), (124, 116, 104))  # CLIP mean colour
        canvas.paste(resized, ((size - new[0]) // 2, (size - new[1]) // 2))
        return canvas
    scale = size / min(width, height)
    new = (max(size, round(width * scale)), max(size, round(height * scale)))
    resized = image.resize(new, Image.BICUBIC, reducing_gap=3.0)
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


def _open_upright_rgb(path: Path, options: DecodeOptions, draft_size: int) -> Image.Image:
    """Decode the first frame, upright and RGB, refusing decompression bombs before decoding."""
    Image.MAX_IMAGE_PIXELS = options.max_pixels
    with warnings.catch_warnings():
        # Pillow's warnings (odd EXIF, palette transparency...) would add stderr lines per file;
        # the bomb warning (over the limit, under twice it) becomes an error instead.
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except UnidentifiedImageError:
            raise DecodeError(_unidentified_reason(path)) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise DecodeError(
                f"too many pixels: over the {options.max_pixels:,}-pixel limit (--max-pixels); "
                "a decompression bomb?"
            ) from None
        with image:
            if image.width * image.height > options.max_pixels:
                raise DecodeError(
                    f"too many pixels: {image.width}x{image.height} exceeds the "
                    f"{options.max_pixels:,}-pixel limit (--max-pixels)"
                )
            image.seek(0)  # animated GIF/WebP/APNG: the first frame
            if image.format in ("JPEG", "MPO"):
                # DCT scaling: decode at 1/2, 1/4 or 1/8 size when that still covers the target.
                image.draft("RGB", (draft_size, draft_size))
            image.load()
            return _to_rgb(_upright(image))


def decode_image(path: Path, spec: PreprocessSpec, options: DecodeOptions = DecodeOptions()) -> torch.Tensor:
    """A file -> uint8 (3, S, S) tensor, upright (EXIF), RGB. Raises on any unreadable file:
    DecodeError for what lzt recognised (with the reason), DecodeTimeout past the deadline,
    and whatever Pillow raises otherwise (see describe_error)."""
    with _deadline(options.decode_timeout):
        path = Path(path)
        _check_file(path)
        rgb = _open_upright_rgb(path, options, spec.image_size * 2)
        pixels = np.asarray(resize_and_crop(rgb, spec.image_size, spec.resize_mode), dtype=np.uint8)
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)


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
        return f"too many pixels (decompression-bomb limit, --max-pixels): {exc}".splitlines()[0][:200]
    if isinstance(exc, MemoryError):
        return "out of memory while decoding"
    if isinstance(exc, OSError) and "truncated" in str(exc).lower():
        return "truncated image"
    if isinstance(exc, (OSError, SyntaxError, ValueError, EOFError)) and str(exc).strip():
        return f"corrupt or unsupported image: {str(exc).strip().splitlines()[0]}"[:200]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


# --- batching --------------------------------------------------------------------------------


@dataclass
class ImageBatch:
    paths: list[Path]  # every file of this batch, in order
    pixels: torch.Tensor  # (n_ok, 3, S, S) uint8, for the files that were decoded
    ok: list[int]  # positions in `paths` of the rows of `pixels`
    errors: dict[int, str] = field(default_factory=dict)  # position -> reason
    cached: dict[int, CachedEmbedding] = field(default_factory=dict)  # position -> from the cache
    # position -> (file identity, content hash): what to record in the cache for this file
    identities: dict[int, tuple[FileIdentity, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class CacheSpec:
    """Where decode workers look embeddings up (read-only; the main process writes)."""

    folder: Path
    encoder_key: str
    needs_local: bool


_READERS: dict[tuple[str, str], EmbeddingCache] = {}


def _reader(spec: CacheSpec) -> EmbeddingCache:
    """One read-only connection per process (workers are separate processes)."""
    key = (str(spec.folder), spec.encoder_key)
    if key not in _READERS:
        _READERS[key] = EmbeddingCache(spec.folder, spec.encoder_key, readonly=True)
    return _READERS[key]


def _cache_lookup(path: Path, spec: CacheSpec) -> tuple[CachedEmbedding | None, tuple[FileIdentity, str] | None]:
    """Unchanged file (path, size, mtime) or same content under another name -> its embedding."""
    try:
        identity = FileIdentity.of(path)
        if identity is None:
            return None, None
        cache = _reader(spec)
        sha = cache.hash_for(identity)
        known_path = sha is not None
        sha = sha or content_hash(path)
    except (OSError, sqlite3.Error):
        return None, None  # decoding reports what is wrong with the file; the cache is optional
    found = cache.embedding(sha)
    if found is not None and (found.local_features is not None or not spec.needs_local):
        return found, None if known_path else (identity, sha)
    return None, (identity, sha)


def decode_batch(paths: list[Path], spec: PreprocessSpec, options: DecodeOptions) -> ImageBatch:
    tensors, ok, errors, cached, identities = [], [], {}, {}, {}
    for position, path in enumerate(paths):
        if options.cache is not None:
            found, identity = _cache_lookup(path, options.cache)
            if identity is not None:
                identities[position] = identity
            if found is not None:
                cached[position] = found
                continue
        try:
            tensors.append(decode_image(path, spec, options))
            ok.append(position)
        except (Exception, DecodeTimeout) as exc:  # any failure of any decoder is this file's problem only
            errors[position] = describe_error(exc)
            identities.pop(position, None)
    size = spec.image_size
    pixels = torch.stack(tensors) if tensors else torch.empty(0, 3, size, size, dtype=torch.uint8)
    return ImageBatch(paths, pixels, ok, errors, cached, identities)


def chunked(items: Iterable[Path], size: int) -> Iterator[list[Path]]:
    chunk: list[Path] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _BatchStream(torch.utils.data.IterableDataset):
    def __init__(self, path_batches: Iterable[list[Path]], spec: PreprocessSpec, options: DecodeOptions):
        self.path_batches = path_batches
        self.spec = spec
        self.options = options

    def __iter__(self) -> Iterator[ImageBatch]:
        info = torch.utils.data.get_worker_info()
        workers, me = (info.num_workers, info.id) if info else (1, 0)
        for index, paths in enumerate(self.path_batches):
            if index % workers == me:
                yield decode_batch(paths, self.spec, self.options)


def default_workers() -> int:
    return min(os.cpu_count() or 1, 16)


def iter_batches(
    path_batches: Iterable[list[Path]],
    spec: PreprocessSpec,
    workers: int,
    options: DecodeOptions = DecodeOptions(),
    pin_memory: bool = False,
) -> Iterator[ImageBatch]:
    """Decoded batches, in order. `path_batches` must be re-iterable (each worker walks it)."""
    if workers <= 0:
        for paths in path_batches:
            yield decode_batch(paths, spec, options)
        return
    loader = torch.utils.data.DataLoader(
        _BatchStream(path_batches, spec, options),
        batch_size=None,
        num_workers=workers,
        prefetch_factor=2,
        pin_memory=pin_memory,
        persistent_workers=False,
        collate_fn=lambda batch: batch,
    )
    yield from loader


class PathBatches:
    """Re-iterable batches of discovered paths (each DataLoader worker walks the folders itself;
    walking is cheap next to decoding, and nothing has to be sent between processes)."""

    def __init__(self, paths: Sequence[Path | str], batch_size: int, exclude: Sequence[str] = (), include_hidden: bool = False):
        self.paths = list(paths)
        self.batch_size = batch_size
        self.exclude = tuple(exclude)
        self.include_hidden = include_hidden

    def __iter__(self) -> Iterator[list[Path]]:
        return chunked(discover(self.paths, self.exclude, self.include_hidden), self.batch_size)
