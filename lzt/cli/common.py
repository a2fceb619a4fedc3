"""Steps several commands share: loading the encoder for a classifier, printing the setup."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from lzt.classifier import Classifier, load_classifier
from lzt.cli.ui import Ui
from lzt.encoder import PRETRAINED_ENV, ClipEncoder, load_encoder
from lzt.errors import UsageError
from lzt.mapping import MappingConfig
from lzt.tagger import ScoringConfig

DEFAULT_MODEL = "ViT-B-16"


def describe_setup(ui: Ui, encoder: ClipEncoder) -> None:
    device = str(encoder.device)
    if encoder.device.type == "cuda":
        import torch

        device += f" ({torch.cuda.get_device_name(encoder.device)})"
    ui.info(f"device: {device} | model: {encoder.name} ({encoder.pretrained_id}) | {str(encoder.dtype).replace('torch.', '')}")


def encoder_for_classifier(
    classifier_path: Path | None, model: str | None, pretrained: str | None, device: str, ui: Ui
) -> tuple[Classifier, ClipEncoder]:
    """Load the classifier, then the CLIP model it was built for (or the one named, if it matches).
    Without a classifier file: the default `everyday` classifier for the chosen model."""
    if classifier_path is None:
        from lzt.defaults import default_classifier

        encoder = load_encoder(model or DEFAULT_MODEL, pretrained, device, ui.warn)
        describe_setup(ui, encoder)
        return default_classifier(encoder, ui.info, ui.progress), encoder
    classifier = load_classifier(classifier_path)
    model = model or classifier.model
    classifier.check_compatible(model, classifier.embed_dim)  # refuse before loading a wrong model
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


# Options shared by `tag` and `eval`: how embeddings become scores, and the input size.
MappingOption = typer.Option("anchors", "--mapping", help="Modality-gap mapping: anchors (CoMC: class prompt embeddings), corpus (k nearest corpus sentences, faiss), or none.")
MapTemperatureOption = typer.Option(100.0, "--map-temperature", help="Softmax temperature of the mapping.")
MapMixOption = typer.Option(0.7, "--map-mix", help="Weight of the image embedding in the fused one (1 = no mapping).")
NeighboursOption = typer.Option(64, "--neighbours", min=1, help="Corpus texts per image for --mapping corpus.")
LocalOption = typer.Option(True, "--local/--no-local", help="Add CoMC's local branch (per-patch scores, max over patches) when the tower supports it.")
LocalWeightOption = typer.Option(0.5, "--local-weight", help="final = (1-w) global + w local.")
CalibrationOption = typer.Option("none", "--calibration", help="none; image (z-score across labels per image); image+label (then across the images of each batch: needs many images per batch).")
ImageSizeOption = typer.Option(None, "--image-size", min=32, help="Input resolution (default: the model's); larger sizes interpolate position embeddings.")
ResizeOption = typer.Option("shortest", "--resize", help="shortest (resize short side + centre crop, CLIP's default), letterbox (whole image, padded) or squash (whole image, stretched).")

RESIZE_MODES = ("shortest", "letterbox", "squash")


def scoring_config(
    mapping: str, temperature: float, mix: float, neighbours: int, local: bool, local_weight: float, calibration: str
) -> ScoringConfig:
    try:
        return ScoringConfig(MappingConfig(mapping, temperature, mix, neighbours), local, local_weight, calibration)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def configure_input(encoder: ClipEncoder, image_size: int | None, resize: str) -> None:
    if resize not in RESIZE_MODES:
        raise UsageError(f"unknown --resize {resize!r} (choose from {', '.join(RESIZE_MODES)})")
    encoder.set_input(image_size, resize)


CacheDirOption = typer.Option(None, "--cache-dir", help="Embedding cache folder (default: $LZT_CACHE_DIR, else the user cache folder).")
NoCacheOption = typer.Option(False, "--no-cache", help="Neither read nor write the embedding cache.")


def open_cache(disabled: bool, folder: Path | None, encoder: ClipEncoder, scoring: ScoringConfig):
    """(writer, spec for the decode workers), or (None, None) with --no-cache."""
    if disabled:
        return None, None
    from lzt.cache import EmbeddingCache
    from lzt.images import CacheSpec
    from lzt.paths import cache_dir

    folder = Path(folder) if folder else cache_dir()
    needs_local = scoring.local and scoring.local_weight > 0 and encoder.has_local_branch()
    writer = EmbeddingCache(folder, encoder.identity)
    return writer, CacheSpec(folder, encoder.identity, needs_local)
