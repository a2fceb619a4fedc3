"""Device selection and precision, Apple GPUs (MPS) included. This machine has no Apple GPU: the
choice is a pure function given what a machine has, tested here for machines this one is not,
and torch's own availability checks are monkeypatched to show `resolve_device` consults them."""

from __future__ import annotations

import warnings

import pytest
import torch

import lzt.model.loading as loading
from lzt import LztWarning, UsageError
from lzt.model.loading import choose_device, precision_for, resolve_device


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_prefers_cuda_then_mps_then_the_cpu(cuda, mps, expected):
    assert choose_device("auto", cuda=cuda, mps=mps).type == expected


def test_asking_for_an_accelerator_that_is_not_there_is_an_error():
    assert choose_device("mps", cuda=False, mps=True) == torch.device("mps")
    assert choose_device("cuda:1", cuda=True, mps=False) == torch.device("cuda:1")
    with pytest.raises(UsageError, match="cannot use an Apple GPU here"):
        choose_device("mps", cuda=True, mps=False)
    with pytest.raises(UsageError, match="no CUDA GPU"):
        choose_device("cuda", cuda=False, mps=True)
    with pytest.raises(UsageError, match="unsupported `device` 'xla'"):
        choose_device("xla", cuda=True, mps=True)
    with pytest.raises(UsageError, match="unknown `device` 'gpu'"):
        choose_device("gpu", cuda=True, mps=True)


def test_resolve_device_asks_torch_what_this_machine_has(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto").type == "mps" and resolve_device(torch.device("mps")).type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(UsageError, match="MPS needs Apple silicon"):
        resolve_device("mps")


def test_precision_per_device():
    assert [precision_for(torch.device(kind)) for kind in ("cuda", "mps", "cpu")] == ["bf16", "fp16", "fp32"]


@pytest.mark.parametrize(("precision", "dtype"), [("fp16", torch.float16), ("bf16", torch.bfloat16)])
@pytest.mark.parametrize("model", ["lzt-tiny-vit", "lzt-tiny-rn"])
def test_the_low_precision_models_of_gpus_encode_like_the_float32_one(monkeypatch, model, precision, dtype):
    """What an Apple GPU (fp16) and CUDA (bf16) run, checked on the CPU: open_clip's mixed
    precision (LayerNorms and position embeddings kept in float32) through lzt's encoder, which
    must feed the image tower in the dtype of its first layer, gives unit float32 embeddings
    close to the float32 model's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LztWarning)
        full = loading.load_encoder(model, "none", "cpu")
        monkeypatch.setattr(loading, "precision_for", lambda device: precision)
        low = loading.load_encoder(model, "none", "cpu")
    assert full.dtype == torch.float32 and low.dtype == dtype
    assert f"| {str(dtype).replace('torch.', '')}" in low.describe()
    size = full.preprocess.image_size
    pixels = torch.randint(0, 256, (3, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    for encode in (lambda e: e.encode_pixels(pixels), lambda e: e.encode_pixels_dense(pixels)[0], lambda e: e.encode_texts(["a dog", "a beach"])):
        a, b = encode(full), encode(low)
        assert b.dtype == torch.float32
        assert torch.allclose(b.norm(dim=-1), torch.ones(len(b)), atol=1e-3)
        assert torch.nn.functional.cosine_similarity(a, b).min() > 0.98
