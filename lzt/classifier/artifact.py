"""The classifier artifact: what a Tagger needs besides the CLIP model, in one file.

Artifact: one safetensors file. Tensors: `weight` (C, D), `anchors` (C, D) and optionally
`corpus_embeddings` (N, D, float16) with `corpus_labels` (N, C, uint8). The JSON manifest lives in
the safetensors header metadata under `lzt_manifest`, with a SHA-256 over the manifest and every
tensor's bytes, so a modified or damaged file is refused. safetensors holds raw arrays only: loading never runs code (no pickle).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from lzt.errors import ClassifierFileError
from lzt.files import atomic_write
from lzt.version import __version__

FORMAT = "lzt-classifier"
FORMAT_VERSION = 1
MANIFEST_KEY = "lzt_manifest"


@dataclass(frozen=True)
class BuildReport:
    """How a build went: texts encoded (corpus sentences, single-label texts) and the seconds
    spent encoding and training. Not written to the classifier file (timings are not reproducible)."""

    sentences: int
    single_label_texts: int
    encode_seconds: float
    train_seconds: float


@dataclass
class Classifier:
    """Everything a Tagger needs besides the CLIP model itself: labels, the linear weights,
    the class anchors of the mapping, optionally the corpus embeddings, and a manifest."""

    labels: list[str]
    synonyms: dict[str, list[str]]
    model: str
    pretrained: str
    embed_dim: int
    weight: torch.Tensor  # (C, D) float32
    anchors: torch.Tensor  # (C, D) float32, unit rows: the mapping's class text embeddings
    corpus_embeddings: torch.Tensor | None = None  # (N, D) float16 unit rows
    corpus_labels: torch.Tensor | None = None  # (N, C) uint8
    training: dict = field(default_factory=dict)
    corpus: dict = field(default_factory=dict)
    lzt_version: str = __version__
    # The text tower's activation (`quickgelu` for OpenAI's weights, else `gelu`); None in files
    # from lzt 0.1, which loaded OpenAI's weights without QuickGELU.
    activation: str | None = None
    # What adapted these weights to confirmed photos (lzt.adapt), oldest first; empty for a
    # classifier trained on text alone. Each record names the classifier it started from.
    adaptations: list[dict] = field(default_factory=list)
    # Each label's parents in the vocabulary's keyword tree, root first (`owl`: animals, birds),
    # for hierarchical XMP keywords; only labels that have parents. Empty for a flat vocabulary.
    parents: dict[str, list[str]] = field(default_factory=dict)
    # How the build went (timings); set by build_classifier, never written to the file.
    report: BuildReport | None = field(default=None, compare=False, repr=False)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The arrays the file stores, by name (contiguous)."""
        tensors = {"weight": self.weight, "anchors": self.anchors}
        if self.corpus_embeddings is not None:
            tensors["corpus_embeddings"] = self.corpus_embeddings
        if self.corpus_labels is not None:
            tensors["corpus_labels"] = self.corpus_labels
        return {k: v.contiguous() for k, v in tensors.items()}

    def manifest(self) -> dict:
        """The JSON header: format, labels, synonyms, model, weights, width, training, corpus."""
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "lzt_version": self.lzt_version,
            "labels": self.labels,
            "synonyms": self.synonyms,
            "model": self.model,
            "pretrained": self.pretrained,
            "embed_dim": self.embed_dim,
            "training": self.training,
            "corpus": self.corpus,
        }
        if self.activation is not None:  # absent from 0.1 files, whose checksums cover no such key
            manifest["activation"] = self.activation
        if self.adaptations:  # absent from text-trained files, whose checksums stay as they were
            manifest["adaptations"] = self.adaptations
        if self.parents:  # absent from flat vocabularies' files, whose checksums stay as they were
            manifest["parents"] = self.parents
        return manifest

    def signed_manifest(self) -> dict:
        """The manifest with its SHA-256 over the manifest and every tensor."""
        manifest = self.manifest()
        return {**manifest, "sha256": _digest(manifest, self.tensors())}

    def check_compatible(self, model: str, embed_dim: int) -> None:
        """Refuse, with the fix in the message, a model this classifier was not built for."""
        if model != self.model:
            raise ClassifierFileError(
                f"this classifier was built for model {self.model!r}, not {model!r}: "
                f"tag with `model` {self.model}, or rebuild it with `model` {model}"
            )
        if embed_dim != self.embed_dim:
            raise ClassifierFileError(
                f"this classifier expects {self.embed_dim}-wide embeddings, the model gives {embed_dim}"
            )


