"""The Ray engine on an embedded local Ray, through the `lzt` command as a user runs it: engine ray
equals engine local record for record, and a re-run adds no row (and starts no Ray)."""

from __future__ import annotations

import importlib.util

import pytest

from support import RAY_TAG, exported, jsonl, run_lzt

pytestmark = [
    pytest.mark.ray,
    pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the ray extra: pip install 'lzt[ray]'"),
]

EMBEDDED = {"RAY_DISABLE_USAGE_STATS": "1", "RAY_worker_niceness": "0", "RAY_ADDRESS": ""}


def test_embedded_ray_equals_the_local_engine_and_a_rerun_adds_nothing(tmp_path, coco128, tiny_classifier, coco128_local_records):
    out = tmp_path / "out"
    first = run_lzt("tag", coco128 / "images", "-c", tiny_classifier, *RAY_TAG[:-1], "--engine", "ray", "--out", out,
                    "--shard-size", "40", "--actors", "2", env=EMBEDDED)
    assert "tagged 128 of 128 images" in first.stderr and "Traceback" not in first.stderr
    assert sorted(p.name for p in out.glob("part-*.parquet")) == [f"part-{i:08d}.parquet" for i in range(4)]
    assert exported(out) == coco128_local_records  # the same records, scores to the last printed digit
    again = run_lzt("tag", coco128 / "images", "-c", tiny_classifier, *RAY_TAG[:-1], "--engine", "ray", "--out", out,
                    "--shard-size", "40", "--actors", "2", env=EMBEDDED)
    assert "tagged 0 of 0 images" in again.stderr and "4 shards were already done" in again.stderr
    assert "on Ray" not in again.stderr and "Token" not in again.stderr  # nothing to do: no Ray started
    assert exported(out) == coco128_local_records


def test_the_actors_decode_jpegs_in_batches_like_the_local_engine(tmp_path, coco128, tiny_classifier):
    # --decode gpu on CPU actors: the decode tasks pass JPEG bytes on, the actors decode them with
    # torchvision (nvJPEG on a GPU node), exactly as the local engine's --decode gpu does.
    # --no-cache: the embedding cache (keyed by file and model, not by decoder) may hold this
    # session's Pillow-decoded embeddings of coco128
    local = jsonl(run_lzt("tag", coco128 / "images", "-c", tiny_classifier, *RAY_TAG, "--decode", "gpu", "--no-cache").stdout)
    run_lzt("tag", coco128 / "images", "-c", tiny_classifier, *RAY_TAG, "--decode", "gpu", "--engine", "ray", "--out", tmp_path / "out",
            "--shard-size", "64", env=EMBEDDED)
    assert exported(tmp_path / "out") == local and len(local) == 128
