"""Videos (mp4, mov, mkv, webm, avi) through PyAV (FFmpeg), the `video` extra: sampled frames
in, one record with per-segment tags out.

    sampler = FrameSampler(path, spec, VideoOptions(every=2.0))
    for chunk in prefetched(sampler, stall_timeout=30):    # decoded on a thread of its own
        scores = score(chunk.pixels)                       # (F, C): the same encoder batches as photos
        summary.add(chunk.times, chunk.scenes, scores)
    video_scores, segments = summary.finish(sampler.duration)

Sampling: every frame is decoded (most codecs cannot decode at a reduced size), but only the
sampled ones are converted to RGB, straight at about twice the model's input size (swscale), and
a 64x36 grey thumbnail is made of one frame per 0.1 s for scene detection. A frame is sampled at
0, `every`, 2*`every`... seconds, and at each scene change: the mean absolute difference (0-1) of
its thumbnail from the previous probe's above `VideoOptions.scene_threshold`, at most one per 0.5 s.

Memory is bounded whatever the length: frames stream through a queue of two chunks, and the
summary keeps, per label, the `top_frames` best scores of the video and of the open segment,
plus the finished segments' tags.
"""

from __future__ import annotations

import importlib
import math
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from PIL import Image

from lzt.config import DecodeOptions, VideoAggregate, VideoOptions
from lzt.model import PreprocessSpec
from lzt.tagging.decoding import describe_error, prepare_image
from lzt.tagging.discovery import VIDEO_EXTENSIONS

VIDEO_EXTRA_MISSING = "videos need the optional extra: pip install 'lzt[video]'"
PROBE_INTERVAL = 0.1  # seconds between the frames compared for scene changes
MIN_SHOT = 0.5  # seconds: at most one scene change in this time (flashes, flicker)
THUMBNAIL = (64, 36)  # grey thumbnail compared for scene changes
TRUNCATION_SLACK = 1.0  # seconds a video's frames may end before the duration it declares
_ROTATIONS = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, -180: Image.Transpose.ROTATE_180, -90: Image.Transpose.ROTATE_270, 270: Image.Transpose.ROTATE_270}


class VideoDecodeError(ValueError):
    """A video that could not be read; the message is the short reason."""


