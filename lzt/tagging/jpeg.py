"""JPEG files decoded in batches by torchvision: nvJPEG on a GPU, libjpeg-turbo on the CPU, with
the same call. On a GPU this takes JPEG decoding, the wall of the CPU pipeline, off the CPU cores.

    info = parse_jpeg(data)                          # in a CPU worker: headers only, no pixels
    if info is not None and info.batch_decodable:
        pixels = decode_jpegs([data], [info], spec, device="cuda")   # (1, 3, S, S) uint8 on the GPU

What the batched decoder handles: baseline and extended-sequential 8-bit JPEGs with one (grey) or
three (YCbCr) components. Progressive JPEGs, CMYK, 12-bit and arithmetic-coded files, and every
other format, stay on the CPU path (lzt.tagging.decoding: Pillow, draft mode). EXIF orientation
is read here from the header and applied to the decoded pixels on the device; resizing,
cropping or letterboxing match lzt.tagging.decoding.resize_and_crop's geometry, with
antialiased bicubic interpolation on the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import torch

from lzt.model import PreprocessSpec

_SEQUENTIAL = {0xC0, 0xC1}  # baseline, extended sequential (Huffman): what nvJPEG's batched decoder takes
_START_OF_FRAME = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_NO_LENGTH = {0x01, 0xD8, *range(0xD0, 0xD8)}  # markers without a length field
EXIF_ORIENTATION = 0x0112
LETTERBOX_FILL = (124, 116, 104)  # CLIP's mean colour, as the CPU path pads


@dataclass(frozen=True)
class JpegInfo:
    """What a JPEG's headers say: size, components, coding, bits, EXIF orientation (1-8)."""

    width: int
    height: int
    components: int
    sequential: bool  # baseline or extended sequential (not progressive, lossless or arithmetic)
    precision: int
    orientation: int = 1

    @property
    def batch_decodable(self) -> bool:
        """Whether torchvision's batched decoder takes it (else: the CPU path)."""
        return self.sequential and self.precision == 8 and self.components in (1, 3) and self.width > 0 and self.height > 0


def parse_jpeg(data: bytes) -> JpegInfo | None:
    """The headers of a JPEG file up to its frame header, or None for anything else (another
    format, a truncated or malformed header). Reads no pixel data."""
    if not data.startswith(b"\xff\xd8"):
        return None
    position, orientation = 2, 1
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _NO_LENGTH:
            position += 2
            continue
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        segment = data[position + 4 : position + 2 + length]
        if length < 2 or len(segment) < length - 2:
            return None
        if marker == 0xE1 and segment.startswith(b"Exif\x00\x00"):
            orientation = exif_orientation(segment[6:]) or orientation
        elif marker in _START_OF_FRAME:
            if len(segment) < 6:
                return None
            return JpegInfo(
                width=int.from_bytes(segment[3:5], "big"), height=int.from_bytes(segment[1:3], "big"),
                components=segment[5], sequential=marker in _SEQUENTIAL, precision=segment[0], orientation=orientation,
            )
        elif marker == 0xDA:  # scan data before any frame header: malformed
            return None
        position += 2 + length
    return None


def exif_orientation(tiff: bytes) -> int | None:
    """The Orientation tag (1-8) of an EXIF block's first IFD, or None (absent, malformed)."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return None
    order: Literal["little", "big"] = "little" if tiff[:2] == b"II" else "big"
    ifd = int.from_bytes(tiff[4:8], order)
    if ifd + 2 > len(tiff):
        return None
    entries = int.from_bytes(tiff[ifd : ifd + 2], order)
    for index in range(entries):
        entry = ifd + 2 + 12 * index
        if entry + 12 > len(tiff):
            return None
        if int.from_bytes(tiff[entry : entry + 2], order) == EXIF_ORIENTATION:
            value = int.from_bytes(tiff[entry + 8 : entry + 10], order)
            return value if 1 <= value <= 8 else None
    return None


def upright(pixels: torch.Tensor, orientation: int) -> torch.Tensor:
    """(C, H, W) as a viewer shows it: the EXIF orientation applied (Pillow's exif_transpose)."""
    if orientation == 2:
        return pixels.flip(-1)
    if orientation == 3:
        return pixels.flip(-1).flip(-2)
    if orientation == 4:
        return pixels.flip(-2)
    if orientation == 5:
        return pixels.transpose(-1, -2)
    if orientation == 6:
        return torch.rot90(pixels, k=-1, dims=(-2, -1))
    if orientation == 7:
        return pixels.transpose(-1, -2).flip(-1).flip(-2)
    if orientation == 8:
        return torch.rot90(pixels, k=1, dims=(-2, -1))
    return pixels


def _resized(pixels: torch.Tensor, height: int, width: int) -> torch.Tensor:
    from torchvision.transforms.v2 import functional as F

    if (pixels.shape[-2], pixels.shape[-1]) == (height, width):
        return pixels
    resized = F.resize(pixels.float(), [height, width], interpolation=F.InterpolationMode.BICUBIC, antialias=True)
    return resized.round_().clamp_(0, 255).to(torch.uint8)


def fit(pixels: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """(3, H, W) uint8 -> (3, size, size), with lzt.tagging.decoding.resize_and_crop's geometry:
    `shortest` (short side to size, centre crop), `squash`, or `letterbox` (padded with CLIP's
    mean colour)."""
    height, width = pixels.shape[-2:]
    if mode == "squash":
        return _resized(pixels, size, size)
    if mode == "letterbox":
        scale = size / max(width, height)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        canvas = torch.tensor(LETTERBOX_FILL, dtype=torch.uint8, device=pixels.device).view(3, 1, 1).repeat(1, size, size)
        top, left = (size - new_h) // 2, (size - new_w) // 2
        canvas[:, top : top + new_h, left : left + new_w] = _resized(pixels, new_h, new_w)
        return canvas
    scale = size / min(width, height)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    resized = _resized(pixels, new_h, new_w)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return resized[:, top : top + size, left : left + size]


def decode_jpegs(
    datas: Sequence[bytes], infos: Sequence[JpegInfo], spec: PreprocessSpec, device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Batch-decodable JPEGs (see JpegInfo.batch_decodable) -> uint8 (B, 3, S, S) model input on
    `device`: decoded in one torchvision call (nvJPEG on CUDA), upright, RGB (grey repeated),
    fitted to the model's input. A file the decoder refuses raises: the caller decodes that
    batch's files on the CPU path one by one, where each failure is that file's own."""
    from torchvision.io import ImageReadMode, decode_jpeg

    if not datas:
        return torch.empty(0, 3, spec.image_size, spec.image_size, dtype=torch.uint8, device=device)
    encoded = [torch.frombuffer(bytearray(data), dtype=torch.uint8) for data in datas]
    decoded = decode_jpeg(encoded, mode=ImageReadMode.RGB, device=device)
    return torch.stack([fit(upright(image, info.orientation), spec.image_size, spec.resize_mode) for image, info in zip(decoded, infos)])
