"""GPU path (skipped without CUDA): bf16 on the GPU tags like fp32 on the CPU."""

import pytest
import torch

from lzt.classifier import load_classifier
from lzt.encoder import load_encoder
from lzt.images import PathBatches, iter_batches
from lzt.tagger import Scorer, ScoringConfig

pytestmark = pytest.mark.gpu


def scores_on(device: str, classifier_path, folder):
    encoder = load_encoder("lzt-tiny-vit", "none", device, lambda m: None)
    classifier = load_classifier(classifier_path)
    scorer = Scorer(encoder, classifier, ScoringConfig())
    rows = []
    for batch in iter_batches(PathBatches([folder], 6), encoder.preprocess, 0):
        rows.append(scorer(batch.pixels).float().cpu())
    return encoder, torch.cat(rows)


def test_cuda_bf16_scores_match_cpu_fp32(tiny_classifier, small_images):
    gpu_encoder, on_gpu = scores_on("cuda", tiny_classifier, small_images)
    assert gpu_encoder.dtype == torch.bfloat16
    _, on_cpu = scores_on("cpu", tiny_classifier, small_images)
    assert torch.allclose(on_gpu, on_cpu, atol=3e-2)
    assert (on_gpu.argmax(1) == on_cpu.argmax(1)).float().mean() >= 0.9
