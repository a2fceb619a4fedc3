"""Finding image files, decoding them safely at reduced size, and batching them.

Decoding happens in DataLoader worker processes. Each worker takes whole batches (batch c goes
to worker c mod W), so batches come back in discovery order and memory holds at most
`prefetch` batches per worker, whatever the folder size.
"""

from __future__ import annotations

import fnmatch
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

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


def _walk(folder: Path, patterns: Sequence[str], hidden: bool) -> Iterator[Path]:
    """Depth-first, names sorted: a deterministic order. Symlinked folders are not followed
    (no loops); symlinked files are yielded and fail at decode time if broken."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
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
        elif path.suffix.lower() in IMAGE_EXTENSIONS:
            yield path


def discover(
    paths: Iterable[Path | str], exclude: Sequence[str] = (), include_hidden: bool = False
) -> Iterator[Path]:
    """Image files under the given files and folders, streamed in a deterministic order.
    A file named explicitly is always yielded, whatever its extension."""
    patterns = (*DEFAULT_EXCLUDES, *exclude)
    for given in paths:
        given = Path(given)
        if given.is_dir() and not given.is_symlink():
            yield from _walk(given, patterns, include_hidden)
        elif given.is_dir():
            yield from _walk(given, patterns, include_hidden)  # a symlink named explicitly is followed
        else:
            yield given


# --- decoding --------------------------------------------------------------------------------


@dataclass
class DecodeOptions:
    max_pixels: int = DEFAULT_MAX_PIXELS


def _to_rgb(image: Image.Image) -> Image.Image:
    """Every mode to RGB; transparency is composited on white (what a viewer shows)."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: scale to 8 bits instead of clipping.
        array = np.asarray(image, dtype=np.float64)
        peak = array.max() if array.size else 1.0
        scaled = (array * (255.0 / peak if peak > 255 else 1.0)).clip(0, 255).astype(np.uint8)
        return Image.fromarray(scaled, "L").convert("RGB")
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


def decode_image(path: Path, spec: PreprocessSpec, options: DecodeOptions = DecodeOptions()) -> torch.Tensor:
    """A file -> uint8 (3, S, S) tensor, upright (EXIF), RGB. Raises on any unreadable file."""
    Image.MAX_IMAGE_PIXELS = options.max_pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as image:
            if image.width * image.height > options.max_pixels:
                raise ValueError(f"{image.width}x{image.height} exceeds the {options.max_pixels:,}-pixel limit")
            if image.format == "JPEG":
                # DCT scaling: decode at 1/2, 1/4 or 1/8 size when that still covers the target.
                image.draft("RGB", (spec.image_size * 2, spec.image_size * 2))
            image.seek(0)  # animated GIF/WebP: the first frame
            image.load()
            upright = ImageOps.exif_transpose(image)
            rgb = _to_rgb(upright)
    pixels = np.asarray(resize_and_crop(rgb, spec.image_size, spec.resize_mode), dtype=np.uint8)
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)


def describe_error(exc: BaseException) -> str:
    """A short human reason for a file that could not be decoded."""
    if isinstance(exc, FileNotFoundError):
        return "file not found (broken link?)"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image, or a format Pillow cannot read"
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return f"too many pixels (decompression-bomb limit): {exc}"
    if isinstance(exc, OSError) and "truncated" in str(exc).lower():
        return "truncated image"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


# --- batching --------------------------------------------------------------------------------


@dataclass
class ImageBatch:
    paths: list[Path]  # every file of this batch, in order
    pixels: torch.Tensor  # (n_ok, 3, S, S) uint8, for the files without an error
    ok: list[int]  # positions in `paths` of the rows of `pixels`
    errors: dict[int, str] = field(default_factory=dict)  # position -> reason


def decode_batch(paths: list[Path], spec: PreprocessSpec, options: DecodeOptions) -> ImageBatch:
    tensors, ok, errors = [], [], {}
    for position, path in enumerate(paths):
        try:
            tensors.append(decode_image(path, spec, options))
            ok.append(position)
        except Exception as exc:  # any failure of any decoder is this file's problem only
            errors[position] = describe_error(exc)
    size = spec.image_size
    pixels = torch.stack(tensors) if tensors else torch.empty(0, 3, size, size, dtype=torch.uint8)
    return ImageBatch(paths, pixels, ok, errors)


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


def ceil_div(a: int, b: int) -> int:
    return math.ceil(a / b)
