"""The Ray engine on a real Ray: the `lzt` command as a user runs it (a separate driver process),
against an embedded local Ray and against a two-node cluster on loopback (tests/raycluster.py).

Engine ray equals engine local record for record; a re-run adds no row; killing the second node
mid-run, or the driver, still gives every image exactly once; the bad-input folder gives one error
row per bad file; re-scoring on the cluster equals re-scoring in process."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from badfiles import OK, build_folder
from support import jsonl, lzt_command, random_classifier, run_lzt

pytestmark = [
    pytest.mark.ray,
    pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the ray extra: pip install 'lzt[ray]'"),
]

TAG = ("--pretrained", "none", "-k", "5", "-q")
EMBEDDED = {"RAY_DISABLE_USAGE_STATS": "1", "RAY_worker_niceness": "0", "RAY_ADDRESS": ""}


def export(folder: Path, env: dict | None = None, check: int = 0) -> list[dict]:
    return jsonl(run_lzt("export", folder, "-q", env=env, check=check).stdout)


@pytest.fixture(scope="module")
def local_records(coco128, tiny_classifier) -> list[dict]:
    """coco128 tagged by the default local engine: what every Ray run must reproduce."""
    return jsonl(run_lzt("tag", coco128 / "images", "-c", tiny_classifier, *TAG).stdout)


@pytest.fixture(scope="module")
def cluster():
    from raycluster import local_cluster

    # A small head: the scheduler soon spreads tasks (and actors) to the second node.
    with local_cluster(head_cpus=2, worker_cpus=4) as running:
        yield running


def test_embedded_ray_equals_the_local_engine_and_a_rerun_adds_nothing(tmp_path, coco128, tiny_classifier, local_records):
    out = tmp_path / "out"
    first = run_lzt("tag", coco128 / "images", "-c", tiny_classifier, *TAG[:-1], "--engine", "ray", "--out", out,
                    "--shard-size", "40", "--actors", "2", env=EMBEDDED)
    assert "tagged 128 of 128 images" in first.stderr and "Traceback" not in first.stderr
    assert sorted(p.name for p in out.glob("part-*.parquet")) == [f"part-{i:08d}.parquet" for i in range(4)]
    assert export(out) == local_records  # the same records, scores to the last printed digit
    again = run_lzt("tag", coco128 / "images", "-c", tiny_classifier, *TAG[:-1], "--engine", "ray", "--out", out,
                    "--shard-size", "40", "--actors", "2", env=EMBEDDED)
    assert "tagged 0 of 0 images" in again.stderr and "4 shards were already done" in again.stderr
    assert export(out) == local_records


def test_cluster_run_equals_local_and_rescoring_on_the_cluster_equals_in_process(tmp_path, cluster, coco128, tiny_classifier, local_records):
    out = tmp_path / "out"
    run_lzt("tag", coco128 / "images", "-c", tiny_classifier, *TAG, "--engine", "ray", "--out", out, "--shard-size", "16",
            "--actors", "2", env=cluster.env)
    assert export(out) == local_records

    other = tmp_path / "other.lzt"
    random_classifier(["sky", "road", "cat", "dog", "tree"], other, seed=7)
    rescore = ("tag", "--from-embeddings", out, "-c", other, "--pretrained", "none", "-k", "3", "--no-local", "-q")
    in_process = jsonl(run_lzt(*rescore).stdout)
    run_lzt(*rescore, "--engine", "ray", "--out", tmp_path / "rescored", env=cluster.env)
    assert export(tmp_path / "rescored") == in_process and len(in_process) == 128


def test_killing_the_second_node_mid_run_loses_and_duplicates_nothing(tmp_path, coco128, tiny_classifier, local_records):
    from raycluster import local_cluster

    out = tmp_path / "out"
    with local_cluster(head_cpus=2, worker_cpus=4) as doomed:
        driver = subprocess.Popen(
            lzt_command("tag", coco128 / "images", "-c", tiny_classifier, *TAG, "--engine", "ray", "--out", out,
                        "--shard-size", "4", "--actors", "2"),
            env=doomed.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 240
        while not any(name.startswith("ray::Map") for name in doomed.worker_node_processes()):  # its share of the work
            assert driver.poll() is None and time.monotonic() < deadline, "the second node never got work"
            time.sleep(0.05)
        doomed.kill_worker_node()
        assert not doomed.worker_node_alive()
        _, stderr = driver.communicate(timeout=300)
        assert driver.returncode == 0, stderr[-3000:]
    records = export(out)
    assert Counter(r["path"] for r in records) == Counter(r["path"] for r in local_records)  # each image exactly once
    assert records == local_records


def test_a_killed_driver_reruns_to_completion_without_duplicates(tmp_path, cluster, coco128, tiny_classifier, local_records):
    out = tmp_path / "out"
    args = ("tag", coco128 / "images", "-c", tiny_classifier, *TAG, "--engine", "ray", "--out", out, "--shard-size", "4")
    driver = subprocess.Popen(lzt_command(*args), env=cluster.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)
    deadline = time.monotonic() + 240
    while len(list(out.glob("part-*.parquet"))) < 3:
        assert driver.poll() is None and time.monotonic() < deadline, driver.stderr.read() if driver.stderr else ""
        time.sleep(0.05)
    os.killpg(driver.pid, signal.SIGKILL)  # no cleanup of any kind: a crashed machine
    driver.wait(30)
    done_before = len(list(out.glob("part-*.parquet")))
    assert done_before < 32  # killed mid-run
    rerun = run_lzt(*args, env=cluster.env)
    assert "Traceback" not in rerun.stderr
    records = export(out)
    assert Counter(r["path"] for r in records) == Counter(r["path"] for r in local_records)
    assert records == local_records
    assert not list(out.glob(".*.tmp"))  # no half-written shard left behind


def test_bad_inputs_on_the_cluster_are_one_error_row_each(tmp_path, cluster, tiny_classifier):
    expected = build_folder(tmp_path / "photos")
    run = run_lzt("tag", tmp_path / "photos", "-c", tiny_classifier, *TAG, "--engine", "ray", "--out", tmp_path / "out",
                  "--exclude", "drafts", "--exclude", "*.tmp.jpg", env=cluster.env, check=3)
    assert "Traceback" not in run.stderr
    records = export(tmp_path / "out", check=3)

    def stored(name: bytes) -> str:  # Parquet strings are UTF-8: undecodable bytes become \\xNN escapes
        return os.fsdecode(tmp_path / "photos" / os.fsdecode(name)).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")

    by_path = {r["path"]: r for r in records}
    assert len(by_path) == len(records) == len(expected)
    for name, want in expected.items():
        got = by_path[stored(name)]
        if want == OK:
            assert "error" not in got and len(got["tags"]) == 5, (name, got)
        else:
            assert "tags" not in got and want in got["error"], (name, got)
