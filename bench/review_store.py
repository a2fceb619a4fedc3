"""What the review page costs on a large library: importing N photos into the review database,
the paging API's queries (a page of 60, filtered by tag, score range and decision, deep offsets),
one decision, a bulk decision, and thumbnails cold and cached. Photos are made-up paths with
made-up scores (1,168 labels, 10 tags and 5 candidates each): the database is what is measured;
thumbnails are measured on real coco128 photos.

    python -m bench.review_store --photos 100000    (from the repo root)
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from lzt.review import PhotoQuery, ReviewItem, ReviewStore
from lzt.review.thumbnails import Thumbnails
from lzt.vocab import load_vocabulary

COCO128 = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "coco128" / "images"


def items(count: int, labels: list[str], seed: int) -> list[ReviewItem]:
    rng = random.Random(seed)
    made = []
    for index in range(count):
        chosen = rng.sample(labels, 15)
        scores = sorted((rng.random() for _ in chosen), reverse=True)
        pairs = list(zip(chosen, scores))
        made.append(ReviewItem(f"/library/{index // 1000:03d}/photo{index:07d}.jpg", pairs[:10], pairs[10:]))
    return made


def timed(call, repeats: int = 5) -> float:
    """Median milliseconds of `repeats` calls."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--thumbnails", type=int, default=32, help="coco128 photos to make thumbnails of")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    labels = load_vocabulary("everyday").names
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        made = items(args.photos, labels, args.seed)
        store = ReviewStore(Path(folder) / "review.db")
        store.set_vocabulary(labels)
        started = time.perf_counter()
        store.add(made)
        seconds = time.perf_counter() - started
        rows.append((f"import {args.photos:,} photos (15 labels each)", f"{seconds:.1f} s ({args.photos / seconds:,.0f} photos/s)"))
        size = (Path(folder) / "review.db").stat().st_size + (Path(folder) / "review.db-wal").stat().st_size
        rows.append(("database size", f"{size / 2**20:.0f} MiB"))
        label = labels[0]
        for name, query, offset in (
            ("page 1, every photo, by best score", PhotoQuery(), 0),
            ("page at offset 90,000 (deep), every photo", PhotoQuery(), min(90_000, args.photos - 60)),
            ("page 1, by path", PhotoQuery(sort="path", descending=False), 0),
            (f"page 1, tag `{label}`, by its score", PhotoQuery(label=label), 0),
            (f"page 1, tag `{label}`, score 0.2-0.8, undecided", PhotoQuery(label=label, min_score=0.2, max_score=0.8, status="undecided"), 0),
        ):
            rows.append((name + ": count + 60 rows", f"{timed(lambda q=query, o=offset: (store.count(q), store.page(q, o, 60))):.1f} ms"))
        ids = store.ids(PhotoQuery(), 0, 1000)
        counter = iter(range(10**9))
        rows.append(("one decision (a transaction, fsynced)", f"{timed(lambda: store.decide(ids[next(counter) % 1000], label, 'accept'), 20):.1f} ms"))
        view = PhotoQuery(label=labels[1])
        count = store.count(view)
        rows.append((f"bulk reject on a filtered view ({count:,} photos)", f"{timed(lambda: store.decide_all(view, labels[1], 'reject'), 3):.1f} ms"))
        photos = sorted(COCO128.glob("*.jpg"))[: args.thumbnails]
        if photos:
            thumbnails = Thumbnails(Path(folder) / "thumbs")
            roots = [str(COCO128.resolve())]
            started = time.perf_counter()
            for photo in photos:
                thumbnails.get(str(photo), roots)
            cold = (time.perf_counter() - started) * 1000 / len(photos)
            started = time.perf_counter()
            for photo in photos:
                thumbnails.get(str(photo), roots)
            warm = (time.perf_counter() - started) * 1000 / len(photos)
            rows.append((f"thumbnail, first request (coco128, {len(photos)} photos)", f"{cold:.1f} ms per photo"))
            rows.append(("thumbnail, cached", f"{warm:.2f} ms per photo"))
        store.close()
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
