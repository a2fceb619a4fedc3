"""Peak memory and speed of tagging videos of growing length: memory must not grow with the
length (frames stream through a queue of two chunks; the summary keeps a few rows per label).

Each video is made here with PyAV from coco128 photos (a new photo every 30 s, a slow pan in
between), and tagged by `Tagger.tag_video` in a fresh process whose peak resident memory
(ru_maxrss) is reported. The tests' tiny model with random weights by default: the pipeline's
memory, not the model's, is what grows or not.

    python -m bench.video_memory --minutes 2,120          (from the repo root; ~3 min on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
COCO128 = Path(os.environ.get("LZT_COCO128") or REPO.parent / "shared" / "data" / "coco128")


def make_video(path: Path, minutes: float, size: tuple[int, int], fps: int) -> float:
    """A video of `minutes`, a new coco128 photo every 30 s; returns the seconds it took."""
    import av

    started = time.perf_counter()
    photos = sorted((COCO128 / "images").glob("*.jpg"))
    pictures = [np.asarray(Image.open(p).convert("RGB").resize((size[0] * 2, size[1]))) for p in photos[:64]]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for index in range(round(minutes * 60 * fps)):
            picture = pictures[(index // (30 * fps)) % len(pictures)]
            offset = (index % (30 * fps)) * size[0] // (30 * fps)  # a pan across the double-width picture
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture[:, offset : offset + size[0]]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return time.perf_counter() - started


def child(path: str, model: str, every: float, batch_size: int) -> None:
    """Tag one video in this fresh process and print what it cost as JSON."""
    import lzt
    from lzt.classifier import Classifier

    warnings.simplefilter("ignore", lzt.LztWarning)
    encoder = lzt.load_encoder(model, "none", "cpu")
    labels = [f"label{i}" for i in range(1000)]  # as many labels as a real vocabulary
    import torch

    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(len(labels), encoder.embed_dim, generator=generator)
    anchors = torch.nn.functional.normalize(torch.randn(len(labels), encoder.embed_dim, generator=generator), dim=1)
    classifier = Classifier(labels, {}, model, "none", encoder.embed_dim, weight, anchors)
    tagger = lzt.Tagger(encoder, classifier)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    record = tagger.tag_video(path, video=lzt.VideoOptions(every=every), batch_size=batch_size)
    seconds = time.perf_counter() - started
    assert record.ok, record.error
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({
        "seconds": seconds, "peak_mib": peak / 1024, "before_mib": before / 1024, "segments": len(record.segments or []),
        "duration": record.segments[-1].end if record.segments else 0.0,
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", default="2,120", help="video lengths, comma-separated")
    parser.add_argument("--size", default="160x120", help="frame size WxH")
    parser.add_argument("--fps", type=int, default=5)
    parser.add_argument("--every", type=float, default=2.0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--model", default="lzt-tiny-vit", help="open_clip model (random weights); lzt-tiny-vit is the tests' own")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.model, args.every, args.batch_size)
        return
    width, height = (int(v) for v in args.size.split("x"))
    environment = {**os.environ, "LZT_MODEL_CONFIG_DIRS": str(REPO / "tests" / "model_configs")}
    print(f"model {args.model} (random weights), frames {args.size} at {args.fps} fps, --every {args.every}, batch {args.batch_size}")
    print("| video | frames decoded | frames sampled | segments | make (s) | tag (s) | decoded frames/s | peak RSS (MiB) | RSS after loading (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for minutes in (float(m) for m in args.minutes.split(",")):
            path = Path(folder, f"{minutes:g}min.mp4")
            made = make_video(path, minutes, (width, height), args.fps)
            result = subprocess.run(
                [sys.executable, "-m", "bench.video_memory", "--child", str(path), "--model", args.model, "--every", str(args.every),
                 "--batch-size", str(args.batch_size)],
                capture_output=True, text=True, env=environment, cwd=REPO, check=True,
            )
            row = json.loads(result.stdout.strip().splitlines()[-1])
            decoded = round(minutes * 60 * args.fps)
            sampled = "~" + str(round(minutes * 60 / args.every))
            print(f"| {minutes:g} min | {decoded:,} | {sampled} | {row['segments']} | {made:.0f} | {row['seconds']:.0f} | "
                  f"{decoded / row['seconds']:,.0f} | {row['peak_mib']:.0f} | {row['before_mib']:.0f} |")
            path.unlink()


if __name__ == "__main__":
    main()
