"""`lzt stats`: what a tagged set holds, from any output lzt writes."""

from __future__ import annotations

import json
import sys
from typing import IO, Annotated, List

import typer

from lzt.cli.app import EXIT_OK, EXIT_SKIPPED, app
from lzt.cli.options import DiscoveryOptions, Quiet, with_groups
from lzt.cli.tag import existing_paths
from lzt.cli.ui import State, Ui
from lzt.config import KeywordSource, OutputOptions
from lzt.output.stats import FolderStats, TagStats, ranked, tag_stats

BAR_WIDTH = 40


@app.command(
    epilog=(
        "Examples:\n\n"
        "  lzt tag ./dataset > tags.jsonl && lzt stats tags.jsonl\n\n"
        "  lzt stats ./dataset --from txt --json | jq .tags\n\n"
        "  lzt tag ./images | lzt stats -"
    )
)
@with_groups
def stats(
    sources: Annotated[List[str], typer.Argument(metavar="TAGS.jsonl|FOLDER", help="JSON Lines of `lzt tag` (- for stdin) or of a labelled set, a folder of Parquet shards (`lzt tag --out`), or a folder of photos with their captions or sidecars.", show_default=False)],
    *,
    source: Annotated[KeywordSource, typer.Option("--from", help="For a folder of photos: where their tags are, txt (caption files) or xmp (sidecars: dc:subject).")] = KeywordSource.txt,
    caption_ext: Annotated[str, typer.Option("--caption-ext", help="Extension of caption files (--from txt).")] = OutputOptions().caption_ext,
    top: Annotated[int, typer.Option("--top", min=1, help="Tags listed overall (each folder lists its 5 most frequent).")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout: every count, every tag, every folder, every image without tags.")] = False,
    discovery: DiscoveryOptions,
    quiet: Quiet = False,
) -> int:
    """Tag frequencies overall and per folder, images without tags and a histogram of tags per
    image, from the output of `lzt tag` in any form."""
    ui = Ui(quiet)
    existing_paths([name for name in sources if name != "-"])
    inputs: list[str | IO[str]] = [sys.stdin if name == "-" else name for name in sources]
    counted = tag_stats(
        inputs, keywords=source, caption_ext=caption_ext, exclude=discovery.exclude, include_hidden=discovery.include_hidden,
        on_unreadable=lambda path, reason: ui.warn(f"skipped {path}: {State.translate(reason)}"),
    )
    if as_json:
        typer.echo(json.dumps(counted.to_dict(), ensure_ascii=False, indent=1))
    else:
        typer.echo("\n".join(report(counted, top)))
    return EXIT_SKIPPED if counted.unreadable else EXIT_OK


def report(counted: TagStats, top: int) -> list[str]:
    """The text report: a summary, the histogram of tags per image, the most frequent tags and
    each folder's."""
    images = counted.images
    lines = [
        f"{images} images, {len(counted.tags)} distinct tags, {counted.mean_tags:.2f} tags per image; "
        f"{len(counted.untagged)} without tags" + (f"; {counted.errors} could not be tagged" if counted.errors else "")
    ]
    if counted.tag_counts:
        lines += ["", "tags per image:"]
        most = max(counted.tag_counts.values())
        for n in range(min(counted.tag_counts), max(counted.tag_counts) + 1):
            count = counted.tag_counts.get(n, 0)
            lines.append(f"  {n:>3}  {'#' * round(BAR_WIDTH * count / most):<{BAR_WIDTH}}  {count}")
    if counted.tags:
        shown = ranked(counted.tags)[:top]
        width = max(len(tag) for tag, _ in shown)
        lines += ["", f"tags (images carrying each; {min(top, len(counted.tags))} of {len(counted.tags)}):"]
        lines += [f"  {tag:<{width}}  {count:>7}  {100 * count / images:5.1f}%" for tag, count in shown]
    if len(counted.folders) > 1:
        lines += ["", "folders:"]
        lines += [f"  {name}: {_folder_line(folder)}" for name, folder in sorted(counted.folders.items())]
    if counted.untagged:
        lines += ["", "without tags:"] + [f"  {path}" for path in counted.untagged[:top]]
        if len(counted.untagged) > top:
            lines.append(f"  ... and {len(counted.untagged) - top} more (--json lists them all)")
    return lines


def _folder_line(folder: FolderStats) -> str:
    best = ", ".join(f"{tag} {count}" for tag, count in ranked(folder.tags)[:5])
    untagged = f", {folder.untagged} without tags" if folder.untagged else ""
    return f"{folder.images} images{untagged}" + (f"; {best}" if best else "")
