"""The CoMC linear classifier: training on text embeddings, and its artifact file.

Artifact: one safetensors file. Tensors: `weight` (C, D), `anchors` (C, D) and optionally
`corpus_embeddings` (N, D, float16) with `corpus_labels` (N, C, uint8). The JSON manifest lives in
the safetensors header metadata under `lzt_manifest`, with a SHA-256 over the manifest and every
tensor's bytes, so a modified or damaged file is refused. safetensors holds raw arrays only: loading never runs code (no pickle).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from lzt import __version__
from lzt.errors import LztError

FORMAT = "lzt-classifier"
FORMAT_VERSION = 1
MANIFEST_KEY = "lzt_manifest"


@dataclass(frozen=True)
class TrainConfig:
    """COMC.md section 2, the reference code's settings."""

    epochs: int = 20
    batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 5e-4
    noise_std: float = 0.1
    warmup_epochs: int = 1
    warmup_lr: float = 1e-5
    seed: int = 0


def ranking_loss(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Double ranking loss: sum over (positive p, negative n) of max(0, 1 - s_p + s_n), batch mean.

    Positives per sample are few (1..5), so the pairs are formed as (B, P, C) with P the largest
    positive count, instead of (B, C, C): memory stays linear in the vocabulary size.
    """
    positive = targets.bool()
    max_pos = int(positive.sum(dim=1).max().item()) if positive.numel() else 0
    if max_pos == 0:
        return scores.sum() * 0.0
    # Indices of each sample's positives, padded; `valid` masks the padding.
    pos_scores, pos_idx = torch.where(positive, scores, torch.full_like(scores, -math.inf)).topk(max_pos, dim=1)
    valid = torch.isfinite(pos_scores)
    pos_scores = torch.where(valid, pos_scores, torch.zeros_like(pos_scores))
    hinge = torch.relu(1.0 - pos_scores.unsqueeze(2) + scores.unsqueeze(1))  # (B, P, C)
    pair_mask = valid.unsqueeze(2) & (~positive).unsqueeze(1)
    return (hinge * pair_mask).sum(dim=(1, 2)).mean()


def learning_rate(epoch: int, config: TrainConfig) -> float:
    """Constant warm-up lr for the first epoch(s), then cosine decay over all epochs (Dassl)."""
    if epoch < config.warmup_epochs:
        return config.warmup_lr
    # Dassl steps its cosine successor only after the warm-up: the first epoch after it runs at
    # the full lr, and epoch e uses cos(pi * (e - warmup) / epochs).
    return 0.5 * config.lr * (1.0 + math.cos(math.pi * (epoch - config.warmup_epochs) / config.epochs))


def train_classifier(
    features: torch.Tensor,
    targets: torch.Tensor,
    config: TrainConfig = TrainConfig(),
    device: torch.device | str = "cpu",
    on_epoch: Callable[[int, float], None] | None = None,
) -> torch.Tensor:
    """Train W (C, D), no bias, on unit text embeddings (N, D) and 0/1 targets (N, C)."""
    device = torch.device(device)
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    n, dim = features.shape
    classes = targets.shape[1]
    layer = torch.nn.Linear(dim, classes, bias=False)
    with torch.no_grad():  # seeded init, independent of the global RNG
        bound = 1.0 / math.sqrt(dim)
        layer.weight.copy_(torch.rand(classes, dim, generator=generator) * 2 * bound - bound)
    layer.to(device)
    optimiser = torch.optim.Adam(layer.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    x_all = features.float().to(device)
    y_all = targets.float().to(device)
    for epoch in range(config.epochs):
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(epoch, config)
        order = torch.randperm(n, generator=generator).to(device)
        total = 0.0
        for start in range(0, n, config.batch_size):
            idx = order[start : start + config.batch_size]
            x = x_all[idx]
            # Fresh Gaussian noise every step stands in for the image/text modality gap.
            noise = torch.randn(x.shape, generator=generator).to(device) * config.noise_std
            loss = ranking_loss(layer(x + noise), y_all[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(idx)
        if on_epoch:
            on_epoch(epoch, total / n)
    return layer.weight.detach().float().cpu().contiguous()


# --- the artifact ------------------------------------------------------------------------------


@dataclass
class Classifier:
    """Everything `lzt tag` needs besides the CLIP model itself."""

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

    def tensors(self) -> dict[str, torch.Tensor]:
        tensors = {"weight": self.weight, "anchors": self.anchors}
        if self.corpus_embeddings is not None:
            tensors["corpus_embeddings"] = self.corpus_embeddings
        if self.corpus_labels is not None:
            tensors["corpus_labels"] = self.corpus_labels
        return {k: v.contiguous() for k, v in tensors.items()}

    def manifest(self) -> dict:
        return {
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

    def signed_manifest(self) -> dict:
        manifest = self.manifest()
        return {**manifest, "sha256": _digest(manifest, self.tensors())}

    def check_compatible(self, model: str, embed_dim: int) -> None:
        if model != self.model:
            raise LztError(
                f"this classifier was built for model {self.model!r}, not {model!r}: "
                f"tag with --model {self.model} or rebuild it with --model {model}"
            )
        if embed_dim != self.embed_dim:
            raise LztError(
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


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, fsync, then rename over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_classifier(classifier: Classifier, path: Path) -> None:
    metadata = {MANIFEST_KEY: json.dumps(classifier.signed_manifest(), ensure_ascii=False)}
    atomic_write(Path(path), lambda tmp: save_file(classifier.tensors(), str(tmp), metadata=metadata))


def load_classifier(path: Path) -> Classifier:
    """Validate and load an artifact. Every failure is an LztError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise LztError(f"no classifier file at {path} (build one with `lzt build-classifier`)")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise LztError(f"{path} is not an lzt classifier file (unreadable: {exc})") from exc
    try:
        manifest = json.loads(metadata[MANIFEST_KEY])
    except (KeyError, json.JSONDecodeError) as exc:
        raise LztError(f"{path} is not an lzt classifier file (no manifest)") from exc
    if manifest.get("format") != FORMAT:
        raise LztError(f"{path} is not an lzt classifier file")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise LztError(f"{path} was written by a newer lzt ({manifest.get('lzt_version')}); upgrade lzt")
    if _digest(manifest, tensors) != manifest.get("sha256"):
        raise LztError(f"{path} is corrupt or was modified (checksum mismatch)")
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
    )
    _check_shapes(classifier, path)
    return classifier


def _check_shapes(classifier: Classifier, path: Path) -> None:
    expected = (len(classifier.labels), classifier.embed_dim)
    for name in ("weight", "anchors"):
        if tuple(getattr(classifier, name).shape) != expected:
            raise LztError(f"{path}: tensor {name} has shape {tuple(getattr(classifier, name).shape)}, expected {expected}")
    if classifier.corpus_embeddings is not None and classifier.corpus_embeddings.shape[1] != classifier.embed_dim:
        raise LztError(f"{path}: corpus embeddings are not {classifier.embed_dim}-wide")


def training_settings(config: TrainConfig) -> dict:
    return asdict(config)
