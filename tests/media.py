"""RAW and video files made by the tests themselves: DNGs written byte by byte (a real TIFF/DNG
structure that LibRaw reads: a CFA sensor image, with or without an embedded JPEG or bitmap
preview), and short videos encoded by PyAV from coco128 photos, so that where the scene
changes is known."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from support import COCO128

# --- DNG ---------------------------------------------------------------------------------------

_TYPES = {"B": 1, "A": 2, "H": 3, "I": 4, "R": 5, "SR": 10}
XYZ_TO_SRGB = [[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]]


def _value_bytes(kind: str, values: object) -> tuple[int, bytes]:
    if kind == "A":
        data = str(values).encode() + b"\0"
        return len(data), data
    items = list(values)  # type: ignore[call-overload]
    if kind == "B":
        return len(items), bytes(items)
    if kind in ("H", "I"):
        return len(items), struct.pack(f"<{len(items)}{kind}", *items)
    flat = [int(v) for pair in items for v in pair]  # (numerator, denominator) pairs
    return len(items), struct.pack(f"<{len(flat)}{'I' if kind == 'R' else 'i'}", *flat)


def _tiff(ifds: list[tuple[dict[int, tuple[str, object]], bytes]]) -> bytes:
    """A little-endian TIFF: the first IFD holds the others as its SubIFDs (tag 330); each IFD
    has one strip. Two passes: the second knows where the SubIFDs landed."""

    def layout(sub_offsets: list[int]) -> tuple[bytes, list[int]]:
        out = bytearray(b"II*\0" + struct.pack("<I", 8))
        starts = []
        for index, (given, strip) in enumerate(ifds):
            tags = dict(given)
            if index == 0 and len(ifds) > 1:
                tags[330] = ("I", sub_offsets)
            tags[273] = ("I", [0])  # StripOffsets, filled in below
            tags[279] = ("I", [len(strip)])
            start = len(out)
            starts.append(start)
            entries = [(tag, *_value_bytes(*tags[tag])) for tag in sorted(tags)]
            overflow_at = start + 2 + 12 * len(entries) + 4
            strip_at = overflow_at + sum(len(d) + (len(d) & 1) for _, _, d in entries if len(d) > 4)
            table, overflow = bytearray(struct.pack("<H", len(entries))), bytearray()
            for tag, count, data in entries:
                kind = _TYPES[tags[tag][0]]
                if tag == 273:
                    data = struct.pack("<I", strip_at)
                if len(data) <= 4:
                    table += struct.pack("<HHI", tag, kind, count) + data.ljust(4, b"\0")
                else:
                    table += struct.pack("<HHII", tag, kind, count, overflow_at + len(overflow))
                    overflow += data + b"\0" * (len(data) & 1)
            table += struct.pack("<I", 0)  # no next IFD
            out += table + overflow + strip
            out += b"\0" * (len(out) & 1)
        return bytes(out), starts

    _, starts = layout([0] * (len(ifds) - 1))
    data, again = layout(starts[1:])
    assert again == starts
    return data


def write_dng(path: Path, rgb: np.ndarray, preview: str | None = "jpeg", orientation: int = 1, preview_rgb: np.ndarray | None = None) -> Path:
    """A DNG of an RGB picture: its sensor data as an RGGB mosaic (12 bits, linear light, sRGB
    primaries), and `preview` "jpeg", "bitmap" or None (no preview: LibRaw must demosaic).
    `orientation`: the EXIF orientation of the RAW (1-8). `preview_rgb`: another picture for
    the preview (to tell which one was decoded)."""
    height, width = rgb.shape[:2]
    linear = np.round((rgb / 255.0) ** 2.2 * 4095).astype(np.uint16)
    mosaic = np.zeros((height, width), np.uint16)
    mosaic[0::2, 0::2] = linear[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = linear[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = linear[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = linear[1::2, 1::2, 2]
    camera = {
        50706: ("B", [1, 4, 0, 0]), 50707: ("B", [1, 1, 0, 0]), 50708: ("A", "lzt test camera"), 271: ("A", "lzt"),
        272: ("A", "test camera"), 274: ("H", [orientation]), 50778: ("H", [21]), 50728: ("R", [(1, 1)] * 3),
        50721: ("SR", [(round(v * 10000), 10000) for row in XYZ_TO_SRGB for v in row]),  # ColorMatrix1: camera = sRGB
    }
    sensor = {
        254: ("I", [0]), 256: ("I", [width]), 257: ("I", [height]), 258: ("H", [16]), 259: ("H", [1]), 262: ("H", [32803]),
        277: ("H", [1]), 278: ("I", [height]), 284: ("H", [1]), 33421: ("H", [2, 2]), 33422: ("B", [0, 1, 1, 2]),
        50714: ("H", [0]), 50717: ("H", [4095]),
    }
    sensor_strip = mosaic.astype("<u2").tobytes()
    if preview is None:
        ifds = [({**camera, **sensor}, sensor_strip)]
    else:
        shown = rgb if preview_rgb is None else preview_rgb
        rows, columns = shown.shape[:2]
        tags = {254: ("I", [1]), 256: ("I", [columns]), 257: ("I", [rows]), 258: ("H", [8, 8, 8]), 277: ("H", [3]),
                278: ("I", [rows]), 284: ("H", [1])}
        if preview == "jpeg":
            buffer = io.BytesIO()
            Image.fromarray(shown).save(buffer, "JPEG", quality=92)
            tags.update({259: ("H", [7]), 262: ("H", [6])})
            strip = buffer.getvalue()
        else:
            tags.update({259: ("H", [1]), 262: ("H", [2])})
            strip = np.ascontiguousarray(shown).tobytes()
        ifds = [({**camera, **tags}, strip), (sensor, sensor_strip)]
    path.write_bytes(_tiff(ifds))
    return path


def coco_rgb(index: int, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    """The index-th coco128 photo (sorted), resized to `size` (width, height), as RGB."""
    photos = sorted((COCO128 / "images").glob("*.jpg"))
    return np.asarray(Image.open(photos[index]).convert("RGB").resize(size))


# --- video -------------------------------------------------------------------------------------


def write_video(
    path: Path, pictures: Sequence[np.ndarray], seconds: float = 2.0, fps: int = 10, codec: str = "libx264",
    rotation: int = 0, audio: float = 0.0,
) -> Path:
    """A video showing each picture for `seconds` (a slow pan, so frames within a shot differ
    a little): a scene change at every multiple of `seconds`. `rotation`: display rotation
    (degrees counter-clockwise) in the container; `audio`: seconds of silent AAC beside it."""
    import av

    height, width = pictures[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if rotation:
            stream.set_display_rotation(rotation)
        sound = container.add_stream("aac", rate=8000) if audio else None
        for picture in pictures:
            for step in range(round(seconds * fps)):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.roll(picture, step, axis=1)), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if sound is not None:
            for index in range(round(audio * 8000 / 1024)):
                silence = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
                silence.sample_rate, silence.pts = 8000, index * 1024
                for packet in sound.encode(silence):
                    container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)
    return path


def write_audio_only(path: Path) -> Path:
    """An mp4 with one AAC audio stream and no video."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        for _ in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 8000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_cover_art_only(path: Path) -> Path:
    """An mp4 of audio with a cover picture: FFmpeg shows the picture as a one-frame video stream
    marked `attached_pic`, which is no video."""
    import av
    from av.stream import Disposition

    with av.open(str(path), "w") as container:
        sound = container.add_stream("aac", rate=8000)
        cover = container.add_stream("mjpeg", rate=1)
        cover.width, cover.height, cover.pix_fmt = 64, 64, "yuvj420p"
        cover.disposition = Disposition.attached_pic
        for packet in [*cover.encode(av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")), *cover.encode()]:
            container.mux(packet)
        for _ in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 8000
            for packet in sound.encode(frame):
                container.mux(packet)
        for packet in sound.encode():
            container.mux(packet)
    return path


def without_codec(source: Path, target: Path) -> Path:
    """An AVI whose video codec tag is replaced by one FFmpeg has no decoder for."""
    data = source.read_bytes()
    header = data.index(b"strf") + 8  # the BITMAPINFOHEADER
    fourcc = data[header + 16 : header + 20]
    target.write_bytes(data.replace(fourcc, b"QQQQ"))
    return target