def is_video(path: Path | str) -> bool:
    """Whether the file's extension is one of VIDEO_EXTENSIONS (any case)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def _av() -> Any:
    """The av module (PyAV), or None when the `video` extra is not installed."""
    try:
        return importlib.import_module("av")
    except ImportError:
        return None


def video_available() -> bool:
    """Whether PyAV (the `video` extra) can be imported."""
    return _av() is not None


@dataclass
class FrameChunk:
    """Sampled frames in time order: seconds from the first frame, whether each is a scene
    change, and their uint8 (F, 3, S, S) model input."""

    times: list[float]
    scenes: list[bool]
    pixels: torch.Tensor


class FrameSampler:
    """The sampled frames of one video, in chunks of at most `chunk` frames (iterate it once).
    `duration` (seconds) is set when the iteration ends; `progress_at` is the monotonic time of
    the last decoded frame (for stall detection). Raises VideoDecodeError for a file that is not
    a readable video, has no video stream or no decoder for it, too many pixels, or whose frames
    stop well before the duration it declares (truncated)."""

    def __init__(
        self, path: Path, spec: PreprocessSpec, options: VideoOptions = VideoOptions(), decoding: DecodeOptions = DecodeOptions(),
        chunk: int = 64,
    ):
        self.path = Path(path)
        self.spec = spec
        self.options = options
        self.decoding = decoding
        self.chunk = max(1, chunk)
        self.duration: float | None = None
        self.progress_at = time.monotonic()
        self.stop = threading.Event()
        self._pixel_aspect = 1.0

    def __iter__(self) -> Iterator[FrameChunk]:
        av = _av()
        if av is None:
            raise VideoDecodeError(VIDEO_EXTRA_MISSING)
        try:
            container = av.open(str(self.path), metadata_errors="ignore")
        except av.FFmpegError as exc:
            raise VideoDecodeError(f"not a video FFmpeg can read: {_message(exc)}") from None
        with container:
            stream = _video_stream(container)
            try:
                yield from self._chunks(container, stream)
            except av.FFmpegError as exc:
                raise VideoDecodeError(f"corrupt or truncated video: {_message(exc)}") from None

    def _chunks(self, container: Any, stream: Any) -> Iterator[FrameChunk]:
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > self.decoding.max_pixels:
            raise VideoDecodeError(f"too many pixels: {width}x{height} frames exceed the {self.decoding.max_pixels:,}-pixel limit (`DecodeOptions.max_pixels`)")
        stream.thread_type = "AUTO"  # FFmpeg's own frame and slice threads
        aspect = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
        self._pixel_aspect = float(aspect) if aspect else 1.0  # anamorphic DVDs, old camcorders
        declared = _declared_duration(container, stream)
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        options = self.options
        times: list[float] = []
        scenes: list[bool] = []
        rows: list[torch.Tensor] = []
        first: float | None = None
        last = 0.0
        next_sample = 0.0
        next_probe = 0.0
        last_scene = -math.inf
        previous: np.ndarray | None = None
        index = -1
        packets = _Packets(container, stream)
        for index, frame in enumerate(packets.frames()):
            if self.stop.is_set():
                return
            self.progress_at = time.monotonic()
            stamp = frame.time if frame.time is not None else index / rate
            first = stamp if first is None else first
            now = max(0.0, stamp - first)
            last = max(last, now)
            scene = False
            if options.scene_threshold > 0 and now >= next_probe:
                next_probe = now + PROBE_INTERVAL
                thumbnail = frame.reformat(width=THUMBNAIL[0], height=THUMBNAIL[1], format="gray").to_ndarray().astype(np.float32)
                if previous is not None and now - last_scene >= MIN_SHOT:
                    scene = float(np.abs(thumbnail - previous).mean()) / 255.0 > options.scene_threshold
                    if scene:
                        last_scene = now
                previous = thumbnail
            if now >= next_sample or scene:
                while next_sample <= now:
                    next_sample += options.every
                times.append(now)
                scenes.append(scene)
                rows.append(self._model_input(frame))
                if len(rows) == self.chunk:
                    yield FrameChunk(times, scenes, torch.stack(rows))
                    times, scenes, rows = [], [], []
        if index < 0:
            raise VideoDecodeError("no frame could be decoded (an empty or damaged video)")
        end = last + 1.0 / rate
        # Truncated: the file itself ends early, every stream's packets with it. A video track
        # shorter than the audio (a still picture over music) is no truncation.
        reached = max(end, packets.end - (first or 0.0))
        if declared is not None and declared - reached > max(TRUNCATION_SLACK, 0.03 * declared):
            raise VideoDecodeError(f"truncated video: its frames stop at {end:.1f} s of the {declared:.1f} s it declares")
        self.duration = end
        if rows:
            yield FrameChunk(times, scenes, torch.stack(rows))

    def _model_input(self, frame: Any) -> torch.Tensor:
        """A decoded frame -> uint8 (3, S, S), converted by swscale straight to about twice the
        model's input (display aspect and rotation applied), then fitted as photos are."""
        width, height = frame.width, frame.height
        display_width = width * self._pixel_aspect
        scale = min(1.0, 2 * self.spec.image_size / max(1.0, min(display_width, height)))
        size = (max(1, round(display_width * scale)), max(1, round(height * scale)))
        image = Image.fromarray(frame.reformat(width=size[0], height=size[1], format="rgb24", interpolation="AREA").to_ndarray(), "RGB")
        rotation = _ROTATIONS.get(round(getattr(frame, "rotation", 0) or 0))
        return prepare_image(image.transpose(rotation) if rotation is not None else image, self.spec)


