"""build-classifier speed: encoding a large corpus and training the classifier (issue 15 asks for
a 100,000-sentence corpus encoded and trained in under 15 s on the GPU machine).

In one process and one run, for each model, the same corpus (COCO's 80 labels, template
sentences, plus the 80 x 80 single-label prompts build-classifier adds):
  baseline  texts in batches of 256 at the full 77-token context (what the reference code does),
            then lzt's training
  lzt       lzt.train_on_corpus as build-classifier runs it: texts sorted by length and each
            batch trimmed to its longest, 1024 per batch on CUDA (256 on a CPU), bf16 on CUDA,
            training on the device with its noise drawn there
Every timing ends in a host copy of the result (which synchronises the GPU), after a warm-up
build, median of the repeats. Random weights (speed does not depend on them).

    python -m bench.build_speed --device cpu --models ViT-B-32 --sentences 2000 --epochs 2
    python -m bench.build_speed --device cuda --models ViT-B-16 --sentences 100000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

from lzt import LztWarning, TrainConfig, load_encoder, load_vocabulary
from lzt.classifier.build import train_on_corpus
from lzt.classifier.training import train_classifier
from lzt.text.backends.template import TemplateBackend
from lzt.text.corpus import CorpusEntry, plan_corpus
from lzt.text.prompts import load_prompt_templates, single_label_texts


def template_corpus(count: int, seed: int = 0) -> list[CorpusEntry]:
    """`count` template sentences over COCO's labels, 1 to 5 labels each (CoMC's label sets)."""
    vocabulary = load_vocabulary("coco")
    backend = TemplateBackend(seed)
    plan = plan_corpus(vocabulary, count, 0, seed, backend)
    label_sets = [[vocabulary.names[i] for i in s] for s in plan.sets[:count]]
    return [CorpusEntry(sentence, labels) for sentence, labels in zip(backend.write(label_sets), label_sets) if sentence]


def lzt_build(encoder, entries, training: TrainConfig) -> tuple[float, float]:
    """(encode seconds, train seconds) of one build as build-classifier runs it."""
    vocabulary = load_vocabulary("coco")
    classifier = train_on_corpus(vocabulary, entries, load_prompt_templates("imagenet80"), encoder, training)
    report = classifier.report
    assert report is not None
    return report.encode_seconds, report.train_seconds


def baseline_build(encoder, entries, training: TrainConfig) -> tuple[float, float]:
    """The same build with the reference code's encoding: batches of 256, full context."""
    import torch

    vocabulary = load_vocabulary("coco")
    prompts = single_label_texts(vocabulary, load_prompt_templates("imagenet80"))
    started = time.perf_counter()
    embeddings = encoder.encode_texts([e.sentence for e in entries] + prompts, 256, trim=False)
    encode_seconds = time.perf_counter() - started
    targets = torch.zeros(len(embeddings), len(vocabulary))
    index = {name: i for i, name in enumerate(vocabulary.names)}
    for row, entry in enumerate(entries):
        targets[row, [index[label] for label in entry.labels]] = 1.0
    for n in range(len(prompts)):
        targets[len(entries) + n, n // (len(prompts) // len(vocabulary))] = 1.0
    started = time.perf_counter()
    train_classifier(embeddings, targets, training, encoder.device)
    return encode_seconds, time.perf_counter() - started


def timed(build, encoder, entries, training: TrainConfig, repeats: int) -> tuple[float, float]:
    runs = [build(encoder, entries, training) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", default="ViT-B-16")
    parser.add_argument("--sentences", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    entries = template_corpus(args.sentences)
    training = TrainConfig(epochs=args.epochs)
    print(f"corpus: {len(entries):,} template sentences over COCO's 80 labels + 6,400 single-label prompts; {args.epochs} epochs\n")
    print("| model | device | build | encode (s) | train (s) | total (s) | texts/s encoded |")
    print("|---|---|---|---:|---:|---:|---:|")
    texts = len(entries) + 80 * 80
    for name in args.models.split(","):
        with warnings.catch_warnings():  # random weights on purpose: speed does not depend on them
            warnings.simplefilter("ignore", LztWarning)
            encoder = load_encoder(name, "none", args.device)
        lzt_build(encoder, entries[:2000], TrainConfig(epochs=1))  # warm-up: kernels, allocator, tokenizer cache
        builds = [("lzt", lzt_build)] + ([] if args.skip_baseline else [("baseline", baseline_build)])
        for label, build in builds:
            encode, train = timed(build, encoder, entries, training, args.repeats)
            print(f"| {name} | {encoder.device.type} | {label} | {encode:.2f} | {train:.2f} | {encode + train:.2f} | {texts / encode:,.0f} |")
    print(f"\ncommand: python -m bench.build_speed {' '.join(sys.argv[1:])}")


if __name__ == "__main__":
    main()
