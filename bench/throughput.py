"""Tagging throughput: the hand-written open_clip loop vs lzt's pipeline vs the encoder alone.

Builds its own inputs from ../shared/data/coco128 (re-encoded copies: web-size files with a share
of progressive JPEGs and PNGs, and 12 MP photos), then, in one process and one run, for each model:
  baseline  open_clip's own preprocess (full PIL decode, full-size bicubic resize) in DataLoader
            workers, autocast encode: the loop people write by hand
  lzt       lzt's pipeline end to end through the public API, lzt.Tagger(...).tag(...): discovery,
            decode, encode, modality mapping, classifier, top-k (the local branch on, as `lzt tag`
            runs by default), twice: CPU decode (Pillow at reduced size in the workers) and batched
            decode (`--decode gpu`: workers read the bytes, torchvision decodes baseline JPEGs in
            batches on the model's device: nvJPEG on CUDA, libjpeg-turbo on a CPU device)
  ceiling   the image encoder alone on pre-decoded tensors already in memory
Prints a markdown table: images/s, ratio to baseline, fraction of the ceiling, peak host memory.
Random weights (speed does not depend on them). GPU timings synchronise before reading clocks.

Run from the repository root:

    python -m bench.throughput --device cpu --models ViT-B-32 --web 256 --big 0
    python -m bench.throughput --device cuda --models ViT-B-32,ViT-B-16,ViT-L-14,RN50
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import torch
from PIL import Image

from lzt import Classifier, ClipEncoder, DecodeOptions, LztWarning, ScoringConfig, Selection, Tagger, load_encoder
from lzt.tagging import default_workers

REPO = Path(__file__).resolve().parent.parent

# $LZT_COCO128 points elsewhere where ../shared is not beside the checkout (the GPU machine).
COCO = Path(os.environ.get("LZT_COCO128") or REPO.parent / "shared" / "data" / "coco128") / "images"


def make_inputs(root: Path, web: int, big: int, seed: int = 0) -> dict[str, Path]:
    """Re-encoded copies of coco128: `web` files (80% baseline JPEG, 10% progressive, 10% PNG)
    and `big` 12 MP JPEGs, written by one process per core. Reused when already built with the
    same counts."""
    rng = random.Random(seed)
    sources = sorted(COCO.glob("*.jpg"))
    sets = {}
    jobs = []
    for name, count in (("web", web), ("12mp", big)):
        folder = root / f"{name}-{count}"
        sets[name] = folder
        if count == 0 or (folder.is_dir() and len(list(folder.iterdir())) == count):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for i in range(count):
            kind = rng.random()
            form = "png" if name == "web" and kind < 0.1 else "progressive" if name == "web" and kind < 0.2 else "baseline"
            jobs.append((sources[i % len(sources)], folder / f"{i:06d}.{'png' if form == 'png' else 'jpg'}", form, name == "12mp"))
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(_write_copy, jobs, chunksize=64))
    return sets


def _write_copy(job: tuple[Path, Path, str, bool]) -> None:
    source, target, form, twelve_mp = job
    with Image.open(source) as image:
        image = image.convert("RGB")
        if twelve_mp:
            image = image.resize((4000, 3000), Image.BICUBIC)
        if form == "png":
            image.save(target)
        else:
            image.save(target, quality=90, progressive=form == "progressive")


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def baseline(encoder, folder: Path, batch_size: int, workers: int) -> int:
    """The hand-written loop: open_clip's transform in DataLoader workers, autocast encode."""
    import open_clip

    transform = open_clip.image_transform(encoder.preprocess.image_size, is_train=False,
                                          mean=encoder.preprocess.mean, std=encoder.preprocess.std)
    files = sorted(folder.iterdir())

    class Files(torch.utils.data.Dataset):
        def __len__(self):
            return len(files)

        def __getitem__(self, i):
            with Image.open(files[i]) as image:
                return transform(image.convert("RGB"))

    loader = torch.utils.data.DataLoader(Files(), batch_size=batch_size, num_workers=workers,
                                         pin_memory=encoder.device.type == "cuda")
    done = 0
    autocast = torch.autocast(encoder.device.type, dtype=torch.bfloat16, enabled=encoder.device.type == "cuda")
    with torch.inference_mode(), autocast:
        for batch in loader:
            features = encoder.model.encode_image(batch.to(encoder.device, non_blocking=True).to(encoder.dtype))
            features.float().cpu()
            done += len(batch)
    return done


