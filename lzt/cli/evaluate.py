"""`lzt eval`: mAP and top-k precision/recall/F1 of a classifier on a labelled image set."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from lzt.eval import EvalResult

from lzt.cli.app import EXIT_OK, EXIT_SKIPPED, app
from lzt.cli.options import CacheOptions, DecodingOptions, InputOptions, ModelOptions, Quiet, ScoringOptions, load_tagger, with_groups
from lzt.cli.ui import State, Ui, console


def print_report(result: EvalResult, weights_note: str | None) -> None:
    """The per-label table and the summary, on stderr (stdout is for --json)."""
    from rich.table import Table

    table = Table(title="per-label AP (%)", show_lines=False)
    for column in ("label", "AP", "positives"):
        table.add_column(column, justify="left" if column == "label" else "right")
    order = sorted(range(len(result.labels)), key=lambda i: -1 if math.isnan(result.ap[i]) else result.ap[i], reverse=True)
    for i in order:
        ap = "-" if math.isnan(result.ap[i]) else f"{100 * result.ap[i]:.1f}"
        table.add_row(result.labels[i], ap, str(int(result.positives[i])))
    console.print(table)
    k = result.k
    summary = (
        f"mAP {100 * result.mean_ap:.2f} over {int((result.positives > 0).sum())} labels with positives, {result.images} images | "
        f"top-{k}: CP {100 * result.cp:.1f} CR {100 * result.cr:.1f} CF1 {100 * result.cf1:.1f} "
        f"OP {100 * result.op:.1f} OR {100 * result.or_:.1f} OF1 {100 * result.of1:.1f}"
    )
    console.print(summary, markup=False)
    if weights_note:
        console.print(weights_note, style="bold yellow", markup=False)


@app.command(
    "eval",
    epilog="Example:\n\n  lzt eval --classifier coco.lzt --dataset ../shared/data/coco128/labels.jsonl --json > scores.json",
)
@with_groups
def eval_command(
    *,
    classifier: Annotated[Path, typer.Option("--classifier", "-c", help="Classifier file.")],
    dataset: Annotated[Path, typer.Option("--dataset", "-d", help='JSON Lines: {"file": "relative/path.jpg", "labels": [...]} per image.')],
    k: Annotated[int, typer.Option("--k", min=1, help="k of the top-k precision/recall/F1.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as one JSON object on stdout.")] = False,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write precision-recall curves of the best and worst labels to this PNG (needs matplotlib: lzt[plot]).")] = None,
    decoding: DecodingOptions,
    scoring: ScoringOptions,
    input: InputOptions,
    cache: CacheOptions,
    model: ModelOptions,
    quiet: Quiet = False,
) -> int:
    """Score a classifier on labelled images: mAP, per-label AP, and top-k P/R/F1."""
    from lzt.eval import RANDOM_WEIGHTS_NOTE, evaluate  # the model side loads when the command runs

    ui = Ui(quiet)
    with load_tagger(classifier, model, scoring, input, cache, ui.progress) as tagger:
        evaluation = evaluate(
            tagger, dataset, k=k, batch_size=decoding.batch_size, workers=decoding.workers, decoding=decoding.config(),
            progress=ui.progress, on_skipped=lambda path, reason: ui.warn(f"skipped {path}: {State.translate(reason)}"),
        )
    note = ui_note = None
    if evaluation.random_weights:
        note = RANDOM_WEIGHTS_NOTE
        ui_note = State.translate(note)
    if plot is not None:
        from lzt.eval.plot import plot_pr_curves

        plot_pr_curves(evaluation.metrics, evaluation.scores, evaluation.targets, plot, note=" (RANDOM WEIGHTS)" if note else "")
        ui.info(f"wrote {plot}")
    if not quiet:
        print_report(evaluation.metrics, ui_note)
    elif ui_note:
        ui.warn(ui_note)
    if as_json:
        typer.echo(json.dumps(evaluation.as_dict()))
    return EXIT_SKIPPED if evaluation.skipped else EXIT_OK
