"""The Ray engine on a real two-node Ray cluster on loopback (tests/raycluster.py), through the
`lzt` command as a user runs it (a separate driver process that joins the cluster).

Engine ray equals engine local record for record and the bad-input folder gives one error row per
bad file (one run over both); killing the second node mid-run, or the driver, still gives every
image exactly once; re-scoring on the cluster equals re-scoring in process. The embedded Ray is
tested in test_ray_embedded.py (a separate file: pytest-xdist runs the two side by side)."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import time
import warnings
from collections import Counter

import pytest

from badfiles import OK, build_folder
from support import RAY_TAG, exported, jsonl, lzt_command, random_classifier, run_lzt

pytestmark = [
    pytest.mark.ray,
    pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the ray extra: pip install 'lzt[ray]'"),
]



@pytest.fixture(scope="module")
def cluster():
    from raycluster import local_cluster

    # A small head: the scheduler soon spreads tasks (and actors) to the second node.
    with local_cluster(head_cpus=2, worker_cpus=4) as running:
        yield running


def test_cluster_run_equals_local_with_one_error_row_per_bad_file_and_rescoring_equals_in_process(
    tmp_path, cluster, coco128, tiny_classifier, coco128_local_records,
):
    out = tmp_path / "out"
    expected_bad = build_folder(tmp_path / "photos")  # the robustness tests' folder of broken, odd and hostile files
    run = run_lzt("tag", coco128 / "images", tmp_path / "photos", "-c", tiny_classifier, *RAY_TAG, "--engine", "ray", "--out", out,
                  "--shard-size", "16", "--actors", "2", "--exclude", "drafts", "--exclude", "*.tmp.jpg", env=cluster.env, check=3)
    assert "Traceback" not in run.stderr
    records = exported(out, check=3)
    assert records[:128] == coco128_local_records  # coco128 first (the listing order), as the local engine tags it

    def stored(name: bytes) -> str:  # Parquet strings are UTF-8: undecodable bytes become \\xNN escapes
        return os.fsdecode(tmp_path / "photos" / os.fsdecode(name)).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")

    by_path = {r["path"]: r for r in records[128:]}
    assert len(by_path) == len(records) - 128 == len(expected_bad)
    for name, want in expected_bad.items():
        got = by_path[stored(name)]
        if want == OK:
            assert "error" not in got and len(got["tags"]) == 5, (name, got)
        else:
            assert "tags" not in got and want in got["error"], (name, got)

    other = tmp_path / "other.lzt"
    random_classifier(["sky", "road", "cat", "dog", "tree"], other, seed=7)
    rescore = ("tag", "--from-embeddings", out, "-c", other, "--pretrained", "none", "-k", "3", "--no-local", "-q")
    in_process = jsonl(run_lzt(*rescore, check=3).stdout)
    run_lzt(*rescore, "--engine", "ray", "--out", tmp_path / "rescored", env=cluster.env, check=3)
    assert exported(tmp_path / "rescored", check=3) == in_process and len(in_process) == len(records)


def test_killing_the_second_node_mid_run_loses_and_duplicates_nothing(tmp_path, coco128, tiny_classifier, coco128_local_records):
    from raycluster import local_cluster

    out = tmp_path / "out"
    with local_cluster(head_cpus=2, worker_cpus=4) as doomed:
        driver = subprocess.Popen(
            lzt_command("tag", coco128 / "images", "-c", tiny_classifier, *RAY_TAG, "--engine", "ray", "--out", out,
                        "--shard-size", "8", "--actors", "2"),
            env=doomed.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 240
        while not any(name.startswith("ray::Map") for name in doomed.worker_node_processes()):  # its share of the work
            assert driver.poll() is None and time.monotonic() < deadline, "the second node never got work"
            time.sleep(0.05)
        assert driver.poll() is None  # the job is running when its node dies
        doomed.kill_worker_node()
        assert not doomed.worker_node_alive()
        _, stderr = driver.communicate(timeout=300)
        if driver.returncode < 0:
            # Ray's own driver process sometimes dies of a signal (SIGSEGV inside Ray's core
            # worker) while it handles the lost node: seen about once in twenty runs here, never
            # in lzt's code. The promise then is the resume's: a rerun on the surviving head
            # finishes the job, redoing no finished shard and losing no image.
            warnings.warn(f"the Ray driver died of signal {-driver.returncode} after the node was killed; rerunning", stacklevel=1)
            rerun = run_lzt("tag", coco128 / "images", "-c", tiny_classifier, *(a for a in RAY_TAG if a != "-q"), "--engine", "ray",
                            "--out", out, "--shard-size", "8", "--actors", "1", env=doomed.env)
            assert "Traceback" not in rerun.stderr, rerun.stderr[-3000:]  # run_lzt checked its exit code: 0
        else:
            assert driver.returncode == 0, stderr[-3000:]
    records = exported(out)
    assert Counter(r["path"] for r in records) == Counter(r["path"] for r in coco128_local_records)  # each image exactly once
    assert records == coco128_local_records


def test_a_killed_driver_reruns_to_completion_without_duplicates(tmp_path, cluster, coco128, tiny_classifier, coco128_local_records):
    out = tmp_path / "out"
    args = ("tag", coco128 / "images", "-c", tiny_classifier, *RAY_TAG, "--engine", "ray", "--out", out, "--shard-size", "4")
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
    rerun = run_lzt(*(arg for arg in args if arg != "-q"), env=cluster.env)  # without -q: its summary line
    assert "Traceback" not in rerun.stderr
    skipped = re.search(r"; (\d+) shards were already done", rerun.stderr)
    assert skipped and int(skipped.group(1)) >= done_before  # resumed, not redone
    records = exported(out)
    assert Counter(r["path"] for r in records) == Counter(r["path"] for r in coco128_local_records)
    assert records == coco128_local_records
    assert not list(out.glob(".*.tmp"))  # no half-written shard left behind
