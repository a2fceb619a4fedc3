"""Make the sentence corpus shipped for a built-in vocabulary: label_sets/NAME.corpus.jsonl.gz,
and its provenance, label_sets/NAME.corpus.md.

1. LLM sentences: those of the corpus shipped now (`--keep-llm`, default the current file) are
   re-verified and judged by the plausibility filter (lzt.text.plausibility) with the
   vocabulary's knowledge; the ones that pass are kept. With `--llm openai|local`, an LLM
   writes new ones first (`lzt generate`'s library call, resumable under --work), judged the
   same way: any OpenAI-compatible endpoint regenerates a corpus with the same command.
2. Template sentences: label sets drawn with the knowledge's co-occurrences (every label led
   into at least --min-per-label sets), one caption each composed from the knowledge; exact
   duplicates are dropped, and labels still short of the floor get sets of their own.
3. The result is gzipped beside the vocabulary (same input, same bytes) and checked with
   `lzt corpus check`; the provenance file records commands, seeds, counts and drop rates.

    python scripts/build_shipped_corpus.py coco          # the recipe of each built-in set
    python scripts/build_shipped_corpus.py --all
    python scripts/build_shipped_corpus.py coco --llm openai --base-url http://localhost:8000/v1 --llm-model Qwen/Qwen2.5-7B-Instruct --llm-sentences 20000
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from lzt import __version__
from lzt.config import LLMConfig
from lzt.text.backends.template import TemplateBackend
from lzt.text.check import check_corpus
from lzt.text.compose import SentenceComposer
from lzt.text.corpus import CORPUS_FORMAT, _read_lines, vocabulary_digest
from lzt.text.generate import generate_corpus
from lzt.text.mentions import MentionMatcher
from lzt.text.plausibility import PlausibilityFilter
from lzt.text.sampling import MAX_LABELS_PER_SET, SAMPLING_ID, CooccurrenceSampler
from lzt.vocab import load_vocabulary
from lzt.vocab.knowledge import Knowledge, load_knowledge

REPO = Path(__file__).resolve().parent.parent  # label_sets/ and .bench/ of this checkout
# What each built-in corpus must reach (issue 14): CoMC's 40,000 label sets for COCO; at least
# 400 sentences per label for VOC and NUS-WIDE; 30 for the 1,168 labels of `everyday`.
RECIPES = {
    "coco": {"min_sets": 40_000, "min_per_label": 400},
    "voc": {"min_sets": 0, "min_per_label": 400},
    "nuswide": {"min_sets": 0, "min_per_label": 400},
    "everyday": {"min_sets": 0, "min_per_label": 30},
}
MAX_TOPUP_ROUNDS = 50


def _key(sentence: str) -> str:
    return " ".join("".join(c if c.isalnum() else " " for c in sentence.lower()).split())


def llm_lines(path: Path | None) -> list[dict]:
    """The LLM-written lines of a corpus file (every writer but the template one), those an
    earlier build rejected included."""
    if path is None or not path.is_file():
        return []
    _, records, _ = _read_lines(path)
    return [r for r in records if "set" in r and r.get("sentence") and r.get("model") not in (None, "template")]


def judge(lines: list[dict], matcher: MentionMatcher, plausibility: PlausibilityFilter) -> tuple[list[dict], list[dict], Counter, Counter]:
    """The lines whose sentence mentions a label and passes the filter; the others as rejected
    lines (shipped too, so that a rebuild judges the same sentences again and anyone can see
    what was dropped and why); the reasons (every reason, and the first of each rejected line)."""
    kept, rejected, reasons, first = [], [], Counter(), Counter()
    for line in lines:
        sentence = line["sentence"]
        labels = matcher.labels(sentence)
        problems = ["no label: the sentence mentions none"] if not labels else plausibility.reasons(sentence)
        row = {"sentence": sentence, "labels": [] if problems else labels, "requested": line.get("requested", []),
               "model": line.get("model"), "prompt": line.get("prompt")}
        if problems:
            codes = [p.split(":", 1)[0] for p in problems]
            reasons.update(set(codes))
            first[codes[0]] += 1
            rejected.append({**row, "rejected": problems})
        else:
            kept.append(row)
    return kept, rejected, reasons, first


def new_llm_lines(name: str, args: argparse.Namespace, knowledge: Knowledge) -> tuple[list[dict], str | None]:
    """Sentences an LLM writes now (with --llm), resumably under --work."""
    if not args.llm:
        return [], None
    out = args.work / f"{name}.{args.llm}.jsonl"
    config = LLMConfig(args.llm, model=args.llm_model, base_url=args.base_url, concurrency=args.concurrency)
    generate_corpus(name, out, llm=config, sentences=args.llm_sentences, min_per_label=args.llm_min_per_label, seed=args.seed, knowledge=knowledge)
    command = (f"lzt generate --labels {name} --llm {args.llm}" + (f" --llm-model {args.llm_model}" if args.llm_model else "")
               + (f" --base-url {args.base_url}" if args.base_url else "")
               + f" --sentences {args.llm_sentences} --min-per-label {args.llm_min_per_label} --seed {args.seed} --out {out}")
    return llm_lines(out), command


def template_lines(knowledge: Knowledge, counts: list[int], args, recipe: dict, already: int, seen: set[str]) -> tuple[list[dict], dict]:
    """Composed sentences until every label has `min_per_label` and the corpus `min_sets`."""
    names = knowledge.vocabulary.names
    index = knowledge.vocabulary.index()
    composer = SentenceComposer(knowledge, args.seed)
    sampler = CooccurrenceSampler(knowledge, args.seed)
    floor, min_sets = recipe["min_per_label"], recipe["min_sets"]
    planned = sampler.sets(max(0, min_sets - already), floor)
    lines: list[dict] = []
    stats = {"planned_sets": len(planned), "duplicates": 0, "oversized": 0, "topup_sets": 0, "fill_sets": 0}

    def add(indices: list[int]) -> None:
        requested = [names[i] for i in indices]
        sentence = composer.sentence(requested)
        key = _key(sentence)
        if key in seen:
            stats["duplicates"] += 1
            return
        labels = composer.matcher.labels(sentence)
        if len(labels) > MAX_LABELS_PER_SET:  # a phrase named one label more ("a bowl of rice"): CoMC's sets have 1 to 5
            stats["oversized"] += 1
            return
        seen.add(key)
        for label in labels:
            counts[index[label]] += 1
        row = {"sentence": sentence, "labels": labels, "model": "template", "prompt": TemplateBackend.prompt_id}
        if set(requested) != set(labels):  # the composer mentions exactly the set, apart from labels its phrases name
            row["requested"] = requested
        lines.append(row)

    for indices in planned:
        add(indices)
    rng = random.Random(f"{args.seed}|shipped-topup")
    for _ in range(MAX_TOPUP_ROUNDS):  # duplicates dropped above may leave a label or the total short
        short = [i for i, n in enumerate(counts) if n < floor]
        missing_sets = min_sets - already - len(lines)
        if not short and missing_sets <= 0:
            break
        for i in short:
            for _ in range(floor - counts[i]):
                stats["topup_sets"] += 1
                add(sampler.led_by(i, rng))
        for _ in range(max(0, missing_sets)):
            stats["fill_sets"] += 1
            add(sampler.led_by(rng.randrange(len(names)), rng))
    return lines, stats


def write_gzip(path: Path, header: dict, rows: list[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with gzip.GzipFile(tmp, "wb", mtime=0, compresslevel=9) as handle:  # mtime 0: same input, same bytes
        for row in [header, *rows]:
            handle.write((json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode())
    tmp.replace(path)


def build(name: str, args: argparse.Namespace) -> None:
    started = time.time()
    recipe = dict(RECIPES[name])
    if args.min_per_label is not None:
        recipe["min_per_label"] = args.min_per_label
    if args.min_sets is not None:
        recipe["min_sets"] = args.min_sets
    vocabulary = load_vocabulary(name)
    knowledge_path = args.knowledge or REPO / "label_sets" / f"{name}.knowledge.jsonl"
    if not Path(knowledge_path).is_file():
        sys.exit(f"{knowledge_path} does not exist: the {name} corpus is composed from its knowledge (write or join it first)")
    knowledge = load_knowledge(vocabulary, knowledge_path, partial=args.partial)
    matcher = MentionMatcher(vocabulary)
    plausibility = PlausibilityFilter(knowledge)
    out = args.out or REPO / "label_sets" / f"{name}.corpus.jsonl.gz"
    keep_from = args.keep_llm if args.keep_llm is not None else REPO / "label_sets" / f"{name}.corpus.jsonl.gz"

    old = llm_lines(keep_from)
    kept, rejected, reasons, first = judge(old, matcher, plausibility)
    fresh, llm_command = new_llm_lines(name, args, knowledge)
    fresh_kept, fresh_rejected, fresh_reasons, _ = judge(fresh, matcher, plausibility)
    seen: set[str] = set()
    llm_rows = []
    for row in kept + fresh_kept:
        if _key(row["sentence"]) not in seen:
            seen.add(_key(row["sentence"]))
            llm_rows.append(row)
    counts = [0] * len(vocabulary)
    index = vocabulary.index()
    for row in llm_rows:
        for label in row["labels"]:
            counts[index[label]] += 1
    composed, stats = template_lines(knowledge, counts, args, recipe, len(llm_rows), seen)

    rows = [{"set": f"llm.{n}", **row} for n, row in enumerate(llm_rows + rejected + fresh_rejected)]
    rows += [{"set": f"template.{n}", **row} for n, row in enumerate(composed)]
    header = {
        "format": CORPUS_FORMAT, "version": 1, "vocabulary": vocabulary_digest(vocabulary), "labels": len(vocabulary),
        "seed": args.seed, "min_per_label": recipe["min_per_label"], "sets_per_request": 1,
        "model": "template + kept LLM sentences", "prompt": TemplateBackend.prompt_id, "sampling": SAMPLING_ID,
        "knowledge": knowledge.digest(), "filter": plausibility.id,
        "label_names": [[label.name, *label.synonyms] for label in vocabulary.labels],
    }
    write_gzip(out, header, rows)
    minutes = (time.time() - started) / 60
    report = check_corpus(out, name, knowledge)
    problems = report.problems(recipe["min_per_label"], recipe["min_sets"] or None)
    if not args.no_provenance and args.out is None:
        (REPO / "label_sets" / f"{name}.corpus.md").write_text(
            provenance(name, args, recipe, knowledge, keep_from, old, kept, reasons, first, fresh, fresh_kept, fresh_reasons,
                       llm_command, llm_rows, composed, stats, report, out, minutes), encoding="utf-8")
    print(f"{out}: {report.verified:,} sentences ({len(llm_rows):,} LLM, {len(composed):,} template), "
          f"per label min {min(report.per_label):,}; {out.stat().st_size / 1e6:.2f} MB; {_duration(minutes)}")
    for problem in problems:
        print(f"FLOOR NOT REACHED: {problem}", file=sys.stderr)
    if problems:
        sys.exit(1)


def _duration(minutes: float) -> str:
    return f"{minutes:.1f} min" if minutes >= 1 else f"{minutes * 60:.0f} s"


def _reasons(counter: Counter) -> str:
    return ", ".join(f"{code} {n}" for code, n in counter.most_common()) or "none"


def provenance(name, args, recipe, knowledge, keep_from, old, kept, reasons, first, fresh, fresh_kept, fresh_reasons,
               llm_command, llm_rows, composed, stats, report, out, minutes) -> str:
    counts = report.per_label
    command = f"python scripts/build_shipped_corpus.py {name}" + (f" --seed {args.seed}" if args.seed else "")
    if args.llm:
        command += f" --llm {args.llm}" + (f" --llm-model {args.llm_model}" if args.llm_model else "") + (
            f" --base-url {args.base_url}" if args.base_url else "") + f" --llm-sentences {args.llm_sentences}"
    sources = "; ".join(f"{model}: {n:,}" for model, n in report.sources.most_common())
    dropped = len(old) - len(kept)
    knowledge_file = Path(knowledge.source)
    knowledge_name = knowledge_file.name if knowledge_file.parent == REPO / "label_sets" else str(knowledge_file)
    lines = [
        f"# {name}.corpus.jsonl.gz: how it was made",
        "",
        f"- Command: `{command}` (lzt {__version__}; seed {args.seed}; {_duration(minutes)} on this machine, 2 CPU cores, no LLM run).",
        f"- Knowledge: `{knowledge_name}` (digest {knowledge.digest()}, {knowledge.written} of {len(knowledge)} labels written"
        + (", the rest guessed from their names" if knowledge.written < len(knowledge) else "") + "); see its provenance file.",
        f"- Recipe: every label in at least {recipe['min_per_label']} sentences"
        + (f", at least {recipe['min_sets']:,} label sets (verified sentences) in all" if recipe["min_sets"] else "") + ".",
        f"- LLM sentences judged: the {len(old)} LLM lines of `{Path(keep_from).name}` ("
        + (", ".join(f"{n} by `{model}`" for model, n in Counter(str(r.get("model")) for r in old).most_common()) or "none")
        + "; written by `lzt generate --llm local` as its earlier provenance in git history says); "
        f"kept {len(kept)}, dropped {dropped} ({dropped / max(1, len(old)):.1%}) by verification and the plausibility filter "
        f"`{PlausibilityFilter.id}`: the dropped ones stay in the file as lines with `rejected` reasons (no labels; "
        f"training skips them), so a rebuild judges the same sentences. Reasons (a sentence may have several): {_reasons(reasons)}; "
        f"first reason of each dropped sentence: {_reasons(first)}.",
    ]
    if llm_command:
        lines.append(f"- New LLM sentences: `{llm_command}`: {len(fresh_kept)} of {len(fresh)} kept (reasons: {_reasons(fresh_reasons)}).")
    lines += [
        f"- Template sentences (`--llm template`, prompt id `{TemplateBackend.prompt_id}`, lzt.text.compose): {stats['planned_sets']:,} label sets drawn with "
        f"the knowledge's co-occurrences (`{SAMPLING_ID}`, 15% of sets drawn uniformly, no `never` pair, two places or two weather "
        f"labels only as companions), "
        f"{stats['topup_sets']:,} top-up sets for labels short after duplicates were dropped, {stats['fill_sets']:,} fill sets; "
        f"{stats['duplicates']:,} duplicate sentences and {stats['oversized']:,} naming more than {MAX_LABELS_PER_SET} labels dropped; {len(composed):,} kept.",
        f"- Shipped: {report.verified:,} sentences ({sources}); sentences per label: min {min(counts):,}, "
        f"median {statistics.median(counts):,.0f}, max {max(counts):,}; labels per sentence: "
        + ", ".join(f"{k}: {v:,}" for k, v in sorted(report.sizes.items())) + f"; {out.stat().st_size / 1e6:.2f} MB gzipped.",
        f"- `lzt corpus check label_sets/{name}.corpus.jsonl.gz`: {report.duplicates} duplicates, {report.grammar_violations} grammar "
        f"violations, {sum(report.never_pairs.values())} `never` pairs, {report.unrelated_sentences:,} sentences "
        f"({report.unrelated_sentences / max(1, report.verified):.1%}) with a pair the knowledge does not relate (the uniform share).",
        "",
        "Regenerate with any OpenAI-compatible LLM (the new sentences are judged like the kept ones, and the",
        "template composer fills what is left):",
        "",
        "```bash",
        f"python scripts/build_shipped_corpus.py {name} --llm openai --base-url http://localhost:8000/v1 --llm-model MODEL --llm-sentences 20000",
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"built-in vocabularies ({', '.join(RECIPES)})")
    parser.add_argument("--all", action="store_true", help="every built-in vocabulary")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-per-label", type=int, help="override the recipe's floor")
    parser.add_argument("--min-sets", type=int, help="override the recipe's number of label sets")
    parser.add_argument("--knowledge", type=Path, help="knowledge file (default: label_sets/NAME.knowledge.jsonl)")
    parser.add_argument("--partial", action="store_true", help="labels the knowledge file leaves out are guessed (testing only)")
    parser.add_argument("--keep-llm", type=Path, help="corpus whose LLM sentences to judge and keep (default: the shipped one)")
    parser.add_argument("--out", type=Path, help="write here instead of label_sets/ (no provenance file)")
    parser.add_argument("--no-provenance", action="store_true", help="do not rewrite label_sets/NAME.corpus.md")
    parser.add_argument("--llm", choices=["openai", "local"], help="also let an LLM write new sentences")
    parser.add_argument("--llm-model", help="model name (openai) or GGUF file (local)")
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint")
    parser.add_argument("--concurrency", type=int)
    parser.add_argument("--llm-sentences", type=int, default=2000, help="label sets the LLM writes for")
    parser.add_argument("--llm-min-per-label", type=int, default=1)
    parser.add_argument("--work", type=Path, default=REPO / ".bench" / "corpora", help="resumable LLM corpus files")
    args = parser.parse_args()
    names = list(RECIPES) if args.all else args.names
    if not names or any(n not in RECIPES for n in names):
        parser.error(f"name one or more of {', '.join(RECIPES)}, or --all")
    args.work.mkdir(parents=True, exist_ok=True)
    for name in names:
        build(name, args)


if __name__ == "__main__":
    main()
