"""`lzt build-classifier`: vocabulary -> corpus -> text embeddings -> classifier file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from lzt.cli.app import EXIT_OK, app
from lzt.cli.options import Device, LLMOptions, Quiet, SamplingOptions, with_groups
from lzt.cli.ui import Ui
from lzt.config import DEFAULT_TEMPLATES, TrainConfig

_TRAINING = TrainConfig()


@app.command(
    "build-classifier",
    epilog=(
        "Examples:\n\n"
        "  lzt build-classifier --labels coco --out coco.lzt\n\n"
        "  lzt build-classifier --labels vocab.txt --llm openai --llm-model gpt-4o-mini --sentences 20000\n\n"
        "  lzt build-classifier --labels voc --corpus voc-corpus.jsonl --model ViT-B-32"
    ),
)
@with_groups
def build_classifier_command(
    *,
    labels: Annotated[Optional[str], typer.Option("--labels", "-l", help="Vocabulary: a built-in set (voc, coco, ...) or a file. Optional with --corpus (the corpus records its vocabulary).")] = None,
    corpus: Annotated[Optional[Path], typer.Option("--corpus", help="Use this corpus file (from `lzt generate`) instead of generating one.")] = None,
    llm: LLMOptions,
    sampling: SamplingOptions,
    model: Annotated[Optional[str], typer.Option("--model", help="open_clip model name (see `lzt models`). Default: $LZT_MODEL, else ViT-B-16.")] = None,
    pretrained: Annotated[Optional[str], typer.Option("--pretrained", help="Weights: open_clip tag (downloaded), checkpoint file, or none (random; testing only). Default: $LZT_PRETRAINED, else the model's openai weights.")] = None,
    prompts: Annotated[str, typer.Option("--prompts", help="Single-label prompt ensemble: imagenet80 (CoMC), photo7 (faster on CPU), or a file.")] = DEFAULT_TEMPLATES,
    out: Annotated[Path, typer.Option("--out", "-o", help="Classifier file to write (atomically).")] = Path("classifier.lzt"),
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Training epochs (CoMC: 20).")] = _TRAINING.epochs,
    noise: Annotated[float, typer.Option("--noise", min=0.0, help="Std of the Gaussian noise added to text embeddings while training (CoMC: 0.1).")] = _TRAINING.noise_std,
    text_batch_size: Annotated[Optional[int], typer.Option("--text-batch-size", min=1, help="Sentences per text-encoder batch (default: 256 on a CPU, 1024 on CUDA).", show_default=False)] = None,
    device: Device = "auto",
    quiet: Quiet = False,
) -> int:
    """Train a tagger for a vocabulary from text alone (no images)."""
    from lzt.classifier import build_classifier  # the model side loads when the command runs

    ui = Ui(quiet)
    training = TrainConfig(epochs=epochs, noise_std=noise, seed=sampling.seed)
    classifier = build_classifier(
        labels, corpus=corpus, llm=llm.config(), sentences=sampling.sentences, min_per_label=sampling.min_per_label,
        model=model, pretrained=pretrained, device=device, prompts=prompts, training=training,
        text_batch_size=text_batch_size, out=out, progress=ui.progress,
    )
    report = classifier.report
    if report is not None:
        texts = report.sentences + report.single_label_texts
        rate = texts / max(report.encode_seconds, 1e-9)
        ui.info(
            f"wrote {out} | encoded {texts} texts in {report.encode_seconds:.1f}s ({rate:.0f}/s), "
            f"trained {epochs} epochs in {report.train_seconds:.1f}s"
        )
    return EXIT_OK
