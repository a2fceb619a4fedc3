"""`lzt eval`: mAP and top-k precision/recall/F1 of a classifier on a labelled image set."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, List, Optional

import typer

if TYPE_CHECKING:
    from lzt.eval import EvalResult, Evaluation

from lzt.cli.app import EXIT_OK, EXIT_SKIPPED, app
from lzt.cli.options import CacheOptions, DecodingOptions, InputOptions, ModelOptions, Quiet, ScoringOptions, load_tagger, with_groups
from lzt.cli.ui import State, Ui, console
from lzt.config import DEFAULT_MIN_POSITIVES, Calibration, Convention, ScoringConfig, Unannotated


def print_table(result: EvalResult) -> None:
    """The per-label AP table, best first, on stderr."""
    from rich.table import Table

    table = Table(title=f"per-label AP (%, {result.convention.value} convention)", show_lines=False)
    for column in ("label", "AP", "positives"):
        table.add_column(column, justify="left" if column == "label" else "right")
    order = sorted(range(len(result.labels)), key=lambda i: -1 if math.isnan(result.ap[i]) else result.ap[i], reverse=True)
    for i in order:
        ap = "-" if math.isnan(result.ap[i]) else f"{100 * result.ap[i]:.1f}"
        table.add_row(result.labels[i], ap, str(int(result.positives[i])))
    console.print(table)


def summary(result: EvalResult, title: str) -> str:
    """Two lines: the mAP under each convention, then the top-k figures for each k."""
    others = " ".join(f"{name} {100 * value:.2f}" for name, value in result.map_by_convention.items() if name != result.convention.value)
    ignored = f", {result.ignored} pairs ignored" if result.ignored else ""
    lines = [
        f"{title}: mAP {100 * result.mean_ap:.2f} ({result.convention.value} convention: {result.labels_with_positives} of "
        f"{len(result.labels)} labels with positives, {result.images} images{ignored}) | other conventions: {others}",
    ]
    for topk in result.topk:
        lines.append(
            f"  top-{topk.k}: CP {100 * topk.cp:.1f} CR {100 * topk.cr:.1f} CF1 {100 * topk.cf1:.1f} "
            f"OP {100 * topk.op:.1f} OR {100 * topk.or_:.1f} OF1 {100 * topk.of1:.1f}"
        )
    return "\n".join(lines)


def print_report(evaluation: Evaluation, weights_note: str | None) -> None:
    """The per-label table and the summaries, on stderr (stdout is for --json)."""
    print_table(evaluation.metrics)
    console.print(summary(evaluation.metrics, "all labels (GZSL)" if evaluation.subset else "all labels"), markup=False)
    if evaluation.subset is not None:
        console.print(summary(evaluation.subset, f"subset (ZSL, {len(evaluation.subset_labels)} labels ranked alone)"), markup=False)
    if weights_note:
        console.print(weights_note, style="bold yellow", markup=False)


def threshold_comment(classifier: str, source: str, scoring: ScoringConfig) -> str:
    """Where thresholds came from: they hold only for the same classifier and scoring options."""
    mapping = scoring.mapping
    return (
        f"lzt thresholds for {classifier}, fitted on {source}\n"
        f"valid with the scoring options they were fitted with: --mapping {mapping.method.value} --map-temperature {mapping.temperature} "
        f"--map-mix {mapping.mix} --{'' if scoring.local else 'no-'}local --local-weight {scoring.local_weight} "
        f"--calibration {scoring.calibration.value}"
        + ("\n(image+label was computed over the whole labelled set here; `lzt tag` computes it per batch)"
           if scoring.calibration is Calibration.image_label else "")
    )


@app.command(
    "eval",
    epilog=(
        "Examples:\n\n"
        "  lzt eval --classifier coco.lzt --dataset ../shared/data/coco128/labels.jsonl --json > scores.json\n\n"
        "  lzt eval -c nus.lzt -d nus.jsonl --k 3 --k 5 --subset unseen81.txt --convention mkt\n\n"
        "  lzt eval -c coco.lzt -d labels.jsonl --write-thresholds thresholds.txt"
    ),
)
@with_groups
def eval_command(
    *,
    classifier: Annotated[Path, typer.Option("--classifier", "-c", help="Classifier file.")],
    dataset: Annotated[Path, typer.Option("--dataset", "-d", help='JSON Lines: {"file": "relative/path.jpg", "labels": [...]} per image, optionally "negatives": [...].')],
    k: Annotated[List[int], typer.Option("--k", min=1, help="k of the top-k precision/recall/F1 (repeatable: --k 3 --k 5, one scoring pass).")] = [3],  # noqa: B006
    subset: Annotated[Optional[str], typer.Option("--subset", help="Also evaluate these labels ranked alone (ZSL beside GZSL): a vocabulary file or a built-in set name.")] = None,
    convention: Annotated[Convention, typer.Option("--convention", help="Whose mAP leads: lzt (scikit-learn's), comc (CoMC/TaI-DPT's code), mkt (MKT's code). All three are printed.")] = Convention.lzt,
    unannotated: Annotated[Unannotated, typer.Option("--unannotated", help='On lines that list "negatives": labels listed neither way are ignored (VOC difficult, OpenImages unverified) or negative.')] = Unannotated.ignore,
    write_thresholds: Annotated[Optional[Path], typer.Option("--write-thresholds", help="Write per-label F1-maximising thresholds to this file, for `lzt tag --thresholds`.")] = None,
    min_positives: Annotated[int, typer.Option("--min-positives", min=1, help="Labels with fewer positive images get the pooled-F1 fallback threshold (--write-thresholds).")] = DEFAULT_MIN_POSITIVES,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as one JSON object on stdout.")] = False,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write precision-recall curves of the best and worst labels to this PNG (needs matplotlib: lzt[plot]).")] = None,
    decoding: DecodingOptions,
    scoring: ScoringOptions,
    input: InputOptions,
    cache: CacheOptions,
    model: ModelOptions,
    quiet: Quiet = False,
) -> int:
    """Score a classifier on labelled images: mAP (three conventions), per-label AP, and top-k P/R/F1;
    optionally fit per-label thresholds."""
    from lzt.eval import RANDOM_WEIGHTS_NOTE, evaluate  # the model side loads when the command runs

    ui = Ui(quiet)
    with load_tagger(classifier, model, scoring, input, cache, ui.progress) as tagger:
        evaluation = evaluate(
            tagger, dataset, k=k, subset=subset, convention=convention, unannotated=unannotated, batch_size=decoding.batch_size,
            workers=decoding.workers, decoding=decoding.config(), progress=ui.progress,
            on_skipped=lambda path, reason: ui.warn(f"skipped {path}: {State.translate(reason)}"),
        )
    note = ui_note = None
    if evaluation.random_weights:
        note = RANDOM_WEIGHTS_NOTE
        ui_note = State.translate(note)
    if plot is not None:
        from lzt.eval.plot import plot_pr_curves

        plot_pr_curves(evaluation.metrics, evaluation.scores, evaluation.targets, plot, note=" (RANDOM WEIGHTS)" if note else "", ignored=evaluation.ignored)
        ui.info(f"wrote {plot}")
    if write_thresholds is not None:
        thresholds = evaluation.fit_thresholds(min_positives)
        source = f"{evaluation.metrics.images} images of {dataset}"
        thresholds.save(write_thresholds, threshold_comment(classifier.name, source, scoring.config()))
        ui.info(f"wrote {write_thresholds}: {int(thresholds.fitted.sum())} labels fitted, {int((~thresholds.fitted).sum())} on the fallback {thresholds.fallback:.4g}")
    if not quiet:
        print_report(evaluation, ui_note)
    elif ui_note:
        ui.warn(ui_note)
    if as_json:
        typer.echo(json.dumps(evaluation.as_dict()))
    return EXIT_SKIPPED if evaluation.skipped else EXIT_OK
