"""The Ray engine against the local one, and each stage of a sharded run on its own.

In one run on this machine, with the same model (random weights: speed does not depend on them)
and the same inputs (re-encoded copies of coco128, web size):
  local        `lzt tag`'s engine through the public API: Tagger.tag, decoding in worker processes
  ray x1/x2    tag_shards(engine="ray") with 1 and 2 encoder actors, an embedded local Ray,
               start-up included (it is part of what a user waits for)
  overhead     the Ray engine on a single image: Ray start-up, one wave, one actor's model load
  stages       each step of a shard alone, in this process: listing (paths/s, on a folder of
               empty files), decode (images/s on one core), encode+map+score+select (images/s),
               Parquet write (rows/s), and re-scoring stored embeddings (rows/s, 1,000 labels)
Prints a markdown table. Run from the repository root:

    python -m bench.ray_scaling --model ViT-B-32 --images 512
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from bench.throughput import make_inputs
from lzt import (
    Classifier,
    ClipEncoder,
    DecodeOptions,
    InputConfig,
    LztWarning,
    RayConfig,
    ScoringConfig,
    Selection,
    Tagger,
    load_encoder,
    tag_shards,
)
from lzt.engines.manifest import iter_sources, write_manifest
from lzt.engines.shards import ShardJob, ShardTagger, TaggedShard, decode_shard, rescored_table, shard_table, write_shard
from lzt.engines.store import Store
from lzt.tagging import default_workers


def timed(function, repeats: int = 1) -> float:
    """Median wall seconds of `repeats` calls."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def random_classifier(encoder: ClipEncoder, labels: int) -> Classifier:
    """A classifier of `labels` random directions for the encoder's model (speed does not depend on them)."""
    dim = encoder.embed_dim
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(labels, dim, generator=generator)
    anchors = torch.nn.functional.normalize(torch.randn(labels, dim, generator=generator), dim=-1)
    names = [f"label{i:04d}" for i in range(labels)]
    return Classifier(names, {}, encoder.name, "none", dim, weight, anchors, activation=encoder.activation)


def stage_rates(root: Path, photos: Path, tagger: Tagger, shard_size: int) -> dict[str, float]:
    """Per-stage rates of one shard's steps, in this process."""
    rates = {}
    listing = root / "listing"
    if not listing.is_dir():  # 20,000 empty files: listing speed is about names, not content
        for folder in range(20):
            (listing / f"{folder:02d}").mkdir(parents=True)
            for i in range(1000):
                (listing / f"{folder:02d}" / f"{i:05d}.jpg").touch()
    out = Store(root / "stage-listing")
    shutil.rmtree(out.root, ignore_errors=True)
    seconds = timed(lambda: sum(1 for _ in write_manifest(out, iter_sources([listing]), 1000)))
    rates["listing (paths/s, into manifest shards)"] = 20_000 / seconds

    store = Store(root / "stage")
    shutil.rmtree(store.root, ignore_errors=True)
    shards = list(write_manifest(store, iter_sources([photos]), shard_size))
    spec = tagger.encoder.preprocess
    job = ShardJob(
        tagger.classifier, tagger.encoder.name, "none", tagger.scoring, InputConfig(), Selection(topk=10), DecodeOptions(), 64, True,
    )
    decoded = decode_shard(store, shards[0], spec, job.decoding, os.getcwd())
    images = len(decoded.paths)
    rates["decode (images/s, one core)"] = images / timed(lambda: decode_shard(store, shards[0], spec, job.decoding, os.getcwd()))
    shard_tagger = ShardTagger(job, tagger=tagger)
    shard_tagger(decoded)  # warm-up
    rates["encode+map+score+select (images/s)"] = images / timed(lambda: shard_tagger(decoded), 3)
    tagged = shard_tagger(decoded)
    dim = tagger.classifier.embed_dim
    rates["Parquet write (rows/s)"] = images / timed(lambda: write_shard(store, tagged.shard, shard_table(tagged, dim)), 3)

    rows = 100_000  # re-scoring: stored embeddings against a 1,000-label classifier
    rng = np.random.default_rng(0)
    embeddings = rng.standard_normal((rows, dim)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    big = TaggedShard("0", [f"{i}.jpg" for i in range(rows)], [None] * rows, [[]] * rows, embeddings.astype(np.float16), "m", "c")
    table = shard_table(big, dim)
    with Tagger(tagger.encoder, random_classifier(tagger.encoder, 1000), ScoringConfig(local=False)) as wide:
        rescored_table(wide, table.slice(0, 1000), Selection(topk=10), "c")  # warm-up
        rates["re-score stored embeddings, 1,000 labels (rows/s)"] = rows / timed(lambda: rescored_table(wide, table, Selection(topk=10), "c"))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--shard-size", type=int, default=64)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "lzt-bench-ray")
    args = parser.parse_args()
    warnings.simplefilter("ignore", LztWarning)
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    # Ray starts its workers at nice 15; on a machine where the bench is all that runs, that
    # only costs start-up latency, but it is not what a dedicated node does either.
    os.environ.setdefault("RAY_worker_niceness", "0")
    args.work.mkdir(parents=True, exist_ok=True)
    photos = make_inputs(args.work, args.images, 0)["web"]

    encoder = load_encoder(args.model, "none", "cpu")
    base = Tagger(encoder, random_classifier(encoder, 80))
    table: list[tuple[str, str]] = []
    seconds = timed(lambda: sum(1 for _ in base.tag([photos], Selection(topk=10), workers=default_workers())))
    local_rate = args.images / seconds
    table.append(("local engine (Tagger.tag, decode workers)", f"{local_rate:.1f} images/s"))
    for actors in (1, 2):
        out = args.work / f"out-ray-{actors}"
        shutil.rmtree(out, ignore_errors=True)
        run = tag_shards([photos], out, base, engine="ray", ray=RayConfig(actors=actors), shard_size=args.shard_size)
        rate = run.images / run.seconds
        table.append((f"ray engine, {actors} actor{'s' if actors > 1 else ''} (start-up included)", f"{rate:.1f} images/s ({rate / local_rate:.2f}x local)"))
    one = args.work / "one"
    one.mkdir(exist_ok=True)
    shutil.copy(sorted(photos.iterdir())[0], one / "a.jpg")
    shutil.rmtree(args.work / "out-one", ignore_errors=True)
    overhead = tag_shards([one], args.work / "out-one", base, engine="ray", ray=RayConfig(actors=1)).seconds
    table.append(("ray engine fixed overhead (one image)", f"{overhead:.1f} s"))
    for name, rate in stage_rates(args.work, photos, base, args.shard_size).items():
        table.append((f"stage: {name}", f"{rate:,.0f}"))

    print(f"\n{args.model}, random weights, {args.images} web-size images, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}\n")
    print("| measurement | result |\n|---|---|")
    for name, value in table:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
