"""`lzt calibrate`: per-label thresholds from photos a person already keyworded."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from lzt.cli.app import EXIT_OK, EXIT_SKIPPED, app
from lzt.cli.evaluate import threshold_comment
from lzt.cli.options import (
    CacheOptions,
    DecodingOptions,
    DiscoveryOptions,
    InputOptions,
    ModelOptions,
    Quiet,
    ScoringOptions,
    load_tagger,
    with_groups,
)
from lzt.cli.tag import existing_paths
from lzt.cli.ui import State, Ui, console
from lzt.config import DEFAULT_MIN_POSITIVES, KeywordSource, OutputOptions
from lzt.output.xmp import REVIEW_PARENT

_OUTPUT = OutputOptions()


@app.command(
    epilog=(
        "Examples:\n\n"
        "  lzt calibrate ~/Pictures/tagged --from xmp --classifier coco.lzt --out thresholds.txt\n\n"
        "  lzt tag ~/Pictures/new --classifier coco.lzt --thresholds thresholds.txt --topk 20 --format xmp"
    )
)
@with_groups
def calibrate(
    paths: Annotated[List[str], typer.Argument(help="Photos and folders (searched recursively); those with keywords are used.", show_default=False, callback=existing_paths)],
    *,
    source: Annotated[KeywordSource, typer.Option("--from", help="Where the photos' keywords are: xmp (sidecars, both namings) or txt (caption files).")] = KeywordSource.xmp,
    classifier: Annotated[Optional[Path], typer.Option("--classifier", "-c", help="Classifier file (default: the built-in `everyday` classifier).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Thresholds file to write (default: stdout), for `lzt tag --thresholds`.")] = None,
    min_positives: Annotated[int, typer.Option("--min-positives", min=1, help="Labels on fewer keyworded photos get the pooled-F1 fallback threshold.")] = DEFAULT_MIN_POSITIVES,
    caption_ext: Annotated[str, typer.Option("--caption-ext", help="Extension of caption files (--from txt).")] = _OUTPUT.caption_ext,
    xmp_parent: Annotated[str, typer.Option("--xmp-parent", help="Parent under which lzt wrote hierarchical keywords (`lzt tag --xmp-parent`, `lzt apply`'s markers); entries under it are not evidence.")] = REVIEW_PARENT,
    discovery: DiscoveryOptions,
    decoding: DecodingOptions,
    scoring: ScoringOptions,
    input: InputOptions,
    cache: CacheOptions,
    model: ModelOptions,
    quiet: Quiet = False,
) -> int:
    """Fit per-label thresholds on photos you already keyworded: their keywords that match the
    vocabulary (names, synonyms, plurals) are the truth for the rest of your photos."""
    from lzt.eval.keywords import describe, thresholds_from_keywords  # the model side loads when the command runs

    ui = Ui(quiet)
    unreadable: list[Path] = []

    def skipped(path: Path, reason: str) -> None:
        unreadable.append(path)
        ui.warn(f"skipped {path}: {State.translate(reason)}")

    with load_tagger(classifier, model, scoring, input, cache, ui.progress) as tagger:
        fit = thresholds_from_keywords(
            tagger, paths, source=source, min_positives=min_positives, caption_ext=caption_ext, xmp_parent=xmp_parent,
            exclude=discovery.exclude, include_hidden=discovery.include_hidden, batch_size=decoding.batch_size,
            workers=decoding.workers, decoding=decoding.config(), progress=ui.progress, on_unreadable=skipped, on_skipped=skipped,
        )
    ui.info(describe(fit.keywords))
    thresholds = fit.thresholds
    photos = f"{fit.evaluation.metrics.images} photos keyworded in {source.value} under {', '.join(paths)}"
    comment = threshold_comment(classifier.name if classifier else "the built-in classifier", photos, scoring.config())
    if out is None:
        typer.echo(thresholds.text(comment), nl=False)
    else:
        thresholds.save(out, comment)
        ui.info(f"wrote {out}")
    if not quiet:
        fitted = [i for i in range(len(thresholds.labels)) if thresholds.fitted[i]]
        for i in sorted(fitted, key=lambda i: -thresholds.positives[i])[:20]:
            console.print(
                f"  {thresholds.labels[i]}: {thresholds.values[i]:.4g} (F1 {thresholds.f1[i]:.2f}, {int(thresholds.positives[i])} photos)",
                markup=False,
            )
        ui.info(f"{len(fitted)} labels fitted, {len(thresholds.labels) - len(fitted)} on the fallback {thresholds.fallback:.4g}")
    if fit.evaluation.random_weights:
        ui.warn("RANDOM WEIGHTS: thresholds fitted on chance-level scores are good for testing only")
    return EXIT_SKIPPED if unreadable else EXIT_OK
