"""`lzt export`: Parquet shards (`lzt tag --out`) into the other output formats, model-free."""

from __future__ import annotations

from typing import Annotated

import typer

from lzt.cli.app import EXIT_OK, EXIT_SKIPPED, app
from lzt.cli.options import ExtraTagOptions, OutputFormatOptions, Quiet, with_groups
from lzt.cli.tag import write_records
from lzt.cli.ui import Ui
from lzt.config import Selection, keyword_tree
from lzt.output import get_format, make_writer
from lzt.output.extra import add_extra_tags


@app.command(
    epilog=(
        "Examples:\n\n"
        "  lzt export out/ > tags.jsonl\n\n"
        "  lzt export out/ --format xmp --on-existing append\n\n"
        "  lzt export out/ --format txt --prepend ohwx --tags-from-folders"
    )
)
@with_groups
def export(
    folder: Annotated[str, typer.Argument(help="Folder (or URI) of Parquet shards written by `lzt tag --out`.", show_default=False)],
    *,
    output: OutputFormatOptions,
    extra: ExtraTagOptions,
    underscores: Annotated[bool, typer.Option("--underscores", help="Write tags danbooru style: hot_dog for `hot dog` (folder tags too).")] = False,
    quiet: Quiet = False,
) -> int:
    """Write the tags stored in Parquet shards as JSON Lines, CSV, caption files or XMP sidecars
    (the same output and merge rules as `lzt tag --format`), without running the model."""
    from lzt.engines import read_shards, sidecar_records
    from lzt.engines.shards import stored_keyword_tree

    ui = Ui(quiet)
    file_writer = not get_format(output.format.value).stream
    records = sidecar_records(folder) if file_writer else read_shards(folder)
    records = add_extra_tags(records, extra.config(underscores))
    # The run's keyword tree, for XMP, in the names written now (--underscores restyles them).
    tree = keyword_tree(stored_keyword_tree(folder).parents, Selection(underscores=underscores))
    options = output.config(tree)
    done, skipped = write_records(records, make_writer(output.format.value, options), ui)
    ui.info(f"exported {done - skipped} of {done} records" + (f"; {skipped} skipped" if skipped else ""))
    return EXIT_SKIPPED if skipped else EXIT_OK
