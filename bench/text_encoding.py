"""Text-encoder throughput: full 77-token context vs batches trimmed to their longest sentence.

Trimming is exact for causal text towers pooled at the end-of-text token (tests/unit/test_encoder.py
proves equality); this measures what it saves. Random weights (speed does not depend on them).

    python -m bench.text_encoding --device cpu --models ViT-B-32 --texts 512    (from the repo root)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import torch

from lzt.errors import LztWarning
from lzt.model import load_encoder
from lzt.text.backends.template import TemplateBackend
from lzt.text.corpus import plan_corpus
from lzt.text.prompts import load_prompt_templates, single_label_texts
from lzt.vocab import load_vocabulary


def sample_texts(count: int) -> list[str]:
    """Half corpus-like sentences, half single-label prompts, as build-classifier encodes."""
    vocabulary = load_vocabulary("coco")
    backend = TemplateBackend(0)
    plan = plan_corpus(vocabulary, count // 2, 0, 0, backend)
    sentences = backend.write([[vocabulary.names[i] for i in s] for s in plan.sets[: count // 2]])
    prompts = single_label_texts(vocabulary, load_prompt_templates("imagenet80"))
    return [s for s in sentences if s] + prompts[: count - count // 2]


def rate(encoder, texts: list[str], trim: bool, batch_size: int, repeats: int) -> float:
    encoder.encode_texts(texts[:batch_size], batch_size, trim=trim)  # warm-up
    times = []
    for _ in range(repeats):
        if encoder.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        encoder.encode_texts(texts, batch_size, trim=trim)
        if encoder.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return len(texts) / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", default="ViT-B-32")
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    texts = sample_texts(args.texts)
    print("| model | device | texts | full context (texts/s) | trimmed (texts/s) | speed-up |")
    print("|---|---|---:|---:|---:|---:|")
    for name in args.models.split(","):
        with warnings.catch_warnings():  # random weights on purpose: speed does not depend on them
            warnings.simplefilter("ignore", LztWarning)
            encoder = load_encoder(name, "none", args.device)
        full = rate(encoder, texts, False, args.batch_size, args.repeats)
        trimmed = rate(encoder, texts, True, args.batch_size, args.repeats)
        print(f"| {name} | {encoder.device.type} | {len(texts)} | {full:,.0f} | {trimmed:,.0f} | {trimmed / full:.1f}x |")
    print(f"\ncommand: python -m bench.text_encoding {' '.join(sys.argv[1:])}")


if __name__ == "__main__":
    main()
