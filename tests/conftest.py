"""Shared fixtures: tiny registered CLIP configs, an isolated cache, the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MODEL_CONFIGS = REPO / "tests" / "model_configs"
COCO128 = (REPO.parent / "shared" / "data" / "coco128").resolve()

# Set before any lzt import so that in-process code and CLI subprocesses see the tiny models.
os.environ["LZT_MODEL_CONFIG_DIRS"] = str(MODEL_CONFIGS)
os.environ.pop("LZT_PRETRAINED", None)


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    os.environ["LZT_CACHE_DIR"] = str(tmp_path_factory.mktemp("lzt-cache"))
    yield


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def run_lzt(*args: str, check: int | None = 0, timeout: float = 600, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """The real CLI, as a user runs it (a separate process, real stdout/stderr, exit code)."""
    command = [sys.executable, "-c", "from lzt.cli import main; main()", *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}, **kwargs)
    if check is not None:
        assert result.returncode == check, f"exit {result.returncode}\nstdout:\n{result.stdout[-2000:]}\nstderr:\n{result.stderr[-4000:]}"
    return result


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="session")
def coco128() -> Path:
    if not (COCO128 / "labels.jsonl").is_file():
        pytest.skip("../shared/data/coco128 is not present")
    return COCO128


@pytest.fixture(scope="session")
def small_images(coco128, tmp_path_factory) -> Path:
    """12 real COCO photos in a fresh folder (tests may add files to their own copies)."""
    folder = tmp_path_factory.mktemp("images")
    for path in sorted((coco128 / "images").glob("*.jpg"))[:12]:
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory) -> Path:
    """A coco classifier on the tiny ViT (random weights), built by the real CLI."""
    out = tmp_path_factory.mktemp("clf") / "tiny.lzt"
    run_lzt("build-classifier", "--labels", "coco", "--model", "lzt-tiny-vit", "--pretrained", "none",
            "--sentences", "300", "--prompts", "photo7", "--out", out, "-q")
    return out


def permissions_enforced() -> bool:
    """False as root (or with CAP_DAC_OVERRIDE), where chmod 000 does not stop reading."""
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe"
        probe.write_bytes(b"x")
        probe.chmod(0)
        try:
            probe.read_bytes()
        except PermissionError:
            return True
        return False
