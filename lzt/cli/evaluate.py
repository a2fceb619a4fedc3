"""`lzt eval`: mAP and top-k precision/recall/F1 of a classifier on a labelled image set."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

from dataclasses import replace

import numpy as np
import torch
import typer

from lzt.calibration import calibrate
from lzt.cli.app import DeviceOption, QuietOption, app
from lzt.cli.common import (
    CacheDirOption, NoCacheOption, open_cache,
    CalibrationOption, ImageSizeOption, LocalOption, LocalWeightOption, MapMixOption, MappingOption,
    MapTemperatureOption, NeighboursOption, ResizeOption, configure_input, encoder_for_classifier, scoring_config,
)
from lzt.cli.ui import Ui, console
from lzt.errors import EXIT_OK, EXIT_SKIPPED, LztError
from lzt.evaluate import read_labelled_set, target_matrix
from lzt.images import DecodeOptions, chunked, default_workers, iter_batches
from lzt.metrics import EvalResult, evaluate
from lzt.tagger import Selection, tag_batches


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
def eval_command(
    classifier: Path = typer.Option(..., "--classifier", "-c", help="Classifier file."),
    dataset: Path = typer.Option(..., "--dataset", "-d", help='JSON Lines: {"file": "relative/path.jpg", "labels": [...]} per image.'),
    k: int = typer.Option(3, "--k", min=1, help="k of the top-k precision/recall/F1."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as one JSON object on stdout."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write precision-recall curves of the best and worst labels to this PNG (needs matplotlib: lzt[plot])."),
    batch_size: int = typer.Option(64, "--batch-size", "-b", min=1, help="Images per batch."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", min=0, help="Decoding processes."),
    mapping: str = MappingOption,
    map_temperature: float = MapTemperatureOption,
    map_mix: float = MapMixOption,
    neighbours: int = NeighboursOption,
    local: bool = LocalOption,
    local_weight: float = LocalWeightOption,
    calibration: str = CalibrationOption,
    image_size: Optional[int] = ImageSizeOption,
    resize: str = ResizeOption,
    cache_dir: Optional[Path] = CacheDirOption,
    no_cache: bool = NoCacheOption,
    model: Optional[str] = typer.Option(None, "--model", help="open_clip model (default: the classifier's)."),
    pretrained: Optional[str] = typer.Option(None, "--pretrained", help="Weights: tag, checkpoint file, or none."),
    device: str = DeviceOption,
    quiet: bool = QuietOption,
) -> int:
    """Score a classifier on labelled images: mAP, per-label AP, and top-k P/R/F1."""
    ui = Ui(quiet)
    scoring = scoring_config(mapping, map_temperature, map_mix, neighbours, local, local_weight, calibration)
    clf, encoder = encoder_for_classifier(classifier, model, pretrained, device, ui)
    configure_input(encoder, image_size, resize)
    labelled = read_labelled_set(dataset, clf.labels)
    for label, count in sorted(labelled.unknown.items()):
        ui.warn(f"dataset label {label!r} ({count} images) is not in the classifier's vocabulary; ignored")
    workers = default_workers() if workers is None else workers
    cache, cache_spec = open_cache(no_cache, cache_dir, encoder, scoring)
    batches = iter_batches(list(chunked(labelled.files, batch_size)), encoder.preprocess, workers, DecodeOptions(cache=cache_spec))
    scores, keep = [], []
    with ui.progress("scoring", len(labelled.files), "images") as advance:
        # Calibrate once over the whole set below: per-label statistics need every image.
        per_batch = replace(scoring, calibration="none")
        for row, record in enumerate(tag_batches(batches, encoder, clf, Selection(topk=1), per_batch, keep_scores=True, cache=cache)):
            if record.error is not None:
                ui.warn(f"skipped {record.path}: {record.error}")
            else:
                scores.append(record.scores.numpy())
                keep.append(row)
            advance(1)
    if not scores:
        raise LztError("no image of the dataset could be read")
    targets = target_matrix([labelled.labels[i] for i in keep], clf.labels)
    all_scores = calibrate(torch.from_numpy(np.stack(scores)), scoring.calibration).numpy()
    result = evaluate(all_scores, targets, clf.labels, k)
    note = None
    if encoder.pretrained == "none":
        note = "RANDOM WEIGHTS (--pretrained none): these figures are chance level and say nothing about lzt's quality."
    if plot is not None:
        from lzt.plot import plot_pr_curves

        plot_pr_curves(result, all_scores, targets, plot, note=" (RANDOM WEIGHTS)" if note else "")
        ui.info(f"wrote {plot}")
    if not quiet:
        print_report(result, note)
    elif note:
        ui.warn(note)
    if as_json:
        payload = result.as_dict()
        payload["random_weights"] = encoder.pretrained == "none"
        typer.echo(json.dumps(payload))
    return EXIT_SKIPPED if len(keep) < len(labelled.files) else EXIT_OK
