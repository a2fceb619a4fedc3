"""What only a real process shows: a run killed or interrupted mid-way resumes without loss, and
a closed pipe (`| head`) ends the run quietly."""

import shutil
import signal
import subprocess

import pytest

from support import default_sigint, invoke, jsonl, lzt_command

# With --max-pixels 1 every decode fails: a run that still tags every file decoded none of them.
NO_DECODING = ("--max-pixels", "1")


def tag(folder, classifier, cache, *extra):
    return invoke("tag", folder, "-c", classifier, "-k", "3", "-w", "0", "-q", "--cache-dir", cache, *extra)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_run_resumes_without_loss(coco128, tiny_classifier, tmp_path, sig):
    library = tmp_path / "library"
    shutil.copytree(coco128 / "images", library)
    cache = tmp_path / "cache"
    # 80 tags a record: the output outgrows the pipe, so lzt blocks writing until this test reads,
    # and cannot finish before the signal comes, however slowly this process runs on a busy machine.
    command = lzt_command("tag", library, "-c", tiny_classifier, "-w", "0", "-b", "8", "-k", "80", "-q", "--cache-dir", cache)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    seen = 0
    while seen < 20:  # let a few batches reach the cache, then kill mid-run
        assert process.stdout.readline(), process.stderr.read()
        seen += 1
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert process.returncode == 130 and "Traceback" not in stderr
    resumed = jsonl(tag(library, tiny_classifier, cache).stdout)
    assert sorted(r["path"] for r in resumed) == sorted(str(p) for p in library.glob("*.jpg"))
    assert len({r["path"] for r in resumed}) == 128
    again = jsonl(tag(library, tiny_classifier, cache, *NO_DECODING).stdout)  # consistent: all cached now
    assert all("tags" in r for r in again) and len(again) == 128


def test_head_closes_the_pipe_cleanly(coco128, tiny_classifier):
    command = " ".join(f'"{part}"' for part in lzt_command("tag", coco128 / "images", "-c", tiny_classifier, "-w", "0", "-q"))
    result = subprocess.run(["bash", "-c", f"{command} | head -3; exit ${{PIPESTATUS[0]}}"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3 and "Traceback" not in result.stderr
