"""Videos: short clips encoded by PyAV from coco128 photos (tests/media.py), so that where the
scene changes is known: 3 photos x 2 s at 10 fps, 160x120. Sampling, scene changes, segments,
both aggregations against a re-computation from the same frames, rotation, the embedding
cache, bounded memory, stalls, and one error record per bad video."""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
import warnings
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import lzt
from lzt.model import PreprocessSpec
from lzt.tagging import video as video_module
from lzt.tagging.video import FrameSampler, VideoSummary
from media import coco_rgb, without_codec, write_audio_only, write_cover_art_only, write_video
from support import random_classifier

pytest.importorskip("av")

SIZE = (160, 120)
SPEC = PreprocessSpec(64, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "letterbox")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, coco128) -> Path:
    """Three photos, 2 s each: scene changes at 2 s and 4 s, 6 s long."""
    return write_video(tmp_path_factory.mktemp("video") / "clip.mp4", [coco_rgb(i, SIZE) for i in range(3)])


@pytest.fixture(scope="module")
def tagger(tmp_path_factory: pytest.TempPathFactory):
    classifier = random_classifier([f"label{i}" for i in range(16)], tmp_path_factory.mktemp("clf") / "c.lzt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lzt.LztWarning)
        with lzt.Tagger.load(classifier, pretrained="none", device="cpu") as loaded:
            yield loaded


def sampled(path: Path, options: lzt.VideoOptions, chunk: int = 4) -> tuple[list[float], list[bool], FrameSampler]:
    sampler = FrameSampler(path, SPEC, options, chunk=chunk)
    times, scenes = [], []
    for part in sampler:
        assert part.pixels.shape == (len(part.times), 3, 64, 64) and part.pixels.dtype == torch.uint8
        times += part.times
        scenes += part.scenes
    return times, scenes, sampler


def test_frames_every_n_seconds_plus_scene_changes(clip: Path) -> None:
    times, scenes, sampler = sampled(clip, lzt.VideoOptions(every=1.0))
    assert times == pytest.approx([0, 1, 2, 3, 4, 5]) and sampler.duration == pytest.approx(6.0)
    assert [t for t, s in zip(times, scenes) if s] == pytest.approx([2, 4])  # the photo changes
    times, scenes, _ = sampled(clip, lzt.VideoOptions(every=10.0))  # only the first frame and the cuts
    assert times == pytest.approx([0, 2, 4]) and scenes == [False, True, True]
    times, scenes, _ = sampled(clip, lzt.VideoOptions(every=10.0, scene_threshold=0))
    assert times == [0.0] and scenes == [False]
    times, _, _ = sampled(clip, lzt.VideoOptions(every=0.75, scene_threshold=0.9))  # a threshold no cut reaches
    assert times == pytest.approx([0, 0.8, 1.5, 2.3, 3.0, 3.8, 4.5, 5.3])  # the first frame at or after each 0.75 s


def test_segments_follow_the_scene_changes_and_the_segment_limit(clip: Path, tagger) -> None:
    record = tagger.tag_video(clip, lzt.Selection(topk=2), video=lzt.VideoOptions(every=0.5), batch_size=4)
    assert record.ok and len(record.tags) == 2
    assert [(s.start, s.end) for s in record.segments] == [(0, 2), (2, 4), (4, 6)]
    assert all(len(s.tags) == 2 for s in record.segments)
    data = record.to_dict()
    assert set(data) == {"path", "tags", "segments"}
    assert data["segments"][1] == {"start": 2.0, "end": 4.0, "tags": [{"label": label, "score": score} for label, score in record.segments[1].tags]}
    limited = tagger.tag_video(clip, video=lzt.VideoOptions(every=0.5, max_segment=1.2), batch_size=4)
    assert [(s.start, s.end) for s in limited.segments] == [(0, 1.5), (1.5, 2), (2, 3.5), (3.5, 4), (4, 5.5), (5.5, 6)]
    single = tagger.tag_video(clip, video=lzt.VideoOptions(every=0.5, scene_threshold=0, max_segment=0))
    assert [(s.start, s.end) for s in single.segments] == [(0, 6)] and single.segments[0].tags == single.tags


@pytest.mark.parametrize("aggregate", ["max", "top-mean"])
def test_video_and_segment_scores_equal_a_recomputation_from_the_same_frames(clip: Path, tagger, aggregate: str) -> None:
    options = lzt.VideoOptions(every=0.4, aggregate=aggregate, top_frames=3)
    record = tagger.tag_video(clip, lzt.Selection(topk=3), video=options, batch_size=5, keep_scores=True)
    sampler = FrameSampler(clip, tagger.encoder.preprocess, options, chunk=100)
    (frames,) = list(sampler)  # every sampled frame in one chunk
    embeddings = tagger.embed_pixels(frames.pixels)
    scores = tagger.score_embeddings(embeddings.global_embeddings, embeddings.local_embeddings, normalize=False)

    def summary(rows: torch.Tensor) -> torch.Tensor:
        if aggregate == "max":
            return rows.max(dim=0).values
        return rows.topk(min(3, len(rows)), dim=0).values.mean(dim=0)

    torch.testing.assert_close(record.scores, summary(scores), atol=1e-4, rtol=0)
    times = torch.tensor(frames.times)
    for segment in record.segments:
        inside = scores[(times >= segment.start - 1e-6) & (times < segment.end - 1e-6)]
        assert len(inside) == 5  # 2 s at 0.4 s
        expected = lzt.select_tags(summary(inside)[None], tagger.labels, lzt.Selection(topk=3))[0]
        assert [label for label, _ in segment.tags] == [label for label, _ in expected]
        assert [score for _, score in segment.tags] == pytest.approx([score for _, score in expected], abs=2e-4)


def test_the_summary_keeps_the_best_frames_per_label() -> None:
    scores = torch.tensor([[1.0, 0.0], [3.0, 0.5], [2.0, 4.0], [0.0, 1.0]])
    for aggregate, expected in (("max", [3.0, 4.0]), ("top-mean", [2.5, 2.5])):
        summary = VideoSummary(lzt.VideoOptions(aggregate=aggregate, top_frames=2, max_segment=0))
        summary.add([0.0, 1.0], [False, False], scores[:2])
        summary.add([2.0, 3.0], [True, False], scores[2:])  # a scene change at 2 s
        video, segments = summary.finish(4.0)
        assert video.tolist() == expected
        assert [(start, end) for start, end, _ in segments] == [(0.0, 2.0), (2.0, 4.0)]
        first = [3.0, 0.5] if aggregate == "max" else [2.0, 0.25]
        assert segments[0][2].tolist() == first


@pytest.mark.parametrize("container", ["mkv", "mp4"])
def test_a_video_track_shorter_than_its_audio_is_not_truncated(tmp_path: Path, coco128, container: str) -> None:
    """A still picture over music: the container lasts 6 s, the video 2 s. The file is whole
    (its audio goes on to the end), so the video is tagged, its segment ending with its frames."""
    path = write_video(tmp_path / f"still.{container}", [coco_rgb(1, SIZE)], audio=6.0)
    times, _, sampler = sampled(path, lzt.VideoOptions(every=0.5))
    assert len(times) == 4 and sampler.duration == pytest.approx(2.0)


def test_a_rotated_video_is_tagged_upright(tmp_path: Path, coco128) -> None:
    picture = coco_rgb(5, SIZE)
    if not hasattr(__import__("av").video.stream.VideoStream, "set_display_rotation"):
        pytest.skip("this PyAV cannot write a display rotation")
    rotated = write_video(tmp_path / "rotated.mp4", [picture], rotation=90)  # shown turned 90° counter-clockwise
    upright = write_video(tmp_path / "upright.mp4", [np.ascontiguousarray(np.rot90(picture, k=1))])
    plain = write_video(tmp_path / "plain.mp4", [picture])

    def first_frame(path: Path) -> torch.Tensor:
        return next(iter(FrameSampler(path, SPEC, lzt.VideoOptions(every=10)))).pixels[0].float()

    assert (first_frame(rotated) - first_frame(upright)).abs().mean() < 4
    assert (first_frame(rotated) - first_frame(plain)).abs().mean() > 20


@pytest.fixture(scope="module")
def bad_videos(tmp_path_factory: pytest.TempPathFactory, clip: Path) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("bad-videos")
    pictures = [coco_rgb(i, SIZE) for i in range(3)]
    reasons = {}
    for name, codec in (("cut.mkv", "libx264"), ("cut.webm", "libvpx-vp9"), ("cut.avi", "mpeg4")):
        data = write_video(folder / f"whole-{name}", pictures, codec=codec).read_bytes()
        (folder / f"whole-{name}").unlink()
        (folder / name).write_bytes(data[: len(data) * 2 // 5])  # the index, if any, says 6 s
        reasons[name] = "truncated video"
    data = clip.read_bytes()
    (folder / "cut.mp4").write_bytes(data[: len(data) // 2])  # the moov box is at the end: nothing to read
    reasons["cut.mp4"] = "not a video FFmpeg can read"
    write_audio_only(folder / "sound.mp4")
    reasons["sound.mp4"] = "no video stream"
    write_cover_art_only(folder / "song.mp4")
    reasons["song.mp4"] = "no video stream"
    without_codec(write_video(folder / "mpeg4.avi", pictures, codec="mpeg4"), folder / "unknown.avi")
    (folder / "mpeg4.avi").unlink()
    reasons["unknown.avi"] = "no decoder for this video's codec"
    (folder / "notes.mov").write_text("shopping: milk, eggs\n")
    reasons["notes.mov"] = "not a video FFmpeg can read"
    (folder / "empty.mp4").write_bytes(b"")
    reasons["empty.mp4"] = "empty file"
    (folder / "folder.webm").mkdir()
    Image.fromarray(pictures[0]).save(folder / "folder.webm" / "inside.png")  # a folder named like a video is searched
    reasons["folder.webm/inside.png"] = ""
    return folder, reasons


@pytest.mark.parametrize("workers", [0, 2])
def test_each_bad_video_is_one_error_record_and_the_run_goes_on(bad_videos, tagger, workers: int) -> None:
    folder, reasons = bad_videos
    records = list(tagger.tag([folder], lzt.Selection(topk=2), workers=workers, batch_size=2, decoding=lzt.DecodeOptions(decode_timeout=20)))
    got = {Path(r.path).relative_to(folder).as_posix(): r for r in records}
    assert sorted(got) == sorted(reasons)  # one record per file
    for name, reason in reasons.items():
        if reason:
            assert not got[name].ok and reason in got[name].error, (name, got[name].error)
            assert "\n" not in got[name].error and len(got[name].error) <= 200
        else:
            assert got[name].ok


def test_names_with_spaces_unicode_or_bytes_that_are_not_utf8(tmp_path: Path, clip: Path, tagger) -> None:
    for name in (b"my holiday.MP4", "日本語.webm".encode(), b"caf\xe9 latin1.mkv"):
        path = Path(os.fsdecode(os.fsencode(tmp_path) + b"/" + name))
        shutil.copy(clip, path)  # an mp4 inside: FFmpeg goes by the content, not the name
        record = tagger.tag_video(path, video=lzt.VideoOptions(every=1))
        assert record.ok and len(record.segments) == 3, (name, record.error)


def ffmpeg_threads() -> list[str]:
    """Threads of FFmpeg decoders alive in this process (Linux names them av:CODEC:...)."""
    tasks = Path("/proc/self/task")
    return [name for task in tasks.iterdir() if (name := (task / "comm").read_text().strip()).startswith("av:")]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc")
def test_a_failed_video_leaves_no_decoder_behind(bad_videos, tagger) -> None:
    """A failed decoder must be freed at once: one left for the garbage collector is inherited
    by the next run's forked decoding processes, whose collector then frees it there and hangs
    on its threads' condition variables (seen: pthread_cond_destroy in avcodec_free_context)."""
    folder, _ = bad_videos
    assert not ffmpeg_threads()
    for name in ("cut.webm", "cut.mkv", "cut.avi"):  # truncated: they fail after decoding frames on FFmpeg's threads
        record = tagger.tag_video(folder / name, video=lzt.VideoOptions(every=0.5))
        assert not record.ok
        deadline = time.monotonic() + 2
        while ffmpeg_threads() and time.monotonic() < deadline:  # the decoding thread closes it as it ends
            time.sleep(0.05)
        assert not ffmpeg_threads(), name


def test_without_the_extra_a_video_names_the_install(clip: Path, tagger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "av", None)  # `import av` now raises ImportError
    record = tagger.tag_video(clip)
    assert not record.ok and record.error == "videos need the optional extra: pip install 'lzt[video]'"


def test_the_one_file_decoders_of_the_sharded_engines_refuse_videos(clip: Path) -> None:
    from lzt.tagging.decoding import DecodeError, decode_image, decode_image_bytes

    for decode in (lambda: decode_image(clip, SPEC), lambda: decode_image_bytes(clip.read_bytes(), SPEC, name="clip.mp4")):
        with pytest.raises(DecodeError, match="videos are tagged by the local engine"):
            decode()


def test_the_cache_serves_the_sampled_frames_to_any_aggregation(tmp_path: Path, clip: Path, tagger) -> None:
    options = lzt.VideoOptions(every=0.5)
    with lzt.Tagger(tagger.encoder, tagger.classifier, tagger.scoring, cache=tmp_path / "cache") as cached:
        cold = cached.tag_video(clip, video=options, keep_scores=True)
        # max_pixels=1 refuses any decode: these records come from the cache alone.
        no_decoding = lzt.DecodeOptions(max_pixels=1)
        warm = cached.tag_video(clip, video=options, decoding=no_decoding, keep_scores=True)
        assert warm.ok and warm.tags == cold.tags and warm.segments == cold.segments
        torch.testing.assert_close(warm.scores, cold.scores, atol=0, rtol=0)
        other = lzt.VideoOptions(every=0.5, aggregate="max", max_segment=1)  # not part of the key: served too
        warm_max = cached.tag_video(clip, video=other, decoding=no_decoding)
        assert warm_max.ok and warm_max.to_dict() == tagger.tag_video(clip, video=other).to_dict()
        resampled = cached.tag_video(clip, video=lzt.VideoOptions(every=0.25), decoding=no_decoding)
        assert not resampled.ok and "too many pixels" in resampled.error  # other sampling: not in the cache
    assert tagger.tag_video(clip, video=options, keep_scores=True).to_dict() == cold.to_dict()  # cached or not, the same


def test_memory_stays_bounded_on_a_long_video(tmp_path: Path, tagger, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 150 s video sampled every 0.5 s (300 frames, 38 chunks of 8): at no time do more than
    a handful of chunks exist, whatever the length (the summary keeps top_frames rows per label)."""
    pictures = [coco_rgb(i, (64, 48)) for i in range(5)]
    long = write_video(tmp_path / "long.mp4", pictures * 3, seconds=10, fps=2)
    alive = most = made = 0

    def freed() -> None:
        nonlocal alive
        alive -= 1

    class CountedChunk(video_module.FrameChunk):
        def __init__(self, *args: object) -> None:
            nonlocal alive, most, made
            super().__init__(*args)  # type: ignore[arg-type]
            weakref.finalize(self, freed)
            alive += 1
            made += 1
            most = max(most, alive)

    monkeypatch.setattr(video_module, "FrameChunk", CountedChunk)
    record = tagger.tag_video(long, video=lzt.VideoOptions(every=0.5, top_frames=3, max_segment=0), batch_size=8)
    assert record.ok, record.error
    assert made == 38
    assert most <= 5, most  # two waiting in the queue, one being made, one being scored, the one before it
    assert len(record.segments) == 15  # a segment per photo change, 10 s each
    assert record.segments[-1].end == pytest.approx(150.0, abs=0.6)


def test_a_stalled_decoder_is_given_up(clip: Path, tagger, monkeypatch: pytest.MonkeyPatch) -> None:
    original = FrameSampler._model_input

    def slow(self: FrameSampler, frame: object) -> torch.Tensor:
        time.sleep(3)
        return original(self, frame)

    monkeypatch.setattr(FrameSampler, "_model_input", slow)
    started = time.monotonic()
    record = tagger.tag_video(clip, decoding=lzt.DecodeOptions(decode_timeout=0.5))
    assert not record.ok and record.error == "no frame decoded for 0.5 s; gave up"
    assert time.monotonic() - started < 2.5  # the stall limit, and at most 1 s for the thread to stop
    # The decoding thread was told to stop: it ends after its current (slow) frame.
    left = [thread for thread in threading.enumerate() if thread.name.startswith("lzt-video-")]
    for thread in left:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in left)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_video_on_cuda_scores_like_on_the_cpu(clip: Path, tiny_classifier, tmp_path: Path) -> None:
    """The whole video path on the GPU (bf16 encoder, summary on the device, cached frames moved
    back to it) against the CPU."""
    scores = {}
    for device in ("cuda", "cpu"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lzt.LztWarning)
            with lzt.Tagger.load(tiny_classifier, device=device, cache=tmp_path / device) as on_device:
                cold = on_device.tag_video(clip, video=lzt.VideoOptions(every=0.5), keep_scores=True)
                warm = on_device.tag_video(clip, video=lzt.VideoOptions(every=0.5), keep_scores=True, decoding=lzt.DecodeOptions(max_pixels=1))
        assert cold.ok and warm.ok and [s.start for s in cold.segments] == [0, 2, 4]
        torch.testing.assert_close(warm.scores, cold.scores)
        scores[device] = cold.scores.float()
    assert torch.allclose(scores["cuda"], scores["cpu"], atol=3e-2)
