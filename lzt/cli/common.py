"""Steps several commands share: loading the encoder for a classifier, printing the setup."""

from __future__ import annotations

import os
from pathlib import Path

from lzt.classifier import Classifier, load_classifier
from lzt.cli.ui import Ui
from lzt.encoder import PRETRAINED_ENV, ClipEncoder, load_encoder
from lzt.errors import UsageError
from lzt.mapping import MappingConfig

DEFAULT_MODEL = "ViT-B-16"


def describe_setup(ui: Ui, encoder: ClipEncoder) -> None:
    device = str(encoder.device)
    if encoder.device.type == "cuda":
        import torch

        device += f" ({torch.cuda.get_device_name(encoder.device)})"
    ui.info(f"device: {device} | model: {encoder.name} ({encoder.pretrained_id}) | {str(encoder.dtype).replace('torch.', '')}")


def encoder_for_classifier(
    classifier_path: Path, model: str | None, pretrained: str | None, device: str, ui: Ui
) -> tuple[Classifier, ClipEncoder]:
    """Load the classifier, then the CLIP model it was built for (or the one named, if it matches)."""
    classifier = load_classifier(classifier_path)
    model = model or classifier.model
    classifier.check_compatible(model, classifier.embed_dim)
    if pretrained is None:  # the weights the classifier was built with, unless told otherwise
        pretrained = os.environ.get(PRETRAINED_ENV) or classifier.pretrained
    encoder = load_encoder(model, pretrained, device, ui.warn)
    classifier.check_compatible(encoder.name, encoder.embed_dim)
    if encoder.pretrained_id != classifier.pretrained:
        ui.warn(
            f"the classifier was trained with {classifier.model}/{classifier.pretrained} text "
            f"embeddings; images are encoded with {encoder.pretrained_id} weights"
        )
    describe_setup(ui, encoder)
    return classifier, encoder


def mapping_config(method: str, temperature: float, mix: float) -> MappingConfig:
    try:
        return MappingConfig(method=method, temperature=temperature, mix=mix)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