class _Packets:
    """The video stream's decoded frames, reading every stream's packets on the way (as FFmpeg
    does anyway) to know where the file's content ends (`end`, seconds on the file's clock)."""

    def __init__(self, container: Any, stream: Any):
        self.container = container
        self.stream = stream
        self.end = 0.0

    def frames(self) -> Iterator[Any]:
        for packet in self.container.demux():
            if packet.pts is not None and packet.time_base is not None:
                self.end = max(self.end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
            if packet.stream is self.stream or packet.stream.index == self.stream.index:
                yield from packet.decode()  # the last, empty packet of the stream flushes the decoder


def _video_stream(container: Any) -> Any:
    """The first video stream that is not cover art, with a decoder for its codec."""
    streams = [s for s in container.streams.video if not _cover_art(s)]
    if not streams:
        raise VideoDecodeError("no video stream (an audio-only file?)")
    stream = streams[0]
    if stream.codec_context is None:
        raise VideoDecodeError("no decoder for this video's codec (FFmpeg in PyAV lacks it)")
    return stream


def _cover_art(stream: Any) -> bool:
    """A picture attached to a music or video file (FFmpeg shows it as a one-frame video stream)."""
    av = _av()
    flag = getattr(getattr(getattr(av, "stream", None), "Disposition", None), "attached_pic", None)
    try:
        return flag is not None and bool(stream.disposition & flag)
    except TypeError:  # a PyAV without the Disposition flags
        return False


def _declared_duration(container: Any, stream: Any) -> float | None:
    """Seconds the video stream says it lasts (its own duration or frame count, else the
    container's), or None when nothing says."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if stream.frames and stream.average_rate:
        return stream.frames / float(stream.average_rate)
    if container.duration is not None:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return None


def _message(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip().splitlines()[0][:160] if str(text).strip() else type(exc).__name__


# --- decoding on a thread of its own ------------------------------------------------------------

_END = object()


@dataclass
class _Failed:
    error: BaseException


def prefetched(sampler: FrameSampler, stall_timeout: float | None = None, pending: int = 2) -> Iterator[FrameChunk]:
    """The sampler's chunks, decoded on a thread of its own (FFmpeg and torch release the GIL,
    so decoding overlaps encoding) with at most `pending` chunks waiting. Gives up with
    VideoDecodeError when no frame was decoded for `stall_timeout` seconds (None or 0: never).
    Closing the iterator stops the thread at its next frame."""
    handoff: queue.Queue[object] = queue.Queue(maxsize=pending)

    def put(item: object) -> bool:
        while not sampler.stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in sampler:
                if not put(chunk):
                    return
            put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Failed(exc))

    thread = threading.Thread(target=produce, name=f"lzt-video-{sampler.path.name}", daemon=True)
    thread.start()
    try:
        while True:
            try:
                item = handoff.get(timeout=0.2)
            except queue.Empty:
                if stall_timeout and time.monotonic() - sampler.progress_at > stall_timeout:
                    raise VideoDecodeError(f"no frame decoded for {stall_timeout:g} s; gave up") from None
                continue
            if item is _END:
                return
            if isinstance(item, _Failed):
                failure = _as_raised(item.error)
                item = None
                try:
                    raise failure
                finally:
                    # No reference cycle through this frame: the failed decoder (its FFmpeg
                    # threads) is freed now, not at the next garbage collection.
                    del failure
            assert isinstance(item, FrameChunk)
            yield item
            sampler.progress_at = max(sampler.progress_at, time.monotonic())  # the consumer's time is not a stall
    finally:
        sampler.stop.set()
        thread.join(timeout=1.0)  # a decoder stuck inside FFmpeg stays behind (a daemon thread)


def _as_raised(error: BaseException) -> BaseException:
    """What the consumer raises for the decoding thread's failure: VideoDecodeError (and
    interrupts) as they are; any other failure of the decoder becomes this video's problem only,
    as it is for images."""
    if isinstance(error, (VideoDecodeError, KeyboardInterrupt, SystemExit)):
        return error
    wrapped = VideoDecodeError(describe_error(error))
    wrapped.__cause__ = error
    return wrapped


# --- frame scores -> video and segment scores ---------------------------------------------------


class _Best:
    """The `k` best scores per label seen so far: (<=k, C)."""

    def __init__(self, k: int):
        self.k = k
        self.values: torch.Tensor | None = None

    def add(self, scores: torch.Tensor) -> None:
        joined = scores if self.values is None else torch.cat([self.values, scores])
        self.values = joined.topk(min(self.k, joined.shape[0]), dim=0).values

    def summary(self) -> torch.Tensor:
        assert self.values is not None
        return self.values.mean(dim=0)


@dataclass
class _OpenSegment:
    start: float
    best: _Best


@dataclass
class VideoSummary:
    """Frame scores in time order -> one score per label for the video and for each segment:
    the best frame (`max`) or the mean of the `top_frames` best (`top-mean`), per label. A
    segment starts at the first frame, at each scene change, and `max_segment` seconds after
    the previous start (at the first sampled frame past it)."""

    options: VideoOptions
    segments: list[tuple[float, float, torch.Tensor]] = field(default_factory=list)
    frames: int = 0

    def __post_init__(self) -> None:
        self._k = 1 if self.options.aggregate is VideoAggregate.max else self.options.top_frames
        self._video = _Best(self._k)
        self._open: _OpenSegment | None = None

    def add(self, times: list[float], scenes: list[bool], scores: torch.Tensor) -> None:
        """Scores (F, C) of frames at `times` (seconds), `scenes` marking scene changes."""
        self._video.add(scores)
        self.frames += len(times)
        start = 0
        for i, (moment, scene) in enumerate(zip(times, scenes)):
            if self._starts_segment(moment, scene):
                if self._open is not None and i > start:
                    self._open.best.add(scores[start:i])
                self._close(moment)
                self._open = _OpenSegment(moment, _Best(self._k))
                start = i
        if self._open is not None and len(times) > start:
            self._open.best.add(scores[start:])

    def _starts_segment(self, moment: float, scene: bool) -> bool:
        if self._open is None:
            return True
        if scene and moment > self._open.start:
            return True
        limit = self.options.max_segment
        return bool(limit) and moment - self._open.start >= limit

    def _close(self, end: float) -> None:
        if self._open is not None and self._open.best.values is not None:
            self.segments.append((self._open.start, end, self._open.best.summary()))
        self._open = None

    def finish(self, duration: float) -> tuple[torch.Tensor, list[tuple[float, float, torch.Tensor]]]:
        """The video's scores (C,) and its segments (start, end, scores (C,)); `duration` ends
        the last segment."""
        if self._video.values is None:
            raise VideoDecodeError("no frame was sampled")
        self._close(max(duration, self._open.start) if self._open is not None else duration)
        return self._video.summary(), self.segments
