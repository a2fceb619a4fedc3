"""`lzt review` (a local page to accept, reject and add tags) and `lzt apply` (the decisions into
XMP sidecars or caption files)."""

from __future__ import annotations

import contextlib
import tempfile
import webbrowser
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Iterable, Iterator, List, Optional

import typer

from lzt.cli.app import EXIT_OK, EXIT_SKIPPED, app
from lzt.cli.options import (
    CacheOptions,
    DecodingOptions,
    DiscoveryOptions,
    InputOptions,
    ModelOptions,
    Quiet,
    ScoringOptions,
    SelectionOptions,
    load_tagger,
    with_groups,
)
from lzt.cli.ui import Ui, console
from lzt.config import OnExisting, OutputOptions, XmpNaming
from lzt.output.xmp import REVIEW_PARENT

if TYPE_CHECKING:
    from lzt.review import AddReport, ReviewItem, ReviewStore

_OUTPUT = OutputOptions()
DEFAULT_DB = Path("review.db")
TAGS_SUFFIXES = (".jsonl", ".ndjson")

Database = Annotated[Path, typer.Option("--db", help="The review database (SQLite): decisions are kept there as they are made.")]
Classifier = Annotated[Optional[Path], typer.Option("--classifier", "-c", help="Classifier file (default for photos: the built-in `everyday` classifier). With a tags file: re-score its photos for the candidates below the cut.")]
Labels = Annotated[Optional[str], typer.Option("--labels", "-l", help="Vocabulary (built-in name or file) whose labels may be added (and, for `apply`, written).")]


class ReviewFormat(str, Enum):
    xmp = "xmp"
    txt = "txt"


