"""Fixtures every test folder shares: tiny registered CLIP configs, an isolated cache, real
photos, and a tiny classifier built once per session by the library itself."""

from __future__ import annotations

import os
import warnings

import pytest

from support import COCO128, MODEL_CONFIGS, copy_photos

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


@pytest.fixture(scope="session")
def coco128():
    if not (COCO128 / "labels.jsonl").is_file():
        pytest.skip("../shared/data/coco128 is not present")
    return COCO128


@pytest.fixture(scope="session")
def small_images(coco128, tmp_path_factory):
    """12 real COCO photos in a fresh folder (tests may add files to their own copies)."""
    return copy_photos(tmp_path_factory.mktemp("images"), 12)


@pytest.fixture(scope="session")
def tiny_encoder():
    """The tiny registered ViT with random weights, on the CPU (shared: do not change its input)."""
    from lzt import LztWarning, load_encoder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LztWarning)
        return load_encoder("lzt-tiny-vit", "none", "cpu")


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory, tiny_encoder):
    """A coco classifier on the tiny ViT (random weights), built as `lzt build-classifier
    --labels coco --sentences 300 --prompts photo7` builds it."""
    from lzt import build_classifier

    out = tmp_path_factory.mktemp("clf") / "tiny.lzt"
    build_classifier("coco", sentences=300, prompts="photo7", encoder=tiny_encoder, out=out)
    return out


@pytest.fixture(scope="session")
def everyday_cache(tmp_path_factory, small_images):
    """A cache folder where `lzt tag` without --classifier built the default `everyday` classifier
    for the tiny model (once per session: it is the slowest build of the suite), and that run."""
    from support import invoke

    folder = tmp_path_factory.mktemp("everyday-cache")
    first = invoke("tag", small_images, "--model", "lzt-tiny-vit", "--pretrained", "none", "-w", "0", "-k", "3",
                   env={"LZT_CACHE_DIR": str(folder)})
    return folder, first


@pytest.fixture(scope="module")
def coco128_local_records(coco128, tiny_classifier) -> list[dict]:
    """coco128 tagged by the default local engine (`lzt tag ... RAY_TAG`): what every Ray run
    must reproduce."""
    from support import RAY_TAG, jsonl, run_lzt

    return jsonl(run_lzt("tag", coco128 / "images", "-c", tiny_classifier, *RAY_TAG).stdout)
