"""What a review starts from: photos tagged now by a Tagger, or the JSON Lines `lzt tag` wrote.

Either way each photo becomes a ReviewItem: its automatic tags (what the selection keeps) and the
next labels just below the cut (`candidates`), which a person may promote. `lzt tag`'s JSON Lines
hold only the tags it kept, so candidates come from re-scoring the photos with a Tagger when one
is given (the embedding cache makes that cheap), else from the file's own tags that a stricter
selection cuts (`lzt tag -k 15` then review with `topk=10`: five candidates per photo).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from lzt.config import DEFAULT_BATCH_SIZE, DecodeOptions, Selection
from lzt.errors import UsageError
from lzt.files import nonblank_lines
from lzt.review.store import ReviewItem, Tags

if TYPE_CHECKING:
    import torch

    from lzt.tagging import Tagger

DEFAULT_CANDIDATES = 5


def _check(selection: Selection, candidates: int) -> None:
    if selection.rename:
        raise UsageError("`Selection.rename` does not apply to a review, which shows the classifier's own labels")
    if candidates < 0:
        raise UsageError("`candidates` must be 0 or more")


def below_cut(scores: torch.Tensor, labels: Sequence[str], kept: Iterable[str], selection: Selection, count: int) -> list[tuple[str, float]]:
    """The `count` best labels that the selection did not keep (nor excludes), best first."""
    if count <= 0:
        return []
    skip = set(kept) | set(selection.exclude)
    order = scores.float().argsort(descending=True).tolist()
    values = scores.float().tolist()
    result = []
    for index in order:
        if labels[index] not in skip and math.isfinite(values[index]):
            result.append((labels[index], round(values[index], 4)))
            if len(result) == count:
                break
    return result


def review_items(
    tagger: Tagger,
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    selection: Selection = Selection(),
    *,
    candidates: int = DEFAULT_CANDIDATES,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
    decoding: DecodeOptions = DecodeOptions(),
    exclude: Sequence[str] = (),
    include_hidden: bool = False,
) -> Iterator[ReviewItem]:
    """Tag the photos under `paths` (searched like `Tagger.tag`) and yield one ReviewItem per
    file: the tags `selection` keeps and the `candidates` best labels below its cut. A file that
    cannot be read is an item with its `error`."""
    _check(selection, candidates)
    records = tagger.tag(
        paths, selection, batch_size=batch_size, workers=workers, decoding=decoding, exclude=exclude,
        include_hidden=include_hidden, keep_scores=True,
    )
    for record in records:
        path = record.path if record.path is not None else ""
        if record.error is not None or record.scores is None:
            yield ReviewItem(path, error=record.error or "not tagged")
            continue
        tags = [(label, score) for label, score in record.tags or [] if score is not None]  # scored tags only
        yield ReviewItem(path, tags, below_cut(record.scores, tagger.labels, [label for label, _ in tags], selection, candidates))


def read_tags_file(
    path: str | Path,
    selection: Selection = Selection(),
    *,
    tagger: Tagger | None = None,
    candidates: int = DEFAULT_CANDIDATES,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
    decoding: DecodeOptions = DecodeOptions(),
    on_warning: Callable[[str], None] | None = None,
) -> Iterator[ReviewItem]:
    """The photos of a JSON Lines file written by `lzt tag` as ReviewItems.

    Each line is {"path", "tags": [{"label", "score"}]} or {"path", "error"}. A relative path is
    taken from the current folder (where `lzt tag` ran), else from the file's own folder. The
    file's tags (best first) are cut again by `selection`; those it cuts become candidates. With
    a `tagger`, the photos are scored again and the candidates are its best labels below the cut.
    A line that is not such an object is reported through `on_warning` and skipped."""
    _check(selection, candidates)
    path = Path(path)
    rows = list(_rows(path, on_warning))
    files = [file for file, _ in rows]
    scored: Iterator[Any] = iter(())
    if tagger is not None:
        scored = tagger.tag_files(files, Selection(topk=1), batch_size=batch_size, workers=workers, decoding=decoding, keep_scores=True)
    for file, row in rows:
        record = next(scored, None) if tagger is not None else None
        if "error" in row:
            yield ReviewItem(file, error=str(row["error"]))
            continue
        kept, cut = _recut(row["tags"], selection)
        if record is not None and record.error is not None:
            yield ReviewItem(file, error=record.error)
        elif record is not None and record.scores is not None and tagger is not None:
            yield ReviewItem(file, kept, below_cut(record.scores, tagger.labels, [label for label, _ in kept], selection, candidates))
        elif not file.exists():
            yield ReviewItem(file, error="file not found")
        else:
            yield ReviewItem(file, kept, cut[:candidates])


def _rows(path: Path, on_warning: Callable[[str], None] | None) -> Iterator[tuple[Path, dict[str, Any]]]:
    for number, line in nonblank_lines(path, "the tags file"):
        try:
            row = json.loads(line)
            _check_row(row)
        except (ValueError, TypeError) as exc:
            if on_warning is not None:
                on_warning(f"{path}:{number}: {exc}; line skipped")
            continue
        yield _locate(row["path"], path.parent), row


def _check_row(row: object) -> None:
    if not isinstance(row, dict) or not isinstance(row.get("path"), str):
        raise ValueError('not an `lzt tag` JSON line ({"path": ..., "tags": [...]})')
    if "error" in row:
        return
    tags = row.get("tags")
    if not isinstance(tags, list) or not all(
        isinstance(t, dict) and isinstance(t.get("label"), str) and isinstance(t.get("score"), (int, float)) for t in tags
    ):
        raise ValueError('"tags" must be a list of {"label": ..., "score": ...}')


def _locate(name: str, folder: Path) -> Path:
    path = Path(name)
    if path.is_absolute() or path.exists() or not (folder / path).exists():
        return path.absolute()
    return (folder / path).absolute()


def _recut(tags: list[dict[str, Any]], selection: Selection) -> tuple[Tags, list[tuple[str, float]]]:
    """The file's tags (best first) -> (what `selection` keeps, what it cuts), excluded labels dropped."""
    ordered = sorted(((t["label"], float(t["score"])) for t in tags), key=lambda t: -t[1])
    labels = [label for label, _ in ordered]
    thresholds = selection.thresholds(labels)
    kept: list[tuple[str, float]] = []
    cut: list[tuple[str, float]] = []
    for (label, score), threshold in zip(ordered, thresholds):
        if label in selection.exclude:
            continue
        if score >= threshold and (selection.topk is None or len(kept) < selection.topk):
            kept.append((label, score))
        else:
            cut.append((label, score))
    return kept, cut


def roots_of(paths: Iterable[str | os.PathLike]) -> list[str]:
    """The folders a review covers: each folder named, and the folder of each file named."""
    roots = []
    for path in paths:
        absolute = os.path.abspath(os.fspath(path))
        roots.append(os.path.realpath(absolute if os.path.isdir(absolute) else os.path.dirname(absolute)))
    return list(dict.fromkeys(roots))
