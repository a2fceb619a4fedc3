"""Learning from corrections in the planted modality gap: mAP after `adapt_classifier` with 0, 1,
4 and 16 confirmed photos per label (a simulation, not CLIP).

The world, the corpus, the text-trained classifier (CoMC's settings, σ=0.1) and the anchor
mapping (T=100, mix 0.7) are those of bench/planted_gap.py (bench/simulation.py). A separate pool
of photos, drawn like the test photos, supplies the evidence; lzt's own `adapt_classifier` learns
from it, and the test photos (never part of the evidence) are scored through the same mapping.
Two kinds of evidence:

- labelled: for each label, n pool photos that show it, each with its whole label set (a
  labelled set: every label not listed is taken not to apply, as `lzt adapt --from labels.jsonl`);
- reviewed: for each label, n pool photos that show it, on which that label is confirmed and the
  text classifier's top 3 tags are accepted where right and rejected where wrong; every other
  label stays unannotated (as `lzt adapt --from decisions.jsonl` after a review);
- confirmed only: for each label, n pool photos that show it, on which that label alone is
  confirmed; nothing is rejected, every other label stays unannotated (the least a review says).

Run from the repository root:

    python -m bench.adapt                              # the README table (about 2 min on 2 cores)
    python -m bench.adapt --strengths 0,0.1,0.3,1,3    # also the tuning table of `strength`
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from bench.simulation import (
    Geometry,
    embed_images,
    embed_texts,
    label_names,
    label_set_targets,
    make_world,
    template_texts,
)
from lzt.adapt import Evidence, adapt_classifier, mapped_features
from lzt.classifier import Classifier
from lzt.classifier.build import class_anchors
from lzt.classifier.training import train_classifier
from lzt.config import AdaptConfig, MappingConfig, TrainConfig
from lzt.eval.metrics import compute_metrics

MODES = ("labelled", "reviewed", "confirmed")


@dataclass(frozen=True)
class Setup:
    """A world: the text-trained classifier, the test photos, the pool evidence is drawn from."""

    classifier: Classifier
    test_features: torch.Tensor  # mapped as tagging maps them
    test_targets: torch.Tensor
    pool_images: torch.Tensor  # unit embeddings, unmapped (adapt_classifier maps them)
    pool_targets: torch.Tensor


def make_setup(geometry: Geometry, seed: int, corpus: int, test: int, pool: int, train: TrainConfig = TrainConfig()) -> Setup:
    generator = torch.Generator().manual_seed(seed)
    world = make_world(geometry, generator)
    corpus_targets = label_set_targets(corpus, geometry.labels, geometry.max_labels, generator)
    corpus_texts = embed_texts(world, corpus_targets, generator)
    templated, templated_targets = template_texts(world, generator)
    anchors = class_anchors(templated, geometry.labels)
    weight = train_classifier(torch.cat([corpus_texts, templated]), torch.cat([corpus_targets, templated_targets]),
                              replace(train, seed=seed))
    names = label_names(geometry.labels)
    classifier = Classifier(names, {}, "simulation", "none", geometry.dim, weight, anchors)
    test_targets = label_set_targets(test, geometry.labels, geometry.max_labels, generator)
    test_images = embed_images(world, test_targets, generator)
    pool_targets = label_set_targets(pool, geometry.labels, geometry.max_labels, generator)
    pool_images = embed_images(world, pool_targets, generator)
    return Setup(classifier, mapped_features(classifier, test_images, MappingConfig()), test_targets, pool_images, pool_targets)


def choose_evidence(setup: Setup, per_label: int, mode: str, generator: torch.Generator) -> Evidence:
    """`per_label` pool photos per label that show it, as `mode` evidence (see the docstring)."""
    targets = setup.pool_targets
    picked: dict[int, set[int]] = {}  # photo -> the labels it was picked for
    for label in range(targets.shape[1]):
        showing = torch.nonzero(targets[:, label]).flatten()
        for photo in showing[torch.randperm(len(showing), generator=generator)[:per_label]].tolist():
            picked.setdefault(photo, set()).add(label)
    photos = sorted(picked)
    truth = targets[photos]
    if mode == "labelled":
        evidence = truth * 2 - 1  # listed: confirmed; every other label: rejected
    elif mode == "confirmed":
        evidence = torch.zeros_like(truth)
        for row, photo in enumerate(photos):
            evidence[row, sorted(picked[photo])] = 1
    else:
        evidence = torch.zeros_like(truth)
        scores = mapped_features(setup.classifier, setup.pool_images[photos], MappingConfig()) @ setup.classifier.weight.T
        top = scores.topk(3, dim=1).indices
        evidence.scatter_(1, top, truth.gather(1, top) * 2 - 1)  # top 3 tags: accepted if right, else rejected
        for row, photo in enumerate(photos):
            evidence[row, sorted(picked[photo])] = 1  # the label it was picked for: confirmed (added if missing)
    return Evidence(setup.classifier.labels, setup.pool_images[photos], evidence.to(torch.int8))


def mean_ap(setup: Setup, classifier: Classifier) -> float:
    scores = (setup.test_features @ classifier.weight.T).double().numpy()
    return compute_metrics(scores, setup.test_targets.numpy(), classifier.labels, k=3).mean_ap


def measure(setup: Setup, seed: int, counts: list[int], modes: tuple[str, ...], config: AdaptConfig) -> dict[tuple[str, int], float]:
    """mAP per (mode, photos per label); 0 photos is the text classifier itself."""
    results = {}
    for mode in modes:
        for count in counts:
            if count == 0:
                results[(mode, 0)] = mean_ap(setup, setup.classifier)
                continue
            generator = torch.Generator().manual_seed(1000 + seed)  # the same photos for every setting
            evidence = choose_evidence(setup, count, mode, generator)
            results[(mode, count)] = mean_ap(setup, adapt_classifier(setup.classifier, evidence, config=config))
    return results


def _cell(values: list[float]) -> str:
    return f"{100 * np.mean(values):.1f} ± {100 * np.std(values):.1f}"


def table(runs: list[dict[tuple[str, int], float]], counts: list[int], modes: tuple[str, ...]) -> str:
    lines = ["| evidence | " + " | ".join(f"{n} per label" for n in counts) + " |",
             "|---|" + "---|" * len(counts)]
    names = {"labelled": "labelled photos (whole label sets)", "reviewed": "reviewed photos (top 3 accepted/rejected + the label)",
             "confirmed": "confirmed label only (nothing rejected)"}
    for mode in modes:
        lines.append(f"| {names[mode]} | " + " | ".join(_cell([run[(mode, n)] for run in runs]) for n in counts) + " |")
    return "\n".join(lines)


def strength_table(setups: list[tuple[int, Setup]], strengths: list[float], counts: list[int], modes: tuple[str, ...],
                   base: AdaptConfig) -> str:
    counts = [n for n in counts if n > 0]
    lines = ["| strength | " + " | ".join(f"{mode} {n}" for mode in modes for n in counts) + " |",
             "|---|" + "---|" * (len(modes) * len(counts))]
    for strength in strengths:
        config = replace(base, strength=strength)
        runs = [measure(setup, seed, counts, modes, config) for seed, setup in setups]
        lines.append(f"| {strength:g} | " + " | ".join(
            f"{100 * np.mean([run[(mode, n)] for run in runs]):.1f}" for mode in modes for n in counts) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds")
    parser.add_argument("--labels", type=int, default=Geometry.labels)
    parser.add_argument("--dim", type=int, default=Geometry.dim)
    parser.add_argument("--lexical", type=float, default=Geometry.lexical)
    parser.add_argument("--corpus", type=int, default=40000, help="corpus sentences")
    parser.add_argument("--images", type=int, default=2000, help="test photos")
    parser.add_argument("--pool", type=int, default=2000, help="photos the evidence is drawn from")
    parser.add_argument("--counts", default="0,1,4,16", help="confirmed photos per label (comma-separated)")
    parser.add_argument("--strength", type=float, default=AdaptConfig.strength)
    parser.add_argument("--unknown-weight", type=float, default=AdaptConfig.unknown_weight)
    parser.add_argument("--steps", type=int, default=AdaptConfig.steps)
    parser.add_argument("--strengths", default="", help="strengths for a tuning table (comma-separated; empty: skip)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    geometry = Geometry(labels=args.labels, dim=args.dim, lexical=args.lexical)
    counts = [int(v) for v in args.counts.split(",") if v.strip()]
    config = AdaptConfig(strength=args.strength, unknown_weight=args.unknown_weight, steps=args.steps)
    seeds = list(range(args.seed, args.seed + args.seeds))
    setups = [(seed, make_setup(geometry, seed, args.corpus, args.images, args.pool)) for seed in seeds]
    runs = [measure(setup, seed, counts, MODES, config) for seed, setup in setups]
    print(f"### Learning from corrections (simulation, not CLIP): {args.labels} labels, D={args.dim}, lexical share "
          f"{args.lexical:g}, {args.images} test photos; mAP (%) mean ± sd over seeds {seeds}\n")
    print(table(runs, counts, MODES))
    print(f"\nstrength {config.strength:g}, unknown_weight {config.unknown_weight:g}, {config.steps} steps; "
          "0 per label = the text-trained classifier (CoMC σ=0.1, anchor mapping)")
    strengths = [float(v) for v in args.strengths.split(",") if v.strip()]
    if strengths:
        print(f"\n### mAP (%) by `strength`, mean over seeds {seeds}\n")
        print(strength_table(setups, strengths, counts, MODES, config))
    print(f"\nRegenerate: `python -m bench.adapt --seed {args.seed} --seeds {args.seeds} --labels {args.labels} --dim {args.dim} "
          f"--lexical {args.lexical:g} --corpus {args.corpus} --images {args.images} --pool {args.pool} --counts {args.counts} "
          f"--strength {args.strength:g} --unknown-weight {args.unknown_weight:g} --steps {args.steps}` "
          f"({time.perf_counter() - start:.0f} s, {args.threads} torch thread(s))")


if __name__ == "__main__":
    main(sys.argv[1:])
