"""Bad input never stops or corrupts a run: the real CLI over a generated folder of every kind of
broken, odd and hostile file. One record per file, a reason for each bad one, one stderr line per
skipped file, exit code 3, no traceback, bounded time; and `| head -3` ends cleanly."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from badfiles import OK, build_explicit, build_folder
from support import invoke, lzt_command, random_classifier

LABELS = [f"label{i:03d}" for i in range(300)]  # many labels: long records for the pipe test





EXCLUDES = ("--exclude", "drafts", "--exclude", "*.tmp.jpg")
EXPLICIT = ("album.jpg", "readme.txt", "dangling.jpg")


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[bytes, str], Path]:
    """(base folder, expected records keyed by path relative to it, classifier file)."""
    base = tmp_path_factory.mktemp("bad")
    expected = {b"photos/" + k: v for k, v in build_folder(base / "photos").items()}
    expected |= {b"explicit/" + k: v for k, v in build_explicit(base / "explicit").items()}
    classifier = base / "t.lzt"
    random_classifier(LABELS, classifier)
    return base, expected, classifier


def environment() -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1"}


@pytest.mark.parametrize("workers", [0, 2])
def test_every_bad_input_gets_one_record_and_the_run_goes_on(case, workers: int) -> None:
    base, expected, classifier = case
    paths = [str(base / "photos")]
    if workers == 0:  # the explicit paths once: the decoding path does not change how they are found
        paths += [str(base / "explicit" / name) for name in EXPLICIT]
    else:
        expected = {k: v for k, v in expected.items() if k.startswith(b"photos/")}
    args = ("tag", *paths, "--classifier", str(classifier), "--topk", "3", "--batch-size", "4", "--workers", str(workers), *EXCLUDES, "-q")
    started = time.monotonic()
    if workers == 0:  # in-process: the same command without a new interpreter
        run = invoke(*args, check=None, env={"NO_COLOR": "1"})
        returncode, stdout, stderr = run.returncode, run.stdout, run.stderr
    else:  # a real process whose decode workers are forked from it, as a user runs it
        result = subprocess.run(lzt_command(*args), capture_output=True, env=environment(), timeout=120)
        returncode, stdout, stderr = result.returncode, result.stdout.decode("utf-8"), result.stderr.decode("utf-8", "replace")
    elapsed = time.monotonic() - started
    assert returncode == 3, stderr  # finished, with skipped files
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    assert elapsed < 90

    records = [json.loads(line) for line in stdout.splitlines()]
    by_path = {os.fsencode(os.path.relpath(r["path"], base)): r for r in records}
    assert len(by_path) == len(records)  # one record per file, no duplicates
    assert sorted(by_path) == sorted(expected)  # nothing missing, nothing hidden/excluded/linked-folder
    for name, want in expected.items():
        got = by_path[name]
        if want == OK:
            assert "error" not in got, (name, got)
            assert len(got["tags"]) == 3 and all(t["label"] in LABELS for t in got["tags"])
        else:
            assert "tags" not in got and want in got["error"], (name, got)
            assert "\n" not in got["error"] and len(got["error"]) <= 200

    skip_lines = [line for line in stderr.splitlines() if "skipped" in line]
    bad = [name for name, want in expected.items() if want != OK]
    assert len(skip_lines) == len(bad)  # one stderr line per skipped file
    for name in bad:
        assert sum(os.fsdecode(name) in line for line in skip_lines) == 1, name


def test_pipe_into_head_ends_cleanly(case, tmp_path: Path) -> None:
    """300 tags per record make the output far larger than a pipe buffer, so lzt is certainly
    still writing when head exits: the closed pipe must end the run quietly with status 0."""
    base, _, classifier = case
    command = shlex.join(lzt_command("tag", str(base / "photos"), "--classifier", str(classifier), "--topk", "300",
                                     "--batch-size", "2", "--workers", "2", *EXCLUDES))
    script = f'{command} 2>{shlex.quote(str(tmp_path / "err"))} | head -3; exit "${{PIPESTATUS[0]}}"'
    result = subprocess.run(["bash", "-c", script], capture_output=True, env=environment(), timeout=120)
    stderr = (tmp_path / "err").read_text(errors="replace")
    assert result.returncode == 0, stderr
    assert len(result.stdout.splitlines()) == 3
    assert all(json.loads(line)["path"] for line in result.stdout.splitlines())
    assert "Traceback" not in stderr and "Exception ignored" not in stderr and "Broken pipe" not in stderr
    assert "tagged" not in stderr  # it stopped early instead of tagging everything into a closed pipe