def _digest(manifest: dict, tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the manifest (canonical JSON, without its own checksum) and every tensor."""
    digest = hashlib.sha256()
    unsigned = {k: v for k, v in manifest.items() if k != "sha256"}
    digest.update(json.dumps(unsigned, sort_keys=True, ensure_ascii=False).encode())
    for name in sorted(tensors):
        tensor = tensors[name].contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def save_classifier(classifier: Classifier, path: str | Path) -> None:
    """Write the artifact atomically (a temporary file in the same folder, then a rename)."""
    metadata = {MANIFEST_KEY: json.dumps(classifier.signed_manifest(), ensure_ascii=False)}
    atomic_write(Path(path), lambda tmp: save_file(classifier.tensors(), str(tmp), metadata=metadata))


def load_classifier(path: str | Path) -> Classifier:
    """Validate and load an artifact. Every failure is an ClassifierFileError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ClassifierFileError(f"no classifier file at {path} (lzt.build_classifier or `lzt build-classifier` makes one)")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118  (safe_open has keys(), not iteration)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ClassifierFileError(f"{path} is not an lzt classifier file (unreadable: {exc})") from exc
    try:
        manifest = json.loads(metadata[MANIFEST_KEY])
    except (KeyError, json.JSONDecodeError) as exc:
        raise ClassifierFileError(f"{path} is not an lzt classifier file (no manifest)") from exc
    if manifest.get("format") != FORMAT:
        raise ClassifierFileError(f"{path} is not an lzt classifier file")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise ClassifierFileError(f"{path} was written by a newer lzt ({manifest.get('lzt_version')}); upgrade lzt")
    if _digest(manifest, tensors) != manifest.get("sha256"):
        raise ClassifierFileError(f"{path} is corrupt or was modified (checksum mismatch)")
    classifier = Classifier(
        labels=list(manifest["labels"]),
        synonyms={k: list(v) for k, v in manifest.get("synonyms", {}).items()},
        model=manifest["model"],
        pretrained=manifest["pretrained"],
        embed_dim=int(manifest["embed_dim"]),
        weight=tensors["weight"].float(),
        anchors=tensors["anchors"].float(),
        corpus_embeddings=tensors.get("corpus_embeddings"),
        corpus_labels=tensors.get("corpus_labels"),
        training=manifest.get("training", {}),
        corpus=manifest.get("corpus", {}),
        lzt_version=manifest.get("lzt_version", "?"),
        activation=manifest.get("activation"),
        adaptations=list(manifest.get("adaptations", [])),
        parents=_parents(manifest.get("parents", {}), path),
    )
    _check_shapes(classifier, path)
    return classifier


def _parents(value: object, path: Path) -> dict[str, list[str]]:
    """The manifest's keyword tree: label -> a list of non-empty parent names."""
    if not isinstance(value, dict) or not all(
        isinstance(parents, list) and all(isinstance(p, str) and p for p in parents) for parents in value.values()
    ):
        raise ClassifierFileError(f"{path}: its keyword tree (the manifest's parents) is not lists of names")
    return {str(label): list(parents) for label, parents in value.items()}


def _check_shapes(classifier: Classifier, path: Path) -> None:
    expected = (len(classifier.labels), classifier.embed_dim)
    for name in ("weight", "anchors"):
        if tuple(getattr(classifier, name).shape) != expected:
            raise ClassifierFileError(f"{path}: tensor {name} has shape {tuple(getattr(classifier, name).shape)}, expected {expected}")
    if classifier.corpus_embeddings is not None and classifier.corpus_embeddings.shape[1] != classifier.embed_dim:
        raise ClassifierFileError(f"{path}: corpus embeddings are not {classifier.embed_dim}-wide")
