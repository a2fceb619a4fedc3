"""A cache on a read-only or full file system never sinks a run: one warning, every record, the
same tags as without a cache. The file systems are real: a tmpfs mounted read-only, or one too
small for the cache, in a private mount namespace of the lzt process (`unshare --mount`, root);
elsewhere a read-only folder (chmod) and a file-size limit (RLIMIT_FSIZE) stand in for them."""

from __future__ import annotations

import os
import resource
import shlex
import shutil
import signal
import subprocess

import pytest

from support import copy_photos, invoke, jsonl, lzt_command, permissions_enforced


def can_mount_privately() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "--mount", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


MOUNTS = can_mount_privately()


def run_with_mount(cache, options: str, *args, timeout=300) -> subprocess.CompletedProcess:
    """`lzt ARGS` with a fresh tmpfs (mount OPTIONS) at `cache`, visible to that process only."""
    cache.mkdir(parents=True, exist_ok=True)
    script = f"mount -t tmpfs -o {options} tmpfs {shlex.quote(str(cache))} && exec {shlex.join(lzt_command(*args))}"
    return subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True, timeout=timeout)


def cache_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:") and "embedding cache" in line]


@pytest.fixture(scope="module")
def library(coco128, tmp_path_factory):
    return copy_photos(tmp_path_factory.mktemp("library"), 48)


@pytest.fixture(scope="module")
def reference(library, tiny_classifier):
    """The output without a cache (in-process: the same CLI, and a process less to start)."""
    return invoke("tag", library, "-c", tiny_classifier, "-w", "0", "-b", "4", "-k", "3", "-q", "--no-cache").stdout


def check(run: subprocess.CompletedProcess, reference: str) -> None:
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout == reference and len(jsonl(run.stdout)) == 48
    assert len(cache_warnings(run.stderr)) == 1, run.stderr


@pytest.mark.skipif(not MOUNTS and not permissions_enforced(), reason="needs root with mount namespaces, or a non-root user")
def test_read_only_file_system(library, tiny_classifier, tmp_path, reference):
    cache = tmp_path / "cache"
    args = ("tag", library, "-c", tiny_classifier, "-w", "2", "-b", "4", "-k", "3", "--cache-dir", cache)
    if MOUNTS:
        run = run_with_mount(cache, "ro,size=1m", *args)
    else:
        cache.mkdir()
        cache.chmod(0o555)
        run = subprocess.run(lzt_command(*args), capture_output=True, text=True, timeout=300)
    check(run, reference)
    assert "cannot be used" in run.stderr and "tagging without it" in run.stderr


def test_full_disk_mid_run(library, tiny_classifier, tmp_path, reference):
    cache = tmp_path / "cache"
    args = ("tag", library, "-c", tiny_classifier, "-w", "0", "-b", "4", "-k", "3", "--cache-dir", cache)
    if MOUNTS:
        # Room for the empty database, not for 48 images' embeddings (per-patch ones included).
        run = run_with_mount(cache, "size=128k", *args)
    else:
        def limit_file_size() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing
            resource.setrlimit(resource.RLIMIT_FSIZE, (96 * 1024, 96 * 1024))

        run = subprocess.run(lzt_command(*args), capture_output=True, text=True, timeout=300, preexec_fn=limit_file_size)
    check(run, reference)
    assert "stopped working" in run.stderr and "tagging goes on without it" in run.stderr
