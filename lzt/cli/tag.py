"""`lzt tag`: images in, tags out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from lzt.cli.app import DeviceOption, QuietOption, app
from lzt.cli.common import (
    CacheDirOption, NoCacheOption, open_cache,
    CalibrationOption, ImageSizeOption, LocalOption, LocalWeightOption, MapMixOption, MappingOption,
    MapTemperatureOption, NeighboursOption, ResizeOption, configure_input, encoder_for_classifier, scoring_config,
)
from lzt.cli.ui import Ui
from lzt.errors import EXIT_OK, EXIT_SKIPPED, UsageError
from lzt.images import DecodeOptions, PathBatches, default_workers, iter_batches
from lzt.tagfiles import parse_label_list, read_renames, read_thresholds
from lzt.tagger import Selection, tag_batches
from lzt.writers import FORMATS, ON_EXISTING, CaptionWriter, CsvWriter, JsonlWriter, Writer
from lzt.xmp import NAMINGS, SidecarError, XmpWriter


def make_writer(fmt: str, caption_ext: str, on_existing: str, xmp_naming: str = "full", xmp_parent: str = "lzt") -> Writer:
    if fmt == "jsonl":
        return JsonlWriter(sys.stdout)
    if fmt == "csv":
        return CsvWriter(sys.stdout)
    if fmt == "txt":
        return CaptionWriter(caption_ext, on_existing)
    if fmt == "xmp":
        return XmpWriter(on_existing=on_existing, naming=xmp_naming, parent=xmp_parent)
    raise UsageError(f"unknown --format {fmt!r} (choose from {', '.join(FORMATS)})")


@app.command(
    epilog=(
        "Examples:\n\n"
        "  lzt tag ~/Pictures --classifier coco.lzt --topk 5\n\n"
        "  lzt tag ./images --classifier coco.lzt --format txt --threshold 0.2\n\n"
        "  lzt tag ./images --classifier coco.lzt | jq -r '.tags[0].label'"
    )
)
def tag(
    paths: List[Path] = typer.Argument(..., help="Image files and folders (searched recursively).", show_default=False),
    classifier: Optional[Path] = typer.Option(None, "--classifier", "-c", help="Classifier file made by `lzt build-classifier` (default: the built-in `everyday` classifier for --model, built once and cached)."),
    topk: Optional[int] = typer.Option(10, "--topk", "-k", min=1, help="Keep at most this many tags per image (best first)."),
    threshold: Optional[float] = typer.Option(None, "--threshold", "-t", help="Keep only tags scoring at least this (labels in --thresholds have their own)."),
    thresholds_file: Optional[Path] = typer.Option(None, "--thresholds", help="File of per-label thresholds, `label: 0.25` per line."),
    min_score: Optional[float] = typer.Option(None, "--min-score", help="A floor for every label, per-label thresholds included."),
    exclude_tags: List[str] = typer.Option([], "--exclude-tags", help="Labels never to output (comma-separated, repeatable)."),
    rename_file: Optional[Path] = typer.Option(None, "--rename", help="File of output names, `label: new name` per line."),
    fmt: str = typer.Option("jsonl", "--format", "-f", help="jsonl or csv (stdout); txt (caption file beside each image); xmp (sidecar)."),
    caption_ext: str = typer.Option(".txt", "--caption-ext", help="Extension of caption files (--format txt)."),
    on_existing: str = typer.Option("overwrite", "--on-existing", help="When a caption/sidecar exists: skip, overwrite, or append (merge without duplicates)."),
    xmp_naming: str = typer.Option("full", "--xmp-naming", help="Sidecar names (--format xmp): full (photo.jpg.xmp: darktable, digiKam) or stem (photo.xmp: Lightroom)."),
    xmp_parent: str = typer.Option("lzt", "--xmp-parent", help="Parent of the hierarchical keywords (lzt|dog); empty for plain keywords."),
    batch_size: int = typer.Option(64, "--batch-size", "-b", min=1, help="Images per GPU/CPU batch."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", min=0, help="Decoding processes (default: one per core, at most 16; 0 decodes in the main process)."),
    exclude: List[str] = typer.Option([], "--exclude", help="Glob pattern of file or folder names to skip (repeatable)."),
    include_hidden: bool = typer.Option(False, "--include-hidden", help="Also search hidden folders and files."),
    max_pixels: int = typer.Option(200_000_000, "--max-pixels", help="Refuse images with more pixels than this (decompression bombs)."),
    decode_timeout: float = typer.Option(30.0, "--decode-timeout", min=0, help="Give up on a file whose decoding takes longer than this many seconds (0: never)."),
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
    model: Optional[str] = typer.Option(None, "--model", help="open_clip model (default: the classifier's; ViT-B-16 without --classifier)."),
    pretrained: Optional[str] = typer.Option(None, "--pretrained", help="Weights: open_clip tag, checkpoint file, or none (random; testing only)."),
    device: str = DeviceOption,
    quiet: bool = QuietOption,
) -> int:
    """Tag images: one JSON line per image on stdout (or caption/XMP files beside them)."""
    ui = Ui(quiet)
    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r} (choose from {', '.join(FORMATS)})")
    if on_existing not in ON_EXISTING:
        raise UsageError(f"unknown --on-existing {on_existing!r} (choose from {', '.join(ON_EXISTING)})")
    if xmp_naming not in NAMINGS:
        raise UsageError(f"unknown --xmp-naming {xmp_naming!r} (choose from {', '.join(NAMINGS)})")
    for path in paths:
        if not path.exists() and not path.is_symlink():
            raise UsageError(f"no such file or folder: {path}")
    scoring = scoring_config(mapping, map_temperature, map_mix, neighbours, local, local_weight, calibration)
    clf, encoder = encoder_for_classifier(classifier, model, pretrained, device, ui)
    configure_input(encoder, image_size, resize)
    selection = Selection(
        topk, threshold,
        per_label=read_thresholds(thresholds_file, clf.labels) if thresholds_file else {},
        min_score=min_score,
        exclude=parse_label_list(exclude_tags, clf.labels),
        rename=read_renames(rename_file, clf.labels) if rename_file else {},
    )
    cache, cache_spec = open_cache(no_cache, cache_dir, encoder, scoring)
    writer = make_writer(fmt, caption_ext, on_existing, xmp_naming, xmp_parent)
    workers = default_workers() if workers is None else workers
    batches = iter_batches(
        PathBatches(paths, batch_size, exclude, include_hidden), encoder.preprocess, workers,
        DecodeOptions(max_pixels=max_pixels, decode_timeout=decode_timeout or None, cache=cache_spec), pin_memory=encoder.device.type == "cuda",
    )
    done = skipped = 0
    with ui.progress("tagging", None, "images") as advance:
        for record in tag_batches(batches, encoder, clf, selection, scoring, cache=cache):
            try:
                writer.write(record)
            except SidecarError as exc:  # this image's sidecar is corrupt or unwritable; it is left as it was
                record.error = str(exc)
            if record.error is not None:
                skipped += 1
                ui.warn(f"skipped {record.path}: {record.error}")
            done += 1
            advance(1)
    writer.close()
    ui.info(f"tagged {done - skipped} of {done} images" + (f"; {skipped} skipped" if skipped else ""))
    return EXIT_SKIPPED if skipped else EXIT_OK
