"""`lzt search`: photos ranked by their similarity to words or to another photo."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from lzt.cli.app import EXIT_OK, EXIT_SKIPPED, app
from lzt.cli.options import CacheOptions, DecodingOptions, Device, DiscoveryOptions, InputOptions, Quiet, with_groups
from lzt.cli.tag import existing_paths
from lzt.cli.ui import State, Ui


@dataclass
class SearchModelOptions:
    """Model."""

    model: Annotated[Optional[str], typer.Option("--model", help="open_clip model (default: $LZT_MODEL, else ViT-B-16; for shards, the model that made them).")] = None
    pretrained: Annotated[Optional[str], typer.Option("--pretrained", help="Weights: open_clip tag, checkpoint file, or none (random; testing only). Default: $LZT_PRETRAINED, else the model's openai weights; for shards, theirs.")] = None
    device: Device = "auto"


@app.command(
    epilog=(
        "Examples:\n\n"
        "  lzt search \"dog on a beach\" ~/Pictures\n\n"
        "  lzt search --like ~/Pictures/best.jpg ~/Pictures --limit 20\n\n"
        "  lzt search \"red car\" out/ | jq -r .path     (Parquet shards of `lzt tag --out`)"
    )
)
@with_groups
def search(
    words_and_paths: Annotated[List[str], typer.Argument(metavar="[QUERY] PATH", help="The words to search for (not with --like), then image files and folders (searched recursively) or folders of Parquet shards written by `lzt tag --out`.", show_default=False)],
    *,
    like: Annotated[Optional[Path], typer.Option("--like", help="Find photos similar to this photo instead of words.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, help="Print the N best matches (0: every image, ranked).")] = 10,
    discovery: DiscoveryOptions,
    decoding: DecodingOptions,
    input: InputOptions,
    cache: CacheOptions,
    model: SearchModelOptions,
    quiet: Quiet = False,
) -> int:
    """Rank photos by CLIP similarity to words or to a photo (rclip-style): one JSON line per
    match on stdout, best first, `{"path", "score"}` (cosine similarity). Images the embedding
    cache holds (from `lzt tag` or an earlier search) are not decoded again."""
    from lzt.tagging.search import search as run_search  # the model side loads when the command runs

    ui = Ui(quiet)
    text = None if like is not None else words_and_paths[0]
    paths = existing_paths(words_and_paths if like is not None else words_and_paths[1:])
    if not paths:
        raise typer.BadParameter("give the photos or shard folders to search after the words", param_hint="PATH")
    if any("://" in path for path in paths):
        raise typer.BadParameter("search reads local photos and shard folders, not URIs", param_hint="PATH")
    skipped: list[str] = []

    def report(path: Path | str, reason: str) -> None:
        skipped.append(str(path))
        ui.warn(f"skipped {path}: {State.translate(reason)}")

    result = run_search(
        paths, text, like=like, limit=limit or None, model=model.model, pretrained=model.pretrained, device=model.device,
        input=input.config(), cache=cache.folder(), batch_size=decoding.batch_size, workers=decoding.workers,
        decoding=decoding.config(), exclude=discovery.exclude, include_hidden=discovery.include_hidden, progress=ui.progress,
        on_skipped=report,
    )
    for match in result.matches:
        typer.echo(json.dumps(match.to_dict(), ensure_ascii=True))
    ui.info(f"searched {result.images} images" + (f"; {result.skipped} skipped" if result.skipped else ""))
    return EXIT_SKIPPED if result.skipped else EXIT_OK
