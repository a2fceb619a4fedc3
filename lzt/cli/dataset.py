"""`lzt dataset import`: official annotation formats into the JSON Lines of `lzt eval`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from lzt.cli.app import EXIT_OK, EXIT_SKIPPED, app
from lzt.cli.options import Quiet
from lzt.cli.ui import Ui
from lzt.config import DatasetFormat

dataset_app = typer.Typer(help="Labelled datasets for `lzt eval`: `lzt dataset import` reads official annotation formats.", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")


@dataset_app.command(
    "import",
    epilog=(
        "Examples:\n\n"
        "  lzt dataset import coco coco/annotations/instances_val2014.json --out coco-val.jsonl\n\n"
        "  lzt dataset import voc VOCdevkit/VOC2007 --split test --out voc-test.jsonl\n\n"
        "  lzt dataset import nuswide NUS-WIDE --split test --out nus-test.jsonl\n\n"
        "  lzt dataset import openimages validation-annotations-human-imagelabels.csv --images validation --out oi.jsonl"
    ),
)
def import_command(
    format: Annotated[DatasetFormat, typer.Argument(help="coco (instances JSON), voc (VOC folder), nuswide (NUS-WIDE folder), openimages (image-label CSV).", show_default=False)],
    source: Annotated[Path, typer.Argument(help="The annotation file (coco, openimages) or folder (voc, nuswide).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="JSON Lines to write (atomically); `file` entries are relative to its folder.")],
    images: Annotated[Optional[Path], typer.Option("--images", help="Folder of the image files (default: coco: SPLIT/ beside annotations/; voc: JPEGImages; nuswide: Flickr; openimages: the CSV's folder).")] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="voc: the ImageSets/Main list (default: every annotation); nuswide: test (default) or train.")] = None,
    classes: Annotated[Optional[Path], typer.Option("--classes", help="openimages: class descriptions CSV (default: the one `*class-descriptions*.csv` beside SOURCE).")] = None,
    skip_missing: Annotated[bool, typer.Option("--skip-missing", help="Leave out images whose file is not there (NUS-WIDE and OpenImages copies often lack some).")] = False,
    quiet: Quiet = False,
) -> int:
    """Write the dataset JSON Lines of `lzt eval` from COCO, VOC, NUS-WIDE or OpenImages annotations."""
    from lzt.eval.importers import import_dataset

    ui = Ui(quiet)
    report = import_dataset(
        format, source, out, images=images, split=split, classes=classes, skip_missing=skip_missing,
        on_problem=lambda path, reason: ui.warn(f"{path}: {reason}"),
    )
    kind = "positives and negatives" if report.ternary else "positives"
    ui.info(f"wrote {out}: {report.images} images, {report.labels} labels ({kind})")
    if report.missing_images:
        verb = "left out" if skip_missing else "listed anyway; `lzt eval` will skip them (or use --skip-missing)"
        ui.warn(f"{report.missing_images} image files are not there: {verb}")
    return EXIT_SKIPPED if report.problems else EXIT_OK
