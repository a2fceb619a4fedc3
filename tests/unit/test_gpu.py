"""GPU path (skipped without CUDA): bf16 on the GPU tags like fp32 on the CPU."""

import warnings

import pytest
import torch

from lzt.errors import LztWarning
from lzt.tagging import Selection, Tagger

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def scores_on(device: str, classifier_path, folder) -> tuple[Tagger, torch.Tensor]:
    """Every label's score for every photo of `folder`, through the whole pipeline on `device`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LztWarning)  # random weights
        tagger = Tagger.load(classifier_path, device=device)
    with tagger:
        records = list(tagger.tag([folder], Selection(topk=None), batch_size=6, workers=0, keep_scores=True))
    assert records and all(record.ok for record in records)
    return tagger, torch.stack([record.scores.float().cpu() for record in records])


def test_cuda_bf16_scores_match_cpu_fp32(tiny_classifier, small_images):
    on_gpu_tagger, on_gpu = scores_on("cuda", tiny_classifier, small_images)
    assert on_gpu_tagger.device.type == "cuda" and on_gpu_tagger.encoder.dtype == torch.bfloat16
    _, on_cpu = scores_on("cpu", tiny_classifier, small_images)
    assert torch.allclose(on_gpu, on_cpu, atol=3e-2)
    assert (on_gpu.argmax(1) == on_cpu.argmax(1)).float().mean() >= 0.9


def test_loading_on_cuda_leaves_every_rng_as_it_was():
    from lzt import load_encoder

    cpu, gpus = torch.random.get_rng_state(), torch.cuda.get_rng_state_all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LztWarning)  # random weights
        load_encoder("lzt-tiny-vit", "none", "cuda")
    assert torch.equal(torch.random.get_rng_state(), cpu)
    assert all(torch.equal(a, b) for a, b in zip(torch.cuda.get_rng_state_all(), gpus))


def test_nvjpeg_batch_decoding_matches_the_cpu_decoder(coco128):
    """The same batched call on CUDA (nvJPEG) and on the CPU (libjpeg-turbo) gives the same model
    input, up to the decoders' rounding (issue 15's GPU decode path)."""
    from lzt.model import PreprocessSpec
    from lzt.tagging.jpeg import decode_jpegs, parse_jpeg

    spec = PreprocessSpec(224, (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
    datas = [path.read_bytes() for path in sorted((coco128 / "images").glob("*.jpg"))[:16]]
    infos = [parse_jpeg(data) for data in datas]
    on_gpu = decode_jpegs(datas, infos, spec, device="cuda")  # type: ignore[arg-type]
    on_cpu = decode_jpegs(datas, infos, spec, device="cpu")  # type: ignore[arg-type]
    assert on_gpu.device.type == "cuda" and on_gpu.shape == on_cpu.shape == (16, 3, 224, 224)
    assert (on_gpu.cpu().float() - on_cpu.float()).abs().mean().item() < 2.0


def tagged_on_cuda(classifier_path, folder, decoder: str, cache=None) -> list:
    from lzt import DecodeOptions, Decoder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LztWarning)  # random weights
        tagger = Tagger.load(classifier_path, device="cuda", cache=cache)
    with tagger:
        options = DecodeOptions(decoder=Decoder(decoder))
        return list(tagger.tag([folder], Selection(topk=5), batch_size=8, workers=2, decoding=options, keep_scores=True))


def test_gpu_decoded_scores_and_tags_match_cpu_decoded(tiny_classifier, coco128, tmp_path):
    """The whole pipeline on CUDA, JPEGs decoded by nvJPEG on the decoding stream vs by Pillow in
    the workers: scores agree within bf16 tolerance, and the top 5 only differ where the 5th and
    6th labels are closer than that tolerance."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in sorted((coco128 / "images").glob("*.jpg"))[:40]:
        (folder / path.name).write_bytes(path.read_bytes())
    on_gpu = tagged_on_cuda(tiny_classifier, folder, "gpu")
    on_cpu = tagged_on_cuda(tiny_classifier, folder, "cpu")
    tolerance = 3e-2
    assert [r.path for r in on_gpu] == [r.path for r in on_cpu] and all(r.ok for r in on_gpu + on_cpu)
    for gpu, cpu in zip(on_gpu, on_cpu):
        assert torch.allclose(gpu.scores.float(), cpu.scores.float(), atol=tolerance)
        ranked = cpu.scores.float().sort(descending=True).values
        if ranked[4] - ranked[5] > 2 * tolerance:
            assert {label for label, _ in gpu.tags} == {label for label, _ in cpu.tags}


def test_overlapped_batches_store_the_embeddings_they_scored(tiny_classifier, coco128, tmp_path):
    """Cache rows are copied back from the device while the next batch runs: a warm run from the
    cache gives the cold run's tags exactly."""
    folder = coco128 / "images"
    cold = tagged_on_cuda(tiny_classifier, folder, "gpu", cache=tmp_path / "cache")
    warm = tagged_on_cuda(tiny_classifier, folder, "gpu", cache=tmp_path / "cache")
    assert [(r.path, r.tags) for r in cold] == [(r.path, r.tags) for r in warm]