def lzt_pipeline(tagger: Tagger, folder: Path, batch_size: int, workers: int, decoder: str = "cpu") -> int:
    """What `lzt tag` runs: the Tagger over a folder, every record produced (top 10 labels);
    `decoder` cpu (Pillow in the workers) or gpu (baseline JPEGs batch-decoded by torchvision on
    the model's device: nvJPEG on CUDA, libjpeg-turbo on a CPU device)."""
    decoding = DecodeOptions(decoder=decoder)
    return sum(1 for _ in tagger.tag([folder], Selection(topk=10), batch_size=batch_size, workers=workers, decoding=decoding))


def ceiling(encoder, batch_size: int, batches: int) -> int:
    size = encoder.preprocess.image_size
    pixels = torch.randint(0, 256, (batch_size, 3, size, size), dtype=torch.uint8, device=encoder.device)
    for _ in range(batches):
        encoder.encode_pixels(pixels)
    synchronise(encoder.device)
    return batch_size * batches


def timed(run, device: torch.device, repeats: int) -> tuple[float, int]:
    """Median seconds over `repeats` runs after one warm-up run; returns (seconds, images)."""
    run()
    synchronise(device)
    times, count = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        count = run()
        synchronise(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), count


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024


def random_weights(name: str, device: str) -> ClipEncoder:
    with warnings.catch_warnings():  # random weights on purpose: speed does not depend on them
        warnings.simplefilter("ignore", LztWarning)
        return load_encoder(name, "none", device)


def fake_classifier(encoder: ClipEncoder, labels: int = 1000) -> Classifier:
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(labels, encoder.embed_dim, generator=generator)
    anchors = torch.nn.functional.normalize(torch.randn(labels, encoder.embed_dim, generator=generator), dim=-1)
    return Classifier([f"label{i}" for i in range(labels)], {}, encoder.name, "none", encoder.embed_dim, weight, anchors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", default="ViT-B-32")
    parser.add_argument("--web", type=int, default=10_000, help="web-size files")
    parser.add_argument("--big", type=int, default=500, help="12 MP files")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-baseline-big", action="store_true", help="the baseline on 12 MP files is slow")
    parser.add_argument("--data", type=Path, default=REPO / ".bench")
    args = parser.parse_args()

    sets = make_inputs(args.data, args.web, args.big)
    print(f"# throughput: {args.web} web-size files, {args.big} 12 MP files, batch {args.batch_size}, "
          f"{args.workers} workers, {args.repeats} timed repeats (median) after warm-up\n")
    print("| model | device | input | run | images/s | x baseline | of ceiling | peak host MB |")
    print("|---|---|---|---|---:|---:|---:|---:|")
    for name in args.models.split(","):
        encoder = random_weights(name, args.device)
        tagger = Tagger(encoder, fake_classifier(encoder), ScoringConfig())
        device = encoder.device
        seconds, count = timed(partial(ceiling, encoder, args.batch_size, 8), device, args.repeats)
        ceiling_rate = count / seconds
        print(f"| {name} | {device.type} | tensors in memory | ceiling (encoder alone) | {ceiling_rate:,.0f} | | 100% | {peak_rss_mb():,.0f} |")
        for set_name, folder in sets.items():
            if (args.web if set_name == "web" else args.big) == 0:
                continue
            base_rate = None
            if not (set_name == "12mp" and args.skip_baseline_big):
                seconds, count = timed(partial(baseline, encoder, folder, args.batch_size, args.workers), device, args.repeats)
                base_rate = count / seconds
                print(f"| {name} | {device.type} | {set_name} | open_clip loop (baseline) | {base_rate:,.0f} | 1.00 | {base_rate / ceiling_rate:.0%} | {peak_rss_mb():,.0f} |")
            for decoder, label in (("cpu", "lzt, CPU decode (Pillow, draft)"), ("gpu", "lzt, batched decode (torchvision)")):
                seconds, count = timed(partial(lzt_pipeline, tagger, folder, args.batch_size, args.workers, decoder), device, args.repeats)
                rate = count / seconds
                ratio = f"{rate / base_rate:.2f}" if base_rate else "-"
                print(f"| {name} | {device.type} | {set_name} | {label} | {rate:,.0f} | {ratio} | {rate / ceiling_rate:.0%} | {peak_rss_mb():,.0f} |")
                sys.stdout.flush()
        tagger.close()
        del encoder, tagger
        if device.type == "cuda":
            torch.cuda.empty_cache()
    print(f"\ncommand: python -m bench.throughput {' '.join(sys.argv[1:])}")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
