"""`lzt tag`: images in, tags out."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Iterable, List, Optional

import typer

from lzt.cli.app import EXIT_OK, EXIT_SKIPPED, app
from lzt.cli.options import (
    DEFAULT_FORMAT,
    CacheOptions,
    DecodingOptions,
    DiscoveryOptions,
    Engine,
    EngineOptions,
    ExtraTagOptions,
    InputOptions,
    ModelOptions,
    OutputFormatOptions,
    Quiet,
    ScoringOptions,
    SelectionOptions,
    VideoSamplingOptions,
    load_tagger,
    with_groups,
)
from lzt.cli.ui import State, Ui
from lzt.config import ExtraTags
from lzt.output import BackgroundWriter, Writer, get_format, make_writer
from lzt.output.extra import add_extra_tags
from lzt.record import Record

if TYPE_CHECKING:
    from lzt.engines import ShardRun


def existing_paths(paths: list[str] | None) -> list[str]:
    """A path named on the command line must exist (a broken symlink does: it gets a record);
    URIs (s3://, file://) are checked by the sharded engines that read them."""
    for path in paths or []:
        if "://" not in path and not Path(path).exists() and not Path(path).is_symlink():
            raise typer.BadParameter(f"no such file or folder: {path}")
    return paths or []


def write_records(records: Iterable[Record], writer: Writer, ui: Ui) -> tuple[int, int]:
    """Write every record on the writer's own thread (BackgroundWriter), so tagging goes on while
    files are written; a file that failed, or whose output failed, is one warning line. Returns
    (records, skipped)."""
    done = skipped = 0
    with ui.progress("tagging", None, "images") as advance:

        def report(written: Iterable[Record]) -> None:
            nonlocal done, skipped
            for record in written:
                if record.error is not None:
                    skipped += 1
                    ui.warn(f"skipped {record.path}: {record.error}")
                done += 1
                advance(1)

        background = BackgroundWriter(writer)
        try:
            for record in records:
                if record.error is not None:
                    record.error = State.translate(record.error)
                background.submit(record)
                report(background.written())
        finally:  # also when interrupted: what was tagged is written
            background.close()
            report(background.written())
    return done, skipped


@app.command(
    epilog=(
        "Examples:\n\n"
        "  lzt tag ~/Pictures --topk 10 --format xmp\n\n"
        "  lzt tag ./images --classifier coco.lzt --format txt --threshold 0.2\n\n"
        "  lzt tag ./images --classifier coco.lzt | jq -r '.tags[0].label'\n\n"
        "  lzt tag ./dataset --format txt --prepend ohwx --tags-from-folders --underscores"
    )
)
@with_groups
def tag(
    paths: Annotated[Optional[List[str]], typer.Argument(help="Image, RAW and video files and folders (searched recursively); with --out also .tar shards and s3://, gs://, file:// URIs.", show_default=False, callback=existing_paths)] = None,
    classifier: Annotated[Optional[Path], typer.Option("--classifier", "-c", help="Classifier file made by `lzt build-classifier` (default: the built-in `everyday` classifier for --model, built once and cached).")] = None,
    *,
    selection: SelectionOptions,
    extra: ExtraTagOptions,
    output: OutputFormatOptions,
    decoding: DecodingOptions,
    discovery: DiscoveryOptions,
    video: VideoSamplingOptions,
    scoring: ScoringOptions,
    input: InputOptions,
    cache: CacheOptions,
    model: ModelOptions,
    engine: EngineOptions,
    quiet: Quiet = False,
) -> int:
    """Tag images, RAW photos and videos: one JSON line per file on stdout (or caption/XMP files
    beside them), or Parquet shards of images under --out (on Ray with --engine ray)."""
    ui = Ui(quiet)
    paths = paths or []
    added = extra.config(selection.underscores)
    if engine.from_embeddings is not None:
        return rescore_command(engine, classifier, selection, added, output, scoring, model, ui)
    if engine.sharded:
        _refuse_extra_tags(added)
        return shards_command(paths, classifier, engine, selection, output, decoding, discovery, scoring, input, model, ui)
    if not paths:
        raise typer.BadParameter("give image files or folders to tag (or --manifest with --out)", param_hint="PATHS")
    if any("://" in path for path in paths):
        raise typer.BadParameter("URIs (s3://, gs://, file://) are read by the sharded engines: add --out DIR", param_hint="PATHS")
    with load_tagger(classifier, model, scoring, input, cache, ui.progress) as tagger:
        chosen = selection.config(tagger.labels)
        writer = make_writer(output.format.value, output.config(tagger.keyword_tree(chosen, selection.lang)))
        records = tagger.tag(
            paths, chosen, batch_size=decoding.batch_size, workers=decoding.workers,
            decoding=decoding.config(), exclude=discovery.exclude, include_hidden=discovery.include_hidden, video=video.config(),
        )
        done, skipped = write_records(add_extra_tags(records, added), writer, ui)
    ui.info(f"tagged {done - skipped} of {done} images" + (f"; {skipped} skipped" if skipped else ""))
    return EXIT_SKIPPED if skipped else EXIT_OK


def _refuse_extra_tags(added: ExtraTags) -> None:
    """Shards store the classifier's tags only: trigger words and folder tags go to `lzt export`."""
    if added.prepend or added.folders:
        raise typer.BadParameter("--out stores the classifier's tags only; add trigger words and folder tags with `lzt export`", param_hint="--prepend/--tags-from-folders")


def _check_sharded(engine: EngineOptions, output: OutputFormatOptions) -> None:
    if engine.out is None:
        reason = "--engine ray" if engine.engine is Engine.ray else "--manifest"
        raise typer.BadParameter(f"{reason} writes Parquet shards: give --out DIR", param_hint="--out")
    if output.format.value != DEFAULT_FORMAT.value:
        raise typer.BadParameter("--out writes Parquet shards; turn them into other formats with `lzt export`", param_hint="--format")


def _report(run: ShardRun, what: str, ui: Ui) -> int:
    for path, reason in run.error_samples:
        ui.warn(f"skipped {path}: {State.translate(reason)}")
    if run.errors > len(run.error_samples):
        ui.warn(f"... and {run.errors - len(run.error_samples)} more (the `error` column of the shards lists them all)")
    resumed = f"; {run.skipped} shards were already done" if run.skipped else ""
    ui.info(f"{what} {run.images - run.errors} of {run.images} images into {run.out} ({run.shards} shards, {run.seconds:.1f} s{resumed})")
    return EXIT_SKIPPED if run.errors else EXIT_OK


def shards_command(
    paths: list[str], classifier: Path | None, engine: EngineOptions, selection: SelectionOptions, output: OutputFormatOptions,
    decoding: DecodingOptions, discovery: DiscoveryOptions, scoring: ScoringOptions, input: InputOptions, model: ModelOptions, ui: Ui,
) -> int:
    """`lzt tag ... --out DIR`: Parquet shards, in this process or on Ray."""
    from lzt.engines import tag_shards

    _check_sharded(engine, output)
    if engine.engine is Engine.ray and model.device == "auto":
        model = replace(model, device="cpu")  # the driver's copy only checks and describes; actors load their own
    with load_tagger(classifier, model, scoring, input, CacheOptions(no_cache=True), ui.progress) as tagger:
        chosen = selection.config(tagger.labels)
        run = tag_shards(
            paths, engine.out or "", tagger, manifest=engine.manifest, engine=engine.engine.value, ray=engine.ray(),
            selection=chosen, decoding=decoding.config(), batch_size=decoding.batch_size,
            shard_size=engine.shard_size, embeddings=engine.embeddings, exclude=discovery.exclude,
            include_hidden=discovery.include_hidden, tree=tagger.keyword_tree(chosen, selection.lang), progress=ui.progress,
        )
    return _report(run, "tagged", ui)


def rescore_command(
    engine: EngineOptions, classifier: Path | None, selection: SelectionOptions, added: ExtraTags, output: OutputFormatOptions,
    scoring: ScoringOptions, model: ModelOptions, ui: Ui,
) -> int:
    """`lzt tag --from-embeddings DIR`: new tags for stored embeddings, as records or shards."""
    from lzt.engines import rescore, rescore_shards, sidecar_records

    if classifier is None:
        raise typer.BadParameter("--from-embeddings re-scores with another classifier: give --classifier", param_hint="--classifier")
    if engine.manifest is not None:
        raise typer.BadParameter("--from-embeddings reads its shard folder; it takes no --manifest", param_hint="--manifest")
    with load_tagger(classifier, model, scoring, InputOptions(), CacheOptions(no_cache=True), ui.progress) as tagger:
        chosen = selection.config(tagger.labels)
        if engine.out is None and engine.engine is Engine.local:
            writer = make_writer(output.format.value, output.config(tagger.keyword_tree(chosen, selection.lang)))
            source = engine.from_embeddings or ""
            records = rescore(source, tagger, chosen)
            if not get_format(output.format.value).stream:  # captions, sidecars: beside the files themselves
                records = sidecar_records(source, records)
            done, skipped = write_records(add_extra_tags(records, added), writer, ui)
            ui.info(f"re-scored {done - skipped} of {done} images" + (f"; {skipped} skipped" if skipped else ""))
            return EXIT_SKIPPED if skipped else EXIT_OK
        _check_sharded(engine, output)
        _refuse_extra_tags(added)
        run = rescore_shards(
            engine.from_embeddings or "", engine.out or "", tagger, engine=engine.engine.value, ray=engine.ray(), selection=chosen,
            tree=tagger.keyword_tree(chosen, selection.lang), progress=ui.progress,
        )
    return _report(run, "re-scored", ui)
