"""`lzt tag`: images in, tags out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Iterable, List, Optional

import typer

from lzt.cli.app import EXIT_OK, EXIT_SKIPPED, app
from lzt.cli.options import (
    CacheOptions,
    DecodingOptions,
    DiscoveryOptions,
    InputOptions,
    ModelOptions,
    OutputFormatOptions,
    Quiet,
    ScoringOptions,
    SelectionOptions,
    load_tagger,
    with_groups,
)
from lzt.cli.ui import State, Ui
from lzt.output import WriteError, Writer, make_writer
from lzt.record import Record


def existing_paths(paths: list[Path]) -> list[Path]:
    """A path named on the command line must exist (a broken symlink does: it gets a record)."""
    for path in paths:
        if not path.exists() and not path.is_symlink():
            raise typer.BadParameter(f"no such file or folder: {path}")
    return paths


def write_records(records: Iterable[Record], writer: Writer, ui: Ui) -> tuple[int, int]:
    """Write every record; a file that failed, or whose output failed, is one warning line.
    Returns (records, skipped)."""
    done = skipped = 0
    with ui.progress("tagging", None, "images") as advance:
        for record in records:
            if record.error is not None:
                record.error = State.translate(record.error)
            try:
                writer.write(record)
            except WriteError as exc:  # this image's caption or sidecar; it is left as it was
                record.error = str(exc)
            if record.error is not None:
                skipped += 1
                ui.warn(f"skipped {record.path}: {record.error}")
            done += 1
            advance(1)
    writer.close()
    return done, skipped


@app.command(
    epilog=(
        "Examples:\n\n"
        "  lzt tag ~/Pictures --topk 10 --format xmp\n\n"
        "  lzt tag ./images --classifier coco.lzt --format txt --threshold 0.2\n\n"
        "  lzt tag ./images --classifier coco.lzt | jq -r '.tags[0].label'"
    )
)
@with_groups
def tag(
    paths: Annotated[List[Path], typer.Argument(help="Image files and folders (searched recursively).", show_default=False, callback=existing_paths)],
    classifier: Annotated[Optional[Path], typer.Option("--classifier", "-c", help="Classifier file made by `lzt build-classifier` (default: the built-in `everyday` classifier for --model, built once and cached).")] = None,
    *,
    selection: SelectionOptions,
    output: OutputFormatOptions,
    decoding: DecodingOptions,
    discovery: DiscoveryOptions,
    scoring: ScoringOptions,
    input: InputOptions,
    cache: CacheOptions,
    model: ModelOptions,
    quiet: Quiet = False,
) -> int:
    """Tag images: one JSON line per image on stdout (or caption/XMP files beside them)."""
    ui = Ui(quiet)
    with load_tagger(classifier, model, scoring, input, cache, ui.progress) as tagger:
        writer = make_writer(output.format.value, output.config())
        records = tagger.tag(
            paths, selection.config(tagger.labels), batch_size=decoding.batch_size, workers=decoding.workers,
            decoding=decoding.config(), exclude=discovery.exclude, include_hidden=discovery.include_hidden,
        )
        done, skipped = write_records(records, writer, ui)
    ui.info(f"tagged {done - skipped} of {done} images" + (f"; {skipped} skipped" if skipped else ""))
    return EXIT_SKIPPED if skipped else EXIT_OK
