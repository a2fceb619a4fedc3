"""The classifier artifact (bit-exact, tamper-evident, refused when foreign) and its training."""

import json
import struct

import pytest
import torch

from lzt.classifier import Classifier, TrainConfig, load_classifier, save_classifier, train_classifier
from lzt.classifier.training import ranking_loss
from lzt.errors import ClassifierFileError, LztError


def make_classifier(with_corpus: bool = True) -> Classifier:
    generator = torch.Generator().manual_seed(0)
    return Classifier(
        labels=["dog", "cat", "car"], synonyms={"dog": ["puppy"]}, model="lzt-tiny-vit", pretrained="none",
        embed_dim=8, weight=torch.randn(3, 8, generator=generator),
        anchors=torch.nn.functional.normalize(torch.randn(3, 8, generator=generator), dim=-1),
        corpus_embeddings=torch.randn(5, 8, generator=generator).half() if with_corpus else None,
        corpus_labels=torch.randint(0, 2, (5, 3), dtype=torch.uint8, generator=generator) if with_corpus else None,
        training={"epochs": 20}, corpus={"sentences": 5},
    )


def test_round_trip_is_bit_exact(tmp_path):
    original = make_classifier()
    save_classifier(original, tmp_path / "c.lzt")
    loaded = load_classifier(tmp_path / "c.lzt")
    for name, tensor in original.tensors().items():
        assert torch.equal(tensor, loaded.tensors()[name]), name
    assert (loaded.labels, loaded.synonyms, loaded.model, loaded.embed_dim) == (
        original.labels, original.synonyms, original.model, original.embed_dim)
    assert not list(tmp_path.glob(".*tmp")), "the temporary file of the atomic write is left behind"


def _header(path):
    data = path.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    return data, size, json.loads(data[8 : 8 + size])


def test_tampered_weights_are_rejected(tmp_path):
    path = tmp_path / "c.lzt"
    save_classifier(make_classifier(), path)
    data, size, header = _header(path)
    start = 8 + size + header["weight"]["data_offsets"][0]
    tampered = bytearray(data)
    tampered[start] ^= 0xFF
    path.write_bytes(bytes(tampered))
    with pytest.raises(ClassifierFileError, match="corrupt or was modified"):
        load_classifier(path)


def test_tampered_manifest_is_rejected(tmp_path):
    path = tmp_path / "c.lzt"
    save_classifier(make_classifier(), path)
    text = path.read_bytes().replace(b"[\\\"dog\\\"", b"[\\\"cow\\\"", 1)
    path.write_bytes(text)
    # Same shapes, different meaning: the checksum covers the manifest too.
    with pytest.raises(ClassifierFileError, match="corrupt or was modified"):
        load_classifier(path)


@pytest.mark.parametrize("content", [b"", b"not a classifier", b"\x80\x04\x95pickle"])
def test_non_artifacts_are_rejected_cleanly(tmp_path, content):
    path = tmp_path / "bad.lzt"
    path.write_bytes(content)
    with pytest.raises(ClassifierFileError, match="not an lzt classifier"):
        load_classifier(path)


def test_mismatched_model_or_width_is_rejected():
    classifier = make_classifier()
    with pytest.raises(ClassifierFileError, match="built for model 'lzt-tiny-vit', not 'ViT-B-32'"):
        classifier.check_compatible("ViT-B-32", 8)
    with pytest.raises(ClassifierFileError, match="8-wide"):
        classifier.check_compatible("lzt-tiny-vit", 512)


def test_classifier_file_errors_are_lzt_errors():
    # Callers that catch LztError (the CLI: one line, exit 1) keep catching every artifact failure.
    assert issubclass(ClassifierFileError, LztError)


def test_ranking_loss_small_example():
    scores = torch.tensor([[2.0, 0.5, 1.8]])
    targets = torch.tensor([[1.0, 0.0, 0.0]])
    # pairs (0,1): max(0, 1-2+0.5)=0 ; (0,2): max(0, 1-2+1.8)=0.8
    assert ranking_loss(scores, targets).item() == pytest.approx(0.8)


@pytest.fixture
def one_thread():
    """Tiny matrices: a second intra-op thread only adds contention (10x slower on a busy 2-core box)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_training_is_seeded_and_learns_a_separable_problem(one_thread):
    generator = torch.Generator().manual_seed(1)
    centres = torch.nn.functional.normalize(torch.randn(4, 16, generator=generator), dim=-1)
    labels = torch.randint(0, 4, (2000,), generator=generator)
    features = torch.nn.functional.normalize(centres[labels] + 0.05 * torch.randn(2000, 16, generator=generator), dim=-1)
    targets = torch.nn.functional.one_hot(labels, 4).float()
    config = TrainConfig(epochs=20, batch_size=64)
    first = train_classifier(features, targets, config)
    second = train_classifier(features, targets, config)
    assert torch.equal(first, second)
    accuracy = ((features @ first.T).argmax(1) == labels).float().mean().item()
    assert accuracy > 0.95
