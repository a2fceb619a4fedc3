"""Text-encoder throughput: full 77-token context vs batches trimmed to their longest sentence.

Trimming is exact for causal text towers pooled at the end-of-text token (tests/test_encoder.py
proves equality); this measures what it saves. Random weights (speed does not depend on them).

    python bench/text_encoding.py --device cpu --models ViT-B-32 --texts 512
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lzt.corpus import load_prompt_templates, plan_corpus, single_label_texts  # noqa: E402
from lzt.encoder import load_encoder  # noqa: E402
from lzt.labels import load_vocabulary  # noqa: E402
from lzt.llm import TemplateBackend  # noqa: E402


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
        encoder = load_encoder(name, "none", args.device, lambda m: None)
        full = rate(encoder, texts, False, args.batch_size, args.repeats)
        trimmed = rate(encoder, texts, True, args.batch_size, args.repeats)
        print(f"| {name} | {encoder.device.type} | {len(texts)} | {full:,.0f} | {trimmed:,.0f} | {trimmed / full:.1f}x |")
    print(f"\ncommand: python {' '.join(sys.argv)}")


if __name__ == "__main__":
    main()