@dataclass
class ApplyOptions:
    """Applying the review."""

    format: Annotated[ReviewFormat, typer.Option("--format", "-f", help="xmp: sidecars, reviewed tags as lzt|reviewed|dog and undecided ones as lzt|auto|dog; txt: caption files.")] = ReviewFormat.xmp
    caption_ext: Annotated[str, typer.Option("--caption-ext", help="Extension of caption files (--format txt).")] = _OUTPUT.caption_ext
    on_existing: Annotated[OnExisting, typer.Option("--on-existing", help="overwrite: lzt's keywords become the review's outcome (others' stay); append: remove only what was rejected; skip: leave existing files alone.")] = _OUTPUT.on_existing
    xmp_naming: Annotated[XmpNaming, typer.Option("--xmp-naming", help="Sidecar names: full (photo.jpg.xmp) or stem (photo.xmp).")] = _OUTPUT.xmp_naming
    xmp_parent: Annotated[str, typer.Option("--xmp-parent", help="Parent of the markers (lzt|reviewed|dog, lzt|auto|cat); empty for reviewed|dog.")] = REVIEW_PARENT
    reviewed_only: Annotated[bool, typer.Option("--reviewed-only", help="Write accepted tags only, not the automatic tags nobody decided about.")] = False
    all_photos: Annotated[bool, typer.Option("--all-photos", help="Also write photos without any decision (their automatic tags, marked auto).")] = False

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of lzt.review.apply_review."""
        options = OutputOptions(None, self.caption_ext, self.on_existing, self.xmp_naming, self.xmp_parent)
        return {"format": self.format.value, "options": options, "reviewed_only": self.reviewed_only, "every_photo": self.all_photos}


def _is_tags_file(inputs: list[str]) -> bool:
    return len(inputs) == 1 and Path(inputs[0]).is_file() and Path(inputs[0]).suffix.lower() in TAGS_SUFFIXES


def _vocabulary(labels: str | None) -> list[str]:
    if labels is None:
        return []
    from lzt.vocab import load_vocabulary

    return load_vocabulary(labels).names


def _counted(items: Iterable[ReviewItem], ui: Ui) -> Iterator[ReviewItem]:
    with ui.progress("tagging", None, "images") as advance:
        for item in items:
            advance(1)
            yield item


def _import(
    store: ReviewStore, inputs: list[str], classifier: Path | None, labels: str | None, candidates: int, selection: SelectionOptions,
    decoding: DecodingOptions, discovery: DiscoveryOptions, scoring: ScoringOptions, input: InputOptions, cache: CacheOptions,
    model: ModelOptions, ui: Ui,
) -> AddReport:
    from lzt.review import read_tags_file, review_items, roots_of

    tags_file = _is_tags_file(inputs)
    with contextlib.ExitStack() as stack:
        tagger = None
        if not tags_file or classifier is not None:
            tagger = stack.enter_context(load_tagger(classifier, model, scoring, input, cache, ui.progress))
        vocabulary = [*(tagger.labels if tagger is not None else []), *_vocabulary(labels)]
        chosen = selection.config(vocabulary)
        if tags_file:
            items = read_tags_file(inputs[0], chosen, tagger=tagger, candidates=candidates, batch_size=decoding.batch_size,
                                   workers=decoding.workers, decoding=decoding.config(), on_warning=ui.warn)
            if vocabulary:  # else the review keeps its vocabulary, and the file's labels join it
                store.set_vocabulary(vocabulary)
            return store.add(_counted(items, ui))  # the folders under review: those of the listed files
        assert tagger is not None
        items = review_items(tagger, inputs, chosen, candidates=candidates, batch_size=decoding.batch_size, workers=decoding.workers,
                             decoding=decoding.config(), exclude=discovery.exclude, include_hidden=discovery.include_hidden)
        store.set_vocabulary(vocabulary)
        return store.add(_counted(items, ui), roots_of(inputs))


@app.command(
    epilog=(
        "Examples:\n\n"
        "  lzt review ~/Pictures/2024 --classifier pets.lzt\n\n"
        "  lzt tag photos/ -k 15 > tags.jsonl && lzt review tags.jsonl -k 10\n\n"
        "  lzt review                       (reopen the review in review.db)\n\n"
        "  lzt review --export decisions.jsonl"
    )
)
@with_groups
def review(
    inputs: Annotated[Optional[List[str]], typer.Argument(help="A tags file from `lzt tag` (JSON Lines), or image files and folders to tag now. Without any: reopen the review in --db.", show_default=False)] = None,
    classifier: Classifier = None,
    db: Database = DEFAULT_DB,
    labels: Labels = None,
    candidates: Annotated[int, typer.Option("--candidates", min=0, help="Labels shown below the cut per photo, to promote.")] = 5,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to serve on (0: a free one).")] = 0,
    host: Annotated[str, typer.Option("--host", help="Address to serve on. Anything but loopback exposes the page (token-protected) to the network.")] = "127.0.0.1",
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open the page in a browser; only print its URL.")] = False,
    export: Annotated[Optional[str], typer.Option("--export", help="Write the decisions in --db as JSON Lines to this file (- for stdout) and exit.")] = None,
    *,
    selection: SelectionOptions,
    apply: ApplyOptions,
    decoding: DecodingOptions,
    discovery: DiscoveryOptions,
    scoring: ScoringOptions,
    input: InputOptions,
    cache: CacheOptions,
    model: ModelOptions,
    quiet: Quiet = False,
) -> int:
    """Review tags on a local page: thumbnails with their tags and the candidates just below the
    cut; accept, reject and add tags with the keyboard; bulk actions on a filtered view. Every
    decision is stored in --db at once; `lzt apply` (or the page's Apply button) writes them."""
    from lzt.review import ReviewStore, export_decisions
    from lzt.review.server import ReviewServer, is_loopback

    ui = Ui(quiet)
    inputs = inputs or []
    if export is not None:
        if inputs:
            raise typer.BadParameter("--export writes the decisions already in --db: give no photos or tags file with it", param_hint="--export")
        count = export_decisions(db, export)
        ui.info(f"exported {count} decisions from {db}" + ("" if export == "-" else f" to {export}"))
        return EXIT_OK
    if selection.rename is not None or selection.lang is not None:
        flag = "--rename" if selection.rename is not None else "--lang"
        raise typer.BadParameter(f"a review shows the classifier's own labels: {flag} applies to `lzt tag`", param_hint=flag)
    for path in inputs:
        if not Path(path).exists() and not Path(path).is_symlink():
            raise typer.BadParameter(f"no such file or folder: {path}", param_hint="INPUTS")
    with ReviewStore(db) as store:
        if inputs:
            report = _import(store, inputs, classifier, labels, candidates, selection, decoding, discovery, scoring, input, cache, model, ui)
            for path, reason in report.errors:
                ui.warn(f"skipped {path}: {reason}")
            for old, new in report.moved:
                ui.info(f"{old} moved to {new}: its decisions follow it")
            ui.info(f"{db}: {report.added} photos added, {report.updated} updated" + (f", {len(report.moved)} moved" if report.moved else ""))
        elif labels is not None:
            store.set_vocabulary([*store.vocabulary, *_vocabulary(labels)])
        stale = store.stale_labels(store.vocabulary)
        if stale:
            ui.warn("decisions about labels the vocabulary no longer has stay in the database but are not applied: "
                    + ", ".join(f"{label} ({count})" for label, count in stale.items()))
        photos = store.count()
        if not photos:
            raise typer.BadParameter(f"nothing to review: {db} holds no photo; give a tags file or photos", param_hint="INPUTS")
        if not is_loopback(host):
            ui.warn(f"serving on {host}: other machines can reach the page (the token still guards it); use the default 127.0.0.1 unless you mean it")
        with contextlib.ExitStack() as stack:
            folder = cache.folder()
            thumbnails = folder / "thumbnails" if folder is not None else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lzt-thumbs-")))
            server = ReviewServer(store, host=host, port=port, thumbnail_dir=thumbnails, **apply.kwargs())
            console.print(f"lzt review: {photos} photos at {server.url}  (Ctrl-C stops)", markup=False, soft_wrap=True)
            if not no_browser:
                with contextlib.suppress(Exception):  # no browser here: the URL above is enough
                    webbrowser.open(server.url)
            server.serve_forever()
        ui.info(f"stopped; the decisions are in {db}")
    return EXIT_OK


@app.command(
    epilog=(
        "Examples:\n\n"
        "  lzt apply\n\n"
        "  lzt apply --db review.db --format txt --reviewed-only\n\n"
        "  lzt apply --search /mnt/photos-new     (photos that moved since the review)"
    )
)
@with_groups
def apply(
    db: Database = DEFAULT_DB,
    classifier: Annotated[Optional[Path], typer.Option("--classifier", "-c", help="Write only labels of this classifier (decisions about others are left out and reported).")] = None,
    labels: Labels = None,
    search: Annotated[Optional[List[Path]], typer.Option("--search", help="File or folder where photos whose file vanished are looked for: same name, size and time (repeatable).")] = None,
    *,
    output: ApplyOptions,
    quiet: Quiet = False,
) -> int:
    """Write a review's decisions beside its photos: XMP sidecars where reviewed tags (lzt|reviewed|dog)
    and undecided automatic ones (lzt|auto|cat) are kept apart, or caption files."""
    from lzt.review import apply_review

    ui = Ui(quiet)
    vocabulary: list[str] | None = None
    if classifier is not None or labels is not None:
        vocabulary = _vocabulary(labels)
        if classifier is not None:
            from lzt.classifier import load_classifier

            vocabulary += load_classifier(classifier).labels
    report = apply_review(db, vocabulary=vocabulary, search=search or [], progress=ui.progress, **output.kwargs())
    for old, new in report.moved:
        ui.info(f"found {old} at {new}: its decisions follow it")
    for path, reason in report.skipped:
        ui.warn(f"skipped {path}: {reason}")
    for label, count in report.left_out.items():
        ui.warn(f"left out {label!r} on {count} photos: not in the vocabulary (its decisions stay in {db})")
    what = "sidecars" if output.format is ReviewFormat.xmp else "captions"
    ui.info(f"applied {report.photos} reviewed photos: {report.written} {what} written" + (f"; {len(report.skipped)} skipped" if report.skipped else ""))
    return EXIT_SKIPPED if report.skipped or report.left_out else EXIT_OK
