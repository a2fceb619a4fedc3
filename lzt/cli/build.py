"""`lzt build-classifier`: vocabulary -> corpus -> text embeddings -> classifier file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from lzt.build import build_classifier
from lzt.classifier import TrainConfig, save_classifier
from lzt.cli.app import DeviceOption, QuietOption, app
from lzt.cli.common import DEFAULT_MODEL, describe_setup
from lzt.cli.corpus_options import CorpusOptions, obtain_corpus
from lzt.cli.ui import Ui
from lzt.corpus import corpus_vocabulary, load_prompt_templates
from lzt.encoder import load_encoder
from lzt.errors import EXIT_OK, UsageError
from lzt.labels import load_vocabulary


@app.command(
    "build-classifier",
    epilog=(
        "Examples:\n\n"
        "  lzt build-classifier --labels coco --out coco.lzt\n\n"
        "  lzt build-classifier --labels vocab.txt --llm openai --llm-model gpt-4o-mini --sentences 20000\n\n"
        "  lzt build-classifier --labels voc --corpus voc-corpus.jsonl --model ViT-B-32"
    ),
)
def build_classifier_command(
    labels: Optional[str] = typer.Option(None, "--labels", "-l", help="Vocabulary: a built-in set (voc, coco, ...) or a file. Optional with --corpus (the corpus records its vocabulary)."),
    model: str = typer.Option(DEFAULT_MODEL, "--model", help="open_clip model name (see `lzt models`)."),
    pretrained: Optional[str] = typer.Option(None, "--pretrained", help="Weights: open_clip tag (downloaded), checkpoint file, or none (random; testing only). Default: $LZT_PRETRAINED, else the model's openai weights."),
    llm: str = typer.Option("template", "--llm", help="Sentence writer: template (no LLM), openai (any OpenAI-compatible server), local (bundled offline model)."),
    llm_model: Optional[str] = typer.Option(None, "--llm-model", help="Model name for --llm openai (e.g. gpt-4o-mini), or a GGUF file for --llm local."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL or OpenAI)."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="LLM prompt in prompts/ or a file: sentence (one label set per request) or sentences-batch."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", min=1, help="LLM requests in flight (default: 2 local, 4 openai)."),
    api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env", help="Environment variable holding the API key for --llm openai."),
    sentences: int = typer.Option(2000, "--sentences", "-n", min=1, help="Label sets to write sentences for (raised if coverage needs more)."),
    min_per_label: int = typer.Option(5, "--min-per-label", min=0, help="Every label appears in at least this many requested label sets."),
    corpus: Optional[Path] = typer.Option(None, "--corpus", help="Use this corpus file (from `lzt generate`) instead of generating one."),
    prompts: str = typer.Option("imagenet80", "--prompts", help="Single-label prompt ensemble: imagenet80 (CoMC), photo7 (faster on CPU), or a file."),
    out: Path = typer.Option(Path("classifier.lzt"), "--out", "-o", help="Classifier file to write (atomically)."),
    epochs: int = typer.Option(20, "--epochs", min=1, help="Training epochs (CoMC: 20)."),
    noise: float = typer.Option(0.1, "--noise", min=0.0, help="Std of the Gaussian noise added to text embeddings while training (CoMC: 0.1)."),
    seed: int = typer.Option(0, "--seed", help="Seed for sampling, noise and initialisation."),
    text_batch_size: int = typer.Option(256, "--text-batch-size", min=1, help="Sentences per text-encoder batch."),
    device: str = DeviceOption,
    quiet: bool = QuietOption,
) -> int:
    """Train a tagger for a vocabulary from text alone (no images)."""
    ui = Ui(quiet)
    if labels is None and corpus is None:
        raise UsageError("--labels is required (or --corpus FILE from `lzt generate`)")
    vocabulary = load_vocabulary(labels) if labels is not None else corpus_vocabulary(corpus)
    templates = load_prompt_templates(prompts)
    encoder = load_encoder(model, pretrained, device, ui.warn)
    describe_setup(ui, encoder)
    options = CorpusOptions(llm, llm_model, base_url, sentences, min_per_label, seed, corpus, concurrency, prompt, api_key_env)
    entries, corpus_info = obtain_corpus(vocabulary, options, ui)
    texts = len(entries) + len(vocabulary) * len(templates)
    ui.info(f"{len(vocabulary)} labels | {len(entries)} sentences + {len(vocabulary) * len(templates)} single-label texts")
    config = TrainConfig(epochs=epochs, noise_std=noise, seed=seed)
    with ui.progress("encoding texts", texts, "texts") as advance:
        classifier, report = build_classifier(
            vocabulary, entries, templates, encoder, config, corpus_info, text_batch_size, on_encoded=advance
        )
    save_classifier(classifier, out)
    rate = texts / max(report.encode_seconds, 1e-9)
    ui.info(
        f"wrote {out} | encoded {texts} texts in {report.encode_seconds:.1f}s ({rate:.0f}/s), "
        f"trained {epochs} epochs in {report.train_seconds:.1f}s"
    )
    return EXIT_OK
