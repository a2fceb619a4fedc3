"""`lzt adapt`: a classifier that also learned from photos a user confirmed (lzt.adapt)."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, List

import typer

from lzt.cli.app import EXIT_OK, EXIT_SKIPPED, app
from lzt.cli.options import CacheOptions, DecodingOptions, InputOptions, ModelOptions, Quiet, ScoringOptions, load_tagger, with_groups
from lzt.cli.ui import State, Ui
from lzt.config import AdaptConfig
from lzt.errors import UsageError

_ADAPT = AdaptConfig()


class Unannotated(str, Enum):
    negative = "negative"
    ignore = "ignore"


@app.command(
    "adapt",
    epilog=(
        "Examples:\n\n"
        "  lzt adapt --classifier coco.lzt --from labels.jsonl --out coco-mine.lzt\n\n"
        "  lzt adapt -c coco.lzt --from decisions.jsonl --from more.jsonl -o coco-mine.lzt\n\n"
        "  lzt adapt -c coco.lzt --from review.db --from ~/Pictures/keyworded -o coco-mine.lzt"
    ),
)
@with_groups
def adapt_command(
    *,
    classifier: Annotated[Path, typer.Option("--classifier", "-c", help="The classifier to adapt (left as it is).")],
    sources: Annotated[List[Path], typer.Option("--from", metavar="FILE|DB|FOLDER", help='Evidence (repeatable): a labelled set {"file", "labels"[, "negatives"]} or review decisions {"path", "label", "decision": accept|reject} as JSON Lines, a review database (review.db), or a folder of photos whose XMP sidecars carry keywords; the kind is recognised per path.')],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the adapted classifier.")],
    unannotated: Annotated[Unannotated, typer.Option("--unannotated", help="Labelled sets: labels a row does not list are rejected (negative, as lzt eval counts them) or left unannotated (ignore).")] = Unannotated.negative,
    strength: Annotated[float, typer.Option("--strength", min=0, help="Pull toward the text-trained weights (0: the evidence alone; larger: closer to the original).")] = _ADAPT.strength,
    unknown_weight: Annotated[float, typer.Option("--unknown-weight", min=0, max=1, help="Weight of unannotated labels, assumed not to apply, against confirmed ones.")] = _ADAPT.unknown_weight,
    steps: Annotated[int, typer.Option("--steps", min=0, help="Training steps over all the evidence.")] = _ADAPT.steps,
    as_json: Annotated[bool, typer.Option("--json", help="Print the adaptation record (evidence counts, settings) as JSON on stdout.")] = False,
    decoding: DecodingOptions,
    scoring: ScoringOptions,
    input: InputOptions,
    cache: CacheOptions,
    model: ModelOptions,
    quiet: Quiet = False,
) -> int:
    """Adapt a classifier to confirmed photos: its weights also learn from their image embeddings."""
    from lzt.adapt import adapt_classifier, collect_evidence, read_photo_labels  # the model side loads when the command runs
    from lzt.adapt.sources import detect_source
    from lzt.classifier import save_classifier
    from lzt.eval.dataset import vocabulary_of

    if out.resolve() == classifier.resolve():
        raise UsageError("`out` must differ from `classifier`: the classifier adapted is kept as it is")
    config = AdaptConfig(strength=strength, unknown_weight=unknown_weight, steps=steps)
    # Evidence files are read before the model loads, so a wrong path fails at once; photos'
    # keywords are matched against the classifier's labels and synonyms once it is loaded.
    kinds = [detect_source(source) for source in sources]
    read = {n: read_photo_labels(source, kind, unannotated=unannotated.value) for n, (source, kind) in enumerate(zip(sources, kinds)) if kind != "keywords"}
    ui = Ui(quiet)
    with load_tagger(classifier, model, scoring, input, cache, ui.progress) as tagger:
        vocabulary = vocabulary_of(tagger.labels, tagger.classifier.synonyms)
        photos = [
            photo for n, source in enumerate(sources)
            for photo in (read[n] if n in read else read_photo_labels(source, "keywords", labels=vocabulary))
        ]
        evidence = collect_evidence(
            tagger, photos, sources=[source.name for source in sources], batch_size=decoding.batch_size,
            workers=decoding.workers, decoding=decoding.config(), progress=ui.progress,
            on_skipped=lambda path, reason: ui.warn(f"skipped {path}: {State.translate(reason)}"),
        )
        counts = evidence.counts()
        ui.info(
            f"evidence: {counts['photos']} photos ({len(evidence.skipped)} skipped), {counts['confirmed']} confirmed and "
            f"{counts['rejected']} rejected labels; {counts['labels_confirmed']} of {len(evidence.labels)} labels confirmed at least once"
        )
        adapted = adapt_classifier(tagger.classifier, evidence, mapping=tagger.scoring.mapping, config=config, device=tagger.device)
    save_classifier(adapted, out)
    record = adapted.adaptations[-1]
    ui.info(f"wrote {out} (adapted from {classifier}, sha256 {record['base_sha256'][:12]})")
    if as_json:
        typer.echo(json.dumps({**record, "skipped": [str(path) for path, _ in evidence.skipped],
                               "unknown_labels": evidence.unknown_labels}))
    return EXIT_SKIPPED if evidence.skipped else EXIT_OK
