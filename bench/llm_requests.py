"""How many LLM requests does a corpus cost? lzt (batched prompt, one-set prompt) against
CoMC's one request per sentence, measured with the real offline model (SmolLM2-135M through
llama-cpp-python's server), and that model's sentences per second on this machine.

    python -m bench.llm_requests [--sets 60] [--labels voc] [--concurrency 2]    (from the repo root)

Needs the [local] extra. Every number except the "ideal" rows is measured; the ideal rows say
what a model that always mentions its labels (a capable hosted model) would cost.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from lzt.text.backends.local import LOCAL_RETRY, LocalServer, bundled_gguf
from lzt.text.backends.openai import BATCH_SETS_PER_REQUEST, OpenAIBackend
from lzt.text.corpus import plan_corpus, write_corpus
from lzt.text.prompts import load_prompt
from lzt.vocab import load_vocabulary

PER_THOUSAND = 1000


def measure(server: LocalServer, vocabulary, prompt: str, sets: int, min_per_label: int, concurrency: int) -> dict:
    """One corpus run through the real server: requests (top-up included), verified, time."""
    template = load_prompt(prompt)
    backend = OpenAIBackend(
        server.alias, server.base_url, prompt=template, sets_per_request=BATCH_SETS_PER_REQUEST,
        retry=LOCAL_RETRY, name=f"local:{server.alias}",
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corpus.jsonl"
        plan = plan_corpus(vocabulary, sets, seed=0, min_per_label=min_per_label, backend=backend)
        started = time.perf_counter()
        stats = write_corpus(plan, backend, path, concurrency=concurrency)
        seconds = time.perf_counter() - started
        rows = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    backend.close()
    outcomes = [r for r in rows if "set" in r]
    # CoMC labels a sentence with everything it asked for; how often is that list wrong?
    missing = sum(1 for r in outcomes if set(r["labels"]) != set(r["requested"]))
    return {
        "prompt": template.id, "sets_per_request": backend.sets_per_request, "label_sets": stats.written,
        "requests": stats.requests, "verified": stats.verified, "dropped": stats.dropped,
        "topup_sets": stats.topup_sets, "seconds": seconds, "comc_wrong_lists": missing / max(1, len(outcomes)),
    }


def table(rows: list[tuple], header: tuple) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]

    def line(cells: tuple) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=60, help="label sets per measured run")
    parser.add_argument("--labels", default="voc")
    parser.add_argument("--min-per-label", type=int, default=0, help="top-up target (0: none)")
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    vocabulary = load_vocabulary(args.labels)
    server = LocalServer(bundled_gguf(), seed=0)
    started = time.perf_counter()
    server.start()
    startup = time.perf_counter() - started
    try:
        one = measure(server, vocabulary, "sentence", args.sets, args.min_per_label, args.concurrency)
        batch = measure(server, vocabulary, "sentences-batch", args.sets, args.min_per_label, args.concurrency)
    finally:
        server.stop()

    def per_thousand_verified(run: dict) -> str:
        return f"{PER_THOUSAND * run['requests'] / run['verified']:.0f}" if run["verified"] else "inf"

    def verified_share(run: dict) -> str:
        return f"{run['verified'] / max(1, run['verified'] + run['dropped']):.0%}"

    rows = [
        ("CoMC: 1 set per request, no check", 1, "1000 (unchecked)", "-", f"its label list is wrong for {one['comc_wrong_lists']:.0%} of these sentences"),
        ("lzt one-set prompt, SmolLM2 (measured)", 1, per_thousand_verified(one), verified_share(one), f"{one['requests']} req, {one['topup_sets']} top-up sets"),
        ("lzt batched prompt, SmolLM2 (measured)", batch["sets_per_request"], per_thousand_verified(batch), verified_share(batch), f"{batch['requests']} req, {batch['topup_sets']} top-up sets"),
        ("lzt one-set prompt, ideal model", 1, "1000", "100%", "every sentence verified"),
        ("lzt batched prompt, ideal model", BATCH_SETS_PER_REQUEST, f"{PER_THOUSAND // BATCH_SETS_PER_REQUEST}", "100%", "every sentence verified"),
    ]
    print(f"machine: {os.cpu_count()} CPU cores, Python {sys.version.split()[0]}; model: {server.gguf.name}; "
          f"{args.sets} label sets of {args.labels} per run, concurrency {args.concurrency}; server start {startup:.1f}s\n")
    print(table(rows, ("writer", "sets/request", "requests per 1,000 verified", "verified", "notes")))
    print()
    speed_rows = [
        (run["prompt"], run["label_sets"], run["requests"], f"{run['seconds']:.1f}",
         f"{run['label_sets'] / run['seconds']:.2f}", f"{run['verified'] / run['seconds']:.2f}")
        for run in (one, batch)
    ]
    print(table(speed_rows, ("prompt", "label sets", "requests", "seconds", "label sets/s", "verified sentences/s")))


if __name__ == "__main__":
    main()
